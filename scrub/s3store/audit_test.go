package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestAuditInS3 runs an erasure whose audit bundle goes to a bucket, then
// verifies it from there, and finds a tampered log.
func TestAuditInS3(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-audit-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("exports/" + filepath.ToSlash(rel)), Body: bytes.NewReader(data)})
		return err
	})
	a := scrubtest.NewAudit(t)
	where := "s3://" + bucket + "/audit/"
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Version: "test"})
		out := stdout.String() + stderr.String()
		for _, id := range scrubtest.Listed {
			if strings.Contains(out, id) {
				t.Errorf("output of %v holds the listed ID %s", args, id)
			}
		}
		return out, err
	}
	out, err := run("erase", "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey, "--audit", where,
		"--endpoint", ep, "--no-progress", "--ticket", "DPO-7", "s3://"+bucket+"/exports")
	if err != nil {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	out, err = run("verify", "--allowed-signers", a.AllowedSigners, "--endpoint", ep, where)
	if err != nil || !strings.Contains(out, "1/1 batches valid") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	dir := s3store.NewDir(c, bucket, "audit")
	names, err := dir.List(ctx)
	// .chain-tip names the batch sealed last, for the next to link to.
	names = slices.DeleteFunc(names, func(n string) bool { return n == ".chain-tip" })
	if err != nil || len(names) != 4 {
		t.Fatalf("audit objects %v, %v; want the 4 files of one batch", names, err)
	}
	var logName string
	for _, n := range names {
		data, err := dir.ReadFile(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range scrubtest.Listed {
			if bytes.Contains(bytes.ToUpper(data), []byte(id)) {
				t.Errorf("%s holds the listed ID %s", n, id)
			}
		}
		if strings.HasSuffix(n, ".jsonl") {
			logName = n
			// Files are never overwritten.
			if err := dir.Create(ctx, n, strings.NewReader("forged")); !errors.Is(err, fs.ErrExist) {
				t.Errorf("Create over %s = %v, want fs.ErrExist", n, err)
			}
		}
	}
	if _, err := dir.ReadFile(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
	// Someone with write access edits the log: a line dropped.
	data, _ := dir.ReadFile(ctx, logName)
	lines := bytes.SplitAfter(data, []byte("\n"))
	forged := bytes.Join(append(lines[:3:3], lines[4:]...), nil)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("audit/" + logName), Body: bytes.NewReader(forged)}); err != nil {
		t.Fatal(err)
	}
	out, err = run("verify", "--allowed-signers", a.AllowedSigners, "--endpoint", ep, where)
	if err == nil || !strings.Contains(out, "INVALID: chain broken at line 4") || !strings.Contains(out, "0/1 batches valid") {
		t.Errorf("verify of a forged log: %v\n%s", err, out)
	}
}
