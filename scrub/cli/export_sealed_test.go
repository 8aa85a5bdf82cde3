package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestExportSealedThenKilled: export A completes and is sealed, but is
// killed while it removes its staging (which still holds a link to its
// archive). Export B, of another subject, to the same --out leaves A's
// archive where it is.
func TestExportSealedThenKilled(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	out := filepath.Join(t.TempDir(), "out")
	k := idKey(t, a)
	list := func(id string) string {
		p := filepath.Join(t.TempDir(), "ids.txt")
		if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(ids string) {
		if r := runPlain(t, nil, slices.Concat([]string{"export", "--ids", ids, "--out", out, "--no-progress"}, a.Flags(), []string{src})...); r.err != nil {
			t.Fatalf("%v\n%s", r.err, r.stderr)
		}
	}
	run(list(scrubtest.Victims[0]))
	fa := filepath.Join(out, subjectFile(k, scrubtest.Victims[0]))
	before, err := os.ReadFile(fa)
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(out, ".scrub-export-staging-123")
	if err := os.Mkdir(st, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st, "owner"), []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(fa, filepath.Join(st, filepath.Base(fa))); err != nil {
		t.Fatal(err)
	}
	run(list(scrubtest.Victims[1]))
	if after, err := os.ReadFile(fa); err != nil || string(after) != string(before) {
		t.Errorf("A's sealed export changed after B: %v", err)
	}
	if _, err := os.Stat(st); err == nil {
		t.Error("the stale staging directory is left")
	}
}
