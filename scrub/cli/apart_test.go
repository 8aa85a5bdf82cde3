package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestApartThroughLinks: the audit location and the ID list must be
// outside the data, also when reached through a symbolic link (to the
// source, or from inside it); a refused run is a usage error that touches
// nothing.
func TestApartThroughLinks(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	dir := scrubtest.CopyExport(t)
	ids, err := os.ReadFile(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(dir, "request.txt")
	if err := os.WriteFile(inside, ids, 0o600); err != nil {
		t.Fatal(err)
	}
	before := scrubtest.Snapshot(t, dir)
	other := t.TempDir()
	toData := filepath.Join(other, "data-link") // a link to the source
	if err := os.Symlink(dir, toData); err != nil {
		t.Fatal(err)
	}
	toList := filepath.Join(other, "ids.txt") // a link to a list inside it
	if err := os.Symlink(inside, toList); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		ids, audit string
		want       string
	}{
		{"audit below a link to the source", scrubtest.IDsFile, filepath.Join(toData, "audit"), "overlap"},
		{"list inside the source", inside, a.Dir, "ID list"},
		{"list linked from outside", toList, a.Dir, "ID list"},
		{"list below a link to the source", filepath.Join(toData, "request.txt"), a.Dir, "ID list"},
	} {
		out := runPlain(t, nil, "erase", "--ids", tt.ids, "--audit", tt.audit, "--key", a.Key, "--id-key", a.IDKey, "--no-progress", dir)
		if !isUsage(out.err) || !strings.Contains(out.err.Error(), tt.want) {
			t.Errorf("%s: %v, want a usage error about the %s", tt.name, out.err, tt.want)
		}
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
}
