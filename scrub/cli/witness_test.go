package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestWitness: each batch adds its head to the --witness location, and
// verify --witness finds the newest batch deleted from the audit location
// (which the chain alone cannot), a replaced batch and a forged head;
// without --witness, verify passes but says the batches were witnessed.
func TestWitness(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	witness := filepath.Join(t.TempDir(), "witness")
	var batches []string
	for range 2 {
		out := runPlain(t, nil, a.WithAudit([]string{"erase", "--witness", witness, "--ids", scrubtest.IDsFile, "--no-progress", scrubtest.CopyExport(t)})...)
		if out.err != nil {
			t.Fatal(out.err)
		}
	}
	heads, _ := filepath.Glob(filepath.Join(witness, "batch-*.head"))
	if len(heads) != 2 {
		t.Fatalf("witness holds %d heads, want 2: %v", len(heads), heads)
	}
	for _, h := range heads {
		batches = append(batches, strings.TrimSuffix(filepath.Base(h), ".head"))
		data, _ := os.ReadFile(h)
		if f := strings.Fields(string(data)); len(f) != 4 || f[0] != batches[len(batches)-1] {
			t.Fatalf("%s: %q is not BATCH CHAIN_HEAD SHA256SUMS_SHA256 TIME", h, data)
		}
	}
	newest := batches[1]

	copyDir := func(t *testing.T, dir string) string {
		c := filepath.Join(t.TempDir(), filepath.Base(dir))
		if err := os.CopyFS(c, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The newest batch's files deleted from the audit location; nothing
	// else rewritten (.chain-tip is a hint).
	truncated := copyDir(t, a.Dir)
	files, _ := filepath.Glob(filepath.Join(truncated, newest+"*"))
	for _, f := range files {
		os.Remove(f)
	}
	// A forged head: another SHA256SUMS hash for the newest batch.
	forged := copyDir(t, witness)
	data, _ := os.ReadFile(filepath.Join(forged, newest+".head"))
	f := strings.Fields(string(data))
	f[2] = strings.Repeat("0", 64)
	os.WriteFile(filepath.Join(forged, newest+".head"), []byte(strings.Join(f, " ")+"\n"), 0o644)

	for _, tt := range []struct {
		name    string
		args    []string
		want    error
		message []string // in stdout, stderr or the error
	}{
		{name: "honest", args: []string{"--pub", a.Pub, "--witness", witness, a.Dir}},
		{name: "honest, no --witness", args: []string{"--pub", a.Pub, a.Dir},
			message: []string{"2 batches were witnessed in " + witness + ": pass --witness"}},
		{name: "newest deleted", args: []string{"--pub", a.Pub, "--witness", witness, truncated}, want: cli.ErrInvalid,
			message: []string{"batch " + newest + " is witnessed in " + witness, "but missing from the audit location"}},
		{name: "newest deleted, no --witness", args: []string{"--pub", a.Pub, truncated},
			message: []string{"1 batches were witnessed in " + witness + ": pass --witness"}},
		{name: "forged head", args: []string{"--pub", a.Pub, "--witness", forged, a.Dir}, want: cli.ErrInvalid,
			message: []string{newest + "  INVALID: hash mismatch", "is not the head witnessed in " + forged}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := runPlain(t, nil, append([]string{"verify"}, tt.args...)...)
			if !errors.Is(out.err, tt.want) || (tt.want == nil) != (out.err == nil) {
				t.Fatalf("verify %q: error %v, want %v\n%s%s", tt.args, out.err, tt.want, out.stdout, out.stderr)
			}
			all := out.stdout + out.stderr + errString(out.err)
			for _, m := range tt.message {
				if !strings.Contains(all, m) {
					t.Errorf("verify %q: no %q in\n%s", tt.args, m, all)
				}
			}
		})
	}
}

// TestWitnessApart: the witness must not be inside the audit location, and
// --audit-retain needs a location that locks objects.
func TestWitnessApart(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	for _, tt := range []struct {
		name, message string
		args          []string
	}{
		{"witness inside the audit location", "overlap: a witness must be out of reach", []string{"--witness", filepath.Join(a.Dir, "w")}},
		{"retain on a directory", "cannot lock objects", []string{"--audit-retain", "7y"}},
		{"bad period", "--audit-retain", []string{"--audit-retain", "7 years"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := runPlain(t, nil, a.WithAudit(append(append([]string{"erase"}, tt.args...), "--ids", scrubtest.IDsFile, "--no-progress", scrubtest.CopyExport(t)))...)
			if out.err == nil || !strings.Contains(errString(out.err), tt.message) {
				t.Fatalf("erase %q: error %v, want %q\n%s", tt.args, out.err, tt.message, out.stderr)
			}
		})
	}
}
