package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/store"
)

// The optional abilities of a store (package scrub's small interfaces),
// and the seam's view of a location.

func versions(t *testing.T, w VersionedWorld, rel string) []Version {
	t.Helper()
	vs, err := w.Versions(t.Context(), rel)
	if err != nil {
		t.Fatalf("versions of %s: %v", rel, err)
	}
	return vs
}

// summary describes versions for a message, without their data.
func summary(vs []Version) []string {
	var s []string
	for _, v := range vs {
		d := fmt.Sprintf("%d bytes", len(v.Data))
		if v.Marker {
			d = "delete marker"
		}
		if v.Latest {
			d += ", latest"
		}
		s = append(s, v.ID+" ("+d+")")
	}
	return s
}

// TestVersions: in a store that keeps versions, Content says which
// version it read, and Purge after Replace leaves only the new one.
func (s *Suite) TestVersions(t *testing.T) {
	if !s.Versioned {
		t.Skip("the store keeps no versions")
	}
	w := s.world(t).(VersionedWorld)
	ctx := t.Context()
	s.run(t, "VersionID is the version read", func(t *testing.T) {
		rel := "v/read.csv"
		write(t, w, rel, data("v1", 100))
		write(t, w, rel, data("v2", 120))
		vs := versions(t, w, rel)
		i := slices.IndexFunc(vs, func(v Version) bool { return v.Latest })
		if i < 0 || vs[i].Marker {
			t.Fatalf("no latest version: %q", summary(vs))
		}
		st := archives(t, w, "v", nil).Store
		err := openOnce(t, st, find(t, st, "read.csv"), func(c scrub.Content) error {
			v, ok := c.(scrub.Versioned)
			if !ok {
				t.Fatalf("%T: a versioned store's Content does not implement scrub.Versioned", c)
			}
			if v.VersionID() != vs[i].ID {
				t.Errorf("VersionID %q, but the latest version is %q", v.VersionID(), vs[i].ID)
			}
			got, err := readAll(c, c.Size())
			if err == nil && !bytes.Equal(got, vs[i].Data) {
				t.Errorf("read %s, but version %s holds %s", show(got), vs[i].ID, show(vs[i].Data))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	s.run(t, "Purge leaves only the new version", func(t *testing.T) {
		rel, sibling := "v/purge.csv", "v/purge.csv.bak"
		a, b, repl := data("a", 300), data("b", 200), data("new", 100)
		write(t, w, rel, a)
		if err := w.Delete(ctx, rel); err != nil {
			t.Fatal(err)
		}
		write(t, w, rel, b)
		write(t, w, sibling, a)
		write(t, w, sibling, b)
		before := versions(t, w, rel)
		st := s.writable(t, w, "v", nil)
		var deleted []string
		var newID string
		err := openOnce(t, st, find(t, st, "purge.csv"), func(c scrub.Content) error {
			if _, err := readAll(c, c.Size()); err != nil {
				return err
			}
			if _, err := replace(ctx, c, repl); err != nil {
				return fmt.Errorf("replace: %w", err)
			}
			if nv, ok := c.(scrub.NewVersioner); ok {
				newID = nv.NewVersionID()
			}
			v, ok := c.(scrub.Versioned)
			if !ok {
				t.Fatalf("%T: a versioned store's Content does not implement scrub.Versioned", c)
			}
			var err error
			deleted, err = v.Purge(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		after := versions(t, w, rel)
		if len(after) != 1 || after[0].Marker || after[0].ID != newID || !bytes.Equal(after[0].Data, repl) {
			t.Errorf("versions after Purge: %q; want only the new one, %s", summary(after), newID)
		}
		for _, v := range after {
			if bytes.Equal(v.Data, a) || bytes.Equal(v.Data, b) {
				t.Errorf("version %s still holds old bytes after Purge", v.ID)
			}
		}
		var want []string
		for _, v := range before {
			want = append(want, v.ID)
		}
		slices.Sort(want)
		slices.Sort(deleted)
		if !slices.Equal(deleted, want) {
			t.Errorf("Purge reports %q deleted, want every version and marker before it: %q", deleted, want)
		}
		if sv := versions(t, w, sibling); len(sv) != 2 {
			t.Errorf("the versions of %s, a key the purged one is a prefix of: %q, want its 2", sibling, summary(sv))
		}
	})
	s.run(t, "Purge keeps a later writer's version", func(t *testing.T) {
		rel := "v/later.csv"
		old, repl, theirs := data("old", 300), data("new", 100), data("theirs", 200)
		write(t, w, rel, old)
		st := s.writable(t, w, "v", nil)
		var newID string
		err := openOnce(t, st, find(t, st, "later.csv"), func(c scrub.Content) error {
			if _, err := readAll(c, c.Size()); err != nil {
				return err
			}
			if _, err := replace(ctx, c, repl); err != nil {
				return fmt.Errorf("replace: %w", err)
			}
			if nv, ok := c.(scrub.NewVersioner); ok {
				newID = nv.NewVersionID()
			}
			// Another writer, after the replacement and before the
			// purge.
			write(t, w, rel, theirs)
			_, err := c.(scrub.Versioned).Purge(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		after := versions(t, w, rel)
		var kept []string
		for _, v := range after {
			switch {
			case bytes.Equal(v.Data, old):
				t.Errorf("version %s still holds the old bytes after Purge", v.ID)
			case v.Latest && !bytes.Equal(v.Data, theirs):
				t.Errorf("the latest version %s is not the later writer's", v.ID)
			}
			kept = append(kept, v.ID)
		}
		if len(after) != 2 || !slices.Contains(kept, newID) {
			t.Errorf("versions after Purge: %q; want the later writer's and ours, %s", summary(after), newID)
		}
	})
}

// TestHeld: in a bucket with object lock, an archive under legal hold or
// retention, or with an older version retained, is reported held and not
// lent; a read-only opener may read it.
func (s *Suite) TestHeld(t *testing.T) {
	if !s.ObjectLock {
		t.Skip("the store has no object lock")
	}
	w := s.world(t).(LockWorld)
	ctx := t.Context()
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	held := func(t *testing.T, name string) {
		t.Helper()
		st := archives(t, w, "held", nil).Store
		err := st.Open(ctx, find(t, st, name), func(scrub.Content) error {
			t.Errorf("Open lent the content of %s", name)
			return nil
		})
		if he := (*scrub.HeldError)(nil); !errors.As(err, &he) {
			t.Errorf("Open of %s: %v, want a *scrub.HeldError", name, err)
		}
	}
	s.run(t, "legal hold", func(t *testing.T) {
		want := data("hold", 100)
		if err := w.WriteLocked(ctx, "held/hold.csv", want, true, time.Time{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Release(ctx, "held/hold.csv") })
		held(t, "hold.csv")
		st := archives(t, w, "held", func(o *store.Options) { o.ReadOnly = true }).Store
		err := openOnce(t, st, find(t, st, "hold.csv"), func(c scrub.Content) error {
			got, err := readAll(c, c.Size())
			if err == nil && !bytes.Equal(got, want) {
				t.Errorf("read-only: read %s, want %s", show(got), show(want))
			}
			return err
		})
		if err != nil {
			t.Errorf("read-only Open of an archive under legal hold: %v", err)
		}
	})
	s.run(t, "retention", func(t *testing.T) {
		if err := w.WriteLocked(ctx, "held/retained.csv", data("retained", 100), false, until); err != nil {
			t.Fatal(err)
		}
		held(t, "retained.csv")
	})
	s.run(t, "older version retained", func(t *testing.T) {
		if err := w.WriteLocked(ctx, "held/old.csv", data("old", 100), false, until); err != nil {
			t.Fatal(err)
		}
		write(t, w, "held/old.csv", data("current", 100))
		st := archives(t, w, "held", nil).Store
		lent := false
		err := st.Open(ctx, find(t, st, "old.csv"), func(scrub.Content) error {
			lent = true
			return nil
		})
		if s.quirk(t, NoLockHeadersOnOldVersions, err == nil && lent, "Open lent an archive whose older version is retained") {
			return
		}
		if he := (*scrub.HeldError)(nil); !errors.As(err, &he) || lent {
			t.Errorf("Open of an archive with an older version retained: %v (lent %v), want a *scrub.HeldError", err, lent)
		}
	})
}

// TestAbilities: the optional interfaces a store implements are those its
// entry declares, and behave.
func (s *Suite) TestAbilities(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	write(t, w, "ab/a.csv", data("ab", 100))
	src := archives(t, w, "ab", nil)
	writable := s.writable(t, w, "ab", nil)
	s.run(t, "Remote", func(t *testing.T) {
		if l := open(t, w, "ab", nil); l.Remote() != s.Remote {
			t.Errorf("Location.Remote() = %v, want %v", l.Remote(), s.Remote)
		}
		r, ok := src.Store.(scrub.Remote)
		if got := ok && r.Remote(); got != s.Remote {
			t.Errorf("%T: scrub.Remote says %v, want %v", src.Store, got, s.Remote)
		}
	})
	s.run(t, "StagedCleaner", func(t *testing.T) {
		if _, ok := src.Store.(scrub.StagedCleaner); ok != s.StagedCleaner {
			t.Errorf("%T implements scrub.StagedCleaner: %v, want %v", src.Store, ok, s.StagedCleaner)
		}
	})
	s.run(t, "Versioned", func(t *testing.T) {
		err := openOnce(t, writable, find(t, writable, "a.csv"), func(c scrub.Content) error {
			v, ok := c.(scrub.Versioned)
			switch {
			case s.Versioned && !ok:
				t.Errorf("%T: a versioned store's Content does not implement scrub.Versioned", c)
			case s.Versioned && v.VersionID() == "":
				t.Error("VersionID is empty in a versioned store")
			case !s.Versioned && ok && v.VersionID() != "":
				t.Errorf("VersionID %q in a store without versions", v.VersionID())
			}
			if s.Versioned || !ok {
				return nil
			}
			// Without versions, Purge after Replace has nothing to do.
			if _, err := replace(ctx, c, data("ab new", 50)); err != nil {
				return err
			}
			if deleted, err := v.Purge(ctx); len(deleted) != 0 || err != nil {
				t.Errorf("Purge in a store without versions = %q, %v", deleted, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	s.run(t, "Recoverer", func(t *testing.T) {
		r, ok := src.Store.(scrub.Recoverer)
		if !ok {
			t.Skipf("%T does not implement scrub.Recoverer", src.Store)
		}
		obj := find(t, src.Store, "a.csv")
		if err := r.Recover(ctx, obj, time.Now().Add(-time.Minute)); err != nil {
			t.Fatalf("Recover of an archive nobody is writing: %v", err)
		}
		if err := openOnce(t, src.Store, obj, func(scrub.Content) error { return nil }); err != nil {
			t.Errorf("Open after Recover: %v", err)
		}
	})
}

// TestPrepare: a store that checks itself before the first write
// (scrub.Preparer) takes one that honours conditional writes without a
// word, refuses one that ignores If-Match on PutObject unless that race is
// accepted, and warns when it is; and leaves nothing behind.
func (s *Suite) TestPrepare(t *testing.T) {
	w := s.world(t)
	write(t, w, "p/a.csv", data("p", 10))
	prepare := func(t *testing.T, accept bool) ([]string, error) {
		t.Helper()
		var warns []string
		st := archives(t, w, "p", func(o *store.Options) {
			o.AcceptUnconditionalWrites = accept
			o.Warn = func(m string) { warns = append(warns, m) }
		}).Store
		p, ok := st.(scrub.Preparer)
		if !ok {
			t.Skipf("%T does not implement scrub.Preparer", st)
		}
		err := p.Prepare(t.Context())
		return warns, err
	}
	s.run(t, "race not accepted", func(t *testing.T) {
		warns, err := prepare(t, false)
		refused := err != nil && strings.Contains(err.Error(), "ignores If-Match")
		if s.quirk(t, IgnoresIfMatch, refused, "Prepare refuses the store: %v", err) {
			return
		}
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if s.tolerates(IgnoresIfMatch) {
			return // not shown here: the suite says so at the end
		}
		if multipart := slices.ContainsFunc(warns, func(m string) bool { return strings.Contains(m, "CompleteMultipartUpload") }); len(warns) > 0 && !multipart {
			t.Errorf("Prepare warns %q", warns)
		}
	})
	s.run(t, "race accepted", func(t *testing.T) {
		warns, err := prepare(t, true)
		if err != nil {
			t.Fatalf("Prepare with the race accepted: %v", err)
		}
		has := func(op string) bool {
			return slices.ContainsFunc(warns, func(m string) bool { return strings.Contains(m, "ignores If-Match on") && strings.Contains(m, op) })
		}
		put := s.quirk(t, IgnoresIfMatch, has("PutObject"), "Prepare warns %q", warns)
		multipart := s.quirk(t, IgnoresIfMatchMultipart, has("CompleteMultipartUpload"), "Prepare warns %q", warns)
		if !put && !multipart && len(warns) > 0 {
			t.Errorf("Prepare of a store that honours conditional writes warns %q", warns)
		}
	})
	s.run(t, "nothing left behind", func(t *testing.T) {
		if got := rels(list(t, archives(t, w, "p", nil).Store)); !slices.Equal(got, []string{"a.csv"}) {
			t.Errorf("after Prepare, lists %q, want just a.csv", got)
		}
	})
}

// TestStagedCleanup: a store that stages rewrites beside the archives
// never lists a staged file as an archive, warns about one an interrupted
// run left, and removes the resumed run's own when told to.
func (s *Suite) TestStagedCleanup(t *testing.T) {
	if !s.StagedCleaner {
		t.Skip("the store stages no files beside the archives")
	}
	w := s.world(t)
	since := time.Now().Add(-time.Second)
	write(t, w, "st/a.csv", data("st", 100))
	// An interrupted run: staged, never replaced.
	stage := func(t *testing.T) string {
		t.Helper()
		st := archives(t, w, "st", nil).Store
		var name string
		err := openOnce(t, st, find(t, st, "a.csv"), func(c scrub.Content) error {
			f, err := c.Stage()
			if err != nil {
				return err
			}
			name = f.Name()
			f.WriteString("half a rewrite")
			return f.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	listed := func(t *testing.T, clean func(scrub.StagedCleaner)) []string {
		t.Helper()
		var warns []string
		st := archives(t, w, "st", func(o *store.Options) { o.Warn = func(m string) { warns = append(warns, m) } }).Store
		if clean != nil {
			clean(st.(scrub.StagedCleaner))
		}
		if got := rels(list(t, st)); !slices.Equal(got, []string{"a.csv"}) {
			t.Errorf("lists %q, want just a.csv", got)
		}
		return warns
	}
	staged := stage(t)
	s.run(t, "warned about, not listed", func(t *testing.T) {
		warns := listed(t, nil)
		if len(warns) != 1 || !strings.Contains(warns[0], filepath.Base(staged)) {
			t.Errorf("warnings %q, want one about %s", warns, staged)
		}
		if _, err := os.Stat(staged); err != nil {
			t.Errorf("a staged file of another run was touched: %v", err)
		}
	})
	s.run(t, "kept outside the resumed run's share", func(t *testing.T) {
		listed(t, func(c scrub.StagedCleaner) { c.CleanStaged(since, func(rel string) bool { return rel != "a.csv" }) })
		if _, err := os.Stat(staged); err != nil {
			t.Errorf("a staged file outside the share was removed: %v", err)
		}
	})
	s.run(t, "removed by the resumed run", func(t *testing.T) {
		listed(t, func(c scrub.StagedCleaner) { c.CleanStaged(since, nil) })
		if _, err := os.Stat(staged); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the resumed run's staged file is still there: %v", err)
		}
	})
}

// TestLocation: the seam's view of an opened location: its label, and
// which locations overlap it.
func (s *Suite) TestLocation(t *testing.T) {
	w := s.world(t)
	s.run(t, "Label", func(t *testing.T) {
		area := path.Base(filepath.ToSlash(strings.TrimPrefix(w.Location(""), "s3://")))
		for loc, want := range map[string]string{"": area, "exports": "exports", "exports/": "exports", "exports/sub/a.csv": "a.csv"} {
			if got := open(t, w, loc, nil).Label(); got != want {
				t.Errorf("Label of %s = %q, want %q", w.Location(loc), got, want)
			}
		}
		write(t, w, "exports/a.csv", data("label", 10))
		src := archives(t, w, "exports", nil)
		if src.Label != "exports" || src.Name != w.Location("exports") {
			t.Errorf("Source of %s: Name %q, Label %q", w.Location("exports"), src.Name, src.Label)
		}
	})
	s.run(t, "Overlaps", func(t *testing.T) {
		for _, tc := range []struct {
			a, b string
			want bool
		}{
			{"exports", "exports", true},
			{"exports", "exports/", true},
			{"exports", "exports2", false},
			{"exports", "exports/sub", true},
			{"exports/sub/", "exports", true},
			{"", "exports", true},
			{"exports", "elsewhere/exports", false},
		} {
			got, err := open(t, w, tc.a, nil).Overlaps(open(t, w, tc.b, nil))
			if err != nil || got != tc.want {
				t.Errorf("%s overlaps %s: %v, %v; want %v", w.Location(tc.a), w.Location(tc.b), got, err, tc.want)
			}
		}
	})
}
