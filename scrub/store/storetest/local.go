package storetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/scrubtool/scrub/scrub/store"
)

// Local returns the entry of a local directory tree.
func Local() *Suite {
	return &Suite{
		Name:          "local",
		StagedCleaner: true,
		NewWorld: func(t *testing.T) World {
			root := filepath.Join(t.TempDir(), "area")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			return localWorld(root)
		},
	}
}

// localWorld is a directory; the other writer writes files in place.
type localWorld string

func (w localWorld) Location(rel string) string {
	if rel == "" {
		return string(w)
	}
	return filepath.Join(string(w), filepath.FromSlash(rel))
}

func (w localWorld) Options() store.Options { return store.Options{} }

func (w localWorld) Write(ctx context.Context, rel string, data []byte) error {
	p := w.Location(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func (w localWorld) Read(ctx context.Context, rel string) ([]byte, error) {
	return os.ReadFile(w.Location(rel))
}

func (w localWorld) Delete(ctx context.Context, rel string) error {
	return os.Remove(w.Location(rel))
}

func (w localWorld) Missing() string { return filepath.Join(string(w), "missing", "exports") }
