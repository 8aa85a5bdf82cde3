package cli_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

func TestKeygen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name, idKey := filepath.Join(dir, "signer"), filepath.Join(dir, "id.key")
	out := runPlain(t, nil, "keygen", "--out", name, "--id-key", idKey, "--principal", "dpo@example.com")
	if out.err != nil {
		t.Fatalf("keygen: %v\n%s", out.err, out.stderr)
	}
	for f, mode := range map[string]os.FileMode{name: 0o600, idKey: 0o600, name + ".pub": 0o644, name + ".allowed_signers": 0o644} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	line, _ := os.ReadFile(name + ".allowed_signers")
	if out.stdout != string(line) || !strings.HasPrefix(out.stdout, `dpo@example.com namespaces="scrub-audit,scrub-blocklist,scrub-queue" ssh-ed25519 AAAA`) {
		t.Errorf("stdout %q, allowed_signers %q", out.stdout, line)
	}
	// Keys are never overwritten.
	before, _ := os.ReadFile(name)
	if out := runPlain(t, nil, "keygen", "--out", name); !isUsage(out.err) || !strings.Contains(out.err.Error(), "exists") {
		t.Errorf("keygen over an existing key: %v", out.err)
	}
	if after, _ := os.ReadFile(name); !bytes.Equal(before, after) {
		t.Error("the existing key changed")
	}
	for _, args := range [][]string{{"keygen"}, {"keygen", "--principal", "a b", "--out", filepath.Join(dir, "x")}, {"keygen", "extra"}} {
		if out := runPlain(t, nil, args...); !isUsage(out.err) {
			t.Errorf("%q: %v, want a usage error", args, out.err)
		}
	}
	// The keys work for an erasure that verifies against them.
	data := scrubtest.CopyExport(t)
	auditDir := filepath.Join(dir, "audit")
	if out := runPlain(t, nil, "erase", "--ids", scrubtest.IDsFile, "--key", name, "--id-key", idKey, "--audit", auditDir, "--no-progress", data); out.err != nil {
		t.Fatalf("erase: %v\n%s", out.err, out.stderr)
	}
	if out := runPlain(t, nil, "verify", "--allowed-signers", name+".allowed_signers", auditDir); out.err != nil {
		t.Errorf("verify: %v\n%s", out.err, out.stdout)
	}
}

func isUsage(err error) bool {
	var ue *cli.UsageError
	return errors.As(err, &ue)
}

// TestEraseNeedsKeys: a real erasure without a signing key or an ID key
// is a usage error that touches nothing; a dry run may go without.
func TestEraseNeedsKeys(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--id-key", a.IDKey}, "--key FILE"},
		{[]string{"--key", a.Key}, "--id-key FILE"},
		{[]string{"--key", a.IDKey, "--id-key", a.IDKey}, "signing key"},
		{[]string{"--key", a.Key, "--id-key", a.Key}, "ID key"},
		{[]string{"--key", filepath.Join(t.TempDir(), "none"), "--id-key", a.IDKey}, "--key"},
		{[]string{"--key", a.Key, "--id-key", a.IDKey, "--audit", filepath.Join(dir, "audit")}, "overlap"},
		{[]string{"--key", a.Key, "--id-key", a.IDKey, "--audit", filepath.Dir(dir)}, "overlap"},
		{[]string{"--key", a.Key, "--id-key", a.IDKey, "--audit", "gs://b/p"}, "s3://"},
	} {
		args := append(append([]string{"erase", "--ids", scrubtest.IDsFile, "--audit", a.Dir}, tt.args...), dir)
		out := runPlain(t, nil, args...)
		if !isUsage(out.err) || !strings.Contains(out.err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error about %s", tt.args, out.err, tt.want)
		}
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
	if _, err := os.Stat(a.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run created the audit directory: %v", err)
	}
	// A dry run without keys writes an unsigned bundle, which verify
	// lists but does not count.
	out := runPlain(t, nil, "erase", "--dry-run", "--ids", scrubtest.IDsFile, "--audit", a.Dir, "--no-progress", dir)
	if out.err != nil || !strings.Contains(out.stderr, "unsigned") {
		t.Fatalf("dry run without keys: %v\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if !strings.Contains(out.stdout, "unsigned dry run") || !strings.Contains(out.stdout, "0/0 batches valid") || out.err == nil {
		t.Errorf("verify of an unsigned dry run only: %v\n%s", out.err, out.stdout)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
	scrubtest.CheckNoIDs(t, a.Dir)
}

// TestKeysFromEnvironment: CI secret stores hand over the keys themselves.
func TestKeysFromEnvironment(t *testing.T) {
	a := scrubtest.NewAudit(t)
	key, _ := os.ReadFile(a.Key)
	idKey, _ := os.ReadFile(a.IDKey)
	t.Setenv("SCRUB_SIGNING_KEY", string(key))
	t.Setenv("SCRUB_ID_KEY", string(idKey))
	out := runPlain(t, nil, "erase", "--ids", scrubtest.IDsFile, "--audit", a.Dir, "--no-progress", scrubtest.CopyExport(t))
	if out.err != nil {
		t.Fatalf("erase with keys from the environment: %v\n%s", out.err, out.stderr)
	}
	if out := runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir); out.err != nil {
		t.Errorf("verify: %v\n%s", out.err, out.stdout)
	}
	t.Setenv("SCRUB_SIGNING_KEY", "not a key")
	if out := runPlain(t, nil, "erase", "--ids", scrubtest.IDsFile, "--audit", a.Dir, scrubtest.CopyExport(t)); !isUsage(out.err) || !strings.Contains(out.err.Error(), "$SCRUB_SIGNING_KEY") {
		t.Errorf("bad key in the environment: %v", out.err)
	}
}

type logLine struct {
	Seq          int      `json:"seq"`
	Type         string   `json:"type"`
	Key          string   `json:"key"`
	Status       string   `json:"status"`
	SizeBefore   int64    `json:"size_before"`
	SHA256Before string   `json:"sha256_before"`
	SizeAfter    *int64   `json:"size_after"`
	SHA256After  string   `json:"sha256_after"`
	RowsRemoved  int64    `json:"rows_removed"`
	Tags         []string `json:"id_hmacs"`
	Ticket       string   `json:"ticket"`
	Tool         struct {
		Version string `json:"version"`
	} `json:"tool"`
	Result string `json:"result"`
}

func readLog(t *testing.T, dir, batch string) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, batch+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func sha256File(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestAuditOfErase checks what a batch's log says against what the batch
// did: one line per archive, with the hashes of the bytes before and
// after, and the tags of exactly the IDs removed from it.
func TestAuditOfErase(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	dir := scrubtest.CopyExport(t)
	before := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	for _, p := range append(files, more...) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			before[p] = sha256File(t, p)
		}
	}
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--ticket", "DPO-2017-0412", "--json", dir})...)
	if out.err != nil {
		t.Fatalf("erase: %v\n%s", out.err, out.stderr)
	}
	var res struct {
		Audit audit.Sealed `json:"audit"`
	}
	json.Unmarshal([]byte(out.stdout), &res)
	if !strings.Contains(out.stderr, "audit head "+res.Audit.Head) {
		t.Errorf("stderr does not name the head %s:\n%s", res.Audit.Head, out.stderr)
	}
	idKeyData, _ := os.ReadFile(a.IDKey)
	idKey, err := audit.ParseIDKey(idKeyData, "id")
	if err != nil {
		t.Fatal(err)
	}
	victims := map[string]bool{}
	for _, v := range scrubtest.Victims {
		victims[idKey.Tag([]byte(v))] = true
	}
	lines := readLog(t, a.Dir, res.Audit.Batch)
	archives := 0
	for i, l := range lines {
		if l.Seq != i+1 {
			t.Errorf("line %d has seq %d", i+1, l.Seq)
		}
		switch l.Type {
		case "batch_start":
			if l.Ticket != "DPO-2017-0412" || l.Tool.Version != "v1.2.3-test" {
				t.Errorf("start: ticket %q, version %q", l.Ticket, l.Tool.Version)
			}
		case "ids":
			if len(l.Tags) != len(scrubtest.Listed) {
				t.Errorf("ids line: %d tags, want %d", len(l.Tags), len(scrubtest.Listed))
			}
		case "archive":
			archives++
			if l.SHA256Before != before[l.Key] {
				t.Errorf("%s: sha256_before %s, want %s", l.Key, l.SHA256Before, before[l.Key])
			}
			if got := sha256File(t, l.Key); l.SHA256After != got {
				t.Errorf("%s: sha256_after %s, the file's is %s", l.Key, l.SHA256After, got)
			}
			if (l.RowsRemoved > 0) != (len(l.Tags) > 0) {
				t.Errorf("%s: %d rows removed, tags %v", l.Key, l.RowsRemoved, l.Tags)
			}
			for _, tag := range l.Tags {
				if !victims[tag] {
					t.Errorf("%s: tag %s is not a victim's", l.Key, tag)
				}
			}
		case "batch_end":
			if l.Result != "complete" {
				t.Errorf("result %q", l.Result)
			}
		}
	}
	if archives != 14 || lines[len(lines)-1].Type != "batch_end" {
		t.Errorf("%d archive lines, last line %q", archives, lines[len(lines)-1].Type)
	}

	// verify, pinned to the printed head; a second batch chains on.
	if out := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, "--expect-head", res.Audit.Head, a.Dir); out.err != nil || !strings.Contains(out.stdout, "1/1 batches valid\nhead "+res.Audit.Head) {
		t.Errorf("verify: %v\n%s", out.err, out.stdout)
	}
	if out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--dry-run", "--no-progress", dir})...); out.err != nil {
		t.Fatal(out.err)
	}
	out = runPlain(t, nil, "verify", "--json", "--pub", a.Pub, "--expect-head", res.Audit.Head, a.Dir)
	var rep struct {
		Valid, Total int
		Batches      []struct {
			Status   string
			Manifest audit.Manifest
		}
	}
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil || out.err != nil || rep.Valid != 2 || rep.Total != 2 {
		t.Fatalf("verify --json: %v %v\n%s", err, out.err, out.stdout)
	}
	if m := rep.Batches[1].Manifest; m.PrevSHA256SUMS != res.Audit.Head || !m.DryRun {
		t.Errorf("second batch: prev %s dry run %v, want prev %s", m.PrevSHA256SUMS, m.DryRun, res.Audit.Head)
	}

	// lookup answers per line of the ID file, never with the ID.
	out = runPlain(t, nil, "audit", "lookup", "--id-key", a.IDKey, "--ids", scrubtest.IDsFile, "--pub", a.Pub, a.Dir)
	if out.err != nil {
		t.Fatalf("lookup: %v\n%s", out.err, out.stderr)
	}
	for _, want := range []string{"ids.txt:2  " + res.Audit.Batch + ": listed; rows in 9 archives", "ids.txt:6  " + res.Audit.Batch + ": listed; rows in 0 archives"} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("lookup output lacks %q:\n%s", want, out.stdout)
		}
	}
	// With another key, nothing can be learnt.
	other := scrubtest.NewAudit(t)
	out = runPlain(t, nil, "audit", "lookup", "--id-key", other.IDKey, "--ids", scrubtest.IDsFile, a.Dir)
	if strings.Contains(out.stdout, "listed") || out.err == nil || !strings.Contains(out.err.Error(), "cannot answer: no batch names IDs under the ID key given") {
		t.Errorf("lookup with another key: %v\n%s\n%s", out.err, out.stdout, out.stderr)
	}
	scrubtest.CheckNoIDs(t, a.Dir)
}

func TestVerifyExitCodes(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	if out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", scrubtest.CopyExport(t)})...); out.err != nil {
		t.Fatal(out.err)
	}
	other := scrubtest.NewAudit(t)
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"valid", []string{"verify", "--pub", a.Pub, a.Dir}, false, ""},
		{"untrusted key", []string{"verify", "--pub", other.Pub, a.Dir}, false, "INVALID: signature"},
		{"head not there", []string{"verify", "--pub", a.Pub, "--expect-head", strings.Repeat("0", 64), a.Dir}, false, "INVALID: missing"},
		{"empty location", []string{"verify", "--pub", a.Pub, t.TempDir()}, false, "no audit batches"},
		{"bad head", []string{"verify", "--pub", a.Pub, "--expect-head", "abc", a.Dir}, true, "--expect-head"},
		{"both trust flags", []string{"verify", "--pub", a.Pub, "--allowed-signers", a.AllowedSigners, a.Dir}, true, "not both"},
		{"no location", []string{"verify", "--pub", a.Pub}, true, "LOCATION"},
		{"bad pub", []string{"verify", "--pub", a.IDKey, a.Dir}, true, "--pub"},
		{"lookup without key", []string{"audit", "lookup", "--ids", scrubtest.IDsFile, a.Dir}, true, "--id-key"},
		{"audit without subcommand", []string{"audit"}, true, "lookup"},
	} {
		out := runPlain(t, nil, tt.args...)
		switch {
		case tt.want == "" && out.err != nil:
			t.Errorf("%s: %v", tt.name, out.err)
		case tt.want != "" && (out.err == nil || isUsage(out.err) != tt.usage):
			t.Errorf("%s: error %v, usage error %v", tt.name, out.err, tt.usage)
		case tt.want != "" && !strings.Contains(out.stdout+errString(out.err), tt.want):
			t.Errorf("%s: output lacks %q:\n%s%v", tt.name, tt.want, out.stdout, out.err)
		}
	}
}
