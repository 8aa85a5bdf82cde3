package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// The compatibility tier's erase scenarios: a real erase of the bundled
// export on every server cmd/withs3 started, in every kind of bucket the
// server offers, after which every version of every key is read with the
// server's raw client (scrubtest.Server.Client, not scrub's code).

// compatServer is a server of the tier and what it was measured to do
// (`make s3-probe`).
type compatServer struct {
	scrubtest.Server
	scrub      *s3.Client // scrub's own client (NewClient), signing for the server
	versioning bool       // PutBucketVersioning works
	lock       bool       // object lock
	condPut    bool       // If-Match on PutObject honoured
	condParts  bool       // If-Match on CompleteMultipartUpload honoured
}

// compatFeatures is what each server of scrubtest.ServerNames offers.
var compatFeatures = map[string]compatServer{
	"minio":     {versioning: true, lock: true, condPut: true, condParts: true},
	"seaweedfs": {versioning: true, lock: true, condPut: true, condParts: true},
	"versitygw": {versioning: true, lock: true, condPut: true, condParts: true},
	"moto":      {versioning: true, lock: true, condPut: true},
	"s3rver":    {},
}

func compatServers(t *testing.T) []compatServer {
	t.Helper()
	var out []compatServer
	for _, s := range scrubtest.Servers(t) {
		cs, ok := compatFeatures[s.Name]
		if !ok {
			t.Fatalf("no features written down for server %s", s.Name)
		}
		cs.Server = s
		c, err := NewClient(context.Background(), ClientOptions{Endpoint: s.Endpoint, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		cs.scrub = s3.New(c.Options(), func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
		})
		out = append(out, cs)
	}
	return out
}

var compatSeq atomic.Int64

// bucket creates a bucket of kind on the server with its raw client.
func (s compatServer) bucket(t *testing.T, kind bucketKind) string {
	t.Helper()
	name := fmt.Sprintf("compat-%d-%d", time.Now().UnixNano()%1e9, compatSeq.Add(1))
	in := &s3.CreateBucketInput{Bucket: &name}
	if kind == locked {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("create bucket on %s: %v", s.Name, err)
	}
	if kind == versioned {
		setVersioning(t, s.Client, name, types.BucketVersioningStatusEnabled)
	}
	return name
}

// put writes data with Content-MD5, which object lock requires, and
// returns the new version's id.
func (s compatServer) put(t *testing.T, in *s3.PutObjectInput, data []byte) string {
	t.Helper()
	sum := md5.Sum(data)
	in.Body, in.ContentLength = bytes.NewReader(data), aws.Int64(int64(len(data)))
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	out, err := s.Client.PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s on %s: %v", aws.ToString(in.Key), s.Name, err)
	}
	return aws.ToString(out.VersionId)
}

// upload puts the bundled export below prefix and returns it by key.
func (s compatServer) upload(t *testing.T, bucket, prefix string) map[string][]byte {
	t.Helper()
	return putExport(t, prefix, func(key string, b []byte) { s.put(t, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, b) })
}

// compatVersion is one version of a key, with its data (nil for a delete
// marker).
type compatVersion struct {
	id     string
	marker bool
	data   []byte
}

// everything reads every version of every key of the bucket, by key.
func (s compatServer) everything(t *testing.T, bucket string) map[string][]compatVersion {
	t.Helper()
	all := map[string][]compatVersion{}
	if !s.versioning {
		p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: &bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				all[k] = append(all[k], compatVersion{data: get(t, s.Client, bucket, k, "")})
			}
		}
		return all
	}
	for _, v := range listVersions(t, s.Client, bucket) {
		cv := compatVersion{id: v.id, marker: v.marker}
		if !v.marker {
			cv.data = get(t, s.Client, bucket, v.key, v.id)
		}
		all[v.key] = append(all[v.key], cv)
	}
	return all
}

func victimRows(t *testing.T, data []byte) int64 {
	t.Helper()
	flt := &filter.Filter{IDs: ids.New(scrubtest.Victims...)}
	rep, err := archive.Scan(bytes.NewReader(data), int64(len(data)), flt, false)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return rep.Removed()
}

// compatRun erases the listed IDs below prefix with scrub's client.
func (s compatServer) run(t *testing.T, bucket, prefix string, mod func(*Store)) (*scrub.Summary, error) {
	t.Helper()
	st := newStore(s.scrub, bucket, prefix)
	st.AcceptUnconditional = !s.condPut
	if mod != nil {
		mod(st)
	}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: 4}
	return scrub.Run(context.Background(), opt, []scrub.Source{{Name: st.url(st.Prefix), Store: st}})
}

// statuses returns the results by key.
func statuses(t testing.TB, bucket string, sum *scrub.Summary) map[string]scrub.Result {
	m := map[string]scrub.Result{}
	for _, r := range scrubtest.Results(t, sum) {
		m[strings.TrimPrefix(r.Key, "s3://"+bucket+"/")] = r
	}
	return m
}

// check asserts what an erase must leave: every archive erased or
// unchanged except held (and want, if given, says which status a key
// ends in); no version of a key that is not held holds a victim's row;
// every version of a held key is what it was before; the current version
// of an erased archive of orig is the original minus the victims' rows.
func (s compatServer) check(t *testing.T, bucket string, sum *scrub.Summary, before map[string][]compatVersion, orig map[string][]byte, held []string) {
	t.Helper()
	res := statuses(t, bucket, sum)
	for key, r := range res {
		want := []scrub.Status{scrub.Erased, scrub.Unchanged}
		if slices.Contains(held, key) {
			want = []scrub.Status{scrub.Held}
		}
		if !slices.Contains(want, r.Status) {
			t.Errorf("%s: %s (%s), want %v", key, r.Status, r.Error, want)
		}
	}
	after := s.everything(t, bucket)
	for key, vs := range after {
		if slices.Contains(held, key) {
			continue
		}
		if _, ok := res[key]; !ok && slices.ContainsFunc(vs, func(v compatVersion) bool { return !v.marker }) {
			t.Errorf("%s: no result", key)
		}
		for _, v := range vs {
			if !v.marker {
				if n := victimRows(t, v.data); n > 0 {
					t.Errorf("%s@%s (%s): %d rows of erased IDs left", key, v.id, res[key].Status, n)
				}
			}
		}
		if b, ok := orig[key]; ok && len(vs) > 0 {
			cur := vs[0]
			if s.versioning {
				cur = current(t, s.Client, bucket, key, vs)
			}
			if !cur.marker {
				scrubtest.CheckArchive(t, key, b, cur.data)
			}
		}
	}
	for _, key := range held {
		if !sameVersions(before[key], after[key]) {
			t.Errorf("%s is held but its versions changed: %d before, %d after", key, len(before[key]), len(after[key]))
		}
	}
}

// current returns the version a plain GET returns.
func current(t *testing.T, c *s3.Client, bucket, key string, vs []compatVersion) compatVersion {
	t.Helper()
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return compatVersion{marker: true}
	}
	id := aws.ToString(h.VersionId)
	if id == "" {
		id = "null"
	}
	for _, v := range vs {
		if v.id == id {
			return v
		}
	}
	t.Fatalf("%s: HEAD says version %s, not listed", key, aws.ToString(h.VersionId))
	return compatVersion{}
}

func sameVersions(a, b []compatVersion) bool {
	key := func(v compatVersion) string { return v.id }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, func(x, y compatVersion) int { return strings.Compare(key(x), key(y)) })
	slices.SortFunc(b, func(x, y compatVersion) int { return strings.Compare(key(x), key(y)) })
	return slices.EqualFunc(a, b, func(x, y compatVersion) bool {
		return x.id == y.id && x.marker == y.marker && bytes.Equal(x.data, y.data)
	})
}

// again runs the erase a second time: nothing is left to do, and the
// bucket still holds no victim outside held.
func (s compatServer) again(t *testing.T, bucket, prefix string, before map[string][]compatVersion, held []string) {
	t.Helper()
	sum, err := s.run(t, bucket, prefix, nil)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if tt := sum.Totals; tt.Erased != 0 || tt.Failed != 0 || tt.Conflict != 0 || tt.ReplacedIncomplete != 0 || tt.Held != len(held) {
		t.Errorf("second run: totals %+v, want nothing but %d held", tt, len(held))
	}
	s.check(t, bucket, sum, before, nil, held)
}

var bigOnce struct {
	sync.Once
	data []byte
}

// TestCompat runs the erase scenarios on every server, in the kinds of
// bucket it offers.
func TestCompat(t *testing.T) {
	for _, srv := range compatServers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			run := func(name string, ok bool, fn func(t *testing.T)) {
				if !ok {
					return // the server lacks what the scenario needs
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					fn(t)
				})
			}
			run("plain", true, func(t *testing.T) { srv.plain(t) })
			run("versioned", srv.versioning, func(t *testing.T) { srv.versioned(t) })
			run("suspended", srv.versioning, func(t *testing.T) { srv.suspended(t) })
			run("locked", srv.lock, func(t *testing.T) { srv.locked(t) })
			run("delete-marker", srv.versioning, func(t *testing.T) { srv.deleteMarker(t) })
			run("multipart", true, func(t *testing.T) { srv.multipart(t) })
			run("refused", !srv.condPut, func(t *testing.T) { srv.refused(t) })
			run("concurrent/plain", srv.condPut, func(t *testing.T) { srv.concurrent(t, plain) })
			run("concurrent/versioned", srv.condPut && srv.versioning, func(t *testing.T) { srv.concurrent(t, versioned) })
		})
	}
}

func (s compatServer) erase(t *testing.T, bucket, prefix string, orig map[string][]byte, held []string) {
	t.Helper()
	before := s.everything(t, bucket)
	sum, err := s.run(t, bucket, prefix, nil)
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	if sum.Totals.Erased == 0 {
		t.Errorf("nothing erased: %+v", sum.Totals)
	}
	s.check(t, bucket, sum, before, orig, held)
	s.again(t, bucket, prefix, before, held)
}

func (s compatServer) plain(t *testing.T) {
	bucket := s.bucket(t, plain)
	orig := s.upload(t, bucket, "e")
	s.erase(t, bucket, "e", orig, nil)
}

// versioned: two older versions of each archive below the current one.
func (s compatServer) versioned(t *testing.T) {
	bucket := s.bucket(t, versioned)
	s.upload(t, bucket, "e")
	s.upload(t, bucket, "e")
	orig := s.upload(t, bucket, "e")
	s.erase(t, bucket, "e", orig, nil)
}

// suspended: versions from before the suspension, then the null version.
func (s compatServer) suspended(t *testing.T) {
	bucket := s.bucket(t, versioned)
	s.upload(t, bucket, "e")
	s.upload(t, bucket, "e")
	setVersioning(t, s.Client, bucket, types.BucketVersioningStatusSuspended)
	orig := s.upload(t, bucket, "e")
	s.erase(t, bucket, "e", orig, nil)
}

// locked: one archive has a retained older version, another an older
// version under legal hold; both end held and untouched.
func (s compatServer) locked(t *testing.T) {
	bucket := s.bucket(t, locked)
	retained, hold := "e/2376158762_cust_2017-11-24.csv.gz", "e/2376158762_exc_2017-11-24.csv.gz"
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, key := range []string{retained, hold} {
		data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, strings.TrimPrefix(key, "e/")))
		if err != nil {
			t.Fatal(err)
		}
		in := &s3.PutObjectInput{Bucket: &bucket, Key: &key}
		if key == retained {
			in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &until
		} else {
			in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
		}
		s.put(t, in, data)
	}
	orig := s.upload(t, bucket, "e")
	s.erase(t, bucket, "e", orig, []string{retained, hold})
}

// deleteMarker: a key whose latest entry is a delete marker over a
// version that holds victims.
func (s compatServer) deleteMarker(t *testing.T) {
	bucket := s.bucket(t, versioned)
	orig := s.upload(t, bucket, "e")
	gone := "e/2376158762_cust_2017-11-22.zip"
	if _, err := s.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &gone}); err != nil {
		t.Fatal(err)
	}
	delete(orig, gone)
	s.erase(t, bucket, "e", orig, nil)
}

// multipart: an archive larger than two parts goes up in parts where the
// store honours If-Match on CompleteMultipartUpload, in one PUT where
// the probe found it does not.
func (s compatServer) multipart(t *testing.T) {
	bigOnce.Do(func() { bigOnce.data = bigArchive(t, 12<<20) })
	kind := plain
	if s.versioning {
		kind = versioned
	}
	bucket := s.bucket(t, kind)
	key := "big/2376158762_cust_2017-11.csv.gz"
	if s.versioning {
		s.put(t, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, bigOnce.data)
	}
	s.put(t, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, bigOnce.data)
	before := s.everything(t, bucket)
	var parts atomic.Int64
	sum, err := s.run(t, bucket, "big", func(st *Store) {
		st.PartSize = minPartSize
		st.hook = func(step, _ string) error {
			if step == "parts-uploaded" {
				parts.Add(1)
			}
			return nil
		}
	})
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	if sum.Totals.Erased != 1 {
		t.Errorf("totals %+v", sum.Totals)
	}
	if got, want := parts.Load() > 0, s.condParts; got != want {
		t.Errorf("went up in parts: %v, want %v (the store honours If-Match on completion: %v)", got, want, s.condParts)
	}
	s.check(t, bucket, sum, before, nil, nil)
	s.again(t, bucket, "big", before, nil)
}

// refused: a store that ignores If-Match on PutObject is refused without
// AcceptUnconditional, and nothing in it changes.
func (s compatServer) refused(t *testing.T) {
	bucket := s.bucket(t, plain)
	orig := s.upload(t, bucket, "e")
	before := s.everything(t, bucket)
	sum, err := s.run(t, bucket, "e", func(st *Store) { st.AcceptUnconditional = false })
	if err == nil {
		t.Fatalf("erase on a store that ignores If-Match succeeded: %+v", sum.Totals)
	}
	for _, want := range []string{"ignores If-Match on PutObject", acceptFlag} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	after := s.everything(t, bucket)
	if len(after) != len(before) {
		t.Errorf("%d keys before, %d after", len(before), len(after))
	}
	for key, vs := range before {
		if !sameVersions(vs, after[key]) {
			t.Errorf("%s changed by a refused erase", key)
		}
	}
	// With the race accepted, it erases (unversioned).
	s.erase(t, bucket, "e", orig, nil)
}

// concurrent: another writer puts a new object (version) between scrub's
// read and its conditional write: the archive ends conflict and their
// bytes survive.
func (s compatServer) concurrent(t *testing.T, kind bucketKind) {
	bucket := s.bucket(t, kind)
	orig := s.upload(t, bucket, "e")
	target := "e/2376158762_cust_2017-11-22.zip"
	theirs := []byte("Client ID,v\n9F3A41C07B22E8D1,their new upload\n")
	var theirVersion atomic.Value
	sum, err := s.run(t, bucket, "e", func(st *Store) {
		st.hook = func(step, key string) error {
			if step == "checked" && key == target {
				theirVersion.Store(s.put(t, &s3.PutObjectInput{Bucket: &bucket, Key: &target}, theirs))
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if theirVersion.Load() == nil {
		t.Fatal("the hook never saw the target staged")
	}
	res := statuses(t, bucket, sum)
	if r := res[target]; r.Status != scrub.Conflict {
		t.Errorf("%s: %s (%s), want conflict", target, r.Status, r.Error)
	}
	if got := get(t, s.Client, bucket, target, ""); !bytes.Equal(got, theirs) {
		t.Errorf("the concurrent writer's object was clobbered: %q", got)
	}
	if v := theirVersion.Load().(string); kind == versioned && v != "" {
		if got := get(t, s.Client, bucket, target, v); !bytes.Equal(got, theirs) {
			t.Errorf("the concurrent writer's version %s changed: %q", v, got)
		}
	}
	for key, b := range orig {
		if key == target {
			continue
		}
		if r := res[key]; r.Status != scrub.Erased && r.Status != scrub.Unchanged {
			t.Errorf("%s: %s (%s)", key, r.Status, r.Error)
		}
		scrubtest.CheckArchive(t, key, b, get(t, s.Client, bucket, key, ""))
	}
}
