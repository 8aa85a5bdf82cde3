package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// minio returns a client for the test MinIO and its endpoint, or skips
// (fails under CI=true) without one.
func minio(t *testing.T) (*s3.Client, string) {
	t.Helper()
	ep := scrubtest.S3Endpoint(t)
	c, err := s3store.NewClient(context.Background(), s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c, ep
}

// versionedExport makes a versioned bucket holding copies of the test data
// below exports/ and returns its name and the original content by key.
func versionedExport(t *testing.T, c *s3.Client, copies int) (string, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	bucket := fmt.Sprintf("scrub-kill-%d-%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	if err != nil {
		t.Fatal(err)
	}
	orig := map[string][]byte{}
	for i := range copies {
		filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(scrubtest.ExportDir, p)
			key := fmt.Sprintf("exports/c%02d/%s", i, filepath.ToSlash(rel))
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
			orig[key] = data
			return nil
		})
	}
	return bucket, orig
}

// checkBucket checks that each key holds exactly one version, the original
// minus the victims' rows, with no delete marker, and that no multipart
// upload is left unfinished.
func checkBucket(t *testing.T, c *s3.Client, bucket string, orig map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	versions := map[string]int{}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			versions[aws.ToString(v.Key)]++
		}
		for _, m := range page.DeleteMarkers {
			t.Errorf("%s: delete marker %s left", aws.ToString(m.Key), aws.ToString(m.VersionId))
		}
	}
	for key, data := range orig {
		if versions[key] != 1 {
			t.Errorf("%s: %d versions, want exactly 1", key, versions[key])
			out, _ := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key})
			for _, v := range out.Versions {
				t.Logf("  version %s etag %s size %d latest %v modified %v", aws.ToString(v.VersionId), aws.ToString(v.ETag), aws.ToInt64(v.Size), aws.ToBool(v.IsLatest), aws.ToTime(v.LastModified))
			}
			continue
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		now, _ := io.ReadAll(out.Body)
		out.Body.Close()
		scrubtest.CheckArchive(t, key, data, now)
	}
	if len(versions) != len(orig) {
		t.Errorf("%d keys in the bucket, want %d", len(versions), len(orig))
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		t.Errorf("unfinished multipart upload left: %s (%s, started %s)", aws.ToString(u.Key), aws.ToString(u.UploadId), aws.ToTime(u.Initiated))
	}
}

// TestKillAndResumeS3 is TestKillAndResume against a versioned bucket:
// SIGKILL at random points (during GETs, uploads, version cleanup), the
// same command again until it completes; then every key holds exactly its
// erased archive as its only version, and the batch verifies.
func TestKillAndResumeS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	bucket, orig := versionedExport(t, c, 4)
	a := scrubtest.NewAudit(t)
	args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "2", "--endpoint", ep, "s3://" + bucket + "/exports"})
	// Exit 3 on the way: a conflict with what a killed attempt had in flight.
	killUntilDone(t, args, seed(t, 3), 5, 40*time.Millisecond, 15*time.Millisecond, 10*time.Millisecond, true)
	checkBucket(t, c, bucket, orig)
	batches := scrubtest.Batches(t, a.Dir)
	r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d/%d batches valid", len(batches), len(batches))) {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Idempotent: nothing to do, no new version.
	r = scrubCmd(t, nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to erase") {
		t.Errorf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	checkBucket(t, c, bucket, orig)
	if t.Failed() {
		if d := os.Getenv("SCRUB_TEST_DUMP"); d != "" {
			os.CopyFS(d, os.DirFS(a.Dir))
		}
	}
}
