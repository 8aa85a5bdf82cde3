package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// resignAll re-signs every batch in dir with key, as someone who can
// write the audit location but lacks the signing key would: each manifest
// names the new key and links to the new head of the batch before, so the
// bundle is consistent again.
func resignAll(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	sums, err := filepath.Glob(filepath.Join(dir, "batch-*-SHA256SUMS"))
	if err != nil || len(sums) == 0 {
		t.Fatalf("no batches in %s (%v)", dir, err)
	}
	hex256 := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	prev := ""
	for _, s := range sums { // sorted: oldest first
		name := strings.TrimSuffix(filepath.Base(s), "-SHA256SUMS")
		read := func(suffix string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, name+suffix))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var m audit.Manifest
		if err := json.Unmarshal(read("-manifest.json"), &m); err != nil {
			t.Fatal(err)
		}
		m.KeyFingerprint = sshsig.Fingerprint(key.Public().(ed25519.PublicKey))
		if m.PrevSHA256SUMS != "" {
			m.PrevSHA256SUMS = prev
		}
		manifest, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		manifest = append(manifest, '\n')
		newSums := fmt.Appendf(nil, "%s  %s\n%s  %s\n", hex256(read(".jsonl")), name+".jsonl", hex256(manifest), name+"-manifest.json")
		sig, err := sshsig.Sign(key, audit.Namespace, bytes.NewReader(newSums))
		if err != nil {
			t.Fatal(err)
		}
		for suffix, data := range map[string][]byte{"-manifest.json": manifest, "-SHA256SUMS": newSums, "-SHA256SUMS.sig": sig} {
			if err := os.WriteFile(filepath.Join(dir, name+suffix), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		prev = hex256(newSums)
	}
}

// TestVerifyTrust: verify trusts a signer only when told which, from
// outside the audit location. Without one it reports consistency only,
// names the key that signed, and exits with its own code (4), never 0:
// an attacker who re-signs every batch with a key of their own makes a
// consistent bundle.
func TestVerifyTrust(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	for range 2 {
		if out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", scrubtest.CopyExport(t)})...); out.err != nil {
			t.Fatal(out.err)
		}
	}
	fp := func(k ed25519.PrivateKey) string { return sshsig.Fingerprint(k.Public().(ed25519.PublicKey)) }
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := filepath.Join(t.TempDir(), "audit")
	if err := os.CopyFS(forged, os.DirFS(a.Dir)); err != nil {
		t.Fatal(err)
	}
	resignAll(t, forged, forger)
	// The forger's allowed_signers, left in the audit location, and a
	// link to it from outside; the operator's own, copied in.
	forgedSigners := filepath.Join(forged, "allowed_signers")
	os.WriteFile(forgedSigners, []byte(sshsig.AllowedSignersLine("dpo@example.com", audit.Namespace, forger.Public().(ed25519.PublicKey))), 0o644)
	link := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.Symlink(forgedSigners, link); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(a.Dir, "trusted.pub")
	if err := os.Link(a.Pub, inside); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(inside)

	const consistencyOnly = "consistency only: no trusted signer given; signed by "
	for _, tt := range []struct {
		name    string
		args    []string
		want    error
		stdout  []string
		message []string // in the error or on stderr
	}{
		{
			name: "honest, trusted key", args: []string{"--pub", a.Pub, a.Dir},
		},
		{
			name: "honest, no trust", args: []string{a.Dir}, want: cli.ErrConsistencyOnly,
			stdout:  []string{"2/2 batches valid", consistencyOnly + fp(a.Signer) + "\n"},
			message: []string{"no --allowed-signers or --pub: the bundles are consistent and signed by " + fp(a.Signer)},
		},
		{
			name: "re-signed, no trust", args: []string{forged}, want: cli.ErrConsistencyOnly,
			stdout:  []string{"2/2 batches valid", consistencyOnly + fp(forger) + "\n"},
			message: []string{"signed by " + fp(forger)},
		},
		{
			name: "re-signed, the operator's key", args: []string{"--pub", a.Pub, forged}, want: cli.ErrInvalid,
			stdout:  []string{"INVALID: signature  (signed by " + fp(forger) + ", which is not a trusted signer", "0/2 batches valid"},
			message: []string{"2 of 2 batches invalid"},
		},
		{
			name: "re-signed, the forger's allowed_signers in the audit location", args: []string{"--allowed-signers", forgedSigners, forged}, want: cli.ErrConsistencyOnly,
			stdout:  []string{consistencyOnly + fp(forger)},
			message: []string{"--allowed-signers " + forgedSigners + " is inside the audit location " + forged + ": whoever can change the bundles can change it too, so it is not trusted"},
		},
		{
			name: "re-signed, a link to the forger's allowed_signers", args: []string{"--allowed-signers", link, forged}, want: cli.ErrConsistencyOnly,
			stdout:  []string{consistencyOnly + fp(forger)},
			message: []string{"is inside the audit location", "not trusted"},
		},
		{
			name: "honest, the operator's key in the audit location", args: []string{"--pub", inside, a.Dir}, want: cli.ErrConsistencyOnly,
			stdout:  []string{consistencyOnly + fp(a.Signer)},
			message: []string{"--pub " + inside + " is inside the audit location", "(--pub " + inside + " is inside the audit location)"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := runPlain(t, nil, append([]string{"verify"}, tt.args...)...)
			if tt.want == nil && out.err != nil || tt.want != nil && !errors.Is(out.err, tt.want) {
				t.Errorf("error %v, want %v\n%s%s", out.err, tt.want, out.stdout, out.stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.stdout)
				}
			}
			for _, w := range tt.message {
				if !strings.Contains(errString(out.err)+"\n"+out.stderr, w) {
					t.Errorf("error and stderr lack %q:\n%v\n%s", w, out.err, out.stderr)
				}
			}
		})
	}

	// --json says so too, and --help documents the exit code.
	out := runPlain(t, nil, "verify", "--json", forged)
	var rep struct {
		ConsistencyOnly bool     `json:"consistency_only"`
		Signers         []string `json:"signers"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil || !rep.ConsistencyOnly || len(rep.Signers) != 1 || rep.Signers[0] != fp(forger) {
		t.Errorf("verify --json: %v %+v\n%s", err, rep, out.stdout)
	}
	out = runPlain(t, nil, "verify", "--help")
	if !strings.Contains(out.stderr+out.stdout, "4 all batches consistent but no trusted\nsigner given (consistency only)") {
		t.Errorf("verify --help does not document exit code 4:\n%s%s", out.stdout, out.stderr)
	}
}
