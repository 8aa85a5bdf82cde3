package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
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

// versions lists every version and delete marker below prefix, by key
// and version ID, with its ETag.
func versions(t *testing.T, c *s3.Client, bucket, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			out[aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId)] = aws.ToString(v.ETag)
		}
		for _, m := range page.DeleteMarkers {
			out[aws.ToString(m.Key)+"@"+aws.ToString(m.VersionId)] = "delete marker"
		}
	}
	return out
}

// TestExportS3 exports from a versioned bucket to a prefix of it: the
// source objects keep their one version each, and the archives read back
// from the bucket hold what the oracle finds in the same data locally.
func TestExportS3(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	t.Parallel()
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	// With object lock, which comes with versioning: an archive under
	// legal hold, which erase must not touch, is read all the same.
	bucket := fmt.Sprintf("scrub-export-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("exports/" + filepath.ToSlash(rel)), Body: bytes.NewReader(data)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	held := "exports/monthly/2376158762_cust_2017-11-01_to_2017-11-23.zip"
	_, err = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &bucket, Key: &held,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
	if err != nil {
		t.Fatal(err)
	}
	before := versions(t, c, bucket, "exports/")
	a := scrubtest.NewAudit(t)
	k := idKey(t, a)
	out := "s3://" + bucket + "/answers/DPO-7"
	args := exportArgs(a, out, "--endpoint", ep, "--ticket", "DPO-7", "--spool", t.TempDir(), "s3://"+bucket+"/exports")
	res := runPlain(t, nil, args...)
	if res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	if after := versions(t, c, bucket, "exports/"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the source's versions changed:\nbefore %v\nafter  %v", before, after)
	}
	zips := map[string][]byte{}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("answers/DPO-7/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(obj.ContentType) != "application/zip" {
			t.Errorf("%s: content type %q", aws.ToString(o.Key), aws.ToString(obj.ContentType))
		}
		zips[strings.TrimPrefix(aws.ToString(o.Key), "answers/DPO-7/")] = data
	}
	// The oracle reads the same data from the repository; the members are
	// named after the keys below the prefix, which are the same paths.
	checkExport(t, k, scrubtest.ExportDir, zips)
	scrubtest.CheckNoIDs(t, a.Dir)
	ev := readEvents(t, a.Dir)
	for _, e := range ev["export_archive"] {
		if !strings.HasPrefix(e.Data.Key, "s3://"+bucket+"/exports/") || e.Data.SHA256 == "" {
			t.Errorf("export_archive %+v", e.Data)
		}
	}
	v := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
	if v.err != nil || !strings.Contains(v.stdout, "1/1 batches valid") {
		t.Errorf("verify: %v\n%s", v.err, v.stdout)
	}
	// Again: refused, nothing overwritten.
	answers := versions(t, c, bucket, "answers/")
	if res := runPlain(t, nil, args...); res.err == nil || !strings.Contains(res.err.Error(), "exists") {
		t.Errorf("export over an earlier one: %v", res.err)
	}
	if after := versions(t, c, bucket, "answers/"); fmt.Sprint(after) != fmt.Sprint(answers) {
		t.Errorf("the earlier export's archives changed")
	}
}
