package storetest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
)

// The behaviours of Location.Files: a flat directory of small files, for
// audit bundles, blocklists and export output. The directory is "dir" in
// the area; a sibling "dir2" and "dir.json", and a subdirectory
// "dir/sub", are there to be left out.

// TestFilesCreate: Create stores a new file and never replaces one.
func (s *Suite) TestFilesCreate(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	d := files(t, w, "dir")
	s.run(t, "new name", func(t *testing.T) {
		if err := d.Create(ctx, "new.json", strings.NewReader(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		checkFile(t, d, "new.json", []byte(`{"n":1}`))
		checkWorld(t, w, "dir/new.json", []byte(`{"n":1}`))
	})
	s.run(t, "existing name", func(t *testing.T) {
		write(t, w, "dir/taken.json", []byte("old"))
		err := d.Create(ctx, "taken.json", strings.NewReader("new"))
		if s.quirk(t, IgnoresIfNoneMatch, err == nil, "Create over an existing file succeeded") {
			return
		}
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create over an existing file: %v, want fs.ErrExist", err)
		}
		checkFile(t, d, "taken.json", []byte("old"))
	})
	s.run(t, "name of a removed file", func(t *testing.T) {
		write(t, w, "dir/again.json", []byte("first"))
		if err := d.Remove(ctx, "again.json"); err != nil {
			t.Fatal(err)
		}
		if err := d.Create(ctx, "again.json", strings.NewReader("second")); err != nil {
			t.Fatalf("Create of a removed name: %v", err)
		}
		checkFile(t, d, "again.json", []byte("second"))
	})
}

// TestFilesPut: Put stores a file, replacing one of the same name.
func (s *Suite) TestFilesPut(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	d := files(t, w, "dir")
	s.run(t, "replaces", func(t *testing.T) {
		write(t, w, "dir/state.json", []byte("old state"))
		if err := d.Put(ctx, "state.json", strings.NewReader("new")); err != nil {
			t.Fatal(err)
		}
		checkFile(t, d, "state.json", []byte("new"))
		checkWorld(t, w, "dir/state.json", []byte("new"))
	})
	s.run(t, "new name", func(t *testing.T) {
		if err := d.Put(ctx, "fresh.json", strings.NewReader("fresh")); err != nil {
			t.Fatal(err)
		}
		checkFile(t, d, "fresh.json", []byte("fresh"))
	})
}

// TestFilesRemove: a removed file is gone, and a missing one reads as
// fs.ErrNotExist.
func (s *Suite) TestFilesRemove(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	d := files(t, w, "dir")
	s.run(t, "then ReadFile", func(t *testing.T) {
		write(t, w, "dir/gone.json", []byte("x"))
		write(t, w, "dir/kept.json", []byte("y"))
		if err := d.Remove(ctx, "gone.json"); err != nil {
			t.Fatal(err)
		}
		if b, err := d.ReadFile(ctx, "gone.json"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile of a removed file = %q, %v; want fs.ErrNotExist", b, err)
		}
		checkGone(t, w, "dir/gone.json")
		checkFile(t, d, "kept.json", []byte("y"))
		names, err := d.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(names, "gone.json") {
			t.Errorf("List after Remove = %q", names)
		}
	})
	s.run(t, "never there", func(t *testing.T) {
		if b, err := d.ReadFile(ctx, "never.json"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile of a missing file = %q, %v; want fs.ErrNotExist", b, err)
		}
	})
}

// TestFilesList: List returns the directory's own files, sorted.
func (s *Suite) TestFilesList(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	d := files(t, w, "dir")
	s.run(t, "empty", func(t *testing.T) {
		names, err := d.List(ctx)
		if err != nil || len(names) != 0 {
			t.Errorf("List of a directory never written = %q, %v; want none", names, err)
		}
	})
	write(t, w, "dir2/sibling.json", []byte("s"))
	write(t, w, "dir.json", []byte("s"))
	write(t, w, "dir/sub/nested.json", []byte("n"))
	for _, n := range []string{"b.json", "a.jsonl", "C.sig", "a.json"} {
		if err := d.Create(ctx, n, strings.NewReader(n)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"C.sig", "a.json", "a.jsonl", "b.json"}
	for _, loc := range []string{"dir", "dir/"} {
		s.run(t, "own files sorted/"+loc, func(t *testing.T) {
			names, err := files(t, w, loc).List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, want) {
				t.Errorf("List of %s = %q, want %q (not the files of dir2/, dir.json or dir/sub/)", w.Location(loc), names, want)
			}
		})
	}
}

// TestFilesCreateFile: CreateFile stores exactly size bytes of a reader
// and never replaces a file.
func (s *Suite) TestFilesCreateFile(t *testing.T) {
	w := s.world(t)
	ctx := t.Context()
	d := files(t, w, "dir")
	src := data("createfile", 1000)
	s.run(t, "exactly size bytes", func(t *testing.T) {
		if err := d.CreateFile(ctx, "out.zip", bytes.NewReader(src), 600, "application/zip"); err != nil {
			t.Fatal(err)
		}
		checkFile(t, d, "out.zip", src[:600])
	})
	s.run(t, "existing name", func(t *testing.T) {
		write(t, w, "dir/taken.zip", []byte("old"))
		err := d.CreateFile(ctx, "taken.zip", bytes.NewReader(src), 600, "application/zip")
		if s.quirk(t, IgnoresIfNoneMatch, err == nil, "CreateFile over an existing file succeeded") {
			return
		}
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("CreateFile over an existing file: %v, want fs.ErrExist", err)
		}
		checkFile(t, d, "taken.zip", []byte("old"))
	})
	s.run(t, "reader shorter than size", func(t *testing.T) {
		// The S3 SDK takes the short body for a broken connection and
		// retries it with backoff, for over a minute with scrub's client:
		// the deadline keeps the suite fast, and the check is that
		// nothing is stored.
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := d.CreateFile(sctx, "short.zip", bytes.NewReader(src[:100]), 600, "application/zip")
		if err == nil {
			t.Error("CreateFile of 600 bytes from a reader of 100 succeeded")
		}
		if b, err := d.ReadFile(ctx, "short.zip"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed CreateFile: ReadFile = %s, %v; want fs.ErrNotExist", show(b), err)
		}
	})
}
