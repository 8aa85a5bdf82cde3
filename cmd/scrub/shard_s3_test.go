package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestShardsS3 runs one request as three worker processes at once, the way
// an Indexed Job's pods would (--shard auto/3 with JOB_COMPLETION_INDEX),
// on a versioned bucket with the audit location in another bucket. Every
// archive is erased exactly once, and scrub verify on the bucket reports
// the request complete only once all three shares are sealed.
func TestShardsS3(t *testing.T) {
	c, ep := minio(t)
	bucket, orig := versionedExport(t, c, 2)
	a := scrubtest.NewAudit(t)
	// The audit location is a bucket of its own, unversioned.
	auditBucket := bucket + "-audit"
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &auditBucket}); err != nil {
		t.Fatal(err)
	}
	audit := "s3://" + auditBucket + "/audit"
	worker := func(index int) (int, string) {
		cmd := exec.Command(bin, "erase", "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey,
			"--audit", audit, "--endpoint", ep, "--no-progress", "--shard", "auto/3", "s3://"+bucket+"/exports")
		cmd.Env = append(os.Environ(), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return ee.ExitCode(), stderr.String()
		case err != nil:
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	verify := func() (int, string) {
		cmd := exec.Command(bin, "verify", "--pub", a.Pub, "--endpoint", ep, audit)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	var wg sync.WaitGroup
	codes, logs := make([]int, 2), make([]string, 2)
	for i := range 2 {
		wg.Go(func() { codes[i], logs[i] = worker(i) })
	}
	wg.Wait()
	for i := range 2 {
		if codes[i] != 0 {
			t.Fatalf("worker %d exit %d:\n%s", i, codes[i], logs[i])
		}
	}
	if code, out := verify(); code != 1 || !strings.Contains(out, "INCOMPLETE: 2/3 shares complete; 2/3 missing") {
		t.Errorf("verify with two of three shares: exit %d\n%s", code, out)
	}
	if code, log := worker(2); code != 0 {
		t.Fatalf("worker 2 exit %d:\n%s", code, log)
	}
	code, out := verify()
	if code != 0 || !strings.Contains(out, "3/3 batches valid") || !strings.Contains(out, "(erase in 3 shares): complete: 3/3 shares") {
		t.Errorf("verify with all shares: exit %d\n%s", code, out)
	}
	checkBucket(t, c, bucket, orig)
}
