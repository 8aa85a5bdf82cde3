package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
	"github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// TestQueueKillPoints kills scrub queue run with SIGKILL at chosen points,
// held there by a proxy in front of MinIO (the archives in a versioned
// bucket, the queue in another), then runs it again. Afterwards every
// archive is the original minus the victims' rows, the request is done,
// named by a complete batch that verifies, and queue verify --audit holds.
func TestQueueKillPoints(t *testing.T) {
	c, ep := minio(t)
	const victim = "c00/2376158762_cust_2017-11-22.zip"
	tests := []struct {
		name   string
		op     string
		match  func(bucket, key string) bool
		resume bool // the re-run takes up the killed batch
	}{
		{"during an archive's upload", "PutObject", func(b, k string) bool { return strings.HasSuffix(k, victim) }, true},
		{"after the batch was sealed, before the done change", "PutObject", func(b, k string) bool {
			return strings.HasPrefix(k, "queue/queue-") && strings.HasSuffix(k, ".json.sig")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bucket, orig := versionedExport(t, c, 1)
			qbucket := bucket + "-q"
			if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &qbucket}); err != nil {
				t.Fatal(err)
			}
			a := scrubtest.NewAudit(t)
			queue := "s3://" + qbucket + "/queue"
			add := exec.Command(bin, "queue", "add", "--queue", queue, "--endpoint", ep, "--ids", scrubtest.IDsFile, "--ticket", "DPO-1",
				"--key", a.Key, "--id-key", a.IDKey)
			if out, err := add.CombinedOutput(); err != nil {
				t.Fatalf("queue add: %v\n%s", err, out)
			}

			var armed atomic.Bool
			armed.Store(true)
			held, release := make(chan struct{}), make(chan struct{})
			proxy := faultproxy.Start(t, ep, func(r *faultproxy.Request) faultproxy.Action {
				if r.Op() != tt.op || !tt.match(r.Bucket(), r.Key()) || !armed.CompareAndSwap(true, false) {
					return faultproxy.Action{}
				}
				return faultproxy.Action{Hold: func() {
					close(held)
					<-release
				}}
			})
			args := []string{"queue", "run", "--queue", queue, "--key", a.Key, "--id-key", a.IDKey, "--audit", a.Dir,
				"--no-progress", "--jobs", "2", "--endpoint", proxy.URL(), "s3://" + bucket + "/exports"}
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-held:
				cmd.Process.Signal(syscall.SIGKILL)
			case <-time.After(60 * time.Second):
				cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("never reached the point:\n%s", stderr.String())
			}
			err := cmd.Wait()
			close(release)
			if err == nil || !cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("the run was not killed (%v):\n%s", err, stderr.String())
			}
			list := exec.Command(bin, "queue", "list", "--queue", queue, "--endpoint", ep, "--key", a.Key)
			if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "\npending ") {
				t.Fatalf("after the kill the request is not pending: %v\n%s", err, out)
			}

			r := scrubCmd(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
			}
			if resumed := strings.Contains(r.stderr, "scrub: resuming batch-"); resumed != tt.resume {
				t.Errorf("the re-run resumed: %v, want %v\n%s", resumed, tt.resume, r.stderr)
			}
			if !strings.Contains(r.stderr, "1 requests marked done") {
				t.Errorf("the re-run did not mark the request done:\n%s", r.stderr)
			}
			checkBucket(t, c, bucket, orig)
			batches := scrubtest.Batches(t, a.Dir)
			want := map[bool]int{true: 1, false: 2}[tt.resume]
			r = scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
			if r.code != 0 || len(batches) != want || !strings.Contains(r.stdout, fmt.Sprintf("%d/%d batches valid", want, want)) {
				t.Errorf("verify (%d batches, want %d): exit %d\n%s", len(batches), want, r.code, r.stdout)
			}
			r = scrubCmd(t, nil, "queue", "verify", "--queue", queue, "--endpoint", ep, "--key", a.Key, "--audit", a.Dir, "--pub", a.Pub)
			if r.code != 0 || !strings.Contains(r.stdout, "1 done requests backed by valid, complete queue-run batches") {
				t.Errorf("queue verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			scrubtest.CheckNoIDs(t, a.Dir)
		})
	}
}
