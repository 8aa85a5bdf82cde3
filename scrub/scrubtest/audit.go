package scrubtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

// Audit is what a test run of scrub erase needs for its audit bundle: a
// signing key (and its public forms), an ID key and an audit directory,
// all in a temporary directory.
type Audit struct {
	Dir            string // the audit location
	Key            string // the private signing key
	Pub            string // its .pub
	AllowedSigners string // its allowed_signers line
	IDKey          string
	Signer         ed25519.PrivateKey
}

// NewAudit makes fresh keys and an empty audit directory.
func NewAudit(t testing.TB) *Audit {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := sshsig.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := &Audit{
		Dir: filepath.Join(dir, "audit"), Key: filepath.Join(dir, "key"), Pub: filepath.Join(dir, "key.pub"),
		AllowedSigners: filepath.Join(dir, "allowed_signers"), IDKey: filepath.Join(dir, "id.key"), Signer: priv,
	}
	for name, data := range map[string][]byte{
		a.Key:            pem,
		a.Pub:            sshsig.MarshalAuthorizedKey(pub, "test"),
		a.AllowedSigners: []byte(sshsig.AllowedSignersLine("test@scrub", audit.Namespace, pub)),
		a.IDKey:          audit.NewIDKey(),
	} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// Flags are the erase flags that use the keys and directory.
func (a *Audit) Flags() []string {
	return []string{"--key", a.Key, "--id-key", a.IDKey, "--audit", a.Dir}
}

// WithAudit returns args with a's flags inserted after an "erase" command,
// or args unchanged for other commands.
func (a *Audit) WithAudit(args []string) []string {
	if len(args) == 0 || args[0] != "erase" {
		return args
	}
	return slices.Concat(args[:1], a.Flags(), args[1:])
}

// CheckNoIDs fails the test if a listed ID, in any letter case, occurs in
// any file below the given directories (an audit location, a spool).
func CheckNoIDs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
				return nil
			}
			for _, id := range Listed {
				if bytes.Contains(bytes.ToUpper(data), []byte(strings.ToUpper(id))) {
					t.Errorf("%s contains the listed ID %s", p, id)
				}
			}
			return nil
		})
	}
}

// Batches returns the names of the audit batches in dir (one per log).
func Batches(t testing.TB, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "batch-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range logs {
		names = append(names, strings.TrimSuffix(filepath.Base(l), ".jsonl"))
	}
	return names
}
