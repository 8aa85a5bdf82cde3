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

// TestMaxShareFlag: erase stops, exit 1 and nothing replaced, when the
// listed IDs hold more than --max-share (default half) of the rows read;
// a dry run says what share they hold; --max-share 0.7 lets it through.
func TestMaxShareFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("Timestamp,Client ID\n")
	for i := range 20000 {
		id := "C" + strconv.Itoa(100000+i)
		if i%10 < 6 {
			id = "9F3A41C07B22E8D1"
		}
		b.WriteString("2020-01-01," + id + "\n")
	}
	archive := filepath.Join(data, "a.csv")
	if err := os.WriteFile(archive, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "ids.txt")
	if err := os.WriteFile(list, []byte("9F3A41C07B22E8D1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", list, "--no-progress", "--dry-run", data})...)
	if out.err != nil || !strings.Contains(out.stderr, "the listed IDs hold 60.0% of the rows read") {
		t.Errorf("dry run: %v\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", list, "--no-progress", data})...)
	if out.err == nil || isUsage(out.err) || !strings.Contains(out.err.Error(), "--max-share 50%") {
		t.Fatalf("erase: err %v, want the batch stopped naming --max-share", out.err)
	}
	if got, _ := os.ReadFile(archive); string(got) != b.String() {
		t.Fatal("the archive was replaced although the batch stopped")
	}
	out = runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", list, "--no-progress", "--max-share", "0.7", data})...)
	if out.err != nil {
		t.Fatalf("--max-share 0.7: %v\n%s", out.err, out.stderr)
	}
	if got, _ := os.ReadFile(archive); strings.Contains(string(got), "9F3A41C07B22E8D1") {
		t.Error("--max-share 0.7: the listed rows are still there")
	}
	for _, bad := range []string{"0", "1.5", "-1"} {
		if out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", list, "--max-share", bad, data})...); !isUsage(out.err) {
			t.Errorf("--max-share %s: %v, want a usage error", bad, out.err)
		}
	}
}
