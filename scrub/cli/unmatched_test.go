package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestUnmatchedIDs: listed IDs that match no row (a letter-case variant,
// one with a zero-width space pasted along, one in Latin-1, a typo) are
// counted in the summary and --json (ids_unmatched), and logged by their
// tags, never in clear; the hints say which hold invisible or non-UTF-8
// characters. A dry run says the same. A list whose IDs all match says
// nothing of the kind.
func TestUnmatchedIDs(t *testing.T) {
	t.Parallel()
	list := filepath.Join(t.TempDir(), "ids.txt")
	ids := "9F3A41C07B22E8D1\n" + // in the data
		"9f3a41c07b22e8d1\n" + // case variant
		"C41D07E2A95B3F68\u200b\n" + // zero-width space
		"5B0E92D4F7A16C3\xc9\n" + // Latin-1 É
		"0D5E7A9C3B1F4827\n" // typo
	if err := os.WriteFile(list, []byte(ids), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		a := scrubtest.NewAudit(t)
		data := scrubtest.CopyExport(t)
		args := []string{"erase", "--ids", list, "--no-progress", "--json"}
		if dry {
			args = append(args, "--dry-run")
		}
		out := runPlain(t, nil, a.WithAudit(append(args, data))...)
		if out.err != nil {
			t.Fatalf("dry run %v: %v\n%s", dry, out.err, out.stderr)
		}
		if sum := summary(t, out.stdout); sum.IDsUnmatched == nil || *sum.IDsUnmatched != 4 {
			t.Errorf("dry run %v: ids_unmatched %v, want 4", dry, sum.IDsUnmatched)
		}
		for _, want := range []string{
			"4 of the 5 listed IDs matched no row of the archives read",
			"1 of them hold an invisible or unusual white-space character",
			"1 of them are not valid UTF-8",
		} {
			if !strings.Contains(out.stderr, want) {
				t.Errorf("dry run %v: stderr lacks %q:\n%s", dry, want, out.stderr)
			}
		}
		for _, id := range []string{"9f3a41c07b22e8d1", "0D5E7A9C3B1F4827", "C41D07E2A95B3F68"} {
			if strings.Contains(out.stderr+out.stdout, id) {
				t.Errorf("dry run %v: the output names the ID %s", dry, id)
			}
		}
		logged := unmatchedEvents(t, a.Dir)
		if len(logged) != 1 || logged[0].Count != 4 || len(logged[0].Tags) != 4 {
			t.Errorf("dry run %v: ids_unmatched events %+v, want one of 4 tags", dry, logged)
		}
		for _, e := range readBatchEvents(t, a.Dir) {
			if e.Type == "ids" && len(e.Tags) == 5 {
				for _, tag := range logged[0].Tags {
					if !strings.Contains(strings.Join(e.Tags, " "), tag) {
						t.Errorf("unmatched tag %s is not among the batch's IDs", tag)
					}
				}
			}
		}
	}

	// None matches: one event says so, without repeating the ids
	// events' tags.
	none := filepath.Join(t.TempDir(), "none.txt")
	if err := os.WriteFile(none, []byte("AA00000000000001\nAA00000000000002\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	an := scrubtest.NewAudit(t)
	if out := runPlain(t, nil, an.WithAudit([]string{"erase", "--ids", none, "--no-progress", "--dry-run", scrubtest.CopyExport(t)})...); out.err != nil || !strings.Contains(out.stderr, "2 of the 2 listed IDs matched no row of any archive read") {
		t.Errorf("none matches: %v\n%s", out.err, out.stderr)
	}
	if got := unmatchedEvents(t, an.Dir); len(got) != 1 || got[0].Count != 2 || !got[0].All || len(got[0].Tags) != 0 {
		t.Errorf("none matches: ids_unmatched events %+v, want one, all, no tags", got)
	}

	all := filepath.Join(t.TempDir(), "victims.txt")
	if err := os.WriteFile(all, []byte(strings.Join(scrubtest.Victims, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", all, "--no-progress", "--json", scrubtest.CopyExport(t)})...)
	if out.err != nil {
		t.Fatalf("every ID matches: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.IDsUnmatched == nil || *sum.IDsUnmatched != 0 || strings.Contains(out.stderr, "matched no row") {
		t.Errorf("every ID matches: ids_unmatched %v\n%s", sum.IDsUnmatched, out.stderr)
	}
	if n := len(unmatchedEvents(t, a.Dir)); n != 0 {
		t.Errorf("%d ids_unmatched events, want none", n)
	}
}

type unmatchedData struct {
	Count int      `json:"count"`
	All   bool     `json:"all"`
	Tags  []string `json:"id_hmacs"`
}

// unmatchedEvents returns the data of the ids_unmatched events of the one
// batch in dir.
func unmatchedEvents(t *testing.T, dir string) []unmatchedData {
	t.Helper()
	batches := scrubtest.Batches(t, dir)
	f, err := os.Open(filepath.Join(dir, batches[0]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []unmatchedData
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Type string        `json:"type"`
			Data unmatchedData `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == "ids_unmatched" {
			out = append(out, e.Data)
		}
	}
	return out
}
