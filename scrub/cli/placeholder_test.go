package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestPlaceholderIDs: a list with an ID that looks like a placeholder for
// a missing one ("unknown", "0", "-") is refused before anything is read,
// naming its line and not the ID; --allow-placeholder-ids erases it
// anyway, and the audit log records that it was allowed.
func TestPlaceholderIDs(t *testing.T) {
	t.Parallel()
	list := filepath.Join(t.TempDir(), "ids.txt")
	victims, err := os.ReadFile(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(list, append(victims, "\nUnknown\n-\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(victims), "\n") + 1
	for _, allow := range []bool{false, true} {
		a := scrubtest.NewAudit(t)
		data := scrubtest.CopyExport(t)
		before := scrubtest.Snapshot(t, data)
		args := []string{"erase", "--ids", list, "--no-progress"}
		if allow {
			args = append(args, "--allow-placeholder-ids")
		}
		out := runPlain(t, nil, a.WithAudit(append(args, data))...)
		if !allow {
			want := list + ":" + strconv.Itoa(lines+1) + ", " + list + ":" + strconv.Itoa(lines+2) + ": looks like a placeholder"
			if !isUsage(out.err) || !strings.Contains(out.err.Error(), want) || strings.Contains(out.err.Error(), "Unknown") {
				t.Fatalf("err = %v, want a usage error with %q, not naming the ID", out.err, want)
			}
			if after := scrubtest.Snapshot(t, data); len(after) != len(before) {
				t.Error("the data changed")
			}
			for name, b := range scrubtest.Snapshot(t, data) {
				if string(b.Data) != string(before[name].Data) {
					t.Errorf("%s changed", name)
				}
			}
			if files, _ := os.ReadDir(a.Dir); len(files) != 0 {
				t.Errorf("a refused list left %d files in the audit location", len(files))
			}
			continue
		}
		if out.err != nil {
			t.Fatalf("erase --allow-placeholder-ids: %v\n%s", out.err, out.stderr)
		}
		start := readBatchEvents(t, a.Dir)[0]
		if v := start.Options["allow_placeholder_ids"]; v != true {
			t.Errorf("options %v, want allow_placeholder_ids true", start.Options)
		}
	}
}
