// Package storetest is the conformance suite of scrub's stores, after
// restic's internal/backend/test: one table of behaviours, run through the
// seam (store.Open, then Location.Archives or Location.Files) against every
// kind of store, with what each store may do differently written down in
// its entry.
//
// An entry is a Suite: how to make a fresh, empty area of the store (a
// World, which is also how the suite plays "someone else" writing or
// deleting behind scrub's back), the abilities the store has (Remote,
// Versioned, ObjectLock, StagedCleaner), and the Quirks it is known to
// have. Local returns the entry of a local directory; S3Server.Suites the
// entries of an S3-compatible server, one per kind of bucket it offers.
// Suite.Run runs every Test* method of Suite as a subtest.
//
// The suite writes as the engine does: through a store prepared
// (scrub.Preparer) before the first write, with the race of unconditional
// writes accepted only where the entry tolerates IgnoresIfMatch.
//
// A check that a quirk explains is logged, not failed, when the entry
// lists the quirk; and a listed quirk that a check could have shown but
// did not fails the suite, so that the list stays true.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/store"
)

// A Quirk is a way a store is known to differ from what scrub expects of
// it. Scrub relies on conditional writes to never clobber another writer;
// servers differ per operation in honouring them, so each operation is
// its own quirk rather than one "ConditionalWrites" switch.
type Quirk string

const (
	// IgnoresIfNoneMatch: a PutObject with If-None-Match: * replaces an
	// existing object (s3rver). Files.Create and Files.CreateFile then
	// overwrite a file of the same name instead of failing with
	// fs.ErrExist.
	IgnoresIfNoneMatch Quirk = "IgnoresIfNoneMatch"
	// IgnoresIfMatch: a PutObject with If-Match on an ETag replaces an
	// object that no longer has that ETag, or recreates a deleted one
	// (s3rver). Replace then overwrites another writer's archive instead
	// of failing with scrub.ErrConflict.
	IgnoresIfMatch Quirk = "IgnoresIfMatch"
	// IgnoresIfMatchMultipart: CompleteMultipartUpload ignores If-Match
	// (moto). A Replace larger than the part size overwrites another
	// writer's archive.
	IgnoresIfMatchMultipart Quirk = "IgnoresIfMatchMultipart"
	// NoLockHeadersOnOldVersions: a HEAD of a non-current version carries
	// no object-lock headers (versitygw). Open does not see that an older
	// version is retained and lends the archive instead of reporting it
	// held.
	NoLockHeadersOnOldVersions Quirk = "NoLockHeadersOnOldVersions"
)

// A World is a fresh, empty area of one store for one test, seen from
// outside the seam: the suite puts its fixtures there, plays the other
// writer through it, and looks at what scrub left. Paths are relative to
// the area and '/'-separated.
type World interface {
	// Location spells the place rel ("" for the area itself) as
	// store.Open takes it.
	Location(rel string) string
	// Options are the options that open the area's locations.
	Options() store.Options
	// Write stores data at rel, as another writer would: in place for a
	// local file, a new object (or version) in a bucket.
	Write(ctx context.Context, rel string, data []byte) error
	// Read returns what is at rel; nothing there is an error wrapping
	// fs.ErrNotExist.
	Read(ctx context.Context, rel string) ([]byte, error)
	// Delete removes what is at rel (adds a delete marker in a versioned
	// bucket).
	Delete(ctx context.Context, rel string) error
	// Missing spells a location that does not exist at all: a path
	// below a file, a bucket never created.
	Missing() string
}

// VersionedWorld is the World of a store that keeps versions.
type VersionedWorld interface {
	World
	// Versions lists every version and delete marker of exactly rel,
	// with the data of the versions.
	Versions(ctx context.Context, rel string) ([]Version, error)
}

// Version is one version or delete marker of an object.
type Version struct {
	ID             string
	Marker, Latest bool
	Data           []byte
}

// LockWorld is the World of a store with object lock.
type LockWorld interface {
	VersionedWorld
	// WriteLocked writes a new version of rel under legal hold (hold), or
	// retained in governance mode until until (when it is not zero).
	WriteLocked(ctx context.Context, rel string, data []byte, hold bool, until time.Time) error
	// Release lifts the legal hold of every version of rel.
	Release(ctx context.Context, rel string) error
}

// Suite is one entry of the conformance suite: a kind of store, what it
// can do, and the quirks it is allowed.
type Suite struct {
	// Name names the entry in test output: "local", "minio/versioned".
	Name string
	// NewWorld returns a fresh, empty area of the store for one test.
	NewWorld func(t *testing.T) World
	// Require, if set, skips the suite when the store is not there (and
	// fails it under CI=true, see scrubtest.S3Endpoint), once rather than
	// in every test.
	Require func(t testing.TB)

	// Remote: the archives' store reports scrub.Remote, and locations are
	// remote.
	Remote bool
	// Versioned: the store keeps versions; Content implements
	// scrub.Versioned and NewWorld returns a VersionedWorld.
	Versioned bool
	// ObjectLock: objects can be retained or held; NewWorld returns a
	// LockWorld.
	ObjectLock bool
	// StagedCleaner: the archives' store stages rewrites beside the
	// archives and implements scrub.StagedCleaner.
	StagedCleaner bool

	// Quirks are the deviations tolerated of this store, each written
	// down (with where it was seen) in the entry that lists it.
	Quirks []Quirk
	// Bugs are checks known to fail on this store, by their subtest path
	// below the entry ("Abilities/Recoverer"), with the reason: each is
	// skipped saying so, never passed silently.
	Bugs map[string]string

	mu    sync.Mutex
	ran   map[Quirk]bool // a check that could show the quirk ran
	shown map[Quirk]bool // and the store showed it
}

// Run runs every Test* method of s as a subtest of t, in parallel, then
// fails t if a listed quirk could have been shown and was not.
func (s *Suite) Run(t *testing.T) {
	if s.Require != nil {
		s.Require(t)
	}
	t.Cleanup(func() { s.checkQuirks(t) })
	v := reflect.ValueOf(s)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		name, ok := strings.CutPrefix(m.Name, "Test")
		if !ok {
			continue
		}
		test, ok := v.Method(i).Interface().(func(*testing.T))
		if !ok {
			t.Fatalf("storetest: %s is not a func(*testing.T)", m.Name)
		}
		s.run(t, name, func(t *testing.T) {
			t.Parallel()
			test(t)
		})
	}
}

// run runs fn as the subtest name of t, or skips it if the entry lists
// it among its Bugs.
func (s *Suite) run(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		if _, rel, ok := strings.Cut(t.Name(), "/"+s.Name+"/"); ok {
			if why, ok := s.Bugs[rel]; ok {
				t.Skipf("known bug on %s: %s", s.Name, why)
			}
		}
		fn(t)
	})
}

func (s *Suite) tolerates(q Quirk) bool { return slices.Contains(s.Quirks, q) }

// quirk records a check that q would make fail: shown is whether the store
// behaved that way. A shown quirk fails t unless the entry lists it, then
// it is logged. It returns shown, so that the caller stops checking what
// follows from the expected behaviour.
func (s *Suite) quirk(t *testing.T, q Quirk, shown bool, format string, args ...any) bool {
	t.Helper()
	s.mu.Lock()
	if s.ran == nil {
		s.ran, s.shown = map[Quirk]bool{}, map[Quirk]bool{}
	}
	s.ran[q] = true
	s.shown[q] = s.shown[q] || shown
	s.mu.Unlock()
	if !shown {
		return false
	}
	msg := fmt.Sprintf(format, args...)
	if s.tolerates(q) {
		t.Logf("tolerated quirk %s: %s", q, msg)
	} else {
		t.Errorf("%s (quirk %s: if %s is known to do this, list it in the entry's Quirks)", msg, q, s.Name)
	}
	return true
}

// checkQuirks fails t for every listed quirk that a check could have shown
// and none did: the store has been fixed, or the entry is wrong.
func (s *Suite) checkQuirks(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.Quirks {
		if s.ran[q] && !s.shown[q] {
			t.Errorf("%s lists quirk %s, but no check showed it: remove it from the entry", s.Name, q)
		}
	}
}

// world returns a fresh World of the kind the entry's abilities need.
func (s *Suite) world(t *testing.T) World {
	t.Helper()
	w := s.NewWorld(t)
	if _, ok := w.(VersionedWorld); s.Versioned && !ok {
		t.Fatalf("%s: Versioned, but its World lists no versions", s.Name)
	}
	if _, ok := w.(LockWorld); s.ObjectLock && !ok {
		t.Fatalf("%s: ObjectLock, but its World cannot lock", s.Name)
	}
	return w
}
