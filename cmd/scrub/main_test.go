package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

const testVersion = "v9.9.9-test"

// bin is the scrub binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "scrub-main-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "scrub")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version="+testVersion, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n", err)
		return 1
	}
	return m.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

// scrubCmd runs the binary, with fresh audit keys and directory for erase,
// and returns its exit code and output. It checks that no listed ID shows
// up in the output or the audit bundle.
func scrubCmd(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	a := scrubtest.NewAudit(t)
	defer scrubtest.CheckNoIDs(t, a.Dir)
	cmd := exec.Command(bin, a.WithAudit(args)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	r := result{code, stdout.String(), stderr.String()}
	for _, id := range scrubtest.Listed {
		if strings.Contains(r.stdout, id) || strings.Contains(r.stderr, id) {
			t.Errorf("output of %q contains the listed ID %s", args, id)
		}
	}
	return r
}

// lastLine returns the last line of s, without its line feed.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func decode(t *testing.T, stdout string) *scrub.FullSummary {
	t.Helper()
	if !json.Valid([]byte(stdout)) {
		t.Fatalf("stdout is not exactly one valid JSON document:\n%s", stdout)
	}
	var sum scrub.FullSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	return &sum
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	ids := scrubtest.IDsFile
	tests := []struct {
		name  string
		setup func(t *testing.T) []string // returns the arguments
		code  int
		json  bool // stdout must be a JSON summary
		check func(t *testing.T, r result, sum *scrub.FullSummary)
	}{
		{
			name:  "version",
			setup: func(t *testing.T) []string { return []string{"version"} },
			code:  0,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if r.stdout != "scrub "+testVersion+"\n" || r.stderr != "" {
					t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
				}
			},
		},
		{
			name: "queue list with an overdue request",
			setup: func(t *testing.T) []string {
				a := scrubtest.NewAudit(t)
				q := filepath.Join(t.TempDir(), "queue")
				r := scrubCmd(t, nil, "queue", "add", "--queue", q, "--ids", ids, "--ticket", "DPO-1", "--received", "2017-11-01", "--key", a.Key, "--id-key", a.IDKey)
				if r.code != 0 {
					t.Fatalf("queue add: exit %d\n%s", r.code, r.stderr)
				}
				return []string{"queue", "list", "--queue", q, "--key", a.Key}
			},
			code: 5,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if !strings.Contains(r.stdout, "overdue  DPO-1") || !strings.Contains(r.stderr, "scrub: overdue requests in the queue: 1 of the 1 pending requests") {
					t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
				}
			},
		},
		{
			name:  "help",
			setup: func(t *testing.T) []string { return []string{"help"} },
			code:  0,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if !strings.Contains(r.stdout, "Usage:") {
					t.Errorf("stdout %q", r.stdout)
				}
			},
		},
		{
			name:  "erase --help",
			setup: func(t *testing.T) []string { return []string{"erase", "--help"} },
			code:  0,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if !strings.Contains(r.stderr, "Usage: scrub erase") || strings.Contains(r.stderr, "scrub: ") {
					t.Errorf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "success",
			setup: func(t *testing.T) []string {
				return []string{"erase", "--ids", ids, "--no-progress", scrubtest.CopyExport(t)}
			},
			code: 0,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if r.stdout != "" {
					t.Errorf("stdout %q, want empty", r.stdout)
				}
				if !strings.Contains(r.stderr, "343 of 4625 rows removed\n") || !strings.Contains(r.stderr, "scrub: audit head ") {
					t.Errorf("stderr:\n%s", r.stderr)
				}
			},
		},
		{
			name:  "success with --json",
			setup: func(t *testing.T) []string { return []string{"erase", scrubtest.CopyExport(t), "--ids", ids, "--json"} },
			code:  0,
			json:  true,
			check: func(t *testing.T, r result, sum *scrub.FullSummary) {
				tt := sum.Totals
				if tt.Archives != 14 || tt.Erased != 13 || tt.Unchanged != 1 || tt.RowsRemoved != 343 || tt.RowsScanned != 4625 {
					t.Errorf("totals %+v", tt)
				}
			},
		},
		{
			name: "dry run",
			setup: func(t *testing.T) []string {
				return []string{"erase", "--ids", ids, "--dry-run", "--json", scrubtest.CopyExport(t)}
			},
			code: 0,
			json: true,
			check: func(t *testing.T, r result, sum *scrub.FullSummary) {
				if !sum.DryRun || sum.Totals.WouldErase != 13 || sum.Totals.Erased != 0 {
					t.Errorf("summary %+v", sum.Totals)
				}
			},
		},
		{
			name:  "no command",
			setup: func(t *testing.T) []string { return nil },
			code:  2,
		},
		{
			name:  "unknown command",
			setup: func(t *testing.T) []string { return []string{"purge"} },
			code:  2,
		},
		{
			name:  "missing --ids",
			setup: func(t *testing.T) []string { return []string{"erase", t.TempDir()} },
			code:  2,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if r.stderr != "scrub: --ids FILE is required (or --older-than AGE for a retention purge)\n" {
					t.Errorf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "--level 10 with --json",
			setup: func(t *testing.T) []string {
				return []string{"erase", "--ids", ids, "--json", "--level", "10", t.TempDir()}
			},
			code: 2,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if r.stdout != "" || !strings.HasPrefix(r.stderr, "scrub: ") {
					t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
				}
			},
		},
		{
			name:  "unknown flag",
			setup: func(t *testing.T) []string { return []string{"erase", "--ids", ids, "--force", t.TempDir()} },
			code:  2,
		},
		{
			name: "bad ID list",
			setup: func(t *testing.T) []string {
				list := filepath.Join(t.TempDir(), "ids.txt")
				os.WriteFile(list, []byte("A\n9F3A41C07B22E8D1,x\n"), 0o644)
				return []string{"erase", "--ids", list, t.TempDir()}
			},
			code: 2,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if !strings.HasPrefix(r.stderr, "scrub: ") || !strings.Contains(r.stderr, "ids.txt:2:") {
					t.Errorf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "missing source",
			setup: func(t *testing.T) []string {
				return []string{"erase", "--ids", ids, filepath.Join(t.TempDir(), "nope")}
			},
			code: 2,
		},
		{
			name: "partial",
			setup: func(t *testing.T) []string {
				dir := scrubtest.CopyExport(t)
				scrubtest.Corrupt(t, dir, "bad.csv.gz")
				return []string{"erase", "--ids", ids, dir}
			},
			code: 3,
			check: func(t *testing.T, r result, _ *scrub.FullSummary) {
				if r.stdout != "" || !strings.Contains(r.stderr, "bad.csv.gz") {
					t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
				}
			},
		},
		{
			name: "partial with --json",
			setup: func(t *testing.T) []string {
				dir := scrubtest.CopyExport(t)
				scrubtest.Corrupt(t, dir, "bad.csv.gz")
				return []string{"erase", "--json", "--ids", ids, dir}
			},
			code: 3,
			json: true,
			check: func(t *testing.T, r result, sum *scrub.FullSummary) {
				tt := sum.Totals
				if tt.Archives != 15 || tt.Failed != 1 || tt.Erased != 13 || tt.RowsRemoved != 343 {
					t.Errorf("totals %+v", tt)
				}
			},
		},
		{
			name: "partial dry run with --json",
			setup: func(t *testing.T) []string {
				dir := scrubtest.CopyExport(t)
				scrubtest.Corrupt(t, dir, "bad.csv.gz")
				return []string{"erase", "--dry-run", "--json", "--ids", ids, dir}
			},
			code: 3,
			json: true,
		},
		{
			name: "all failed",
			setup: func(t *testing.T) []string {
				dir := t.TempDir()
				scrubtest.Corrupt(t, dir, "bad.csv.gz")
				return []string{"erase", "--ids", ids, dir}
			},
			code: 1,
		},
		{
			name: "all failed with --json",
			setup: func(t *testing.T) []string {
				dir := t.TempDir()
				scrubtest.Corrupt(t, dir, "bad.csv.gz")
				scrubtest.Corrupt(t, dir, "worse.csv.gz")
				return []string{"erase", "--ids", ids, "--json", dir}
			},
			code: 1,
			json: true,
			check: func(t *testing.T, r result, sum *scrub.FullSummary) {
				if sum.Totals.Archives != 2 || sum.Totals.Failed != 2 {
					t.Errorf("totals %+v", sum.Totals)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := scrubCmd(t, nil, tt.setup(t)...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code != 0 {
				// The reason is the last line, after any usage text or summary.
				if last := lastLine(r.stderr); !strings.HasPrefix(last, "scrub: ") {
					t.Errorf("last line of stderr %q does not start with %q", last, "scrub: ")
				}
			}
			if tt.code == 3 && !strings.Contains(lastLine(r.stderr), "some archives failed") {
				t.Errorf("stderr does not end with the partial error:\n%s", r.stderr)
			}
			if tt.code == 1 && !strings.Contains(lastLine(r.stderr), "no archive could be processed") {
				t.Errorf("stderr does not end with the failure:\n%s", r.stderr)
			}
			var sum *scrub.FullSummary
			if tt.json {
				sum = decode(t, r.stdout)
			}
			if tt.check != nil {
				tt.check(t, r, sum)
			}
		})
	}
}

func TestIDsFromStdin(t *testing.T) {
	t.Parallel()
	list, err := os.ReadFile(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin []byte
		code  int
	}{
		{"list", list, 0},
		{"empty", []byte{}, 2},
		{"no stdin", nil, 2}, // /dev/null
		{"bad line", []byte("A\n\"9F3A41C07B22E8D1\"\n"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := scrubCmd(t, tt.stdin, "erase", "--ids", "-", "--json", scrubtest.CopyExport(t))
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			if tt.code == 0 {
				if sum := decode(t, r.stdout); sum.Totals.RowsRemoved != 343 {
					t.Errorf("totals %+v", sum.Totals)
				}
			} else if r.stdout != "" || !strings.HasPrefix(r.stderr, "scrub: standard input") {
				t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}
}
