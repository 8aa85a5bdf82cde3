package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
)

// unconditional is a client for a store that ignores the conditions of
// some writes: If-Match and If-None-Match on PutObject (s3rver), If-Match
// on CompleteMultipartUpload (moto, s3rver). It counts the multipart
// uploads started per key.
type unconditional struct {
	api
	put, complete bool

	mu      sync.Mutex
	started map[string]int
}

func (u *unconditional) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if u.put {
		c := *in
		c.IfMatch, c.IfNoneMatch = nil, nil
		in = &c
	}
	return u.api.PutObject(ctx, in, opt...)
}

func (u *unconditional) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opt ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if u.complete {
		c := *in
		c.IfMatch, c.IfNoneMatch = nil, nil
		in = &c
	}
	return u.api.CompleteMultipartUpload(ctx, in, opt...)
}

func (u *unconditional) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opt ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	u.mu.Lock()
	if u.started == nil {
		u.started = map[string]int{}
	}
	u.started[aws.ToString(in.Key)]++
	u.mu.Unlock()
	return u.api.CreateMultipartUpload(ctx, in, opt...)
}

func (u *unconditional) multiparts(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.started[key]
}

// probeLeft fails if the probe left an object, a version or a multipart
// upload behind.
func probeLeft(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	for _, s := range probeObjects(t, c, bucket) {
		t.Errorf("the probe left %s", s)
	}
}

// probeObjects returns the probes' scratch objects (versions, delete
// markers) and multipart uploads in bucket.
func probeObjects(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	var left []string
	for _, v := range listVersions(t, c, bucket) {
		if strings.Contains(v.key, probePrefix) {
			left = append(left, fmt.Sprintf("%+v", v))
		}
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		left = append(left, "multipart upload of "+aws.ToString(u.Key))
	}
	return left
}

// TestProbe: MinIO honours every condition. The probe costs a handful of
// requests, on its scratch object, once per store however many archives
// and jobs, before the first archive is written; it leaves nothing
// behind; a dry run does not probe.
func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind bucketKind
		want map[string]int // requests on the scratch object
	}{
		{"plain", plain, map[string]int{"PutObject": 3, "CreateMultipartUpload": 1, "UploadPart": 1,
			"CompleteMultipartUpload": 1, "DELETE": 2, // the object, and the upload aborted
			// The probes' objects listed (versions, in a versioned
			// bucket), and the uploads of its scratch object (MinIO
			// lists one name's only).
			"GET": 2}},
		{"versioned", versioned, map[string]int{"PutObject": 3, "CreateMultipartUpload": 1, "UploadPart": 1,
			"CompleteMultipartUpload": 1, "DELETE": 2, "GET": 2}},
		{"object lock", locked, map[string]int{"PutObject": 3, "CreateMultipartUpload": 1, "UploadPart": 1,
			"CompleteMultipartUpload": 1, "DELETE": 2, "GET": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A client of its own: s3.New changes what it shares with
			// the client whose options it copies.
			c := testClient(t)
			bucket := newBucket(t, c, tc.kind)
			uploadExport(t, c, bucket, "e")
			rec := &recorder{}
			st := newStore(s3.New(c.Options(), func(o *s3.Options) { o.HTTPClient = rec }), bucket, "e")

			sum := erase(context.Background(), t, st, func(o *scrub.Options) { o.DryRun = true })
			if len(rec.probes()) != 0 || sum.Totals.WouldErase != 13 {
				t.Errorf("dry run: %d requests on a scratch object, totals %+v", len(rec.probes()), sum.Totals)
			}
			sum = erase(context.Background(), t, st, nil)
			if sum.Err() != nil || sum.Totals.Erased != 13 {
				t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
			}
			got := map[string]int{}
			for _, r := range rec.probes() {
				got[r.op()]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("requests on the scratch object %v, want %v", got, tc.want)
			}
			if cond := st.conds.Load(); cond == nil || !cond.put || !cond.complete || !cond.create {
				t.Errorf("conditions %+v, want all honoured", cond)
			}
			// The probe came before the first write of an archive.
			all, first, last := rec.all(), -1, -1
			for i, r := range all {
				switch {
				case strings.Contains(r.path+r.query.Get("prefix"), probePrefix):
					last = i
				case r.op() == "PutObject" && first < 0:
					first = i
				}
			}
			if first < last {
				t.Errorf("an archive was written (request %d) before the probe ended (request %d)", first, last)
			}
			n := len(rec.all())
			if err := st.Prepare(context.Background()); err != nil || len(rec.all()) != n {
				t.Errorf("Prepare again: %v, %d requests", err, len(rec.all())-n)
			}
			probeLeft(t, c, bucket)
			t.Logf("probe: %d requests %v", len(rec.probes()), got)
		})
	}
}

// probes returns the requests on the probe's scratch object.
func (rec *recorder) probes() []recorded {
	var out []recorded
	for _, r := range rec.all() {
		if strings.Contains(r.path+r.query.Get("prefix"), probePrefix) {
			out = append(out, r)
		}
	}
	return out
}

// TestUnconditionalPut: a store that ignores If-Match on PutObject
// (s3rver) stops the batch before any archive is written, with an error
// that names the source, the store's behaviour and the flag; with
// AcceptUnconditional the batch goes on, with one warning.
func TestUnconditionalPut(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	uploadExport(t, c, bucket, "e")
	before := listVersions(t, c, bucket)
	st := newStore(c, bucket, "e")
	st.client = &unconditional{api: c, put: true, complete: true}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: 4}
	name := "s3://" + bucket + "/e"
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: name, Store: st}})
	want := name + ": the store ignores If-Match on PutObject and CompleteMultipartUpload (a write with a wrong ETag succeeded): " +
		"another writer's object could be overwritten; scrub does not replace archives there (--accept-unconditional-writes accepts that race)"
	if err == nil || err.Error() != want || sum != nil {
		t.Errorf("Run = %v, %v\nwant the error %s", sum, err, want)
	}
	if after := listVersions(t, c, bucket); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("versions changed:\n%v\n%v", before, after)
	}

	var warnings []string
	st = newStore(c, bucket, "e")
	st.client = &unconditional{api: c, put: true, complete: true}
	st.AcceptUnconditional, st.Warn = true, func(msg string) { warnings = append(warnings, msg) }
	sum = erase(context.Background(), t, st, nil)
	if sum.Err() != nil || sum.Totals.Erased != 13 {
		t.Fatalf("accepted: totals %+v: %v", sum.Totals, sum.Err())
	}
	checkNoVictims(t, c, bucket)
	probeLeft(t, c, bucket)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], name+": the store ignores If-Match on PutObject and CompleteMultipartUpload: ") ||
		!strings.Contains(warnings[0], "(accepted by --accept-unconditional-writes)") {
		t.Errorf("warnings %q", warnings)
	}
}

// TestUnconditionalComplete: a store that ignores If-Match only on
// CompleteMultipartUpload (moto). An archive above the part size goes up
// in one conditional PUT instead, so that a concurrent write between the
// read and the write is not lost; an archive larger than one PUT takes
// fails, left as it was, unless the race is accepted.
func TestUnconditionalComplete(t *testing.T) {
	c := testClient(t)
	data, erased := bigCSV(t, 12<<20)
	theirs := []byte("Client ID,v\n9F3A41C07B22E8D1,their new upload\n")
	for _, tc := range []struct {
		name     string
		writer   bool  // another writer puts the archive between the read and the write
		limit    int64 // the largest PUT
		accept   bool
		want     scrub.Status
		parts    int // multipart uploads of the archive
		error    string
		warnings int
	}{
		{name: "one PUT", want: scrub.Erased},
		{name: "one PUT, concurrent writer", writer: true, want: scrub.Conflict},
		{name: "too large for one PUT", limit: 8 << 20, want: scrub.Failed,
			error: "the store ignores If-Match on CompleteMultipartUpload (a completion with a wrong ETag succeeded), and the rewrite"},
		{name: "too large, accepted", limit: 8 << 20, accept: true, want: scrub.Erased, parts: 1, warnings: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bucket := newBucket(t, c, versioned)
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(bigKey)}, data)
			before := listVersions(t, c, bucket)
			u := &unconditional{api: c, complete: true}
			st := newStore(c, bucket, "e")
			st.client, st.PartSize, st.putLimit, st.AcceptUnconditional = u, minPartSize, tc.limit, tc.accept
			var warnings []string
			st.Warn = func(msg string) { warnings = append(warnings, msg) }
			if tc.writer {
				st.hook = func(step, key string) error {
					if step == "checked" {
						put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, theirs)
					}
					return nil
				}
			}
			sum := erase(context.Background(), t, st, nil)
			if len(scrubtest.Results(t, sum)) != 1 {
				t.Fatalf("%d archives", len(scrubtest.Results(t, sum)))
			}
			r := scrubtest.Results(t, sum)[0]
			if r.Status != tc.want || !strings.Contains(r.Error, tc.error) {
				t.Errorf("%s %q, want %s with %q", r.Status, r.Error, tc.want, tc.error)
			}
			if n := u.multiparts(bigKey); n != tc.parts {
				t.Errorf("%d multipart uploads of the archive, want %d", n, tc.parts)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q", warnings)
			}
			now := get(t, c, bucket, bigKey, "")
			switch tc.want {
			case scrub.Erased:
				if !bytes.Equal(now, erased) {
					t.Error("not the original minus the victims' rows")
				}
				checkNoVictims(t, c, bucket)
			case scrub.Conflict:
				if !bytes.Equal(now, theirs) {
					t.Errorf("the concurrent writer's object was overwritten: %.60q", now)
				}
				if vs := listVersions(t, c, bucket); len(vs) != len(before)+1 {
					t.Errorf("versions %v, want the original and theirs", vs)
				}
			case scrub.Failed:
				if after := listVersions(t, c, bucket); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Errorf("versions changed:\n%v\n%v", before, after)
				}
			}
			probeLeft(t, c, bucket)
		})
	}
}

// TestPrepareFailureStopsBatch: a probe that cannot run (the scratch
// object cannot be written) stops the batch, naming the source.
func TestPrepareFailureStopsBatch(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	uploadExport(t, c, bucket, "e")
	q := newQuirky(c)
	q.lose = func(op, key string) bool { return strings.Contains(key, probePrefix) }
	st := newStore(c, bucket, "e")
	st.client = q
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}}
	_, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: "src", Store: st}})
	if !errors.Is(err, errLost) || !strings.HasPrefix(err.Error(), "src: check the store's conditional writes: put e/"+probePrefix) {
		t.Errorf("Run: %v", err)
	}
	probeLeft(t, c, bucket)
}

// TestProbeLeftovers: runs killed while they probed left scratch objects
// (versions of them, a delete marker) and multipart uploads of them: an
// unsharded run, and a share of a sharded request. The next run does not
// take them for archives; its probe removes what a run of its own share
// left at once, and another share's once it is older than a probe takes
// (before, it may be that share probing now).
func TestProbeLeftovers(t *testing.T) {
	c := testClient(t)
	for name, kind := range map[string]bucketKind{"plain": plain, "versioned": versioned} {
		t.Run(name, func(t *testing.T) {
			bucket := newBucket(t, c, kind)
			uploadExport(t, c, bucket, "e")
			leave := func(key string) {
				put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, []byte("left 1"))
				if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
					t.Fatal(err)
				}
				put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, []byte("left 2"))
				if _, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key}); err != nil {
					t.Fatal(err)
				}
			}
			leave("e/" + probeName)
			leave("e/" + probeName + "-1-of-3")
			// Fresh: another run's probe, going on now.
			st := newStore(c, bucket, "e")
			sum := erase(context.Background(), t, st, nil)
			if sum.Err() != nil || sum.Totals.Erased != 13 || sum.Totals.Archives != 14 {
				t.Errorf("totals %+v: %v", sum.Totals, sum.Err())
			}
			if n := len(probeObjects(t, c, bucket)); n == 0 {
				t.Error("a probe removed another run's fresh scratch objects")
			}
			// Old: a killed run's.
			st = newStore(c, bucket, "e")
			st.probeAge = time.Nanosecond
			sum = erase(context.Background(), t, st, nil)
			if sum.Err() != nil || sum.Totals.Erased != 0 || sum.Totals.Archives != 14 {
				t.Errorf("totals %+v: %v", sum.Totals, sum.Err())
			}
			probeLeft(t, c, bucket)
		})
	}
}

// TestConcurrentProbes: the shares of a sharded request probe the same
// prefix at once. Each probes a scratch object of its share, so none deletes
// another's or aborts another's upload: each finds every condition
// honoured, and nothing is left, not even in MinIO's bucket-wide listing
// of uploads (where an upload aborted while its part went up can linger).
func TestConcurrentProbes(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	uploadExport(t, c, bucket, "e")
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		stores[i] = newStore(c, bucket, "e")
		stores[i].ProbeTag = fmt.Sprintf("%d-of-%d", i, n)
		if err := stores[i].bucketInfo(context.Background()); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = stores[i].Prepare(context.Background()) })
	}
	wg.Wait()
	for i, st := range stores {
		if cond := st.conds.Load(); errs[i] != nil || cond == nil || !cond.put || !cond.complete || !cond.create {
			t.Errorf("probe %d: %v, conditions %+v", i, errs[i], cond)
		}
	}
	probeLeft(t, c, bucket)
}

// TestConflictAnsweredByReset: the store answers a write whose If-Match
// failed by closing the connection (MinIO may, on a large PUT, before it
// reads the body). The archive is a conflict, not a failure: the store
// holds another writer's object, which stays.
func TestConflictAnsweredByReset(t *testing.T) {
	c := testClient(t)
	theirs := []byte("Client ID,v\n9F3A41C07B22E8D1,their new upload\n")
	for name, big := range map[string]int{"one PUT": none, "multipart": twoParts} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bucket := newBucket(t, c, versioned)
			key := "e/a.csv"
			if big != none {
				key = bigKey
			}
			data, _ := bigCSV(t, max(big, 1000))
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
			q := newQuirky(c)
			q.reset412 = true
			st := newStore(c, bucket, "e")
			st.client, st.PartSize = q, minPartSize
			// The other writer comes after the last check before the
			// write: only the write's condition can catch it.
			st.hook = func(step, key string) error {
				if step == "checked" {
					put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, theirs)
				}
				return nil
			}
			sum := erase(context.Background(), t, st, nil)
			if r := scrubtest.Results(t, sum)[0]; r.Status != scrub.Conflict || !strings.Contains(r.Error, "connection reset") {
				t.Errorf("%s %q, want conflict", r.Status, r.Error)
			}
			if now := get(t, c, bucket, key, ""); !bytes.Equal(now, theirs) {
				t.Errorf("the concurrent writer's object was overwritten: %.60q", now)
			}
		})
	}
}

// TestProbeDefaultRetention: in a bucket whose object lock retains every
// new version by default, the probe's scratch versions are deleted all the
// same, bypassing governance mode.
func TestProbeDefaultRetention(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, locked)
	_, err := c.PutObjectLockConfiguration(context.Background(), &s3.PutObjectLockConfigurationInput{Bucket: &bucket,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	st := newStore(c, bucket, "e")
	st.Warn = func(msg string) { warnings = append(warnings, msg) }
	if err := st.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	probeLeft(t, c, bucket)
}

// TestProbeNamesOnly: an object whose name only starts like the probe's
// scratch object (a user's .scrub-probe-notes.csv, deeper down or beside
// it) is an archive like any other: listed, erased, and never deleted by
// a probe's clean-up, however old.
func TestProbeNamesOnly(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	uploadExport(t, c, bucket, "e")
	body := []byte("Client ID,v\n9F3A41C07B22E8D1,1\nAA00000000000001,2\n")
	names := []string{"e/" + probeName + "-backup.csv", "e/sub/" + probePrefix + "notes.csv", "e/sub/" + probeName}
	for _, key := range names {
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key)}, body)
	}
	st := newStore(c, bucket, "e")
	st.probeAge = time.Nanosecond
	sum := erase(context.Background(), t, st, nil)
	erased := map[string]bool{}
	for _, r := range scrubtest.Results(t, sum) {
		erased[r.Key] = r.Status == scrub.Erased
	}
	for _, key := range names {
		if !erased[st.url(key)] {
			t.Errorf("%s: not erased (%v)", key, scrubtest.Results(t, sum))
		}
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "Client ID,v\nAA00000000000001,2\n" {
			t.Errorf("%s holds %q", key, b)
		}
	}
}
