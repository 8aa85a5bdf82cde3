package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestLookupVerifies checks that scrub audit lookup answers (exit 0) only
// from a bundle that verifies under the ID key given, and otherwise says
// why it cannot answer (exit 1, not a usage error).
func TestLookupVerifies(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--json", "--no-progress", scrubtest.CopyExport(t)})...)
	if out.err != nil {
		t.Fatal(out.err)
	}
	var res struct {
		Audit audit.Sealed `json:"audit"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &res); err != nil {
		t.Fatal(err)
	}
	batch := res.Audit.Batch
	// Line 1 is a victim, line 2 an ID no batch mentions.
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte(scrubtest.Victims[0]+"\nNOBODY0000000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := t.TempDir()
	if err := os.CopyFS(tampered, os.DirFS(a.Dir)); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(tampered, batch+".jsonl")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"rows_removed":`)) + len(`"rows_removed":`)
	data[i] ^= 1 // a digit becomes another
	if err := os.WriteFile(log, data, 0o644); err != nil {
		t.Fatal(err)
	}
	other := scrubtest.NewAudit(t)
	otherID := keyID(t, other.IDKey)
	lookup := func(idKey, dir string, trust ...string) []string {
		return append(append([]string{"audit", "lookup", "--id-key", idKey, "--ids", ids}, trust...), dir)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		fail   bool     // cannot answer: exit 1
		want   []string // in stdout, or in the error when fail
		stderr string
	}{
		{"honest", lookup(a.IDKey, a.Dir, "--pub", a.Pub), false, []string{
			"ids.txt:1  erased: " + batch + " (finished ",
			"ids.txt:1  " + batch + ": listed; rows in ",
			"ids.txt:2  not in any batch: no batch mentions this ID\n",
		}, ""},
		{"honest, allowed signers", lookup(a.IDKey, a.Dir, "--allowed-signers", a.AllowedSigners), false, []string{"ids.txt:1  erased: "}, ""},
		// It answers, but on consistency only (exit 4, as verify).
		{"honest, no trusted signer", lookup(a.IDKey, a.Dir), false, []string{"ids.txt:1  erased: "}, "consistency only"},
		{"wrong ID key", lookup(other.IDKey, a.Dir), true, []string{
			"cannot answer: no batch names IDs under the ID key given (" + otherID + ")", keyID(t, a.IDKey),
		}, ""},
		{"empty location", lookup(a.IDKey, t.TempDir()), true, []string{"cannot answer: no sealed audit batch"}, ""},
		{"tampered", lookup(a.IDKey, tampered), true, []string{
			"cannot answer: the audit bundle does not verify: " + batch + ": INVALID: chain broken",
		}, ""},
		{"untrusted signer", lookup(a.IDKey, a.Dir, "--pub", other.Pub), true, []string{"does not verify", "INVALID: signature"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := runPlain(t, nil, tt.args...)
			switch {
			case tt.fail && (out.err == nil || isUsage(out.err)):
				t.Fatalf("error %v, want one that is not a usage error (exit 1)\n%s", out.err, out.stdout)
			case tt.fail && out.stdout != "":
				t.Errorf("answered although it cannot:\n%s", out.stdout)
			case !tt.fail && tt.stderr == "" && out.err != nil:
				t.Fatalf("%v\n%s", out.err, out.stderr)
			case !tt.fail && tt.stderr != "" && !errors.Is(out.err, cli.ErrConsistencyOnly):
				t.Fatalf("error %v, want one of consistency only (exit 4)\n%s", out.err, out.stderr)
			}
			got := out.stdout
			if tt.fail {
				got = out.err.Error()
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			if tt.stderr != "" && !strings.Contains(errString(out.err), tt.stderr) {
				t.Errorf("error lacks %q: %v", tt.stderr, out.err)
			}
		})
	}
}

func keyID(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, file)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}
