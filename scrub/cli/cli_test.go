package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

const unchanged = scrubtest.Unchanged

// writeFile writes a file in a new temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type output struct {
	stdout, stderr string
	err            error
}

// run runs the command line with the given standard input (may be nil),
// with fresh audit keys and directory for erase, and checks that no listed
// ID shows up in its output or its audit bundle.
func run(t *testing.T, stdin io.Reader, args ...string) output {
	t.Helper()
	a := scrubtest.NewAudit(t)
	defer scrubtest.CheckNoIDs(t, a.Dir)
	return runPlain(t, stdin, a.WithAudit(args)...)
}

// runPlain runs the command line as given and checks that no listed ID
// shows up in its output.
func runPlain(t *testing.T, stdin io.Reader, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), args, cli.Env{Stdin: stdin, Stdout: &stdout, Stderr: &stderr, Version: "v1.2.3-test"})
	out := output{stdout.String(), stderr.String(), err}
	for _, id := range scrubtest.Listed {
		for name, s := range map[string]string{"stdout": out.stdout, "stderr": out.stderr, "error": errString(err)} {
			if strings.Contains(strings.ToUpper(s), id) {
				t.Errorf("%s of %q contains the listed ID %s:\n%s", name, args, id, s)
			}
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// summary decodes stdout as the one JSON document it must be.
func summary(t *testing.T, stdout string) *scrub.FullSummary {
	t.Helper()
	if !json.Valid([]byte(stdout)) {
		t.Fatalf("stdout is not exactly one valid JSON document:\n%s", stdout)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var out struct {
		scrub.FullSummary
		Audit *audit.Sealed `json:"audit"`
	}
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	if out.Audit == nil || out.Audit.Head == "" || len(out.Audit.Files) < 3 {
		t.Errorf("summary without its audit bundle: %+v", out.Audit)
	}
	return &out.FullSummary
}

// base returns the base names of the summary's archives, sorted.
func base(sum *scrub.FullSummary) []string {
	var out []string
	for _, r := range sum.Archives {
		out = append(out, filepath.Base(r.Key))
	}
	slices.Sort(out)
	return out
}

func result(t *testing.T, sum *scrub.FullSummary, name string) scrub.Result {
	t.Helper()
	for _, r := range sum.Archives {
		if filepath.Base(r.Key) == name {
			return r
		}
	}
	t.Fatalf("no result for %s", name)
	return scrub.Result{}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	ids := scrubtest.IDsFile
	empty := t.TempDir() // a source no run may touch
	commaList := writeFile(t, "ids.txt", "# list\nAAAA\n\n9F3A41C07B22E8D1,2017-11-20\nBBBB\n")
	quoteList := writeFile(t, "list.txt", "AAAA\n\"9F3A41C07B22E8D1\"\n")
	emptyList := writeFile(t, "empty.txt", "# nothing\n\n")
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string // part of the error message
	}{
		{"no command", nil, "", "no command"},
		{"unknown command", []string{"erasee"}, "", `unknown command "erasee"`},
		{"flag as command", []string{"--ids", ids, "erase", empty}, "", "unknown command"},
		{"missing --ids", []string{"erase", empty}, "", "--ids FILE is required"},
		{"empty --ids", []string{"erase", "--ids", "", empty}, "", "--ids FILE is required"},
		{"--ids without value", []string{"erase", empty, "--ids"}, "", "flag needs an argument"},
		{"no SOURCE", []string{"erase", "--ids", ids}, "", "no SOURCE"},
		{"no SOURCE, only flags", []string{"erase", "--ids", ids, "--json", "--dry-run"}, "", "no SOURCE"},
		{"unknown flag", []string{"erase", "--ids", ids, "--bogus", empty}, "", "bogus"},
		{"unknown flag after source", []string{"erase", "--ids", ids, empty, "--bogus"}, "", "bogus"},
		{"--jobs -1", []string{"erase", "--ids", ids, "--jobs", "-1", empty}, "", "--jobs"},
		{"--jobs not a number", []string{"erase", "--ids", ids, "--jobs", "many", empty}, "", "jobs"},
		{"--level 0", []string{"erase", "--ids", ids, "--level", "0", empty}, "", "--level"},
		{"--level 10", []string{"erase", "--ids", ids, "--level=10", empty}, "", "--level"},
		{"--level -1", []string{"erase", "--ids", ids, "--level", "-1", empty}, "", "--level"},
		{"--max-record 0", []string{"erase", "--ids", ids, "--max-record", "0", empty}, "", "--max-record"},
		{"--delimiter pipe", []string{"erase", "--ids", ids, "--delimiter", "|", empty}, "", "--delimiter"},
		{"--delimiter two chars", []string{"erase", "--ids", ids, "--delimiter", ",;", empty}, "", "--delimiter"},
		{"--delimiter word", []string{"erase", "--ids", ids, "--delimiter", "comma", empty}, "", "--delimiter"},
		{"bad --include glob", []string{"erase", "--ids", ids, "--include", "[", empty}, "", "pattern"},
		{"bad --exclude glob", []string{"erase", "--ids", ids, "--exclude", "*.zip", "--exclude", "monthly/[a-", empty}, "", "pattern"},
		{"bad glob after source", []string{"erase", "--ids", ids, empty, "--include", `x\`}, "", "pattern"},
		{"empty --column", []string{"erase", "--ids", ids, "--column", "", empty}, "", "--column"},
		{"blank --column", []string{"erase", "--ids", ids, "--column", "Client ID", "--column", "  ", empty}, "", "--column"},
		{"--ids file missing", []string{"erase", "--ids", filepath.Join(empty, "nope.txt"), empty}, "", "nope.txt"},
		{"--ids is a directory", []string{"erase", "--ids", empty, empty}, "", "is a directory"},
		{"--ids list with a comma line", []string{"erase", "--ids", commaList, empty}, "", "ids.txt:4:"},
		{"--ids list with a quote line", []string{"erase", "--ids", quoteList, empty}, "", "list.txt:2:"},
		{"--ids list empty", []string{"erase", "--ids", emptyList, empty}, "", "no IDs"},
		{"--ids - empty stdin", []string{"erase", "--ids", "-", empty}, "", "no IDs"},
		{"--ids - bad line", []string{"erase", "--ids", "-", empty}, "A\nB\n9F3A41C07B22E8D1\x00\n", "standard input:3:"},
		{"SOURCE missing", []string{"erase", "--ids", ids, filepath.Join(empty, "missing")}, "", "missing"},
		{"one SOURCE of two missing", []string{"erase", "--ids", ids, empty, filepath.Join(empty, "missing")}, "", "missing"},
		{"unsupported URL scheme", []string{"erase", "--ids", ids, "gs://bucket/prefix"}, "", "only local paths and s3:// URLs"},
		{"s3 URL without bucket", []string{"erase", "--ids", ids, "s3:///prefix"}, "", "no bucket"},
		{"part size below the S3 minimum", []string{"erase", "--ids", ids, "--part-size", "1000", "x"}, "", "--part-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, strings.NewReader(tt.stdin), tt.args...)
			var ue *cli.UsageError
			if !errors.As(out.err, &ue) {
				t.Fatalf("Run(%q) = %v (%T), want a *cli.UsageError", tt.args, out.err, out.err)
			}
			if !strings.Contains(out.err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", out.err, tt.want)
			}
			if errors.Is(out.err, scrub.ErrPartial) || errors.Is(out.err, scrub.ErrFailed) || errors.Is(out.err, cli.ErrHelp) {
				t.Errorf("usage error %v wraps a run error", out.err)
			}
			if out.stdout != "" {
				t.Errorf("stdout = %q, want empty", out.stdout)
			}
		})
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("source directory changed by a usage error: %v %v", entries, err)
	}
}

func TestUsageErrorUnwraps(t *testing.T) {
	t.Parallel()
	out := run(t, strings.NewReader(""), "erase", "--ids", "-", t.TempDir())
	if !errors.Is(out.err, ids.ErrEmpty) {
		t.Errorf("empty list: %v does not wrap ids.ErrEmpty", out.err)
	}
	var le *ids.LineError
	out = run(t, strings.NewReader("A,B\n"), "erase", "--ids", "-", t.TempDir())
	if !errors.As(out.err, &le) || le.Line != 1 || le.Name != "standard input" {
		t.Errorf("bad line: %v does not wrap a LineError for standard input:1", out.err)
	}
	out = run(t, nil, "erase", "--ids", filepath.Join(t.TempDir(), "missing.txt"), t.TempDir())
	if !errors.Is(out.err, fs.ErrNotExist) {
		t.Errorf("missing list: %v does not wrap fs.ErrNotExist", out.err)
	}
}

func TestUsageTextGoesToStderr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, nil, tt.args...)
			if !strings.Contains(out.stderr, "Usage:") || !strings.Contains(out.stderr, "scrub erase --ids FILE") {
				t.Errorf("stderr has no usage text:\n%s", out.stderr)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string // part of stdout
		wantStderr string // part of stderr
	}{
		{"version", []string{"version"}, nil, "scrub v1.2.3-test\n", ""},
		{"--version", []string{"--version"}, nil, "scrub v1.2.3-test\n", ""},
		{"help", []string{"help"}, nil, "Usage:", ""},
		{"-h", []string{"-h"}, nil, "Exit codes", ""},
		{"erase --help", []string{"erase", "--help"}, cli.ErrHelp, "", "--ids FILE"},
		{"erase -h after flags", []string{"erase", "--ids", "x", "-h"}, cli.ErrHelp, "", "-dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, nil, tt.args...)
			if !errors.Is(out.err, tt.wantErr) || (tt.wantErr == nil && out.err != nil) {
				t.Fatalf("Run = %v, want %v", out.err, tt.wantErr)
			}
			if !strings.Contains(out.stdout, tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", out.stdout, tt.wantStdout)
			}
			if tt.wantStdout == "" && out.stdout != "" {
				t.Errorf("stdout = %q, want empty", out.stdout)
			}
			if !strings.Contains(out.stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", out.stderr, tt.wantStderr)
			}
		})
	}
	if out := run(t, nil, "version"); out.stdout != "scrub v1.2.3-test\n" || out.stderr != "" {
		t.Errorf("version: stdout %q, stderr %q", out.stdout, out.stderr)
	}
}

// checkFullErase checks the summary of a complete run over a fresh copy.
func checkFullErase(t *testing.T, sum *scrub.FullSummary) {
	t.Helper()
	want := scrub.Totals{Archives: 14, Erased: 13, Unchanged: 1, RowsScanned: 4625, RowsRemoved: 343}
	got := sum.Totals
	got.BytesBefore, got.BytesAfter = 0, 0
	if got != want {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
	if sum.DryRun {
		t.Errorf("dry_run = true")
	}
	if len(sum.Archives) != 14 {
		t.Fatalf("%d archives in summary, want 14", len(sum.Archives))
	}
	var before, after int64
	for _, r := range sum.Archives {
		wantStatus := scrub.Erased
		if filepath.Base(r.Key) == unchanged {
			wantStatus = scrub.Unchanged
		}
		if r.Status != wantStatus || r.Error != "" || r.BytesAfter == nil {
			t.Errorf("%s: status %s, error %q, bytes_after %v; want %s", r.Key, r.Status, r.Error, r.BytesAfter, wantStatus)
			continue
		}
		if wantStatus == scrub.Erased && r.RowsRemoved == 0 {
			t.Errorf("%s: erased without removing a row", r.Key)
		}
		if info, err := os.Stat(r.Key); err != nil || info.Size() != *r.BytesAfter {
			t.Errorf("%s: bytes_after %d, file: %v %v", r.Key, *r.BytesAfter, info, err)
		}
		before += r.BytesBefore
		after += *r.BytesAfter
	}
	if sum.Totals.BytesBefore != before || sum.Totals.BytesAfter != after {
		t.Errorf("byte totals %d -> %d, archives sum to %d -> %d", sum.Totals.BytesBefore, sum.Totals.BytesAfter, before, after)
	}
}

// checkClean checks, with a dry run, that no listed ID is left below dir.
func checkClean(t *testing.T, dir string) {
	t.Helper()
	out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--dry-run", "--json", dir)
	if out.err != nil {
		t.Fatalf("dry run after erasure: %v\n%s", out.err, out.stderr)
	}
	sum := summary(t, out.stdout)
	if tt := sum.Totals; tt.Unchanged != tt.Archives || tt.RowsRemoved != 0 {
		t.Errorf("after erasure, a dry run still finds rows: %+v", tt)
	}
}

func TestEraseJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args func(dir string) []string
	}{
		{"flags first", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", "--no-progress", dir}
		}},
		{"flags after source", func(dir string) []string {
			return []string{"erase", dir, "--json", "--ids", scrubtest.IDsFile}
		}},
		{"flags around source", func(dir string) []string {
			return []string{"erase", "--no-progress", dir, "--ids=" + scrubtest.IDsFile, "-json", "--jobs", "1"}
		}},
		{"jobs 1", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", "--jobs", "1", dir}
		}},
		{"jobs 64, level 9", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", "--jobs", "64", "--level", "9", dir}
		}},
		{"explicit column and delimiter", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", "--column", "Client ID", "--delimiter", ",", dir}
		}},
		{"source twice", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", dir, dir + string(filepath.Separator)}
		}},
		{"two sources", func(dir string) []string {
			return []string{"erase", "--ids", scrubtest.IDsFile, "--json", filepath.Join(dir, "monthly"), dir}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			before := scrubtest.Snapshot(t, dir)
			out := run(t, nil, tt.args(dir)...)
			if out.err != nil {
				t.Fatalf("Run: %v\nstderr:\n%s", out.err, out.stderr)
			}
			checkFullErase(t, summary(t, out.stdout))
			if !strings.Contains(out.stderr, "scrub: 14 archives: 13 erased, 1 unchanged, 0 would be erased, 0 failed, 0 conflicts, 0 held, 0 skipped; 343 of 4625 rows removed\n") {
				t.Errorf("stderr has no human summary:\n%s", out.stderr)
			}
			if strings.Contains(out.stderr, "{") || strings.Contains(out.stderr, `"totals"`) {
				t.Errorf("JSON on stderr:\n%s", out.stderr)
			}
			// The archive without a listed ID is not touched at all.
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), func(rel string) bool { return rel == unchanged })
			checkClean(t, dir)
		})
	}
}

func TestEraseWithoutJSON(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, dir)
	if out.err != nil {
		t.Fatalf("Run: %v\n%s", out.err, out.stderr)
	}
	if out.stdout != "" {
		t.Errorf("stdout = %q, want empty without --json", out.stdout)
	}
	for _, want := range []string{
		"scrub: 4 IDs to erase\n",
		"erased      " + filepath.Join(dir, "2376158762_exc_2017-11-20.zip") + ": 60 of 60 rows removed",
		filepath.Join(dir, "monthly", "2376158762_cust_2017-11-01_to_2017-11-23.zip") + ": member README.txt not ",
		"343 of 4625 rows removed\n",
	} {
		if !strings.Contains(out.stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, out.stderr)
		}
	}
	if strings.Contains(out.stderr, unchanged) {
		t.Errorf("unchanged archive listed on stderr:\n%s", out.stderr)
	}
	checkClean(t, dir)
}

func TestIDsFromStdin(t *testing.T) {
	t.Parallel()
	list, err := os.ReadFile(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args func(dir string) []string
	}{
		{"--ids -", func(dir string) []string { return []string{"erase", "--ids", "-", "--json", dir} }},
		{"--ids=- after source", func(dir string) []string { return []string{"erase", dir, "--json", "--ids=-"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			out := run(t, bytes.NewReader(list), tt.args(dir)...)
			if out.err != nil {
				t.Fatalf("Run: %v\n%s", out.err, out.stderr)
			}
			checkFullErase(t, summary(t, out.stdout))
		})
	}
	t.Run("stdin not read without -", func(t *testing.T) {
		t.Parallel()
		dir := scrubtest.CopyExport(t)
		stdin := strings.NewReader("FFFFFFFFFFFFFFFF\n")
		out := run(t, stdin, "erase", "--ids", scrubtest.IDsFile, "--json", dir)
		if out.err != nil {
			t.Fatal(out.err)
		}
		if stdin.Len() == 0 {
			t.Errorf("stdin was read")
		}
		checkFullErase(t, summary(t, out.stdout))
	})
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json bool
	}{
		{"json", true},
		{"human", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			// Old, distinct modification times make any rewrite visible.
			old := time.Date(2017, 11, 27, 3, 4, 5, 0, time.UTC)
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					err = os.Chtimes(p, old, old)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			before := scrubtest.Snapshot(t, dir)
			args := []string{"erase", "--ids", scrubtest.IDsFile, "--dry-run", dir}
			if tt.json {
				args = append(args, "--json")
			}
			out := run(t, nil, args...)
			if out.err != nil {
				t.Fatalf("Run: %v\n%s", out.err, out.stderr)
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
			if !strings.Contains(out.stderr, "dry run") || !strings.Contains(out.stderr, "14 archives: 0 erased, 1 unchanged, 13 would be erased") {
				t.Errorf("stderr:\n%s", out.stderr)
			}
			if !tt.json {
				if out.stdout != "" {
					t.Errorf("stdout = %q, want empty", out.stdout)
				}
				return
			}
			sum := summary(t, out.stdout)
			want := scrub.Totals{Archives: 14, WouldErase: 13, Unchanged: 1, RowsScanned: 4625, RowsRemoved: 343}
			got := sum.Totals
			got.BytesBefore, got.BytesAfter = 0, 0
			if got != want || !sum.DryRun {
				t.Errorf("dry_run %v, totals %+v, want %+v", sum.DryRun, got, want)
			}
			for _, r := range sum.Archives {
				if r.Status == scrub.WouldErase && r.BytesAfter != nil {
					t.Errorf("%s: bytes_after = %d in a dry run, want null", r.Key, *r.BytesAfter)
				}
			}
		})
	}
}

func TestSelection(t *testing.T) {
	t.Parallel()
	all := []string{
		"2376158762_cust_2017-11-20.zip", "2376158762_cust_2017-11-21.zip", "2376158762_cust_2017-11-22.zip",
		"2376158762_cust_2017-11-23.zip", "2376158762_cust_2017-11-24.csv.gz", "2376158762_cust_2017-11-25.csv",
		"2376158762_cust_2017-11-26.zip", "2376158762_exc_2017-11-20.zip", "2376158762_exc_2017-11-21.zip",
		"2376158762_exc_2017-11-22.zip", "2376158762_exc_2017-11-23.zip", "2376158762_exc_2017-11-24.csv.gz",
		"monthly/2376158762_cust_2017-11-01_to_2017-11-23.zip", "monthly/2376158762_exc_2017-11-01_to_2017-11-23.zip",
	}
	filter := func(keep func(string) bool) []string {
		var out []string
		for _, p := range all {
			if keep(p) {
				out = append(out, p)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		flags []string
		want  []string // paths below the source
	}{
		{"include exc", []string{"--include", "*_exc_*"}, filter(func(p string) bool { return strings.Contains(p, "_exc_") })},
		{"exclude monthly", []string{"--exclude", "monthly/*"}, filter(func(p string) bool { return !strings.HasPrefix(p, "monthly/") })},
		{"include exc, exclude monthly", []string{"--include", "*_exc_*", "--exclude", "monthly/*"},
			filter(func(p string) bool { return strings.Contains(p, "_exc_") && !strings.HasPrefix(p, "monthly/") })},
		{"two includes", []string{"--include", "*.csv", "--include", "*.csv.gz"},
			filter(func(p string) bool { return strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".csv.gz") })},
		{"include with a slash", []string{"--include", "monthly/*_cust_*"}, []string{"monthly/2376158762_cust_2017-11-01_to_2017-11-23.zip"}},
		{"base-name glob matches in subdirectories", []string{"--include", "*_to_*"}, filter(func(p string) bool { return strings.HasPrefix(p, "monthly/") })},
		{"exclude by base name", []string{"--exclude", "*.zip"},
			[]string{"2376158762_cust_2017-11-24.csv.gz", "2376158762_cust_2017-11-25.csv", "2376158762_exc_2017-11-24.csv.gz"}},
		{"slash pattern is anchored", []string{"--include", "*/2376158762_cust_2017-11-20.zip"}, nil},
		{"nothing selected", []string{"--include", "*.tar"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			before := scrubtest.Snapshot(t, dir)
			args := append([]string{"erase", "--ids", scrubtest.IDsFile, "--json", dir}, tt.flags...)
			out := run(t, nil, args...)
			if tt.want == nil {
				// Selecting nothing is an error, not a finished job.
				if !errors.Is(out.err, scrub.ErrNoArchives) {
					t.Fatalf("err = %v, want ErrNoArchives", out.err)
				}
			} else if out.err != nil {
				t.Fatalf("Run: %v\n%s", out.err, out.stderr)
			}
			sum := summary(t, out.stdout)
			var got []string
			for _, r := range sum.Archives {
				rel, err := filepath.Rel(dir, r.Key)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, filepath.ToSlash(rel))
				if r.Status != scrub.Erased && r.Status != scrub.Unchanged {
					t.Errorf("%s: %s %s", rel, r.Status, r.Error)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("processed %q\nwant %q", got, tt.want)
			}
			if sum.Totals.Archives != len(tt.want) {
				t.Errorf("totals.archives = %d, want %d", sum.Totals.Archives, len(tt.want))
			}
			// Archives not selected are left exactly as they were.
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), func(rel string) bool {
				rel = filepath.ToSlash(rel)
				return slices.Contains(all, rel) && !slices.Contains(tt.want, rel)
			})
		})
	}
}

func TestPartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dryRun bool
	}{
		{"erase", false},
		{"dry run", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			scrubtest.Corrupt(t, dir, "bad.csv.gz")
			bad, _ := os.ReadFile(filepath.Join(dir, "bad.csv.gz"))
			args := []string{"erase", "--ids", scrubtest.IDsFile, "--json", dir}
			if tt.dryRun {
				args = append(args, "--dry-run")
			}
			out := run(t, nil, args...)
			if !errors.Is(out.err, scrub.ErrPartial) {
				t.Fatalf("Run = %v, want an error wrapping scrub.ErrPartial", out.err)
			}
			if errors.Is(out.err, scrub.ErrFailed) {
				t.Errorf("partial run wraps ErrFailed too")
			}
			var ue *cli.UsageError
			if errors.As(out.err, &ue) {
				t.Errorf("partial run is a usage error")
			}
			if !strings.Contains(out.stderr, "bad.csv.gz") || !strings.Contains(out.stderr, "FAILED") {
				t.Errorf("stderr does not name the failed archive:\n%s", out.stderr)
			}
			sum := summary(t, out.stdout)
			r := result(t, sum, "bad.csv.gz")
			if r.Status != scrub.Failed || r.Error == "" || r.BytesAfter != nil || r.RowsRemoved != 0 {
				t.Errorf("bad.csv.gz: %+v", r)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, "bad.csv.gz")); !bytes.Equal(after, bad) {
				t.Errorf("bad.csv.gz was changed")
			}
			tot := sum.Totals
			done, status := tot.Erased, "erased"
			if tt.dryRun {
				done, status = tot.WouldErase, "would be erased"
			}
			if tot.Archives != 15 || tot.Failed != 1 || done != 13 || tot.Unchanged != 1 || tot.RowsRemoved != 343 {
				t.Errorf("totals %+v, want 15 archives, 1 failed, 13 %s, 1 unchanged, 343 rows", tot, status)
			}
			if !tt.dryRun {
				os.Remove(filepath.Join(dir, "bad.csv.gz"))
				checkClean(t, dir)
			}
		})
	}
}

func TestAllFailed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) (dir string, flags []string)
	}{
		{"one corrupt archive", func(t *testing.T) (string, []string) {
			dir := t.TempDir()
			scrubtest.Corrupt(t, dir, "bad.csv.gz")
			return dir, nil
		}},
		{"several bad files", func(t *testing.T) (string, []string) {
			dir := t.TempDir()
			scrubtest.Corrupt(t, dir, "bad.csv.gz")
			os.WriteFile(filepath.Join(dir, "notes.csv"), []byte("Client ID,remark\nx,y,z\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "broken.csv"), []byte("Client ID,x\n\"9F3A41C07B22E8D1,1\n"), 0o644)
			return dir, nil
		}},
		{"unknown ID column", func(t *testing.T) (string, []string) {
			return scrubtest.CopyExport(t), []string{"--column", "Customer"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, flags := tt.setup(t)
			before := scrubtest.Snapshot(t, dir)
			args := append([]string{"erase", "--ids", scrubtest.IDsFile, "--json", dir}, flags...)
			out := run(t, nil, args...)
			if !errors.Is(out.err, scrub.ErrFailed) {
				t.Fatalf("Run = %v, want an error wrapping scrub.ErrFailed\n%s", out.err, out.stderr)
			}
			if errors.Is(out.err, scrub.ErrPartial) {
				t.Errorf("all-failed run wraps ErrPartial too")
			}
			sum := summary(t, out.stdout)
			if sum.Totals.Failed != sum.Totals.Archives || sum.Totals.Archives == 0 {
				t.Errorf("totals %+v", sum.Totals)
			}
			for _, r := range sum.Archives {
				if !strings.Contains(out.stderr, r.Key) {
					t.Errorf("stderr does not name %s", r.Key)
				}
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
		})
	}
}

// A source without archives, or patterns that select none, fail loudly:
// more often a wrong path than a finished job.
func TestEmptySource(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"empty directory":  {t.TempDir()},
		"nothing included": {"--include", "*.parquet", scrubtest.CopyExport(t)},
	} {
		out := run(t, nil, append([]string{"erase", "--ids", scrubtest.IDsFile, "--json"}, args...)...)
		if !errors.Is(out.err, scrub.ErrNoArchives) {
			t.Errorf("%s: err = %v, want ErrNoArchives", name, out.err)
		}
	}
}

// One directory reached twice, by two spellings or as a subdirectory of
// another source, is processed once.
func TestOverlappingSources(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	rel, err := filepath.Rel(mustGetwd(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--json", dir, rel, filepath.Join(dir, "monthly"))
	if out.err != nil {
		t.Fatalf("Run: %v\n%s", out.err, out.stderr)
	}
	checkFullErase(t, summary(t, out.stdout))
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// Everything after "--" is a source, even when it looks like a flag.
func TestDoubleDash(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--json", "--", dir, "-not-a-flag")
	if out.err == nil || !strings.Contains(out.err.Error(), "stat -not-a-flag: no such file") {
		t.Errorf("err = %v: want the missing source -not-a-flag reported, not a flag error", out.err)
	}
}

func TestSingleFileSource(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	tests := []struct {
		name    string
		file    string
		status  scrub.Status
		removed int64
	}{
		{"csv", "2376158762_cust_2017-11-25.csv", scrub.Erased, 6},
		{"gzip", "2376158762_exc_2017-11-24.csv.gz", scrub.Erased, 13},
		{"zip without a listed ID", unchanged, scrub.Unchanged, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--json", filepath.Join(dir, tt.file))
			if out.err != nil {
				t.Fatalf("Run: %v\n%s", out.err, out.stderr)
			}
			sum := summary(t, out.stdout)
			if got := base(sum); !slices.Equal(got, []string{tt.file}) {
				t.Fatalf("archives %q", got)
			}
			if r := sum.Archives[0]; r.Status != tt.status || r.RowsRemoved != tt.removed {
				t.Errorf("result %+v, want %s with %d rows removed", r, tt.status, tt.removed)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	a := scrubtest.NewAudit(t)
	err := cli.Run(ctx, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--json", dir}), cli.Env{Stdout: &stdout, Stderr: &stderr})
	if err == nil {
		t.Fatalf("Run with a canceled context succeeded")
	}
	// The interrupted batch is on the record, sealed.
	if out := runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir); out.err != nil || !strings.Contains(out.stdout, "1/1 batches valid") {
		t.Errorf("verify after an interrupted batch: %v\n%s", out.err, out.stdout)
	}
	var ue *cli.UsageError
	if errors.As(err, &ue) || errors.Is(err, scrub.ErrPartial) {
		t.Errorf("Run = %v, want a plain failure", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
}

// TestHelpOfEveryCommand: every command's help names what goes in each
// flag (not string, int), and ends with an example that uses only its
// flags.
func TestHelpOfEveryCommand(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`(?m)^  --([a-z0-9-]+) ?(.*)$`)
	for _, cmd := range [][]string{{"erase"}, {"sweep"}, {"unblock"}, {"export"}, {"keygen"}, {"verify"}, {"audit", "lookup"}, {"audit", "report"}, {"queue", "add"}, {"queue", "list"}, {"queue", "run"}, {"queue", "verify"}} {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			out := runPlain(t, nil, append(slices.Clone(cmd), "--help")...)
			help := out.stdout + out.stderr
			flags := map[string]bool{}
			for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
				flags[m[1]] = true
				switch m[2] {
				case "string", "int", "int64", "uint", "float", "float64", "duration", "value":
					t.Errorf("--%s takes a %q: say what goes there", m[1], m[2])
				}
			}
			if len(flags) == 0 {
				t.Fatalf("no flags in the help:\n%s", help)
			}
			_, example, ok := strings.Cut(help, "\nExample:\n  ")
			if !ok || !strings.HasPrefix(example, "scrub "+name+" ") || strings.Count(strings.TrimSpace(example), "\n") != 0 {
				t.Fatalf("the help does not end with one example of scrub %s:\n%s", name, help)
			}
			for _, f := range regexp.MustCompile(`--([a-z0-9-]+)`).FindAllStringSubmatch(example, -1) {
				if !flags[f[1]] {
					t.Errorf("the example uses --%s, which scrub %s does not have", f[1], name)
				}
			}
		})
	}
}

// TestNamesQuoted: a file name holding a newline or an escape sequence is
// printed quoted: it can neither garble the terminal nor forge a line of
// the summary.
func TestNamesQuoted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	forged := "x\x1b[2J\nerased      y.csv"
	body := "Timestamp,Client ID\n2017-11-24," + scrubtest.Victims[0] + "\n2017-11-24,KEEP\n"
	if err := os.WriteFile(filepath.Join(dir, forged), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad\x07.csv"), []byte("Timestamp,Client ID\n\"open,"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--no-progress", dir)
	if strings.ContainsAny(out.stderr, "\x1b\x07") {
		t.Errorf("control characters reach the terminal:\n%q", out.stderr)
	}
	for line := range strings.Lines(out.stderr) {
		if strings.HasPrefix(line, "erased      y.csv") {
			t.Errorf("a file name forged a line of the summary:\n%s", out.stderr)
		}
	}
	if want := strconv.Quote(filepath.Join(dir, forged)); !strings.Contains(out.stderr, "erased      "+want+": 1 of 2 rows removed") {
		t.Errorf("no line names %s quoted:\n%s", want, out.stderr)
	}
}

// TestKeyModeWarned: a signing key or ID key that others can read is
// used, with a warning that says what to do (as ssh warns).
func TestKeyModeWarned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		key, idKey os.FileMode
		want       []string
	}{
		{"private", 0o600, 0o400, nil},
		{"key readable", 0o644, 0o600, []string{"--key"}},
		{"both readable", 0o640, 0o604, []string{"--key", "--id-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := scrubtest.CopyExport(t)
			a := scrubtest.NewAudit(t)
			if err := os.Chmod(a.Key, tc.key); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(a.IDKey, tc.idKey); err != nil {
				t.Fatal(err)
			}
			out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--dry-run", dir})...)
			if out.err != nil {
				t.Fatalf("erase: %v\n%s", out.err, out.stderr)
			}
			warned := 0
			for line := range strings.Lines(out.stderr) {
				if strings.HasPrefix(line, "scrub: warning: ") && strings.Contains(line, "readable by others") {
					warned++
					if !strings.Contains(line, "0600 or 0400") {
						t.Errorf("the warning does not say what to do: %s", line)
					}
				}
			}
			if warned != len(tc.want) {
				t.Errorf("%d warnings, want %d (%q):\n%s", warned, len(tc.want), tc.want, out.stderr)
			}
			for _, f := range tc.want {
				if !strings.Contains(out.stderr, "warning: "+f+" ") {
					t.Errorf("no warning names %s:\n%s", f, out.stderr)
				}
			}
		})
	}
}
