package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scrubtool/scrub/scrub/store"
)

// TestOverlapsSymlinks: a local location inside another through a
// symbolic link, in either, overlaps it, even when it does not exist yet
// (an audit directory before the first run). It lives here rather than in
// package store, whose tests belong to another part of the tree; it tests
// what keeps the audit log and other files out of a local source.
func TestOverlapsSymlinks(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"data/sub", "real", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"datalink": "data", "sublink": "data/sub", "srclink": "real"} {
		if err := os.Symlink(filepath.Join(dir, to), filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, place, source string
		want                bool
	}{
		{"new dir below a link to the source", "datalink/audit", "data", true},
		{"link into the source", "sublink", "data", true},
		{"new dir below a link into the source", "sublink/a/b", "data", true},
		{"source is a link to a dir holding the place", "real/audit", "srclink", true},
		{"plain inside", "data/audit", "data", true},
		{"apart", "other/audit", "data", false},
		{"apart, new", "nope/a/b", "data", false},
		{"apart, through a link", "datalink/../other", "real", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := store.Parse(filepath.Join(dir, c.place))
			if err != nil {
				t.Fatal(err)
			}
			q, err := store.Parse(filepath.Join(dir, c.source))
			if err != nil {
				t.Fatal(err)
			}
			for _, pair := range [][2]*store.Location{{p, q}, {q, p}} {
				got, err := pair[0].Overlaps(pair[1])
				if err != nil || got != c.want {
					t.Errorf("%s overlaps %s: %v, %v; want %v", pair[0], pair[1], got, err, c.want)
				}
			}
		})
	}
}
