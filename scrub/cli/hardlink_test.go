package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestHardLinkDryRun: a dry run reports an archive with listed rows and a
// second name outside the source as held, as the erasure would end, not
// would-erase; the erasure then leaves it, exit 3, and both names keep
// their bytes.
func TestHardLinkDryRun(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	p := filepath.Join(dir, "2376158762_cust_2017-11-25.csv")
	other := filepath.Join(t.TempDir(), "copy.csv")
	if err := os.Link(p, other); err != nil {
		t.Fatal(err)
	}
	before := scrubtest.Snapshot(t, dir)
	for _, dry := range []bool{true, false} {
		a := scrubtest.NewAudit(t)
		args := []string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--json"}
		if dry {
			args = append(args, "--dry-run")
		}
		out := runPlain(t, nil, a.WithAudit(append(args, dir))...)
		sum := summary(t, out.stdout)
		for _, r := range sum.Archives {
			if r.Key == p && (r.Status != scrub.Held || !strings.Contains(r.Error, "hard link")) {
				t.Errorf("dry run %v: %s %s %q, want held for its other hard link", dry, r.Key, r.Status, r.Error)
			}
		}
		if !dry && !errors.Is(out.err, scrub.ErrPartial) {
			t.Errorf("erase: %v, want a partial batch (exit 3)", out.err)
		}
	}
	after := scrubtest.Snapshot(t, dir)
	if string(after["2376158762_cust_2017-11-25.csv"].Data) != string(before["2376158762_cust_2017-11-25.csv"].Data) {
		t.Error("the linked archive changed")
	}
	if b, _ := os.ReadFile(other); string(b) != string(before["2376158762_cust_2017-11-25.csv"].Data) {
		t.Error("its other name changed")
	}
}

// TestNothingScanned: a batch in which no entry holds a table with an ID
// column (a wrong --column, a wrong source) fails like one that finds no
// archive, naming each entry not-scanned, rather than exit 0.
func TestNothingScanned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{"manifest.json": `{"files": 2}`, "data.csv": "Customer,v\n9F3A41C07B22E8D1,1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := scrubtest.NewAudit(t)
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", dir})...)
	if !errors.Is(out.err, scrub.ErrFailed) || !strings.Contains(out.err.Error(), "none of the 2 entries holds a table") {
		t.Errorf("err = %v, want no archive processed\n%s", out.err, out.stderr)
	}
	if strings.Count(out.stderr, "\nnot-scanned ") != 2 || strings.Contains(out.stderr, "nothing to erase") {
		t.Errorf("stderr does not name both entries not-scanned:\n%s", out.stderr)
	}
}
