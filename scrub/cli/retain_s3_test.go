package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestAuditRetainS3: in a bucket with Object Lock, every sealed file of a
// batch is written with the retention of --audit-retain (the journal, the
// lock objects and the chain tip with none), so that deleting a version
// fails; verify names a file without retention (a batch sealed without
// --audit-retain in a bucket without a default, after the warning), and a
// batch a delete marker hides.
func TestAuditRetainS3(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-retain-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	where := "s3://" + bucket + "/audit"
	flags := []string{"--key", a.Key, "--id-key", a.IDKey, "--audit", where, "--endpoint", ep, "--no-progress", "--ids", scrubtest.IDsFile}
	erase := func(extra ...string) output {
		t.Helper()
		out := runPlain(t, nil, slices.Concat([]string{"erase"}, flags, extra, []string{scrubtest.CopyExport(t)})...)
		if out.err != nil {
			t.Fatalf("erase %q: %v\n%s", extra, out.err, out.stderr)
		}
		return out
	}
	witness := "s3://" + bucket + "/witness"
	verify := func(extra ...string) output {
		return runPlain(t, nil, slices.Concat([]string{"verify", "--pub", a.Pub, "--endpoint", ep}, extra, []string{where})...)
	}
	list := func() []string {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("audit/")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		return keys
	}
	const day = 24 * time.Hour
	before := time.Now()
	for range 2 {
		if out := erase("--audit-retain", "1d", "--witness", witness); strings.Contains(out.stderr, "can be deleted") {
			t.Errorf("a warning with --audit-retain:\n%s", out.stderr)
		}
	}
	var batches []string
	for _, k := range list() {
		r, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &bucket, Key: aws.String(k)})
		sealed := strings.HasSuffix(k, ".jsonl") || strings.HasSuffix(k, "-manifest.json") || strings.HasSuffix(k, "-SHA256SUMS") || strings.HasSuffix(k, ".sig")
		switch {
		case !sealed:
			if err == nil && r.Retention != nil && r.Retention.RetainUntilDate != nil {
				t.Errorf("%s is retained until %v; only sealed files are", k, r.Retention.RetainUntilDate)
			}
		case err != nil || r.Retention == nil:
			t.Errorf("%s has no retention: %v", k, err)
		case r.Retention.Mode != "GOVERNANCE" || r.Retention.RetainUntilDate.Before(before.Add(day)):
			t.Errorf("%s is retained %s until %v, want GOVERNANCE until after %v", k, r.Retention.Mode, r.Retention.RetainUntilDate, before.Add(day))
		}
		if strings.HasSuffix(k, ".sig") {
			batches = append(batches, strings.TrimSuffix(strings.TrimPrefix(k, "audit/"), "-SHA256SUMS.sig"))
		}
	}
	if len(batches) != 2 {
		t.Fatalf("%d signed batches in %s, want 2: %v", len(batches), where, list())
	}
	if out := verify("--witness", witness); out.err != nil {
		t.Fatalf("verify: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
	// Deleting the newest batch's log, the version itself, is refused.
	newest := "audit/" + batches[1] + ".jsonl"
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &newest})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &newest, VersionId: h.VersionId}); err == nil {
		t.Fatalf("deleted the retained %s", newest)
	}

	// The newest batch hidden by delete markers, which the chain alone
	// cannot tell.
	for _, suffix := range []string{".jsonl", "-manifest.json", "-SHA256SUMS", "-SHA256SUMS.sig"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("audit/" + batches[1] + suffix)}); err != nil {
			t.Fatal(err)
		}
	}
	out := verify()
	want := batches[1] + "  INVALID: missing  (deleted: " + batches[1] + "-SHA256SUMS, "
	if !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, want) || !strings.Contains(out.stdout, batches[1]+".jsonl hidden by a delete marker") {
		t.Errorf("verify with a batch deleted: %v, want %q in\n%s%s", out.err, want, out.stdout, out.stderr)
	}
	out = verify("--witness", witness)
	want = "batch " + batches[1] + " is witnessed in " + witness + "/"
	if !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, want) {
		t.Errorf("verify --witness with a batch deleted: %v, want %q in\n%s%s", out.err, want, out.stdout, out.stderr)
	}

	// A batch sealed without --audit-retain, in a bucket without a
	// default retention: a warning, and verify names its files.
	out = erase()
	if !strings.Contains(out.stderr, "the audit bucket has object lock but no default retention and no --audit-retain: the bundles can be deleted") {
		t.Errorf("no warning of a batch without retention:\n%s", out.stderr)
	}
	out = verify()
	if !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, "INVALID: not retained") || !strings.Contains(out.stdout, "-SHA256SUMS.sig has no retention") {
		t.Errorf("verify of a batch without retention: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
}

// TestAuditRetainS3Default: without --audit-retain, a bucket's default
// retention is the batch's, recorded in its manifest, and the run (its
// journal rewritten and removed, its lock objects released) goes through
// in a bucket that retains every version by default.
func TestAuditRetainS3Default(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-retain-default-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: &bucket,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(2)}}}}); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	where := "s3://" + bucket + "/audit"
	for range 2 {
		out := runPlain(t, nil, "erase", "--key", a.Key, "--id-key", a.IDKey, "--audit", where, "--endpoint", ep, "--no-progress",
			"--ids", scrubtest.IDsFile, scrubtest.CopyExport(t))
		if out.err != nil || strings.Contains(out.stderr, "warning") {
			t.Fatalf("erase: %v\n%s", out.err, out.stderr)
		}
	}
	out := runPlain(t, nil, "verify", "--pub", a.Pub, "--endpoint", ep, "--json", where)
	if out.err != nil {
		t.Fatalf("verify: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
	var rep struct {
		Batches []struct {
			Manifest *audit.Manifest `json:"manifest"`
		} `json:"batches"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil || len(rep.Batches) != 2 {
		t.Fatalf("verify --json: %v\n%s", err, out.stdout)
	}
	for _, b := range rep.Batches {
		if r := b.Manifest.Retention; r == nil || *r != (audit.Retention{Mode: "GOVERNANCE", Seconds: 2 * 86400}) {
			t.Errorf("%s: retention %+v, want GOVERNANCE for 2 days", b.Manifest.Batch, r)
		}
	}
}
