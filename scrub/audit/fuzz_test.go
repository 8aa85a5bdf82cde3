package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
)

// FuzzVerify feeds Verify a batch whose log and manifest are arbitrary
// bytes beside the genuine SHA256SUMS and signature: it must never panic,
// and must call the batch valid exactly when both are the genuine bytes.
func FuzzVerify(f *testing.F) {
	src := f.TempDir()
	key := newKey(f)
	s := writeBatch(f, src, key, nil, 3)
	read := func(suffix string) []byte {
		b, err := os.ReadFile(filepath.Join(src, s.Batch+suffix))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	log, manifest, sums, sig := read(".jsonl"), read("-manifest.json"), read("-SHA256SUMS"), read("-SHA256SUMS.sig")
	f.Add(log, manifest)
	f.Add(log[:len(log)/2], manifest)
	f.Add(append(bytes.Clone(log), log...), manifest)
	f.Add(bytes.ReplaceAll(log, []byte(`"seq":2`), []byte(`"seq":3`)), manifest)
	f.Add(log, bytes.ReplaceAll(manifest, []byte(`"lines": 6`), []byte(`"lines": 5`)))
	f.Add([]byte{}, []byte("{}"))
	trust := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	f.Fuzz(func(t *testing.T, l, m []byte) {
		loc := memLocation{s.Batch + ".jsonl": l, s.Batch + "-manifest.json": m, s.Batch + "-SHA256SUMS": sums, s.Batch + "-SHA256SUMS.sig": sig}
		rep, err := audit.Verify(context.Background(), loc, trust, nil)
		if err != nil {
			t.Fatal(err)
		}
		genuine := bytes.Equal(l, log) && bytes.Equal(m, manifest)
		if rep.OK() != genuine {
			t.Fatalf("genuine %v, verify %d/%d: %v", genuine, rep.Valid, rep.Total, statuses(rep))
		}
	})
}

// memLocation is an audit.Location in memory.
type memLocation map[string][]byte

func (m memLocation) String() string { return "memory" }

func (m memLocation) List(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(m)), nil
}

func (m memLocation) ReadFile(_ context.Context, name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}

func (m memLocation) Create(_ context.Context, name string, r io.Reader) error {
	if _, ok := m[name]; ok {
		return fs.ErrExist
	}
	b, err := io.ReadAll(r)
	m[name] = b
	return err
}

func (m memLocation) Put(_ context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(r)
	m[name] = b
	return err
}

func (m memLocation) Remove(_ context.Context, name string) error {
	if _, ok := m[name]; !ok {
		return fs.ErrNotExist
	}
	delete(m, name)
	return nil
}
