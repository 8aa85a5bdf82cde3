package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
	fp "github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// These tests put faultproxy between the store and MinIO. The client
// under test makes few attempts with short backoffs and a short stall
// timeout, so that a fault costs seconds; the checks go to MinIO directly.
const (
	faultAttempts = 4
	faultBackoff  = 5 * time.Millisecond
	faultStall    = 1500 * time.Millisecond
)

// bigKey is a plain CSV beside the test data, of one of two sizes: big
// enough to go up in two parts of the smallest size, or also to be read in
// two chunks.
const bigKey = "e/2376158762_cust_2017-11_big.csv"

const (
	none     = 0
	twoParts = minPartSize + 300<<10
	twoReads = chunkSize + 300<<10
)

// bigCSV returns a CSV of about size bytes with rows of the victims spread
// through it, and what it must be after the erasure (computed once, with
// encoding/csv).
func bigCSV(t *testing.T, size int) (data, erased []byte) {
	bigMu.Lock()
	defer bigMu.Unlock()
	if b, ok := bigs[size]; ok {
		return b[0], b[1]
	}
	rng := rand.New(rand.NewPCG(7, uint64(size)))
	b := []byte("Timestamp,Client ID,Custom Values\n")
	for i := 0; len(b) < size; i++ {
		id := fmt.Sprintf("%016X", rng.Uint64())
		if i%97 == 3 {
			id = scrubtest.Victims[i%len(scrubtest.Victims)]
		}
		b = append(b, "2017-11-22 10:00:00,"...)
		b = append(b, id...)
		b = append(b, `,"(Noise,`...)
		b = strconv.AppendUint(b, rng.Uint64(), 16)
		b = append(b, ")&&(Key,"...)
		b = strconv.AppendUint(b, rng.Uint64(), 36)
		b = append(b, ")\"\n"...)
	}
	want, _ := scrubtest.Expected(t, b)
	bigs[size] = [2][]byte{b, want}
	return b, want
}

var (
	bigMu sync.Mutex
	bigs  = map[int][2][]byte{}
)

// faultRun is the test data in a fresh bucket, and a store that reaches it
// through a fault proxy.
type faultRun struct {
	t        *testing.T
	direct   *s3.Client
	bucket   string
	before   map[string][]byte
	erased   map[string][]byte // what the big archive must become
	versions map[string][]objVersion
	proxy    *fp.Proxy
	store    *Store
}

// startFaults makes a bucket of kind with the test data and, if big is not
// none, a big archive of that size, and a store that reaches it through a
// proxy with rule; opt adjusts the client's options.
func startFaults(t *testing.T, kind bucketKind, big int, rule func(*fp.Request) fp.Action, opt ...func(*ClientOptions)) *faultRun {
	t.Helper()
	direct := testClient(t)
	f := &faultRun{t: t, direct: direct, bucket: newBucket(t, direct, kind), erased: map[string][]byte{}}
	f.before = uploadExport(t, direct, f.bucket, "e")
	if big != none {
		data, erased := bigCSV(t, big)
		put(t, direct, &s3.PutObjectInput{Bucket: &f.bucket, Key: aws.String(bigKey)}, data)
		f.before[bigKey], f.erased[bigKey] = data, erased
	}
	f.versions = f.listVersions()
	f.proxy = fp.Start(t, os.Getenv("SCRUB_TEST_S3_ENDPOINT"), rule)
	o := ClientOptions{Endpoint: f.proxy.URL(), MaxAttempts: faultAttempts, MaxBackoff: faultBackoff, StallTimeout: faultStall}
	for _, fn := range opt {
		fn(&o)
	}
	c, err := NewClient(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.store = newStore(c, f.bucket, "e")
	f.store.PartSize = minPartSize
	return f
}

// addKMS adds a copy of a test archive encrypted with SSE-KMS, whose ETag
// is not an MD5.
func (f *faultRun) addKMS() {
	t := f.t
	t.Helper()
	kms := os.Getenv("SCRUB_TEST_KMS_KEY")
	if kms == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and SCRUB_TEST_KMS_KEY unset: SSE-KMS cannot be tested")
		}
		return
	}
	key, data := "e/kms/2376158762_exc_2017-11-24.csv.gz", f.before["e/2376158762_exc_2017-11-24.csv.gz"]
	put(t, f.direct, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key,
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: &kms}, data)
	f.before[key] = data
	f.versions = f.listVersions()
}

func (f *faultRun) listVersions() map[string][]objVersion {
	m := map[string][]objVersion{}
	for _, v := range listVersions(f.t, f.direct, f.bucket) {
		m[v.key] = append(m[v.key], v)
	}
	return m
}

// erase runs the batch, reading every replaced archive back (so that the
// reads after the upload meet the faults too), and reports how long it
// took. The jobs mostly wait for faults: 8 of them.
func (f *faultRun) erase() (*scrub.Summary, time.Duration) {
	start := time.Now()
	sum := erase(context.Background(), f.t, f.store, func(o *scrub.Options) { o.VerifyFull, o.Jobs = true, 8 })
	return sum, time.Since(start)
}

// check checks the bucket after a run. No multipart upload is left. Every
// archive but those in failed is erased or unchanged: the original minus
// the victims' rows (checked with encoding/csv), in a single version that
// holds no victim's row. The archives in failed are reported failed and are
// untouched: the same versions, byte for byte.
func (f *faultRun) check(sum *scrub.Summary, failed ...string) {
	t := f.t
	t.Helper()
	ups, err := f.direct.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &f.bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		t.Errorf("multipart upload of %s left", aws.ToString(u.Key))
	}
	if f.proxy.Injected() == 0 {
		t.Error("no fault was injected")
	}
	results := map[string]scrub.Result{}
	for _, r := range scrubtest.Results(t, sum) {
		results[strings.TrimPrefix(r.Key, "s3://"+f.bucket+"/")] = r
	}
	after := f.listVersions()
	flt := &filter.Filter{IDs: ids.New(scrubtest.Victims...)}
	for key, orig := range f.before {
		r := results[key]
		if slices.Contains(failed, key) {
			if r.Status != scrub.Failed {
				t.Errorf("%s: %s, want failed", key, r.Status)
			}
			if fmt.Sprint(after[key]) != fmt.Sprint(f.versions[key]) {
				t.Errorf("%s: versions %v, were %v", key, after[key], f.versions[key])
			}
			for _, v := range after[key] {
				if !v.marker && !bytes.Equal(get(t, f.direct, f.bucket, key, v.id), orig) {
					t.Errorf("%s@%s: changed", key, v.id)
				}
			}
			continue
		}
		if r.Status != scrub.Erased && r.Status != scrub.Unchanged {
			t.Errorf("%s: %s: %s", key, r.Status, r.Error)
			continue
		}
		if len(after[key]) != 1 {
			t.Errorf("%s: %d versions and markers left, want 1", key, len(after[key]))
		}
		now := get(t, f.direct, f.bucket, key, "")
		if want, ok := f.erased[key]; ok {
			if !bytes.Equal(now, want) {
				t.Errorf("%s is not the original minus the victims' rows", key)
			}
			continue
		}
		scrubtest.CheckArchive(t, key, orig, now)
		for _, v := range after[key] {
			data := get(t, f.direct, f.bucket, key, v.id)
			rep, err := archive.Scan(bytes.NewReader(data), int64(len(data)), flt, false)
			if err != nil || rep.Removed() > 0 {
				t.Errorf("%s@%s holds a victim's row (%v)", key, v.id, err)
			}
		}
	}
	switch err := sum.Err(); {
	case len(failed) == 0 && err != nil:
		t.Errorf("%v: %+v", err, sum.Totals)
	case len(failed) > 0 && !errors.Is(err, scrub.ErrPartial):
		t.Errorf("Err() = %v, want ErrPartial", err)
	}
}

// attempts is a rule that answers attempt n of every request of the named
// operations (all if none is named) with faults[n-1]: later attempts go
// through, so every fault is one the SDK's retry gets past.
func attempts(ops []string, faults ...fp.Action) func(*fp.Request) fp.Action {
	return func(r *fp.Request) fp.Action {
		if n := r.Attempt(); n >= 1 && n <= len(faults) && (len(ops) == 0 || slices.Contains(ops, r.Op())) {
			return faults[n-1]
		}
		return fp.Action{}
	}
}

// on is a rule that does a to the requests of the named operations, or of
// all if none is named.
func on(a fp.Action, ops ...string) func(*fp.Request) fp.Action {
	return func(r *fp.Request) fp.Action {
		if len(ops) > 0 && !slices.Contains(ops, r.Op()) {
			return fp.Action{}
		}
		return a
	}
}

// byKey is a rule that hands each request to the rule of its key.
func byKey(rules map[string]func(*fp.Request) fp.Action) func(*fp.Request) fp.Action {
	return func(r *fp.Request) fp.Action {
		if rule, ok := rules[r.Key()]; ok {
			return rule(r)
		}
		return fp.Action{}
	}
}

// TestErrorRepliesRetried: every request, whatever its operation (GET,
// HEAD, PUT, UploadPart, Create/CompleteMultipartUpload, DeleteObject, the
// listings), is answered 500 InternalError, then 503 ServiceUnavailable,
// then 503 SlowDown; the fourth attempt goes through. The run completes
// and every archive is erased.
func TestErrorRepliesRetried(t *testing.T) {
	t.Parallel()
	f := startFaults(t, versioned, twoParts, attempts(nil,
		fp.Action{Status: http.StatusInternalServerError},
		fp.Action{Status: http.StatusServiceUnavailable},
		fp.Action{Status: http.StatusServiceUnavailable, Code: "SlowDown"}),
		// One attempt to spare, for a stall of a loaded machine.
		func(o *ClientOptions) { o.MaxAttempts = 5 })
	sum, took := f.erase()
	f.check(sum)
	t.Logf("%d requests, %d faults, %v", f.proxy.Requests(), f.proxy.Injected(), took)
}

// TestLostResponses: requests reach MinIO, which acts on them, but the
// response never reaches the client: replaced by a 500, the connection
// reset, or stalled until the client gives up; the SDK retries. The retry
// of a conditional write that did commit finds the object changed, by
// itself (412 PreconditionFailed, as MinIO answers both PutObject and
// CompleteMultipartUpload): the store must see that the object is its own
// upload and not report a conflict (by its MD5, or with SSE-KMS by its
// bytes). A CreateMultipartUpload retried must not leave the first upload
// behind. Deleting a version twice is fine.
func TestLostResponses(t *testing.T) {
	writes := []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "DeleteObject"}
	lost := fp.Action{Status: http.StatusInternalServerError, Forward: true}
	for _, tc := range []struct {
		name string
		kind bucketKind
		big  int
		rule func(*fp.Request) fp.Action
	}{
		// Two lost attempts: the second retry is the first to hear.
		{"500 then reset after the commit", versioned, twoParts, attempts(nil, lost, fp.Action{Body: fp.Reset})},
		// Each stall costs the stall timeout: a few.
		{"500 then stalled after the commit, unversioned", plain, none, func() func(*fp.Request) fp.Action {
			stall := fp.Limited(attempts(writes, fp.Action{}, fp.Action{Body: fp.Stall, Delay: time.Hour}), 6)
			first := attempts(nil, lost)
			return func(r *fp.Request) fp.Action {
				if r.Attempt() == 1 {
					return first(r)
				}
				return stall(r)
			}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFaults(t, tc.kind, tc.big, tc.rule)
			if tc.kind == versioned {
				f.addKMS()
			}
			sum, took := f.erase()
			f.check(sum)
			if sum.Totals.Conflict != 0 {
				t.Errorf("%d conflicts reported", sum.Totals.Conflict)
			}
			t.Logf("%d requests, %d faults, %v", f.proxy.Requests(), f.proxy.Injected(), took)
		})
	}
}

// TestBrokenBodies: the first GET of every range of every object breaks
// off mid-body, reset or cut short (the response keeps its
// Content-Length); the big archive's second chunk is reset after 1 MiB.
// The SDK does not retry a body; the store reads the range again, and the
// run completes.
func TestBrokenBodies(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	rule := func(r *fp.Request) fp.Action {
		if r.Op() != "GetObject" {
			return fp.Action{}
		}
		mu.Lock()
		defer mu.Unlock()
		rng := r.Header.Get("Range")
		if seen[r.Key()+rng] {
			return fp.Action{}
		}
		seen[r.Key()+rng] = true
		switch {
		case strings.HasPrefix(rng, fmt.Sprintf("bytes=%d-", chunkSize)):
			return fp.Action{Body: fp.Reset, After: 1 << 20}
		case len(seen)%2 == 0:
			return fp.Action{Body: fp.Truncate, After: 100}
		}
		return fp.Action{Body: fp.Reset, After: 100}
	}
	f := startFaults(t, versioned, twoReads, rule)
	sum, took := f.erase()
	f.check(sum)
	t.Logf("%d requests, %d faults, %v", f.proxy.Requests(), f.proxy.Injected(), took)
}

// TestStalls: a pause shorter than the stall timeout is waited out; a
// longer stall (a GET body, a HEAD, an upload before it reaches the
// server, a listing) is cut after the timeout and retried, and the run
// completes.
func TestStalls(t *testing.T) {
	t.Parallel()
	forever := fp.Action{Delay: time.Hour}
	pause := fp.Limited(on(fp.Action{Body: fp.Stall, After: 100, Delay: faultStall / 2}, "GetObject"), 2)
	get := fp.Limited(on(fp.Action{Body: fp.Stall, After: 100, Delay: time.Hour}, "GetObject"), 2)
	head := fp.Limited(on(forever, "HeadObject"), 2)
	put := fp.Limited(on(forever, "PutObject"), 1)
	list := fp.Limited(on(fp.Action{Body: fp.Stall, After: 10, Delay: time.Hour}, "ListObjectVersions"), 1)
	f := startFaults(t, versioned, none, func(r *fp.Request) fp.Action {
		switch r.Op() {
		case "GetObject":
			if a := pause(r); a.Delay > 0 {
				return a
			}
			return get(r)
		case "HeadObject":
			return head(r)
		case "PutObject":
			return put(r)
		case "ListObjectVersions":
			return list(r)
		}
		return fp.Action{}
	})
	sum, took := f.erase()
	f.check(sum)
	t.Logf("%d requests, %d faults, %v", f.proxy.Requests(), f.proxy.Injected(), took)
}

// TestPersistentFaults: the faults do not go away for some archives, a
// different fault for each. Each of them ends failed with an error that
// says why, untouched in every version; the others are erased; the batch
// is partial. Stalls that never end cost a bounded time.
func TestPersistentFaults(t *testing.T) {
	t.Parallel()
	e := func(name string) string { return "e/2376158762_" + name }
	faults := map[string]struct {
		rule  func(*fp.Request) fp.Action
		error []string // in the archive's error
	}{
		// Its first request is the GET that reads it as listed.
		e("cust_2017-11-22.zip"): {on(fp.Action{Status: 500}), []string{"GetObject", "StatusCode: 500"}},
		// Its HEAD is the lock check before its rewrite.
		e("cust_2017-11-24.csv.gz"): {on(fp.Action{Status: 503, Code: "SlowDown"}, "HeadObject"),
			[]string{"HeadObject", "StatusCode: 503"}},
		e("cust_2017-11-23.zip"): {on(fp.Action{Body: fp.Reset, After: 100}, "GetObject"),
			[]string{"read " + e("cust_2017-11-23.zip") + " bytes 0-", "connection reset", fmt.Sprintf("(%d attempts)", faultAttempts)}},
		e("exc_2017-11-23.zip"): {on(fp.Action{Body: fp.Truncate, After: 100}, "GetObject"), []string{"unexpected EOF"}},
		e("exc_2017-11-20.zip"): {on(fp.Action{Status: 503, Code: "SlowDown"}, "PutObject"), []string{"upload:", "PutObject", "SlowDown"}},
		e("exc_2017-11-21.zip"): {on(fp.Action{Body: fp.Stall, After: 100, Delay: time.Hour}, "GetObject"),
			[]string{"read " + e("exc_2017-11-21.zip"), "connection stalled: nothing sent or received for " + faultStall.String()}},
		e("exc_2017-11-22.zip"): {on(fp.Action{Delay: time.Hour}, "PutObject"), []string{"upload:", "PutObject", "connection stalled"}},
		bigKey:                  {on(fp.Action{Status: 500}, "CompleteMultipartUpload"), []string{"complete multipart upload", "InternalError"}},
	}
	rules := map[string]func(*fp.Request) fp.Action{}
	var keys []string
	for key, f := range faults {
		rules[key] = f.rule
		keys = append(keys, key)
	}
	f := startFaults(t, versioned, twoParts, byKey(rules))
	sum, took := f.erase()
	f.check(sum, keys...)
	for _, r := range scrubtest.Results(t, sum) {
		fault, ok := faults[strings.TrimPrefix(r.Key, "s3://"+f.bucket+"/")]
		for _, s := range fault.error {
			if ok && !strings.Contains(r.Error, s) {
				t.Errorf("%s: error %q does not say %q", r.Key, r.Error, s)
			}
		}
	}
	// Each request is given up after faultAttempts stalls at most:
	// bounded, whatever the proxy does.
	if limit := 4 * faultAttempts * faultStall; took > limit {
		t.Errorf("the run took %v, more than %v", took, limit)
	}
	t.Logf("%d requests, %d faults, %v", f.proxy.Requests(), f.proxy.Injected(), took)
}

// TestThroughProxy: the proxy itself is transparent to the SDK's uploads
// with a checksum, and to ranged GETs. (The SDK streams aws-chunked bodies
// only over TLS; faultproxy's own tests forward chunked bodies.)
func TestThroughProxy(t *testing.T) {
	t.Parallel()
	f := startFaults(t, plain, none, nil)
	c := f.store.client.(*s3.Client)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: aws.String("x/crc32"),
		Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, f.direct, f.bucket, "x/crc32", ""); !bytes.Equal(got, data) {
		t.Errorf("upload: %d bytes stored, want %d", len(got), len(data))
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &f.bucket, Key: aws.String("x/crc32"), Range: aws.String("bytes=1000-1999")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if got, err := io.ReadAll(out.Body); err != nil || !bytes.Equal(got, data[1000:2000]) {
		t.Errorf("ranged GET: %d bytes, %v", len(got), err)
	}
}
