package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
	"github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// bigCSV is a plain CSV archive of about 14 MiB with victims' rows, large
// enough that its rewrite goes up in several parts of 5 MiB.
func bigCSV() []byte {
	var b bytes.Buffer
	b.WriteString("Client ID,Event,Value\n")
	ids := []string{"1111111111111111", "2222222222222222", scrubtest.Victims[0], "3333333333333333"}
	for i := 0; b.Len() < 14<<20; i++ {
		fmt.Fprintf(&b, "%s,event-%d,%s\n", ids[i%len(ids)], i, strings.Repeat("x", 40))
	}
	return b.Bytes()
}

// TestKillAtPoints kills scrub with SIGKILL at chosen points of an
// archive's replacement in a versioned bucket, held there by a proxy in
// front of MinIO, then runs the same command again. Afterwards every key
// holds exactly one version, the original minus the victims' rows, no
// upload is left unfinished, and the batch verifies.
func TestKillAtPoints(t *testing.T) {
	c, ep := minio(t)
	const victim = "c00/2376158762_cust_2017-11-22.zip"
	tests := []struct {
		name   string
		op     string // the request to hold
		key    string // of a key with this suffix ("": any key)
		nth    int    // the nth such request
		action faultproxy.Action
	}{
		{"during a GET", "GetObject", victim, 1, faultproxy.Action{Body: faultproxy.Stall, After: 512}},
		{"during an upload, before the store has it", "PutObject", victim, 1, faultproxy.Action{}},
		{"after the store committed an upload, before the reply", "PutObject", victim, 1, faultproxy.Action{Body: faultproxy.Stall, After: 0}},
		{"during a multipart upload", "UploadPart", "big.csv", 2, faultproxy.Action{}},
		{"between upload and deleting the old versions", "DeleteObject", victim, 1, faultproxy.Action{}},
		{"during the version cleanup", "DeleteObject", victim, 2, faultproxy.Action{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bucket, orig := versionedExport(t, c, 1)
			big := bigCSV()
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: strPtr("exports/big.csv"), Body: bytes.NewReader(big)}); err != nil {
				t.Fatal(err)
			}
			orig["exports/big.csv"] = big
			// One older version for the cleanup to delete, besides the
			// one that is read.
			key := "exports/" + victim
			c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(orig[key])})

			var armed atomic.Bool
			armed.Store(true)
			var mu sync.Mutex
			n := 0
			held, release := make(chan struct{}), make(chan struct{})
			proxy := faultproxy.Start(t, ep, func(r *faultproxy.Request) faultproxy.Action {
				if r.Bucket() != bucket || r.Op() != tt.op || !strings.HasSuffix(r.Key(), tt.key) || !armed.Load() {
					return faultproxy.Action{}
				}
				mu.Lock()
				n++
				hit := n == tt.nth
				mu.Unlock()
				if !hit || !armed.CompareAndSwap(true, false) {
					return faultproxy.Action{}
				}
				a := tt.action // held, not delayed: Hold is the point
				a.Hold = func() {
					close(held)
					<-release
				}
				return a
			})
			a := scrubtest.NewAudit(t)
			args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "2",
				"--part-size", "5242880", "--endpoint", proxy.URL(), "s3://" + bucket + "/exports"})
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
			r := scrubCmd(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "scrub: resuming batch-") {
				t.Errorf("the re-run did not resume:\n%s", r.stderr)
			}
			checkBucket(t, c, bucket, orig)
			r = scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
			if r.code != 0 || !strings.Contains(r.stdout, "1/1 batches valid") {
				t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

func strPtr(s string) *string { return &s }
