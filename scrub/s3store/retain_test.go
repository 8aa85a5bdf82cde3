package s3store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestDirRetention: a Dir reads its bucket's object lock and default
// retention, writes a file with a retention that blocks deleting its
// version, tells a file without one, and finds the files a delete marker
// hides.
func TestDirRetention(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		kind    bucketKind
		rule    *types.DefaultRetention
		enabled bool
		mode    string
		period  time.Duration
	}{
		{name: "plain", kind: plain},
		{name: "locked, no default", kind: locked, enabled: true},
		{name: "locked, 2 days compliance", kind: locked, enabled: true, mode: "COMPLIANCE", period: 48 * time.Hour,
			rule: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeCompliance, Days: aws.Int32(2)}},
		{name: "locked, 1 year governance", kind: locked, enabled: true, mode: "GOVERNANCE", period: 365 * 24 * time.Hour,
			rule: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Years: aws.Int32(1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bucket := newBucket(t, c, tt.kind)
			if tt.rule != nil {
				if _, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: &bucket,
					ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
						Rule: &types.ObjectLockRule{DefaultRetention: tt.rule}}}); err != nil {
					t.Fatal(err)
				}
			}
			d := NewDir(c, bucket, "audit")
			enabled, mode, period, err := d.ObjectLock(ctx)
			if err != nil || enabled != tt.enabled || mode != tt.mode || period != tt.period {
				t.Fatalf("ObjectLock = %v, %q, %v, %v; want %v, %q, %v", enabled, mode, period, err, tt.enabled, tt.mode, tt.period)
			}
		})
	}

	bucket := newBucket(t, c, locked)
	d := NewDir(c, bucket, "audit")
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := d.CreateRetained(ctx, "a.jsonl", strings.NewReader("a\n"), "GOVERNANCE", until); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateRetained(ctx, "a.jsonl", strings.NewReader("b\n"), "GOVERNANCE", until); err == nil {
		t.Fatal("CreateRetained over an existing file succeeded")
	}
	if err := d.Create(ctx, "b.jsonl", strings.NewReader("b\n")); err != nil {
		t.Fatal(err)
	}
	if mode, got, err := d.Retention(ctx, "a.jsonl"); err != nil || mode != "GOVERNANCE" || !got.Equal(until) {
		t.Errorf("Retention(a.jsonl) = %q, %v, %v; want GOVERNANCE, %v", mode, got, err, until)
	}
	if mode, _, err := d.Retention(ctx, "b.jsonl"); err != nil || mode != "" {
		t.Errorf("Retention(b.jsonl) = %q, %v; want none", mode, err)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("audit/a.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("audit/a.jsonl"), VersionId: h.VersionId}); err == nil {
		t.Fatal("deleted a retained version")
	} else if c, _ := code(err); c != "AccessDenied" && c != "InvalidRequest" {
		// AWS says AccessDenied; MinIO InvalidRequest, "Object is WORM
		// protected and cannot be overwritten".
		t.Errorf("deleting a retained version: %v, want AccessDenied or InvalidRequest", err)
	}
	if err := d.Remove(ctx, "a.jsonl"); err != nil { // a delete marker
		t.Fatal(err)
	}
	if got, err := d.Deleted(ctx); err != nil || len(got) != 1 || got[0] != "a.jsonl" {
		t.Errorf("Deleted = %q, %v; want [a.jsonl]", got, err)
	}
}
