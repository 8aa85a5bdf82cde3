package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/store"
)

// The behaviours of Location.Archives: the engine's view of a location.

// tree is the fixture of the listing tests, by path in the area.
var tree = map[string]int{
	"exports/a.csv":           1000,
	"exports/a.csv.bak":       10,
	"exports/sub/b.csv.gz":    2000,
	"exports/sub/empty.csv":   0,
	"exports/sub/deep/c.zip":  3000,
	"exports2/x.csv":          30,
	"exports.csv":             40,
	"elsewhere/exports/y.csv": 50,
}

func writeTree(t *testing.T, w World) {
	t.Helper()
	for rel, n := range tree {
		write(t, w, rel, data(rel, n))
	}
}

// TestArchivesList: List yields every archive below the location, with
// its path relative to it, and nothing else.
func (s *Suite) TestArchivesList(t *testing.T) {
	w := s.world(t)
	start := time.Now()
	writeTree(t, w)
	below := []string{"a.csv", "a.csv.bak", "sub/b.csv.gz", "sub/deep/c.zip", "sub/empty.csv"}
	check := func(t *testing.T, loc string, objs []scrub.Object) {
		t.Helper()
		keys := map[string]bool{}
		for _, o := range objs {
			rel := o.Rel
			if loc != "" {
				rel = loc + "/" + o.Rel
			}
			n, ok := tree[rel]
			switch {
			case !ok:
				continue // reported by the callers
			case o.Size != int64(n):
				t.Errorf("%s: Size %d, want %d", o.Rel, o.Size, n)
			}
			if o.ModTime.IsZero() || o.ModTime.Before(start.Add(-time.Hour)) || o.ModTime.After(time.Now().Add(time.Hour)) {
				t.Errorf("%s: ModTime %v, want about %v", o.Rel, o.ModTime, start)
			}
			if want := w.Location(rel); o.Key != want {
				t.Errorf("%s: Key %q, want %q", o.Rel, o.Key, want)
			}
			if keys[o.Key] {
				t.Errorf("%s listed twice", o.Key)
			}
			keys[o.Key] = true
		}
	}
	s.run(t, "below a directory", func(t *testing.T) {
		for _, loc := range []string{"exports", "exports/"} {
			objs := list(t, archives(t, w, loc, nil).Store)
			if got := rels(objs); !slices.Equal(got, below) {
				t.Errorf("%s lists %q, want %q", w.Location(loc), got, below)
			}
			check(t, "exports", objs)
		}
	})
	s.run(t, "not a sibling prefix", func(t *testing.T) {
		for _, o := range list(t, archives(t, w, "exports", nil).Store) {
			if _, ok := tree["exports/"+o.Rel]; !ok {
				t.Errorf("%s lists %s (Rel %q), which is not below it", w.Location("exports"), o.Key, o.Rel)
			}
		}
	})
	s.run(t, "whole area", func(t *testing.T) {
		objs := list(t, archives(t, w, "", nil).Store)
		var want []string
		for rel := range tree {
			want = append(want, rel)
		}
		slices.Sort(want)
		if got := rels(objs); !slices.Equal(got, want) {
			t.Errorf("%s lists %q, want %q", w.Location(""), got, want)
		}
		check(t, "", objs)
	})
	s.run(t, "one archive", func(t *testing.T) {
		objs := list(t, archives(t, w, "exports/a.csv", nil).Store)
		if got := rels(objs); !slices.Equal(got, []string{"a.csv"}) {
			t.Fatalf("%s lists %q, want just a.csv", w.Location("exports/a.csv"), got)
		}
		check(t, "exports", objs)
	})
	s.run(t, "Key opens the archive alone", func(t *testing.T) {
		for _, o := range list(t, archives(t, w, "exports", nil).Store) {
			l, err := opener(w).Open(t.Context(), o.Key)
			if err != nil {
				t.Errorf("open %s: %v", o.Key, err)
				continue
			}
			src, err := l.Archives(t.Context())
			if err != nil {
				t.Errorf("archives of %s: %v", o.Key, err)
				continue
			}
			if objs := list(t, src.Store); len(objs) != 1 || objs[0].Size != o.Size {
				t.Errorf("%s lists %q, want itself", o.Key, rels(objs))
			}
		}
	})
	s.run(t, "an error from fn stops it", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := archives(t, w, "exports", nil).Store.List(t.Context(), func(scrub.Object) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("List = %v after %d calls, want fn's error after 1", err, calls)
		}
	})
}

// TestArchivesOpen: Open lends the exact bytes of the archive.
func (s *Suite) TestArchivesOpen(t *testing.T) {
	w := s.world(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 1000},
		// More than one ranged read of the S3 store (8 MiB).
		{"over a read chunk", 8<<20 + 1000},
	} {
		s.run(t, tc.name, func(t *testing.T) {
			rel := "open/" + tc.name
			want := data(rel, tc.size)
			write(t, w, rel, want)
			st := archives(t, w, "open", nil).Store
			obj := find(t, st, tc.name)
			err := openOnce(t, st, obj, func(c scrub.Content) error {
				if c.Size() != int64(tc.size) || obj.Size != int64(tc.size) {
					t.Errorf("Size %d, listed %d, want %d", c.Size(), obj.Size, tc.size)
				}
				got, err := readAll(c, c.Size())
				if err != nil {
					t.Errorf("read all: %v", err)
				} else if !bytes.Equal(got, want) {
					t.Errorf("read %s, want %s", show(got), show(want))
				}
				// Ranges from the end backwards, across chunk edges.
				for _, r := range [][2]int{{tc.size - 1, 1}, {tc.size - 4097, 4096}, {8<<20 - 10, 20}, {1, 100}} {
					off, n := r[0], r[1]
					if off < 0 || off+n > tc.size {
						continue
					}
					b := make([]byte, n)
					if k, err := c.ReadAt(b, int64(off)); k != n || (err != nil && err != io.EOF) || !bytes.Equal(b, want[off:off+n]) {
						t.Errorf("ReadAt %d bytes at %d = %d, %v, same bytes %v", n, off, k, err, bytes.Equal(b, want[off:off+n]))
					}
				}
				// Past the end: short, with io.EOF.
				b := make([]byte, 10)
				if tc.size >= 5 {
					if k, err := c.ReadAt(b, int64(tc.size)-5); k != 5 || err != io.EOF || !bytes.Equal(b[:5], want[tc.size-5:]) {
						t.Errorf("ReadAt 10 bytes 5 before the end = %d, %v; want 5, io.EOF", k, err)
					}
				}
				if k, err := c.ReadAt(b, int64(tc.size)); k != 0 || err != io.EOF {
					t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", k, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	s.run(t, "deleted after listing", func(t *testing.T) {
		write(t, w, "gone/a.csv", data("gone", 100))
		st := archives(t, w, "gone", nil).Store
		obj := find(t, st, "a.csv")
		if err := w.Delete(t.Context(), "gone/a.csv"); err != nil {
			t.Fatal(err)
		}
		err := st.Open(t.Context(), obj, func(scrub.Content) error {
			t.Error("Open lent the content of a deleted archive")
			return nil
		})
		if err == nil {
			t.Error("Open of a deleted archive succeeded")
		}
	})
}

// replaceCases are the sizes a replacement is tried with: one request,
// and (on S3) a multipart upload of two parts.
var replaceCases = []struct {
	name           string
	old, new       int
	grow           []int // of the other writer's bytes
	partSize       int64
	ignoresIfMatch Quirk
}{
	{"one request", 1000, 1500, []int{7, 0}, 0, IgnoresIfMatch},
	{"multipart", 100, 5<<20 + 1, []int{7}, 5 << 20, IgnoresIfMatchMultipart},
}

// TestArchivesReplace: Replace puts the staged bytes in place, unless the
// archive changed or went since it was opened.
func (s *Suite) TestArchivesReplace(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	for _, tc := range replaceCases {
		partSize := func(o *store.Options) { o.PartSize = tc.partSize }
		s.run(t, tc.name+"/in place", func(t *testing.T) {
			rel := "r/" + tc.name + "/in-place.csv"
			old, repl := data(rel, tc.old), data(rel+"new", tc.new)
			write(t, w, rel, old)
			st := s.writable(t, w, "r/"+tc.name, partSize)
			obj := find(t, st, "in-place.csv")
			var staged string
			err := openOnce(t, st, obj, func(c scrub.Content) error {
				if _, err := readAll(c, c.Size()); err != nil {
					return err
				}
				var err error
				if staged, err = replace(ctx, c, repl); err != nil {
					return err
				}
				s.checkAfterReplace(t, w, rel, c, repl)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			checkStagedGone(t, staged)
			checkWorld(t, w, rel, repl)
			// A fresh Open lends the new bytes; the listing has the new
			// size.
			st = archives(t, w, "r/"+tc.name, nil).Store
			obj = find(t, st, "in-place.csv")
			if obj.Size != int64(len(repl)) {
				t.Errorf("listed with Size %d after Replace, want %d", obj.Size, len(repl))
			}
			err = openOnce(t, st, obj, func(c scrub.Content) error {
				got, err := readAll(c, c.Size())
				if err == nil && !bytes.Equal(got, repl) {
					t.Errorf("a fresh Open reads %s, want the replacement %s", show(got), show(repl))
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
		// The other writer's bytes are of another size, or of the same
		// size (a local store must then see the new modification time).
		for _, grow := range tc.grow {
			s.run(t, fmt.Sprintf("%s/changed meanwhile/%+d bytes", tc.name, grow), func(t *testing.T) {
				s.replaceChanged(t, w, tc.name, tc.old, tc.old+grow, tc.new, partSize, tc.ignoresIfMatch)
			})
		}
		s.run(t, tc.name+"/deleted meanwhile", func(t *testing.T) {
			rel := "r/" + tc.name + "/deleted.csv"
			write(t, w, rel, data(rel, tc.old))
			st := s.writable(t, w, "r/"+tc.name, partSize)
			obj := find(t, st, "deleted.csv")
			var staged string
			var rerr error
			err := openOnce(t, st, obj, func(c scrub.Content) error {
				if _, err := readAll(c, c.Size()); err != nil {
					return err
				}
				if err := w.Delete(ctx, rel); err != nil {
					t.Fatal(err)
				}
				staged, rerr = replace(ctx, c, data(rel+"ours", tc.new))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			checkStagedGone(t, staged)
			if s.quirk(t, tc.ignoresIfMatch, rerr == nil, "Replace of an archive deleted since Open succeeded") {
				return
			}
			if !errors.Is(rerr, scrub.ErrConflict) {
				t.Errorf("Replace of an archive deleted since Open: %v, want scrub.ErrConflict", rerr)
			}
			// Not recreated: nothing current at the key. (A versioned
			// store may still list it, for the rows its older versions
			// hold.)
			checkGone(t, w, rel)
			if vw, ok := w.(VersionedWorld); ok {
				vs := versions(t, vw, rel)
				if i := slices.IndexFunc(vs, func(v Version) bool { return v.Latest }); i < 0 || !vs[i].Marker {
					t.Errorf("after a failed Replace of a deleted archive, its latest version is not the delete marker: %q", summary(vs))
				}
				return
			}
			for _, o := range list(t, archives(t, w, "r/"+tc.name, nil).Store) {
				if o.Rel == "deleted.csv" {
					t.Errorf("%s listed again after a failed Replace", o.Key)
				}
			}
		})
	}
}

// checkAfterReplace checks, inside Open after a successful Replace of rel
// with repl, the optional abilities of c that report on the replacement.
func (s *Suite) checkAfterReplace(t *testing.T, w World, rel string, c scrub.Content, repl []byte) {
	t.Helper()
	ctx := t.Context()
	if rb, ok := c.(scrub.ReadBacker); ok {
		err := rb.ReadBack(ctx, func(r io.ReaderAt, size int64) error {
			got, err := readAll(r, size)
			if err == nil && !bytes.Equal(got, repl) {
				t.Errorf("ReadBack reads %s, want the replacement %s", show(got), show(repl))
			}
			return err
		})
		if err != nil {
			t.Errorf("ReadBack: %v", err)
		}
	}
	nv, ok := c.(scrub.NewVersioner)
	vw, versioned := w.(VersionedWorld)
	switch {
	case s.Versioned && !ok:
		t.Errorf("%T: a versioned store's Content does not implement scrub.NewVersioner", c)
	case s.Versioned:
		vs, err := vw.Versions(ctx, rel)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(vs, func(v Version) bool { return v.Latest })
		if i < 0 || vs[i].ID != nv.NewVersionID() || vs[i].ID == "" || !bytes.Equal(vs[i].Data, repl) {
			t.Errorf("NewVersionID %q; versions %+v", nv.NewVersionID(), summary(vs))
		}
	case ok && nv.NewVersionID() != "" && !versioned:
		t.Errorf("NewVersionID %q in a store without versions", nv.NewVersionID())
	}
}

// replaceChanged checks that Replace fails with scrub.ErrConflict, and
// leaves the other writer's bytes, when the archive (of size old) was
// rewritten with theirs bytes since it was opened.
func (s *Suite) replaceChanged(t *testing.T, w World, dir string, old, theirs, repl int, partSize func(*store.Options), q Quirk) {
	ctx := t.Context()
	rel := fmt.Sprintf("r/%s/changed-%d.csv", dir, theirs)
	write(t, w, rel, data(rel, old))
	st := s.writable(t, w, "r/"+dir, partSize)
	obj := find(t, st, path.Base(rel))
	other := data(rel+"theirs", theirs)
	var staged string
	var rerr error
	err := openOnce(t, st, obj, func(c scrub.Content) error {
		if _, err := readAll(c, c.Size()); err != nil {
			return err
		}
		write(t, w, rel, other)
		staged, rerr = replace(ctx, c, data(rel+"ours", repl))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkStagedGone(t, staged)
	if s.quirk(t, q, rerr == nil, "Replace of an archive another writer changed since Open succeeded") {
		return
	}
	if !errors.Is(rerr, scrub.ErrConflict) {
		t.Errorf("Replace of an archive changed since Open: %v, want scrub.ErrConflict", rerr)
	}
	checkWorld(t, w, rel, other)
}

// oddNames are archive names that need escaping in a URL, a query or a
// shell, or are not ASCII.
var oddNames = []string{"a b.csv", "a+b.csv", "a%20b.csv", "a&b=c?.csv", "é ü 日本.csv", "a#b.csv", "a'b\".csv"}

// TestArchivesNames: archives whose names need escaping are listed under
// their names, read and replaced like any other.
func (s *Suite) TestArchivesNames(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	for _, n := range oddNames {
		write(t, w, "odd/"+n, data(n, 100))
	}
	st := s.writable(t, w, "odd", nil)
	want := slices.Clone(oddNames)
	slices.Sort(want)
	if got := rels(list(t, st)); !slices.Equal(got, want) {
		t.Fatalf("lists %q, want %q", got, want)
	}
	for _, n := range oddNames {
		s.run(t, n, func(t *testing.T) {
			obj := find(t, st, n)
			if obj.Key != w.Location("odd/"+n) {
				t.Errorf("Key %q, want %q", obj.Key, w.Location("odd/"+n))
			}
			repl := data(n+"new", 50)
			err := openOnce(t, st, obj, func(c scrub.Content) error {
				got, err := readAll(c, c.Size())
				if err != nil {
					return err
				}
				if !bytes.Equal(got, data(n, 100)) {
					t.Errorf("read %s", show(got))
				}
				_, err = replace(ctx, c, repl)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			checkWorld(t, w, "odd/"+n, repl)
			if objs := list(t, archives(t, w, "odd/"+n, nil).Store); len(objs) != 1 || objs[0].Rel != n {
				t.Errorf("%s lists %q, want just %q", w.Location("odd/"+n), rels(objs), n)
			}
		})
	}
	s.run(t, "files", func(t *testing.T) {
		d := files(t, w, "odd dir")
		for _, n := range oddNames {
			if err := d.Create(ctx, n, bytes.NewReader([]byte(n))); err != nil {
				t.Fatalf("Create %q: %v", n, err)
			}
			checkFile(t, d, n, []byte(n))
		}
		if names, err := d.List(ctx); err != nil || !slices.Equal(names, want) {
			t.Errorf("List = %q, %v; want %q", names, err, want)
		}
	})
}

// TestMissing: a location that does not exist is an error, not an empty
// store (a mistyped bucket or path must not erase nothing and succeed).
func (s *Suite) TestMissing(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	l, err := store.New(w.Options()).Open(ctx, w.Missing())
	if err != nil {
		t.Fatal(err) // nothing is read before Archives or Files
	}
	s.run(t, "archives", func(t *testing.T) {
		src, err := l.Archives(ctx)
		if err == nil {
			err = src.Store.List(ctx, func(o scrub.Object) error {
				t.Errorf("listed %s", o.Key)
				return nil
			})
		}
		if err == nil {
			t.Errorf("the archives of %s, which does not exist, are listed without an error", w.Missing())
		}
	})
}
