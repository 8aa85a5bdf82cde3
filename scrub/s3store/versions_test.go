package s3store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// These tests are about an archive's versions: which are deleted, which
// are checked for object lock, which are found at all. Where a test plays
// an S3 implementation that answers otherwise than MinIO, the store's
// client is wrapped (playStore); the checks go to MinIO directly.

// playStore is the real client with some answers changed.
type playStore struct {
	api
	// oldestFirst lists versions and delete markers oldest first
	// (SeaweedFS with suspended versioning lists the null version after
	// the older ones).
	oldestFirst bool
	// noLockHeaders leaves the object-lock headers out of the HEAD of a
	// version (versitygw, for a version that is not the current one).
	noLockHeaders bool
	// lockErr, if set, answers GetObjectRetention and GetObjectLegalHold.
	lockErr error
	// noRetention answers GetObjectRetention with no retention (moto,
	// for a version its HEAD shows retained).
	noRetention bool
	// noVersionListing answers ListObjectVersions with 501 Not
	// Implemented (a store that versions but cannot list versions).
	noVersionListing bool
	// fakeDelete answers the DeleteObject of these versions with success
	// but deletes nothing.
	fakeDelete map[string]bool
	// pageSize, if set, is the MaxKeys of every ListObjectVersions.
	pageSize int32
	// goneBeforeRead deletes these versions just before their first GET
	// (another client's deletion, or a killed attempt's that the store
	// carries out after the listing).
	goneBeforeRead map[string]bool
	// stillListed lists these versions of key after they are gone (MinIO
	// for seconds after a DELETE whose client went away).
	stillListed map[string]string
}

func (p *playStore) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if v := aws.ToString(in.VersionId); p.goneBeforeRead[v] {
		delete(p.goneBeforeRead, v)
		if _, err := p.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: in.Bucket, Key: in.Key, VersionId: in.VersionId}); err != nil {
			return nil, err
		}
	}
	return p.api.GetObject(ctx, in, opt...)
}

func (p *playStore) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opt ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if p.noVersionListing {
		return nil, &smithy.GenericAPIError{Code: "NotImplemented", Message: "ListObjectVersions is not implemented"}
	}
	if p.pageSize != 0 {
		cp := *in
		cp.MaxKeys = &p.pageSize
		in = &cp
	}
	out, err := p.api.ListObjectVersions(ctx, in, opt...)
	for id, key := range p.stillListed {
		if err == nil && !slices.ContainsFunc(out.Versions, func(v types.ObjectVersion) bool { return aws.ToString(v.VersionId) == id }) {
			out.Versions = append(out.Versions, types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(id), IsLatest: aws.Bool(false), Size: aws.Int64(64)})
		}
	}
	if err == nil && p.oldestFirst {
		slices.Reverse(out.Versions)
		slices.Reverse(out.DeleteMarkers)
	}
	return out, err
}

func (p *playStore) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opt ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := p.api.HeadObject(ctx, in, opt...)
	if err == nil && p.noLockHeaders && in.VersionId != nil {
		out.ObjectLockMode, out.ObjectLockRetainUntilDate, out.ObjectLockLegalHoldStatus = "", nil, ""
	}
	return out, err
}

func (p *playStore) GetObjectRetention(ctx context.Context, in *s3.GetObjectRetentionInput, opt ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error) {
	if p.lockErr != nil {
		return nil, p.lockErr
	}
	if p.noRetention {
		return &s3.GetObjectRetentionOutput{}, nil
	}
	return p.api.GetObjectRetention(ctx, in, opt...)
}

func (p *playStore) GetObjectLegalHold(ctx context.Context, in *s3.GetObjectLegalHoldInput, opt ...func(*s3.Options)) (*s3.GetObjectLegalHoldOutput, error) {
	if p.lockErr != nil {
		return nil, p.lockErr
	}
	return p.api.GetObjectLegalHold(ctx, in, opt...)
}

func (p *playStore) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opt ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if p.fakeDelete[aws.ToString(in.VersionId)] {
		return &s3.DeleteObjectOutput{}, nil
	}
	return p.api.DeleteObject(ctx, in, opt...)
}

// victimArchive is a test archive that holds rows of the victims.
func victimArchive(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, "2376158762_cust_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// keyVersions returns the versions and markers of exactly key.
func keyVersions(t *testing.T, c *s3.Client, bucket, key string) []objVersion {
	t.Helper()
	var vs []objVersion
	for _, v := range listVersions(t, c, bucket) {
		if v.key == key {
			vs = append(vs, v)
		}
	}
	return vs
}

// TestPurgeByVersionID: a store that lists versions oldest first. After
// the replacement every version from before it is deleted, whatever
// their order, and only the new one is left.
func TestPurgeByVersionID(t *testing.T) {
	c := testClient(t)
	data := victimArchive(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, bucket, key string)
	}{
		{"versioned", func(t *testing.T, bucket, key string) {
			for range 3 {
				put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
			}
		}},
		{"suspended", func(t *testing.T, bucket, key string) {
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
			setVersioning(t, c, bucket, types.BucketVersioningStatusSuspended)
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data) // the "null" version
		}},
		{"marker between", func(t *testing.T, bucket, key string) {
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
			if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
				t.Fatal(err)
			}
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := newBucket(t, c, versioned)
			key := "p/a.csv.gz"
			tc.prepare(t, bucket, key)
			st := newStore(c, bucket, "p")
			st.client = &playStore{api: c, oldestFirst: true}
			sum := erase(context.Background(), t, st, nil)
			if sum.Err() != nil || sum.Totals.Erased != 1 {
				t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
			}
			checkNoVictims(t, c, bucket)
			h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			vs := keyVersions(t, c, bucket, key)
			if len(vs) != 1 || vs[0].marker || vs[0].id != cmp.Or(aws.ToString(h.VersionId), nullVersion) {
				t.Errorf("versions left: %+v, want only the new one, %s", vs, aws.ToString(h.VersionId))
			}
		})
	}
}

// TestPurgeChecksWhatIsLeft: a store that answers a version's deletion
// with success but keeps it. The purge lists the versions again, finds
// it, and the archive is not reported erased.
func TestPurgeChecksWhatIsLeft(t *testing.T) {
	c := testClient(t)
	data := victimArchive(t)
	bucket := newBucket(t, c, versioned)
	key := "p/a.csv.gz"
	kept := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data).VersionId)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, data)
	st := newStore(c, bucket, "p")
	st.client = &playStore{api: c, fakeDelete: map[string]bool{kept: true}}
	st.GoneWait = time.Second
	sum := erase(context.Background(), t, st, nil)
	r := scrubtest.Results(t, sum)[0]
	if r.Status != scrub.ReplacedIncomplete || !strings.Contains(r.Error, kept) {
		t.Errorf("result %s %q, want %s naming version %s", r.Status, r.Error, scrub.ReplacedIncomplete, kept)
	}
}

// TestPurgeOlderByVersionID: the current version holds no listed ID, an
// older one does, in a store that lists versions oldest first: exactly
// that one is deleted.
func TestPurgeOlderByVersionID(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	key := "o/2376158762_cust_2017-11-24.csv"
	dirty := []byte("Timestamp,Client ID\n2017-11-24," + scrubtest.Victims[0] + "\n2017-11-24,KEEP1\n")
	clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
	first := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean).VersionId)
	victim := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, dirty).VersionId)
	current := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean).VersionId)

	st := newStore(c, bucket, "o")
	st.client = &playStore{api: c, oldestFirst: true}
	sum := erase(context.Background(), t, st, nil)
	if r := scrubtest.Results(t, sum)[0]; r.Status != scrub.Erased || !slices.Equal(r.DeletedVersions, []string{victim}) || sum.Err() != nil {
		t.Errorf("result %s, deleted %q (%v); want erased, deleted [%s]", r.Status, r.DeletedVersions, r.Error, victim)
	}
	checkNoVictims(t, c, bucket)
	var left []string
	for _, v := range keyVersions(t, c, bucket, key) {
		left = append(left, v.id)
	}
	slices.Sort(left)
	want := []string{first, current}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("versions left %q, want the clean ones %q", left, want)
	}
}

// TestPurgeOlderVersionGone: an older version is listed, then deleted by
// someone else before it is read (MinIO carries out a killed attempt's
// DELETE after the next attempt has listed the versions, and lists it for
// seconds after). Once the listing drops it, it holds nothing: the archive
// is not a conflict, the other dirty version is deleted, and the record
// does not claim the gone one. Listed for longer than the store waits,
// the archive is a conflict and nothing is claimed.
func TestPurgeOlderVersionGone(t *testing.T) {
	c := testClient(t)
	for _, tc := range []struct {
		name   string
		listed int // ListObjectVersions that still list the gone version
	}{
		{"dropped at once", 0},
		{"dropped after a while", 3},
		{"listed for good", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := newBucket(t, c, versioned)
			key := "o/2376158762_cust_2017-11-24.csv"
			dirty := []byte("Timestamp,Client ID\n2017-11-24," + scrubtest.Victims[0] + "\n2017-11-24,KEEP1\n")
			clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
			gone := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, dirty).VersionId)
			victim := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, dirty).VersionId)
			current := aws.ToString(put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean).VersionId)

			st := newStore(c, bucket, "o")
			st.GoneWait = time.Second
			ps := &playStore{api: c, goneBeforeRead: map[string]bool{gone: true}}
			st.client = &countdownList{playStore: ps, n: tc.listed, id: gone, key: key}
			sum := erase(context.Background(), t, st, nil)
			r := scrubtest.Results(t, sum)[0]
			if tc.listed > 100 {
				if r.Status != scrub.Conflict || !strings.Contains(r.Error, gone) {
					t.Errorf("result %s %q, want a conflict naming %s", r.Status, r.Error, gone)
				}
				return
			}
			if r.Status != scrub.Erased || !slices.Equal(r.DeletedVersions, []string{victim}) || sum.Err() != nil {
				t.Errorf("result %s, deleted %q (%v); want erased, deleted [%s]", r.Status, r.DeletedVersions, r.Error, victim)
			}
			checkNoVictims(t, c, bucket)
			if vs := keyVersions(t, c, bucket, key); len(vs) != 1 || vs[0].id != current {
				t.Errorf("versions left %+v, want only %s", vs, current)
			}
		})
	}
}

// countdownList lists version id of key, once it is gone, in the next n
// listings after its deletion.
type countdownList struct {
	*playStore
	n       int
	id, key string
}

func (c *countdownList) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opt ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if !c.goneBeforeRead[c.id] && c.n > 0 { // deleted
		c.n--
		c.stillListed = map[string]string{c.id: c.key}
	} else {
		c.stillListed = nil
	}
	return c.playStore.ListObjectVersions(ctx, in, opt...)
}

// TestPurgeOlderAfterChange: the archive changed between Open and
// PurgeOlder: nothing is deleted and the archive is a conflict.
func TestPurgeOlderAfterChange(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	key := "o/a.csv"
	clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean)
	st := newStore(c, bucket, "o")
	obj := listOne(t, st, "a.csv")
	var before []objVersion
	err := st.Open(context.Background(), obj, func(ct scrub.Content) error {
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, []byte("Timestamp,Client ID\n2017-11-25,THEIRS\n"))
		before = keyVersions(t, c, bucket, key)
		deleted, err := ct.(scrub.Versioned).PurgeOlder(context.Background(), func(io.ReaderAt, int64) (bool, error) { return true, nil })
		if len(deleted) != 0 {
			t.Errorf("deleted %q of an archive that changed since it was read", deleted)
		}
		return err
	})
	if !errors.Is(err, scrub.ErrConflict) {
		t.Errorf("PurgeOlder of an archive changed since Open: %v, want scrub.ErrConflict", err)
	}
	if after := keyVersions(t, c, bucket, key); len(after) != len(before) {
		t.Errorf("versions before %+v, after %+v", before, after)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// listOne returns the archive rel of st.
func listOne(t *testing.T, st *Store, rel string) scrub.Object {
	t.Helper()
	for _, o := range listAll(t, st) {
		if o.Rel == rel {
			return o
		}
	}
	t.Fatalf("%s not listed", rel)
	return scrub.Object{}
}

func listAll(t *testing.T, st *Store) []scrub.Object {
	t.Helper()
	var objs []scrub.Object
	if err := st.List(context.Background(), func(o scrub.Object) error {
		objs = append(objs, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestOlderVersionLocked: an older version, not the current one, is
// retained or on legal hold, as the store answers GetObjectRetention and
// GetObjectLegalHold for it: the archive is held and nothing is written,
// even when HEAD of that version says nothing (versitygw). Where the store
// does not implement those calls, HEAD's headers decide; where it refuses
// them, the archive fails rather than pass as free.
func TestOlderVersionLocked(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, locked)
	data := victimArchive(t)
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	retained := func(in *s3.PutObjectInput) {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &until
	}
	onHold := func(in *s3.PutObjectInput) { in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn }
	notImplemented := &smithy.GenericAPIError{Code: "NotImplemented", Message: "not implemented"}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
	for _, tc := range []struct {
		name   string
		older  func(*s3.PutObjectInput)
		play   playStore
		status scrub.Status
		error  string
	}{
		{"retained, HEAD silent", retained, playStore{noLockHeaders: true}, scrub.Held, "retained until " + until.Format(time.RFC3339)},
		{"legal hold, HEAD silent", onHold, playStore{noLockHeaders: true}, scrub.Held, "legal hold"},
		{"retained, calls not implemented", retained, playStore{lockErr: notImplemented}, scrub.Held, "retained until"},
		{"retained, retention call silent", retained, playStore{noRetention: true}, scrub.Held, "retained until"},
		{"legal hold, calls not implemented", onHold, playStore{lockErr: notImplemented}, scrub.Held, "legal hold"},
		{"free, calls denied", nil, playStore{lockErr: denied}, scrub.Failed, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "l/" + strings.ReplaceAll(tc.name, " ", "-") + "/a.csv.gz"
			in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
			if tc.older != nil {
				tc.older(in)
			}
			older := aws.ToString(put(t, c, in, data).VersionId)
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}, data)
			before := keyVersions(t, c, bucket, key)
			st := newStore(c, bucket, strings.TrimSuffix(key, "/a.csv.gz"))
			play := tc.play
			play.api = c
			st.client = &play
			sum := erase(context.Background(), t, st, nil)
			if r := scrubtest.Results(t, sum)[0]; r.Status != tc.status || !strings.Contains(r.Error, tc.error) {
				t.Errorf("result %s %q, want %s with %q", r.Status, r.Error, tc.status, tc.error)
			}
			if after := keyVersions(t, c, bucket, key); !slices.Equal(after, before) {
				t.Errorf("versions before %+v, after %+v: something was written or deleted", before, after)
			}
			if tc.older != nil && tc.status == scrub.Held {
				c.PutObjectLegalHold(context.Background(), &s3.PutObjectLegalHoldInput{Bucket: &bucket, Key: &key, VersionId: &older,
					LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
			}
		})
	}
}

// TestDeletedArchiveLocked: an archive deleted in a locked bucket (its
// latest entry a delete marker) whose older version is retained is held:
// its versions could not be purged.
func TestDeletedArchiveLocked(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, locked)
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	key := "l/a.csv.gz"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until}, victimArchive(t))
	if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	before := keyVersions(t, c, bucket, key)
	st := newStore(c, bucket, "l")
	st.client = &playStore{api: c, noLockHeaders: true}
	sum := erase(context.Background(), t, st, nil)
	if len(scrubtest.Results(t, sum)) != 1 || scrubtest.Results(t, sum)[0].Status != scrub.Held || !strings.Contains(scrubtest.Results(t, sum)[0].Error, "retained until") {
		t.Errorf("results %+v, want the deleted archive held", scrubtest.Results(t, sum))
	}
	if after := keyVersions(t, c, bucket, key); !slices.Equal(after, before) {
		t.Errorf("versions before %+v, after %+v", before, after)
	}
}

// deleted is what the store's Content says of an archive with no current
// version.
type deleted interface{ Deleted() bool }

// TestHiddenVersions: in a versioned bucket, a key whose latest entry is
// a delete marker still has versions that may hold rows. It is listed,
// Open lends it as empty and deleted, and PurgeOlder deletes the versions
// holding listed IDs. A key of delete markers alone is not listed.
func TestHiddenVersions(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	dirty := []byte("Timestamp,Client ID\n2017-11-24," + scrubtest.Victims[0] + "\n2017-11-24,KEEP1\n")
	clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
	del := func(key string) {
		t.Helper()
		if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/dirty.csv")}, dirty)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/dirty.csv")}, clean)
	del("h/dirty.csv")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/clean.csv")}, clean)
	del("h/clean.csv")
	del("h/markers-only.csv")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/current.csv")}, clean)
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/twice.csv")}, dirty)
	del("h/twice.csv")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("h/twice.csv")}, dirty)
	del("h/twice.csv")
	del("h/twice.csv")
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("other/dirty.csv")}, dirty)
	del("other/dirty.csv")

	st := newStore(c, bucket, "h")
	var rels []string
	for _, o := range listAll(t, st) {
		rels = append(rels, o.Rel)
	}
	slices.Sort(rels)
	if want := []string{"clean.csv", "current.csv", "dirty.csv", "twice.csv"}; !slices.Equal(rels, want) {
		t.Fatalf("listed %q, want %q", rels, want)
	}
	for _, size := range []int32{1, 2, 3} {
		small := newStore(c, bucket, "h")
		small.client = &playStore{api: c, pageSize: size, oldestFirst: true}
		var got []string
		for _, o := range listAll(t, small) {
			got = append(got, o.Rel)
		}
		if !slices.Equal(got, rels) && !slices.Equal(sorted(got), rels) {
			t.Errorf("listed %q with pages of %d versions, %q with whole pages", got, size, rels)
		}
	}
	ro := newStore(c, bucket, "h")
	ro.ReadOnly = true
	if objs := listAll(t, ro); len(objs) != 1 || objs[0].Rel != "current.csv" {
		t.Errorf("a read-only pass lists %+v, want only current.csv", objs)
	}

	flt := &filter.Filter{IDs: ids.New(scrubtest.Listed...)}
	match := func(r io.ReaderAt, size int64) (bool, error) {
		rep, err := archive.ScanWith(r, size, flt, true, archive.Options{})
		return err == nil && rep.Removed() > 0, err
	}
	for _, tc := range []struct {
		rel     string
		deleted int
	}{{"dirty.csv", 1}, {"clean.csv", 0}, {"twice.csv", 2}} {
		t.Run(tc.rel, func(t *testing.T) {
			key := "h/" + tc.rel
			obj := listOne(t, st, tc.rel)
			if obj.Size != 0 || obj.Key != "s3://"+bucket+"/"+key {
				t.Errorf("listed as %+v", obj)
			}
			before := keyVersions(t, c, bucket, key)
			var gone []string
			err := st.Open(context.Background(), obj, func(ct scrub.Content) error {
				if d, ok := ct.(deleted); !ok || !d.Deleted() || ct.Size() != 0 {
					t.Errorf("Open lends %T of size %d, want an empty Content whose Deleted() is true", ct, ct.Size())
				}
				v, ok := ct.(scrub.Versioned)
				if !ok {
					t.Fatalf("%T is not scrub.Versioned", ct)
				}
				var err error
				gone, err = v.PurgeOlder(context.Background(), match)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(gone) != tc.deleted {
				t.Errorf("deleted %q, want %d versions", gone, tc.deleted)
			}
			if after := keyVersions(t, c, bucket, key); len(after) != len(before)-tc.deleted {
				t.Errorf("versions before %+v, after %+v", before, after)
			}
		})
	}
	for _, v := range listVersions(t, c, bucket) {
		if v.marker || !strings.HasPrefix(v.key, "h/") {
			continue
		}
		if got := get(t, c, bucket, v.key, v.id); bytes.Contains(got, []byte(scrubtest.Victims[0])) {
			t.Errorf("%s@%s still holds a victim's row", v.key, v.id)
		}
	}
	if vs := keyVersions(t, c, bucket, "other/dirty.csv"); len(vs) != 2 {
		t.Errorf("a key outside the prefix: %+v", vs)
	}

	t.Run("written again after Open", func(t *testing.T) {
		key := "h/clean.csv"
		obj := listOne(t, st, "clean.csv")
		err := st.Open(context.Background(), obj, func(ct scrub.Content) error {
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, clean)
			_, err := ct.(scrub.Versioned).PurgeOlder(context.Background(), func(io.ReaderAt, int64) (bool, error) { return true, nil })
			return err
		})
		if !errors.Is(err, scrub.ErrConflict) {
			t.Errorf("PurgeOlder after the key was written again: %v, want scrub.ErrConflict", err)
		}
		if vs := keyVersions(t, c, bucket, key); len(vs) != 3 {
			t.Errorf("versions %+v, want the 3 there were", vs)
		}
	})
}

// TestHiddenVersionsErase: an erasure finds the versions behind a delete
// marker. The engine must not scan the empty current of a deleted
// archive (Content.Deleted) but go straight to PurgeOlder: erased when
// versions were deleted, unchanged otherwise.
func TestHiddenVersionsErase(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	data := victimArchive(t)
	clean := []byte("Timestamp,Client ID\n2017-11-24,KEEP1\n")
	for key, b := range map[string][]byte{"h/dirty.csv.gz": data, "h/clean.csv": clean} {
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: &key}, b)
		if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			t.Fatal(err)
		}
	}
	sum := erase(context.Background(), t, newStore(c, bucket, "h"), nil)
	got := map[string]scrub.Result{}
	for _, r := range scrubtest.Results(t, sum) {
		got[strings.TrimPrefix(r.Key, "s3://"+bucket+"/h/")] = r
	}
	if r := got["dirty.csv.gz"]; r.Status != scrub.Erased || r.VersionsDeleted != 1 {
		t.Errorf("dirty.csv.gz: %s, %d versions deleted (%s); want erased, 1", r.Status, r.VersionsDeleted, r.Error)
	}
	if r := got["clean.csv"]; r.Status != scrub.Unchanged || r.VersionsDeleted != 0 {
		t.Errorf("clean.csv: %s, %d versions deleted (%s); want unchanged, 0", r.Status, r.VersionsDeleted, r.Error)
	}
	checkNoVictims(t, c, bucket)
}

// TestNoVersionListing: a versioned bucket whose store cannot list
// versions. scrub cannot see the older versions that may hold listed rows
// (nor keys behind delete markers), so it refuses the batch, saying why,
// and writes nothing: a run that cannot check every version must not
// report an archive erased.
func TestNoVersionListing(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	uploadExport(t, c, bucket, "e")
	before := listVersions(t, c, bucket)
	st := newStore(c, bucket, "e")
	st.client = &playStore{api: c, noVersionListing: true}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: 4}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: "s3://" + bucket + "/e", Store: st}})
	if err == nil || !strings.Contains(err.Error(), "NotImplemented") {
		t.Fatalf("err = %v, summary %+v; want the batch refused naming ListObjectVersions' NotImplemented", err, sum)
	}
	if after := listVersions(t, c, bucket); len(after) != len(before) {
		t.Errorf("%d versions before, %d after: something was written", len(before), len(after))
	}
}
