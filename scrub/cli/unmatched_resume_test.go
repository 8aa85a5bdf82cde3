package cli_test

import (
	"os"
	"slices"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
)

// TestResumeUnmatchedTags: a resumed batch whose interrupted attempt
// matched one of three listed IDs logs the other two, and only them, as
// unmatched, by their tags (the tags Begin worked out, less those matched
// before).
func TestResumeUnmatchedTags(t *testing.T) {
	t.Parallel()
	a, args := killedAfterRename(t, "AAAA1111\nZZZZ9999\nYYYY8888\n")
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
