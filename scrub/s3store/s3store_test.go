package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// These tests run against a real MinIO server: `make test` starts one with
// cmd/withminio and sets SCRUB_TEST_S3_ENDPOINT. Without it they skip, but
// under CI=true they fail: the integration tier must never silently vanish.

var bucketSeq atomic.Int64

func testClient(t *testing.T) *s3.Client {
	t.Helper()
	ep := scrubtest.S3Endpoint(t)
	c, err := NewClient(context.Background(), ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type bucketKind int

const (
	plain bucketKind = iota
	versioned
	locked
)

func newBucket(t *testing.T, c *s3.Client, kind bucketKind) string {
	t.Helper()
	name := fmt.Sprintf("scrub-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	in := &s3.CreateBucketInput{Bucket: &name}
	if kind == locked {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := c.CreateBucket(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if kind == versioned {
		setVersioning(t, c, name, types.BucketVersioningStatusEnabled)
	}
	return name
}

func setVersioning(t *testing.T, c *s3.Client, bucket string, st types.BucketVersioningStatus) {
	t.Helper()
	_, err := c.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: st}})
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, c *s3.Client, in *s3.PutObjectInput, data []byte) *s3.PutObjectOutput {
	t.Helper()
	in.Body = bytes.NewReader(data)
	out, err := c.PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s: %v", aws.ToString(in.Key), err)
	}
	return out
}

// uploadExport puts the test data below prefix and returns it by key.
func uploadExport(t *testing.T, c *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	return putExport(t, prefix, func(key string, b []byte) { put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, b) })
}

// putExport puts every file of the test data below prefix with put, and
// returns them by key.
func putExport(t *testing.T, prefix string, put func(key string, data []byte)) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		key := prefix + "/" + filepath.ToSlash(rel)
		put(key, b)
		files[key] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func get(t *testing.T, c *s3.Client, bucket, key, version string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key, VersionId: nonEmpty(version)})
	if err != nil {
		t.Fatalf("get %s %s: %v", key, version, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type objVersion struct {
	key, id string
	marker  bool
}

func listVersions(t *testing.T, c *s3.Client, bucket string) []objVersion {
	t.Helper()
	var vs []objVersion
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			vs = append(vs, objVersion{key: aws.ToString(v.Key), id: aws.ToString(v.VersionId)})
		}
		for _, m := range page.DeleteMarkers {
			vs = append(vs, objVersion{key: aws.ToString(m.Key), id: aws.ToString(m.VersionId), marker: true})
		}
	}
	return vs
}

// checkNoVictims fails if any version of any object still holds a victim's
// row in its ID column.
func checkNoVictims(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	flt := &filter.Filter{IDs: ids.New(scrubtest.Victims...)}
	for _, v := range listVersions(t, c, bucket) {
		if v.marker {
			continue
		}
		data := get(t, c, bucket, v.key, v.id)
		rep, err := archive.Scan(bytes.NewReader(data), int64(len(data)), flt, false)
		if err != nil {
			t.Errorf("%s@%s: %v", v.key, v.id, err)
			continue
		}
		if rep.Removed() > 0 {
			t.Errorf("%s@%s still holds %d rows of erased IDs", v.key, v.id, rep.Removed())
		}
	}
}

func erase(ctx context.Context, t *testing.T, st *Store, mod func(*scrub.Options)) *scrub.Summary {
	t.Helper()
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: 4}
	if mod != nil {
		mod(&opt)
	}
	sum, err := scrub.Run(ctx, opt, []scrub.Source{{Name: st.url(st.Prefix), Store: st}})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return sum
}

func newStore(c *s3.Client, bucket, prefix string) *Store {
	st := New(c, bucket, prefix)
	st.TempDir = os.TempDir()
	return st
}

func TestPlainBucket(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	before := uploadExport(t, c, bucket, "exports")
	// A key beside the prefix that only shares its first letters is not
	// below it.
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("exports2/x.csv")}, []byte("Client ID\n9F3A41C07B22E8D1\n"))

	sum := erase(context.Background(), t, newStore(c, bucket, "exports"), nil)
	if sum.Err() != nil || sum.Totals.Erased != 13 || sum.Totals.Unchanged != 1 || sum.Totals.RowsRemoved != 343 {
		t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
	}
	for key, b := range before {
		scrubtest.CheckArchive(t, key, b, get(t, c, bucket, key, ""))
	}
	if got := get(t, c, bucket, "exports2/x.csv", ""); !bytes.Contains(got, []byte("9F3A41C07B22E8D1")) {
		t.Error("an object outside the prefix was touched")
	}
	for _, r := range scrubtest.Results(t, sum) {
		if r.VersionsDeleted != 0 || r.VersionID != "" {
			t.Errorf("%s: versions in an unversioned bucket: %+v", r.Key, r)
		}
	}
	again := erase(context.Background(), t, newStore(c, bucket, "exports"), nil)
	if again.Totals.Unchanged != 14 {
		t.Errorf("second run: %+v", again.Totals)
	}
}

func TestVersionedBucket(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	before := uploadExport(t, c, bucket, "exports")
	// Older versions with the same data, a delete marker in between, and
	// a key that extends another (must not be touched by its purge).
	key := "exports/2376158762_cust_2017-11-22.zip"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, before[key])
	if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, before[key])
	unchanged := "exports/" + scrubtest.Unchanged
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &unchanged}, before[unchanged])
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key + ".bak")}, []byte("Client ID\nnot an erased row\n"))

	sum := erase(context.Background(), t, newStore(c, bucket, "exports"), func(o *scrub.Options) {
		o.Include = []string{"*.zip", "*.gz", "*.csv"}
		o.VerifyFull = true
	})
	if sum.Err() != nil || sum.Totals.Erased != 13 {
		t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
	}
	checkNoVictims(t, c, bucket)
	counts := map[string]int{}
	for _, v := range listVersions(t, c, bucket) {
		counts[v.key]++
	}
	for k := range before {
		want := 1
		if k == unchanged {
			want = 2 // held no victim: neither version touched
		}
		if counts[k] != want {
			t.Errorf("%s: %d versions and markers, want %d", k, counts[k], want)
		}
		scrubtest.CheckArchive(t, k, before[k], get(t, c, bucket, k, ""))
	}
	if counts[key+".bak"] != 1 {
		t.Errorf("%s.bak: %d versions, want 1", key, counts[key+".bak"])
	}
	for _, r := range scrubtest.Results(t, sum) {
		if strings.HasSuffix(r.Key, key) && r.VersionsDeleted != 4 {
			t.Errorf("%s: %d versions deleted, want 4 (3 versions and a marker)", r.Key, r.VersionsDeleted)
		}
	}
}

func TestSuspendedVersioning(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, "2376158762_cust_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	key := "x/a.csv.gz"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
	setVersioning(t, c, bucket, types.BucketVersioningStatusSuspended)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data) // the "null" version
	sum := erase(context.Background(), t, newStore(c, bucket, "x"), nil)
	if sum.Err() != nil || sum.Totals.Erased != 1 {
		t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
	}
	checkNoVictims(t, c, bucket)
	if vs := listVersions(t, c, bucket); len(vs) != 1 {
		t.Errorf("versions left: %+v", vs)
	}
}

func TestObjectLock(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, locked)
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, "2376158762_cust_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/retained.csv.gz"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until}, data)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/hold.csv.gz"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn}, data)
	// The latest version is free, but an older one is retained: the
	// rewrite could not delete it, so nothing is done.
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/old-retained.csv.gz"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until}, data)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/old-retained.csv.gz")}, data)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("l/free.csv.gz")}, data)
	before := listVersions(t, c, bucket)

	sum := erase(context.Background(), t, newStore(c, bucket, "l"), nil)
	if !errors.Is(sum.Err(), scrub.ErrPartial) || sum.Totals.Held != 3 || sum.Totals.Erased != 1 {
		t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
	}
	for _, r := range scrubtest.Results(t, sum) {
		switch {
		case strings.HasSuffix(r.Key, "/retained.csv.gz"):
			if want := "retained until " + until.Format(time.RFC3339); !strings.Contains(r.Error, want) {
				t.Errorf("%s: %q, want %q", r.Key, r.Error, want)
			}
		case strings.HasSuffix(r.Key, "/hold.csv.gz"):
			if !strings.Contains(r.Error, "legal hold") {
				t.Errorf("%s: %q", r.Key, r.Error)
			}
		}
	}
	after := listVersions(t, c, bucket)
	if len(after) != len(before) {
		t.Errorf("%d versions before, %d after: the free object should have 1 new and 1 deleted", len(before), len(after))
	}
	// Release the holds so the bucket can be cleaned by MinIO's own exit.
	c.PutObjectLegalHold(context.Background(), &s3.PutObjectLegalHoldInput{Bucket: &bucket, Key: aws.String("l/hold.csv.gz"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
}

func TestMetadataPreserved(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, "2376158762_exc_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	base := s3.PutObjectInput{
		ContentType: aws.String("application/gzip"), ContentEncoding: aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="exc.csv.gz"`), CacheControl: aws.String("max-age=60"),
		ContentLanguage: aws.String("en"), Expires: &expires,
		Metadata:     map[string]string{"export-id": "2376158762", "exported-by": "analytics platform"},
		Tagging:      aws.String("kind=exceptions&retention=365d&owner=team%20a"),
		StorageClass: types.StorageClassReducedRedundancy,
	}
	cases := map[string]func(*s3.PutObjectInput){"m/plain.csv.gz": nil}
	if kms := os.Getenv("SCRUB_TEST_KMS_KEY"); kms != "" {
		cases["m/sse-s3.csv.gz"] = func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 }
		cases["m/sse-kms.csv.gz"] = func(in *s3.PutObjectInput) {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(kms)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and SCRUB_TEST_KMS_KEY unset: SSE cannot be tested")
	}
	heads := map[string]*s3.HeadObjectOutput{}
	for key, mod := range cases {
		in := base
		in.Bucket, in.Key = &bucket, aws.String(key)
		if mod != nil {
			mod(&in)
		}
		put(t, c, &in, data)
		h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: in.Key})
		if err != nil {
			t.Fatal(err)
		}
		heads[key] = h
	}
	sum := erase(context.Background(), t, newStore(c, bucket, "m"), nil)
	if sum.Err() != nil || sum.Totals.Erased != len(cases) {
		t.Fatalf("totals %+v: %v %+v", sum.Totals, sum.Err(), scrubtest.Results(t, sum))
	}
	for key, b := range heads {
		a, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(a.ETag) == aws.ToString(b.ETag) {
			t.Errorf("%s: not rewritten", key)
		}
		for _, f := range []struct {
			name string
			a, b any
		}{
			{"Content-Type", aws.ToString(a.ContentType), aws.ToString(b.ContentType)},
			{"Content-Encoding", aws.ToString(a.ContentEncoding), aws.ToString(b.ContentEncoding)},
			{"Content-Disposition", aws.ToString(a.ContentDisposition), aws.ToString(b.ContentDisposition)},
			{"Cache-Control", aws.ToString(a.CacheControl), aws.ToString(b.CacheControl)},
			{"Content-Language", aws.ToString(a.ContentLanguage), aws.ToString(b.ContentLanguage)},
			{"Expires", aws.ToString(a.ExpiresString), aws.ToString(b.ExpiresString)},
			{"metadata", fmt.Sprint(a.Metadata), fmt.Sprint(b.Metadata)},
			{"storage class", a.StorageClass, b.StorageClass},
			{"SSE", a.ServerSideEncryption, b.ServerSideEncryption},
			{"SSE-KMS key", aws.ToString(a.SSEKMSKeyId), aws.ToString(b.SSEKMSKeyId)},
			{"tag count", aws.ToInt32(a.TagCount), aws.ToInt32(b.TagCount)},
		} {
			if f.a != f.b {
				t.Errorf("%s: %s is %v, was %v", key, f.name, f.a, f.b)
			}
		}
		tags, err := c.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range tags.TagSet {
			got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(map[string]string{"kind": "exceptions", "retention": "365d", "owner": "team a"}) {
			t.Errorf("%s: tags %v", key, got)
		}
	}
	checkNoVictims(t, c, bucket)
}

// TestConcurrentWriter overwrites the object while scrub holds its rewrite:
// the conditional write fails, the archive is reported as a conflict, and
// the other writer's data stays.
func TestConcurrentWriter(t *testing.T) {
	c := testClient(t)
	for _, kind := range []bucketKind{plain, versioned} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			bucket := newBucket(t, c, kind)
			before := uploadExport(t, c, bucket, "e")
			target := "e/2376158762_cust_2017-11-22.zip"
			theirs := []byte("Client ID,v\n9F3A41C07B22E8D1,their new upload\n")
			st := newStore(c, bucket, "e")
			st.hook = func(step, key string) error {
				if step == "checked" && key == target {
					put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &target}, theirs)
				}
				return nil
			}
			sum := erase(context.Background(), t, st, nil)
			if sum.Totals.Conflict != 1 || sum.Totals.Erased != 12 || !errors.Is(sum.Err(), scrub.ErrPartial) {
				t.Fatalf("totals %+v", sum.Totals)
			}
			if got := get(t, c, bucket, target, ""); !bytes.Equal(got, theirs) {
				t.Errorf("the concurrent writer's object was clobbered: %q", got)
			}
			for key, b := range before {
				if key != target {
					scrubtest.CheckArchive(t, key, b, get(t, c, bucket, key, ""))
				}
			}
		})
	}
}

// bigArchive returns a gzip CSV larger than size compressed, with rows of
// the victims spread through it.
func bigArchive(t *testing.T, size int) []byte {
	var raw bytes.Buffer
	rng := rand.New(rand.NewPCG(5, 6))
	raw.WriteString("Timestamp,Client ID,Custom Values\n")
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	for out.Len() < size {
		for i := 0; i < 1000; i++ {
			id := fmt.Sprintf("%016X", rng.Uint64())
			if rng.IntN(50) == 0 {
				id = scrubtest.Victims[rng.IntN(len(scrubtest.Victims))]
			}
			fmt.Fprintf(&raw, "2017-11-22 10:00:00,%s,\"(Noise,%x)\"\n", id, rng.Uint64())
		}
		zw.Write(raw.Bytes())
		raw.Reset()
	}
	zw.Close()
	return out.Bytes()
}

func TestMultipart(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	data := bigArchive(t, 13<<20)
	key := "big/2376158762_cust_2017-11.csv.gz"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Metadata: map[string]string{"k": "v"}}, data)

	// A failure after the parts are up aborts the upload: nothing changes
	// and no upload is left behind.
	st := newStore(c, bucket, "big")
	st.PartSize = minPartSize
	st.hook = func(step, _ string) error {
		if step == "parts-uploaded" {
			return errors.New("injected")
		}
		return nil
	}
	sum := erase(context.Background(), t, st, nil)
	if sum.Totals.Failed != 1 {
		t.Fatalf("totals %+v", sum.Totals)
	}
	if !bytes.Equal(get(t, c, bucket, key, ""), data) {
		t.Fatal("object changed by a failed upload")
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left", len(ups.Uploads))
	}

	st.hook = nil
	sum = erase(context.Background(), t, st, nil)
	if sum.Err() != nil || sum.Totals.Erased != 1 {
		t.Fatalf("totals %+v %v", sum.Totals, sum.Err())
	}
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(h.ETag), "-") || h.Metadata["k"] != "v" {
		t.Errorf("not a multipart upload with the metadata kept: ETag %s, metadata %v", aws.ToString(h.ETag), h.Metadata)
	}
	checkNoVictims(t, c, bucket)
}

func TestManySmallArchives(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	const n = 120
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("Timestamp,Client ID\n2017-11-22,%s\n2017-11-22,KEEP%04d\n", scrubtest.Victims[i%3], i)
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("daily/%04d.csv", i))}, []byte(body))
	}
	sum := erase(context.Background(), t, newStore(c, bucket, "daily"), func(o *scrub.Options) { o.Jobs = 16 })
	if sum.Err() != nil || sum.Totals.Erased != n || sum.Totals.RowsRemoved != n {
		t.Fatalf("totals %+v", sum.Totals)
	}
	for i := 0; i < n; i++ {
		want := fmt.Sprintf("Timestamp,Client ID\n2017-11-22,KEEP%04d\n", i)
		if got := get(t, c, bucket, fmt.Sprintf("daily/%04d.csv", i), ""); string(got) != want {
			t.Errorf("%d: %q", i, got)
		}
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	uploadExport(t, c, bucket, "e")
	before := listVersions(t, c, bucket)
	sum := erase(context.Background(), t, newStore(c, bucket, "e"), func(o *scrub.Options) { o.DryRun = true })
	if sum.Err() != nil || sum.Totals.WouldErase != 13 || sum.Totals.RowsRemoved != 343 {
		t.Fatalf("totals %+v", sum.Totals)
	}
	if after := listVersions(t, c, bucket); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dry run changed versions:\n%v\n%v", before, after)
	}
}

// TestInterrupted cancels the batch while archives are in flight, at each
// step of the replacement: every object is then whole, old or new, and a
// second run finishes the job with no version left holding an erased row.
func TestInterrupted(t *testing.T) {
	c := testClient(t)
	for _, step := range []string{"staged", "uploaded", "purge", "deleted-version"} {
		t.Run(step, func(t *testing.T) {
			bucket := newBucket(t, c, versioned)
			before := uploadExport(t, c, bucket, "e")
			ctx, cancel := context.WithCancel(context.Background())
			st := newStore(c, bucket, "e")
			st.hook = func(s, _ string) error {
				if s == step {
					cancel()
				}
				return nil
			}
			sum := erase(ctx, t, st, func(o *scrub.Options) { o.Jobs = 2 })
			if sum.Totals.Skipped == 0 {
				t.Errorf("nothing skipped: %+v", sum.Totals)
			}
			for key, b := range before {
				got := get(t, c, bucket, key, "")
				if !bytes.Equal(got, b) {
					scrubtest.CheckArchive(t, key, b, got)
				}
			}
			sum = erase(context.Background(), t, newStore(c, bucket, "e"), nil)
			if sum.Err() != nil {
				t.Fatalf("second run: %v", sum.Err())
			}
			checkNoVictims(t, c, bucket)
		})
	}
}

func TestMixedSources(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	uploadExport(t, c, bucket, "e")
	dir := scrubtest.CopyExport(t)
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: 4}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{
		{Name: "local", Store: &local.Store{Root: dir}},
		{Name: "s3", Store: newStore(c, bucket, "e")},
	})
	if err != nil || sum.Err() != nil || sum.Totals.Erased != 26 {
		t.Fatalf("%v %v %+v", err, sum.Err(), sum.Totals)
	}
}

// TestOlderVersionsHoldingRows: the current version holds no listed ID, but
// older ones do (an interrupted run, or versions from before scrub). They
// are deleted; versions without a listed ID stay.
func TestOlderVersionsHoldingRows(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	key := "o/2376158762_cust_2017-11-24.csv"
	dirty := []byte("Timestamp,Client ID\n2017-11-24,9F3A41C07B22E8D1\n2017-11-24,KEEP1\n")
	clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, dirty)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean)
	before := listVersions(t, c, bucket)

	sum := erase(context.Background(), t, newStore(c, bucket, "o"), func(o *scrub.Options) { o.DryRun = true })
	if r := scrubtest.Results(t, sum)[0]; r.Status != scrub.WouldErase || r.VersionsDeleted != 1 {
		t.Errorf("dry run: %+v", r)
	}
	if after := listVersions(t, c, bucket); len(after) != len(before) {
		t.Fatal("dry run deleted versions")
	}
	sum = erase(context.Background(), t, newStore(c, bucket, "o"), nil)
	if r := scrubtest.Results(t, sum)[0]; r.Status != scrub.Erased || r.VersionsDeleted != 1 || sum.Err() != nil {
		t.Errorf("result %+v", r)
	}
	checkNoVictims(t, c, bucket)
	if after := listVersions(t, c, bucket); len(after) != 2 {
		t.Errorf("%d versions left, want the 2 clean ones", len(after))
	}
}
