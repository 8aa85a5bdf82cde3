package s3store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
	fp "github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// smallArchive is a gzip CSV of a few rows; with a victim's row if victim.
func smallArchive(i int, victim bool) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	fmt.Fprintf(zw, "Timestamp,Client ID,Custom Values\n")
	for r := range 5 {
		fmt.Fprintf(zw, "2017-11-22 10:00:00,%016X,v%d\n", uint64(i)<<20|uint64(r)|1<<62, r)
	}
	if victim {
		fmt.Fprintf(zw, "2017-11-22 10:00:00,%s,v\n", scrubtest.Victims[i%len(scrubtest.Victims)])
	}
	zw.Close()
	return b.Bytes()
}

// opCounter counts a proxy's requests by operation and key.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]map[string]int // op, key
}

func (o *opCounter) rule(delay time.Duration) func(*fp.Request) fp.Action {
	return func(r *fp.Request) fp.Action {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.ops[r.Op()] == nil {
			o.ops[r.Op()] = map[string]int{}
		}
		o.ops[r.Op()][r.Key()]++
		return fp.Action{Delay: delay}
	}
}

// count returns the requests of the ops on the keys keep accepts.
func (o *opCounter) count(keep func(key string) bool, ops ...string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, op := range ops {
		for k, c := range o.ops[op] {
			if keep(k) {
				n += c
			}
		}
	}
	return n
}

// TestRequestsPerArchive runs a batch with the default jobs on 200 small
// archives without rows of listed IDs and 10 with, through a proxy that
// counts requests (and holds each GET and HEAD a little, so that many are
// in flight at once). An archive without listed rows costs one GET and no
// HEAD, the listing having given its size and ETag; one that is rewritten
// a GET, the HEAD of its lock check before the write (whose headers the
// rewrite carries over), the PUT, and the HEAD of its verification. The
// client opens no more connections than there are requests in flight.
func TestRequestsPerArchive(t *testing.T) {
	const clean, dirty = 200, 10
	for _, tc := range []struct {
		name string
		kind bucketKind
	}{{"plain", plain}, {"versioned", versioned}} {
		kind := tc.kind
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct := testClient(t)
			bucket := newBucket(t, direct, kind)
			for i := range clean + dirty {
				key := fmt.Sprintf("r/%03d.csv.gz", i)
				if i >= clean {
					key = fmt.Sprintf("r/dirty/%03d.csv.gz", i)
				}
				put(t, direct, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, smallArchive(i, i >= clean))
			}
			oc := &opCounter{ops: map[string]map[string]int{}}
			proxy := fp.Start(t, os.Getenv("SCRUB_TEST_S3_ENDPOINT"), oc.rule(2*time.Millisecond))
			c, err := NewClient(context.Background(), ClientOptions{Endpoint: proxy.URL(), MaxAttempts: 3})
			if err != nil {
				t.Fatal(err)
			}
			st := newStore(c, bucket, "r")
			opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}}
			sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: "r", Store: st}})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Totals.Unchanged != clean || sum.Totals.Erased != dirty {
				t.Fatalf("totals %+v", sum.Totals)
			}
			isClean := func(k string) bool { return strings.HasPrefix(k, "r/") && !strings.HasPrefix(k, "r/dirty/") }
			isDirty := func(k string) bool { return strings.HasPrefix(k, "r/dirty/") }
			reads := oc.count(isClean, "GetObject", "HeadObject")
			if per := float64(reads) / clean; per > 1.15 {
				t.Errorf("%.2f GET and HEAD per archive without listed rows, want at most 1.15", per)
			}
			if n := oc.count(isClean, "HeadObject"); n != 0 {
				t.Errorf("%d HEADs of archives without listed rows, want none", n)
			}
			for op, want := range map[string]int{"GetObject": 1, "HeadObject": 2, "PutObject": 1} {
				if n := oc.count(isDirty, op); n != want*dirty {
					t.Errorf("%d %s requests for %d rewritten archives, want %d each", n, op, dirty, want)
				}
			}
			// A connection whose dial a request stopped waiting for,
			// an idle one being free first, joins the pool: a few more
			// than the jobs. The SDK's pool of 10 opened 106 here.
			if conns := proxy.Conns(); conns > scrub.DefaultRemoteJobs*5/4 {
				t.Errorf("%d connections for %d jobs: the pool does not keep them", conns, scrub.DefaultRemoteJobs)
			}
			t.Logf("%d requests, %d connections; %d GET and HEAD for %d archives without listed rows", proxy.Requests(), proxy.Conns(), reads, clean)
		})
	}
}

// TestReadAsListed opens archives that changed after the listing: one
// rewritten, one deleted. The read, pinned to the listed ETag, sees the
// change as a conflict, and the store is not written.
func TestReadAsListed(t *testing.T) {
	c := testClient(t)
	for _, tc := range []struct {
		name string
		kind bucketKind
	}{{"plain", plain}, {"versioned", versioned}} {
		kind := tc.kind
		t.Run(tc.name, func(t *testing.T) {
			bucket := newBucket(t, c, kind)
			for _, k := range []string{"l/changed.csv.gz", "l/deleted.csv.gz", "l/same.csv.gz"} {
				put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k)}, smallArchive(1, true))
			}
			st := newStore(c, bucket, "l")
			objs := map[string]scrub.Object{}
			if err := st.List(context.Background(), func(o scrub.Object) error { objs[o.Rel] = o; return nil }); err != nil {
				t.Fatal(err)
			}
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/changed.csv.gz")}, smallArchive(2, true))
			if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("l/deleted.csv.gz")}); err != nil {
				t.Fatal(err)
			}
			for rel, want := range map[string]error{"changed.csv.gz": scrub.ErrConflict, "deleted.csv.gz": scrub.ErrConflict, "same.csv.gz": nil} {
				err := st.Open(context.Background(), objs[rel], func(ct scrub.Content) error {
					if v, ok := ct.(scrub.Versioned); ok && kind == versioned && v.VersionID() == "" {
						t.Errorf("%s: no version id", rel)
					}
					_, err := ct.Stage() // the lock check before a write
					return err
				})
				if !errors.Is(err, want) {
					t.Errorf("%s: %v, want %v", rel, err, want)
				}
			}
		})
	}
}

// TestListedArchiveClass: an archive listed in an archive storage class
// is not read as listed but the long way, a HEAD first, which holds it
// unless it is restored. MinIO keeps no GLACIER objects: the listing's
// class is set by hand, and MinIO's HEAD then says STANDARD.
func TestListedArchiveClass(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("g/a.csv.gz")}, smallArchive(1, true))
	oc := &opCounter{ops: map[string]map[string]int{}}
	proxy := fp.Start(t, os.Getenv("SCRUB_TEST_S3_ENDPOINT"), oc.rule(0))
	pc, err := NewClient(context.Background(), ClientOptions{Endpoint: proxy.URL(), MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(pc, bucket, "g")
	var obj scrub.Object
	if err := st.List(context.Background(), func(o scrub.Object) error { obj = o; return nil }); err != nil {
		t.Fatal(err)
	}
	obj.StorageClass = string(types.StorageClassGlacier)
	if err := st.Open(context.Background(), obj, func(scrub.Content) error { return nil }); err != nil {
		t.Fatal(err)
	}
	all := func(string) bool { return true }
	if heads, gets := oc.count(all, "HeadObject"), oc.count(all, "GetObject"); heads != 1 || gets != 0 {
		t.Errorf("%d HEADs and %d GETs to open an archive listed in GLACIER, want 1 and 0", heads, gets)
	}
}
