package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/store"
)

// open opens the location of rel in w through the seam, with w's options
// changed by mod.
func open(t *testing.T, w World, rel string, mod func(*store.Options)) *store.Location {
	t.Helper()
	var o *store.Opener
	if mod == nil {
		o = opener(w)
	} else {
		opt := w.Options()
		mod(&opt)
		o = store.New(opt)
	}
	l, err := o.Open(t.Context(), w.Location(rel))
	if err != nil {
		t.Fatalf("open %s: %v", w.Location(rel), err)
	}
	return l
}

// openers holds one Opener per World, as a run has one: it builds its S3
// client once.
var openers sync.Map // World → *store.Opener

func opener(w World) *store.Opener {
	if o, ok := openers.Load(w); ok {
		return o.(*store.Opener)
	}
	o, _ := openers.LoadOrStore(w, store.New(w.Options()))
	return o.(*store.Opener)
}

// archives returns the archives at rel through the seam.
func archives(t *testing.T, w World, rel string, mod func(*store.Options)) scrub.Source {
	t.Helper()
	src, err := open(t, w, rel, mod).Archives(t.Context())
	if err != nil {
		t.Fatalf("archives of %s: %v", w.Location(rel), err)
	}
	return src
}

// writable returns the archives at rel through the seam, ready to be
// replaced as the engine does it: prepared (scrub.Preparer) before the
// first write, and, in a store whose entry tolerates IgnoresIfMatch, with
// that race accepted (else Prepare refuses it, see TestPrepare).
func (s *Suite) writable(t *testing.T, w World, rel string, mod func(*store.Options)) scrub.Store {
	t.Helper()
	st := archives(t, w, rel, func(o *store.Options) {
		o.AcceptUnconditionalWrites = s.tolerates(IgnoresIfMatch)
		if mod != nil {
			mod(o)
		}
	}).Store
	if p, ok := st.(scrub.Preparer); ok {
		if err := p.Prepare(t.Context()); err != nil {
			t.Fatalf("Prepare %s: %v", w.Location(rel), err)
		}
	}
	return st
}

// files returns the location of rel as a directory of files, through the
// seam.
func files(t *testing.T, w World, rel string) store.Files {
	t.Helper()
	d, err := open(t, w, rel, nil).Files(t.Context())
	if err != nil {
		t.Fatalf("files of %s: %v", w.Location(rel), err)
	}
	return d
}

// list returns what st lists, sorted by Rel.
func list(t *testing.T, st scrub.Store) []scrub.Object {
	t.Helper()
	var objs []scrub.Object
	if err := st.List(t.Context(), func(o scrub.Object) error {
		objs = append(objs, o)
		return nil
	}); err != nil {
		t.Fatalf("list: %v", err)
	}
	slices.SortFunc(objs, func(a, b scrub.Object) int { return strings.Compare(a.Rel, b.Rel) })
	return objs
}

func rels(objs []scrub.Object) []string {
	var rs []string
	for _, o := range objs {
		rs = append(rs, o.Rel)
	}
	return rs
}

// find returns the object st lists as rel.
func find(t *testing.T, st scrub.Store, rel string) scrub.Object {
	t.Helper()
	objs := list(t, st)
	for _, o := range objs {
		if o.Rel == rel {
			return o
		}
	}
	t.Fatalf("%s not listed; listed %q", rel, rels(objs))
	return scrub.Object{}
}

// openOnce opens obj and calls fn with its content, failing t if Open does
// not call fn exactly once when it succeeds.
func openOnce(t *testing.T, st scrub.Store, obj scrub.Object, fn func(scrub.Content) error) error {
	t.Helper()
	calls := 0
	err := st.Open(t.Context(), obj, func(c scrub.Content) error {
		calls++
		return fn(c)
	})
	if err == nil && calls != 1 {
		t.Errorf("Open of %s succeeded and lent the content %d times", obj.Key, calls)
	}
	return err
}

// readAll reads the whole content through ReadAt.
func readAll(r io.ReaderAt, size int64) ([]byte, error) {
	b := make([]byte, size)
	n, err := r.ReadAt(b, 0)
	if n == len(b) && (err == nil || err == io.EOF) {
		return b, nil
	}
	if err == nil {
		err = fmt.Errorf("ReadAt read %d of %d bytes without an error", n, size)
	}
	return b[:n], err
}

// replace stages data and replaces c's archive with it. It returns the
// staged file's name, which Replace must have removed or put in place.
func replace(ctx context.Context, c scrub.Content, data []byte) (string, error) {
	f, err := c.Stage()
	if err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return f.Name(), err
	}
	return f.Name(), c.Replace(ctx, f)
}

// checkStagedGone fails t if the staged file is still there: Replace takes
// ownership of it, on success and on failure.
func checkStagedGone(t *testing.T, staged string) {
	t.Helper()
	if staged == "" {
		return
	}
	if _, err := os.Lstat(staged); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("staged file %s left behind (%v)", staged, err)
	}
}

// data returns n bytes that differ for every seed.
func data(seed string, n int) []byte {
	var s [32]byte
	copy(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func write(t *testing.T, w World, rel string, b []byte) {
	t.Helper()
	if err := w.Write(t.Context(), rel, b); err != nil {
		t.Fatalf("write %s: %v", rel, err)
	}
}

// checkWorld fails t unless w holds want at rel.
func checkWorld(t *testing.T, w World, rel string, want []byte) {
	t.Helper()
	got, err := w.Read(t.Context(), rel)
	switch {
	case err != nil:
		t.Errorf("%s: %v", rel, err)
	case !bytes.Equal(got, want):
		t.Errorf("%s holds %s, want %s", rel, show(got), show(want))
	}
}

// checkGone fails t unless nothing is at rel in w.
func checkGone(t *testing.T, w World, rel string) {
	t.Helper()
	if got, err := w.Read(t.Context(), rel); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: want nothing there, got %s (%v)", rel, show(got), err)
	}
}

// checkFile fails t unless d's file name holds want.
func checkFile(t *testing.T, d store.Files, name string, want []byte) {
	t.Helper()
	got, err := d.ReadFile(t.Context(), name)
	switch {
	case err != nil:
		t.Errorf("ReadFile %s: %v", name, err)
	case !bytes.Equal(got, want):
		t.Errorf("ReadFile %s = %s, want %s", name, show(got), show(want))
	}
}

// show describes bytes for a message: short text as it is, else the size
// and the first bytes.
func show(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes %q...", len(b), b[:16])
}
