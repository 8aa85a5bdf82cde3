package s3store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/scrubtest"
	fp "github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// lockQuirks names the servers on which a lock object cannot be trusted,
// and what each gets wrong. (MinIO ignores If-Match on a delete; RemoveIf
// asks for the ETag first, which passes here.)
var lockQuirks = map[string]string{
	"s3rver": "ignores If-None-Match and If-Match: every creator wins, as with audit bundles (Dir.Create)",
}

var lockSeq atomic.Int64

// TestLockObject checks, on every server of the compatibility tier, what
// an audit.Conditional must do: one creator of a name among many at once,
// a replace or delete only of the version read.
func TestLockObject(t *testing.T) {
	for _, s := range scrubtest.Servers(t) {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, err := NewClient(ctx, ClientOptions{Endpoint: s.Endpoint, MaxAttempts: 3})
			if err != nil {
				t.Fatal(err)
			}
			c = s3.New(c.Options(), func(o *s3.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
			})
			bucket := fmt.Sprintf("lock-%d-%d", time.Now().UnixNano()%1e9, lockSeq.Add(1))
			if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
				t.Fatal(err)
			}
			d := NewDir(c, bucket, "audit")
			fail := func(format string, args ...any) {
				t.Helper()
				if why, ok := lockQuirks[s.Name]; ok {
					t.Logf("tolerated (%s): "+format, append([]any{why}, args...)...)
					return
				}
				t.Errorf(format, args...)
			}
			// Eight creators at once: one wins.
			var wg sync.WaitGroup
			var won atomic.Int64
			for i := range 8 {
				wg.Go(func() {
					_, err := d.CreateTagged(ctx, ".lock-x", fmt.Appendf(nil, "holder %d", i))
					switch {
					case err == nil:
						won.Add(1)
					case !errors.Is(err, fs.ErrExist):
						t.Errorf("create: %v", err)
					}
				})
			}
			wg.Wait()
			if won.Load() != 1 {
				fail("%d of 8 creators made the lock object, want 1", won.Load())
			}
			data, tag, err := d.ReadTagged(ctx, ".lock-x")
			if err != nil {
				t.Fatal(err)
			}
			newTag, ok, err := d.ReplaceIf(ctx, ".lock-x", []byte("renewed"), tag)
			if err != nil || !ok {
				t.Fatalf("replace with the right tag: ok %v, %v", ok, err)
			}
			if _, ok, err := d.ReplaceIf(ctx, ".lock-x", []byte("stolen"), tag); err != nil || ok {
				fail("replace with an old tag: ok %v, %v (content was %q)", ok, err, data)
			}
			if ok, err := d.RemoveIf(ctx, ".lock-x", tag); err != nil || ok {
				fail("remove with an old tag: ok %v, %v", ok, err)
			}
			if ok, err := d.RemoveIf(ctx, ".lock-x", newTag); err != nil || !ok {
				fail("remove with the right tag: ok %v, %v", ok, err)
			}
			if _, _, err := d.ReadTagged(ctx, ".lock-x"); !errors.Is(err, fs.ErrNotExist) {
				fail("after remove: %v", err)
			}
		})
	}
}

// TestLockLostAnswers: the first answer to every conditional write of a
// lock object (its creation, each renewal, SetBatch) is lost after MinIO
// made the write; the SDK's retry is refused (412: the object is no longer
// the version it names). The run keeps its lock all the same, and removes
// it when it is released.
func TestLockLostAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lost     fp.Action
		renewals bool // only those of renewals and SetBatch (If-Match)
	}{
		{"500 after the commit", fp.Action{Status: http.StatusInternalServerError, Forward: true}, false},
		{"reset after the commit", fp.Action{Body: fp.Reset}, false},
		{"renewals, 500 after the commit", fp.Action{Status: http.StatusInternalServerError, Forward: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			direct := testClient(t)
			bucket := newBucket(t, direct, plain)
			proxy := fp.Start(t, os.Getenv("SCRUB_TEST_S3_ENDPOINT"), func(r *fp.Request) fp.Action {
				conditional := r.Header.Get("If-Match") != "" || !tc.renewals && r.Header.Get("If-None-Match") != ""
				if r.Op() == "PutObject" && conditional && r.Attempt() == 1 {
					return tc.lost
				}
				return fp.Action{}
			})
			c, err := NewClient(ctx, ClientOptions{Endpoint: proxy.URL(), MaxAttempts: faultAttempts, MaxBackoff: faultBackoff, StallTimeout: faultStall})
			if err != nil {
				t.Fatal(err)
			}
			d := NewDir(c, bucket, "audit")
			const name = ".lock-request-00"
			l, err := audit.AcquireLock(ctx, d, name, audit.LockOptions{Lease: 2 * time.Second})
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			for i := range 4 {
				if err := l.SetBatch(ctx, fmt.Sprintf("batch-%d", i)); err != nil {
					t.Errorf("SetBatch %d: %v", i, err)
				}
			}
			time.Sleep(time.Second) // two renewals
			if err := l.Err(); err != nil {
				t.Fatalf("lost with no other run: %v", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("audit/" + name)}); err == nil {
				t.Error("released, but the lock object is left")
			}
			if proxy.Injected() < 5 {
				t.Errorf("%d answers lost, want one per write", proxy.Injected())
			}
		})
	}
}
