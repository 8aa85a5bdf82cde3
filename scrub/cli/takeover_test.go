package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestResumeTakesOver: a batch killed after it replaced an archive but
// before it recorded the archive is resumed; the resumed run finds the
// rewrite in place and records the archive as erased with what the
// rewrite removed: its rows, its size after, and its ID as matched (not
// unmatched).
func TestResumeTakesOver(t *testing.T) {
	t.Parallel()
	_, args := killedAfterRename(t, "AAAA1111\n")
	out := runPlain(t, nil, args...)
	if out.err != nil {
		t.Fatalf("resume: %v\n%s", out.err, out.stderr)
	}
	sum := summary(t, out.stdout)
	if len(sum.Archives) != 1 {
		t.Fatalf("archives %+v", sum.Archives)
	}
	r := sum.Archives[0]
	if r.Status != "erased" || r.RowsRemoved != 1 || r.BytesBefore != 37 || r.BytesAfter == nil || *r.BytesAfter != 26 {
		t.Errorf("resumed archive %+v (after %v), want erased, 1 row removed, 37 -> 26 bytes", r, r.BytesAfter)
	}
	if sum.IDsUnmatched == nil || *sum.IDsUnmatched != 0 || strings.Contains(out.stderr, "matched no row") {
		t.Errorf("ids_unmatched %v, want 0\n%s", sum.IDsUnmatched, out.stderr)
	}
}

// killedAfterRename erases AAAA1111's row from a fresh a.csv with the ID
// list given, then cuts the batch's record back to what a run killed after
// the rename leaves: the journal up to the verified step, and no bundle.
// It returns the audit location and the erase command line, which resumes
// the batch.
func killedAfterRename(t *testing.T, list string) (*scrubtest.Audit, []string) {
	t.Helper()
	a := scrubtest.NewAudit(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "a.csv"), []byte("client_id,name\nAAAA1111,x\nBBBB2222,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	args := a.WithAudit([]string{"erase", "--ids", ids, "--no-progress", "--json", data})
	if out := runPlain(t, nil, args...); out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	b := scrubtest.Batches(t, a.Dir)[0]
	raw, err := os.ReadFile(filepath.Join(a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	end := strings.Index(string(raw), `"type":"verified"`)
	end += strings.IndexByte(string(raw[end:]), '\n') + 1
	entries, _ := os.ReadDir(a.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), b) {
			os.Remove(filepath.Join(a.Dir, e.Name()))
		}
	}
	if err := os.WriteFile(filepath.Join(a.Dir, b+".journal"), raw[:end], 0o600); err != nil {
		t.Fatal(err)
	}
	return a, args
}
