package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestResumeUnmatchedTags: a resumed batch whose interrupted attempt
// matched one of three listed IDs logs the other two, and only them, as
// unmatched, by their tags (the tags Begin worked out, less those matched
// before).
func TestResumeUnmatchedTags(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "a.csv"), []byte("client_id,name\nAAAA1111,x\nBBBB2222,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(list, []byte("AAAA1111\nZZZZ9999\nYYYY8888\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := a.WithAudit([]string{"erase", "--ids", list, "--no-progress", "--json", data})
	if out := runPlain(t, nil, args...); out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	// As if killed after the rename (see TestResumeTakesOver).
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
	out := runPlain(t, nil, args...)
	if out.err != nil {
		t.Fatalf("resume: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.IDsUnmatched == nil || *sum.IDsUnmatched != 2 {
		t.Errorf("ids_unmatched %v, want 2\n%s", sum.IDsUnmatched, out.stderr)
	}
	keyData, err := os.ReadFile(a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(keyData, "id key")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{k.Tag([]byte("ZZZZ9999")), k.Tag([]byte("YYYY8888"))}
	slices.Sort(want)
	evs := unmatchedEvents(t, a.Dir)
	if len(evs) != 1 || evs[0].Count != 2 || evs[0].All || !slices.Equal(evs[0].Tags, want) {
		t.Errorf("ids_unmatched events %+v, want one of count 2 with tags %v", evs, want)
	}
}
