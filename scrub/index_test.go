package scrub_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/local"
)

// estate draws random archives of export tables.
type estate struct {
	rng  *rand.Rand
	pool []string // the client IDs rows are drawn from
	n    int      // archives made so far, for their names
}

func newEstate(seed uint64) *estate {
	e := &estate{rng: rand.New(rand.NewPCG(seed, 7))}
	for i := range 40 {
		id := fmt.Sprintf("client-%02d", i)
		if i%5 == 0 {
			// Hex, in either case: the index must hash both alike
			// (a digest's hex matches in either case); clear IDs
			// differ by case.
			id = fmt.Sprintf("%08X", 0xABCD0000+i)
		}
		e.pool = append(e.pool, id)
	}
	return e
}

// table returns a CSV export of a few rows.
func (e *estate) table() []byte {
	var b bytes.Buffer
	b.WriteString("Timestamp,Client ID,Event\r\n")
	for i := range e.rng.IntN(30) {
		id := e.pool[e.rng.IntN(len(e.pool))]
		if e.rng.IntN(10) == 0 {
			id = `"` + id + `"` // quoted: the filter compares the unquoted value
		}
		fmt.Fprintf(&b, "2026-01-%02d 10:00:00,%s,\"(k,v%d)\"\r\n", 1+i%28, id, i)
	}
	if e.rng.IntN(25) == 0 {
		b.WriteString("2026-02-01 10:00:00,client-01\r\n") // a bad record: the archive fails
	}
	return b.Bytes()
}

// archive returns a new archive: plain, gzip or zip (with a member that is
// not a table, now and then).
func (e *estate) archive() (name string, data []byte) {
	e.n++
	switch e.rng.IntN(3) {
	case 0:
		return fmt.Sprintf("a%03d.csv", e.n), e.table()
	case 1:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(e.table())
		zw.Close()
		return fmt.Sprintf("a%03d.csv.gz", e.n), b.Bytes()
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := range 1 + e.rng.IntN(3) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("m%d.csv", i), Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		w.Write(e.table())
	}
	if e.rng.IntN(6) == 0 {
		w, _ := zw.Create("README.txt")
		w.Write([]byte("not a table\n"))
	}
	zw.Close()
	return fmt.Sprintf("a%03d.zip", e.n), b.Bytes()
}

// twin is the same estate in two directories: one erased with the
// index, one by full reads.
type twin struct {
	t          *testing.T
	withIndex  string
	fullReads  string
	indexFiles local.Dir
}

func (w twin) each(fn func(dir string) error) {
	w.t.Helper()
	for _, dir := range []string{w.withIndex, w.fullReads} {
		if err := fn(dir); err != nil {
			w.t.Fatal(err)
		}
	}
}

// files returns the archives of dir, by name.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// change makes a random change to the estate behind scrub's back, the
// same in both directories, and says what it did.
func (w twin) change(e *estate) string {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files(w.t, w.fullReads) {
			if !yield(n) {
				return
			}
		}
	})
	if len(names) == 0 {
		name, data := e.archive()
		w.each(func(dir string) error { return os.WriteFile(filepath.Join(dir, name), data, 0o644) })
		return "new " + name
	}
	name := names[e.rng.IntN(len(names))]
	switch e.rng.IntN(5) {
	case 0: // new archive
		name, data := e.archive()
		w.each(func(dir string) error { return os.WriteFile(filepath.Join(dir, name), data, 0o644) })
		return "new " + name
	case 1: // deleted
		w.each(func(dir string) error { return os.Remove(filepath.Join(dir, name)) })
		return "deleted " + name
	case 2: // replaced: a new file renamed over it (a new inode)
		_, data := e.archive()
		data = e.sameKind(name, data)
		w.each(func(dir string) error {
			tmp := filepath.Join(dir, ".tmp")
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(dir, name))
		})
		return "replaced " + name
	default: // changed in place, same inode, mtime set back: only the ctime tells
		_, data := e.archive()
		data = e.sameKind(name, data)
		w.each(func(dir string) error {
			p := filepath.Join(dir, name)
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			return os.Chtimes(p, info.ModTime(), info.ModTime())
		})
		return "changed in place " + name
	}
}

// sameKind returns data, or a plain table when name is not a zip or gzip
// name (the format is told by content anyway; this keeps names honest).
func (e *estate) sameKind(name string, data []byte) []byte {
	kind := func(n string) string { return filepath.Ext(n) }
	for {
		n, d := e.archive()
		if kind(n) == kind(name) {
			return d
		}
		_ = data
	}
}

// TestIndexProperty: over random estates, random changes behind scrub's
// back (archives changed in place with their mtime set back, replaced,
// deleted, new) and random requests, an erasure with the index leaves
// exactly the bytes a full read leaves, and removes the same rows from the
// same archives; the archives the index rules out are only ever ones a
// full read finds no listed ID in.
func TestIndexProperty(t *testing.T) {
	ctx := context.Background()
	key := index.NewKey(bytes.Repeat([]byte{7}, 32))
	skipped := 0
	for seed := range uint64(12) {
		e := newEstate(seed)
		w := twin{t: t, withIndex: t.TempDir(), fullReads: t.TempDir(), indexFiles: local.Dir(t.TempDir())}
		for range 8 {
			name, data := e.archive()
			w.each(func(dir string) error { return os.WriteFile(filepath.Join(dir, name), data, 0o644) })
		}
		for round := range 10 {
			var did []string
			for range e.rng.IntN(4) {
				did = append(did, w.change(e))
			}
			var listed []string
			for range 1 + e.rng.IntN(3) {
				id := e.pool[e.rng.IntN(len(e.pool))]
				if e.rng.IntN(3) == 0 {
					id = strings.ToLower(id) // a digest's hex as a transform lists it
				}
				listed = append(listed, id)
			}
			if e.rng.IntN(4) == 0 {
				listed = append(listed, "nobody") // in no archive
			}
			dry := e.rng.IntN(5) == 0
			what := fmt.Sprintf("seed %d round %d (changes %q, request %q, dry run %v)", seed, round, did, listed, dry)

			set := ids.New(listed...)
			newOpt := func() scrub.Options {
				return scrub.Options{Filter: &filter.Filter{IDs: matchHex{set}}, Jobs: 2, DryRun: dry}
			}
			optFull := newOpt()
			full, err := scrub.Run(ctx, optFull, []scrub.Source{{Name: w.fullReads, Store: &local.Store{Root: w.fullReads}}})
			if err != nil && len(files(t, w.fullReads)) > 0 {
				t.Fatalf("%s: full read: %v", what, err)
			}

			opt := newOpt()
			ix, err := index.Open(ctx, w.indexFiles, key, opt.MatchSpec())
			if err != nil {
				t.Fatal(err)
			}
			var hashes []uint64
			set.Each(func(id string) { hashes = append(hashes, ix.Hash([]byte(id))) })
			ix.SetListed(hashes)
			opt.Index, opt.IndexSkip = ix, true
			indexed, err := scrub.Run(ctx, opt, []scrub.Source{{Name: w.withIndex, Store: &local.Store{Root: w.withIndex}}})
			if err != nil && len(files(t, w.withIndex)) > 0 {
				t.Fatalf("%s: with the index: %v", what, err)
			}
			if err := ix.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if full == nil || indexed == nil {
				continue
			}
			fullResults, ferr := full.Results()
			indexedResults, ierr := indexed.Results()
			if ferr != nil || ierr != nil {
				t.Fatal(ferr, ierr)
			}

			a, b := files(t, w.withIndex), files(t, w.fullReads)
			for name := range b {
				if !bytes.Equal(a[name], b[name]) {
					t.Errorf("%s: %s differs after the erasure with the index from a full read's", what, name)
				}
			}
			if len(a) != len(b) {
				t.Errorf("%s: %d files with the index, %d after full reads", what, len(a), len(b))
			}
			if len(fullResults) != len(indexedResults) {
				t.Fatalf("%s: %d results with the index, %d by full reads", what, len(indexedResults), len(fullResults))
			}
			for i, r := range indexedResults {
				f := fullResults[i]
				if r.Status == scrub.AbsentByIndex {
					skipped++
					if f.RowsRemoved != 0 || f.Status != scrub.Unchanged {
						t.Errorf("%s: %s ruled out by the index, but a full read found it %s with %d rows removed", what, filepath.Base(r.Key), f.Status, f.RowsRemoved)
					}
					if r.IndexEntry == "" || r.Identity == "" {
						t.Errorf("%s: %s absent-by-index without its entry or identity", what, r.Key)
					}
					continue
				}
				if r.Status != f.Status || r.RowsRemoved != f.RowsRemoved {
					t.Errorf("%s: %s %s with %d rows removed, by a full read %s with %d", what, filepath.Base(r.Key), r.Status, r.RowsRemoved, f.Status, f.RowsRemoved)
				}
			}
			if indexed.Totals.RowsRemoved != full.Totals.RowsRemoved {
				t.Errorf("%s: %d rows removed with the index, %d by full reads", what, indexed.Totals.RowsRemoved, full.Totals.RowsRemoved)
			}
		}
	}
	if skipped == 0 {
		t.Fatal("the index ruled out no archive at all: the property was not put to the test")
	}
	t.Logf("%d archives ruled out by the index", skipped)
}

// matchHex is a set that matches a listed ID made only of hex digits in
// either case, as a set of digests matches their hex: the index must
// hash both spellings alike.
type matchHex struct{ s *ids.Set }

func (m matchHex) Contains(id []byte) bool {
	if m.s.Contains(id) {
		return true
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return m.s.Contains(bytes.ToLower(id))
}
