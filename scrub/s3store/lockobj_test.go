package s3store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
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
