package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

// The attacks of issue 17 on the audit record, by someone who can write the
// audit location but does not hold the signing key: each builds an honest
// bundle with the real writer, tampers with it as an attacker would, and
// checks that verify fails and says why.

var seqPrev = regexp.MustCompile(`^\{"seq":[0-9]+,"prev":"[0-9a-f]{64}",`)

// rechain rewrites every line's seq and prev so that the log's chain holds
// again, as an attacker who edited lines would, and returns the log and
// its chain head.
func rechain(t *testing.T, ls [][]byte) ([]byte, string) {
	t.Helper()
	var out []byte
	prev := strings.Repeat("0", 64)
	for i, l := range ls {
		if !seqPrev.Match(l) {
			t.Fatalf("line %d does not begin with seq and prev: %s", i+1, l)
		}
		l = seqPrev.ReplaceAll(l, fmt.Appendf(nil, `{"seq":%d,"prev":"%s",`, i+1, prev))
		out = append(out, l...)
		prev = hexSum(l)
	}
	return out, prev
}

func readManifest(t *testing.T, dir, batch string) *audit.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, batch+"-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m audit.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// reseal writes a batch's log, manifest and SHA256SUMS as the writer
// would, and signs them with key unless it is nil (then the signature is
// deleted). It returns the new head.
func reseal(t *testing.T, dir string, m *audit.Manifest, log []byte, key ed25519.PrivateKey) string {
	t.Helper()
	m.LogSHA256 = hexSum(log)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	manifest = append(manifest, '\n')
	sums := fmt.Appendf(nil, "%s  %s\n%s  %s\n", m.LogSHA256, m.Batch+".jsonl", hexSum(manifest), m.Batch+"-manifest.json")
	sig := filepath.Join(dir, m.Batch+"-SHA256SUMS.sig")
	for name, data := range map[string][]byte{".jsonl": log, "-manifest.json": manifest, "-SHA256SUMS": sums} {
		if err := os.WriteFile(filepath.Join(dir, m.Batch+name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(sig)
	if key != nil {
		s, err := sshsig.Sign(key, audit.Namespace, bytes.NewReader(sums))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sig, s, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return hexSum(sums)
}

// asDryRun turns a signed batch into an unsigned dry run: its erased
// archives dropped, the chain rewritten, marked a dry run in its log and
// manifest, SHA256SUMS rewritten and the signature deleted. It returns the
// batch's new head.
func asDryRun(t *testing.T, dir string, s *audit.Sealed) string {
	t.Helper()
	var kept [][]byte
	for _, l := range lines(t, logPath(dir, s)) {
		if bytes.Contains(l, []byte(`"status":"erased"`)) {
			continue
		}
		kept = append(kept, bytes.Replace(l, []byte(`"dry_run":false`), []byte(`"dry_run":true`), 1))
	}
	log, head := rechain(t, kept)
	m := readManifest(t, dir, s.Batch)
	m.DryRun, m.Signed, m.KeyFingerprint = true, false, ""
	m.Lines, m.ChainHead = len(kept), head
	m.Totals = audit.Totals{}
	return reseal(t, dir, m, log, nil)
}

// detail returns the status and detail verify gave a batch.
func detail(rep *audit.Report, batch string) string {
	for _, b := range rep.Batches {
		if b.Batch == batch {
			return b.Status() + " (" + b.Detail + ")"
		}
	}
	return "not reported"
}

// TestAttackDryRunSubstitution: the evidence of a real batch is removed by
// making it an unsigned dry run, while the batch after it still links to
// it. Verify fails, naming the batch and the link, whatever the trust and
// heads given.
func TestAttackDryRunSubstitution(t *testing.T) {
	key := newKey(t)
	pinned := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	for _, tt := range []struct {
		name  string
		trust *audit.Trust
		head  bool // pass the newest batch's head
	}{
		{"pinned", pinned, false},
		{"pinned, with --expect-head", pinned, true},
		{"allowed_signers, with --expect-head", &audit.Trust{Signers: []sshsig.AllowedSigner{{Principals: []string{"dpo"}, Key: pub(key)}}}, true},
		{"no trust", &audit.Trust{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var b []*audit.Sealed
			for range 3 {
				b = append(b, writeBatch(t, dir, key, nil, 4))
			}
			asDryRun(t, dir, b[1])
			var heads []string
			if tt.head {
				heads = []string{b[2].Head}
			}
			rep := verify(t, dir, tt.trust, heads...)
			got := detail(rep, b[1].Batch)
			for _, want := range []string{"INVALID: unsigned", "an unsigned batch in the place of a signed one", b[2].Batch + " follows " + b[1].Batch, "prev_sha256sums " + b[1].Head} {
				if !strings.Contains(got, want) {
					t.Errorf("the substituted batch: %s; want %q", got, want)
				}
			}
			if rep.OK() || rep.Valid != 2 || rep.Total != 3 {
				t.Errorf("OK %v, %d/%d valid, want not OK, 2/3: %v", rep.OK(), rep.Valid, rep.Total, statuses(rep))
			}
		})
	}
}

// TestAttackUnsignedDryRun: what is wrong with an unsigned dry run is a
// problem of the location, like any other, even where nothing links to it.
func TestAttackUnsignedDryRun(t *testing.T) {
	key := newKey(t)
	trust := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	for _, tt := range []struct {
		name   string
		tamper func(t *testing.T, dir string, a, d, b *audit.Sealed)
		newest bool // the dry run is the newest batch
		who    func(a, d, b *audit.Sealed) string
		want   []string
	}{
		{
			name: "a line changed, SHA256SUMS rewritten",
			tamper: func(t *testing.T, dir string, a, d, b *audit.Sealed) {
				replaceIn(t, logPath(dir, d), "day-b", "day-z")
				m := readManifest(t, dir, d.Batch)
				log, err := os.ReadFile(logPath(dir, d))
				if err != nil {
					t.Fatal(err)
				}
				reseal(t, dir, m, log, nil)
			},
			who:  func(a, d, b *audit.Sealed) string { return d.Batch },
			want: []string{"INVALID: chain broken at line 5", "an unsigned dry run"},
		},
		{
			name: "a line changed",
			tamper: func(t *testing.T, dir string, a, d, b *audit.Sealed) {
				ls := lines(t, logPath(dir, d))
				ls[3] = bytes.Replace(ls[3], []byte(`"rows_removed":3`), []byte(`"rows_removed":4`), 1)
				log, head := rechain(t, ls)
				replaceIn(t, filepath.Join(dir, d.Batch+"-manifest.json"), readManifest(t, dir, d.Batch).ChainHead, head)
				os.WriteFile(logPath(dir, d), log, 0o644)
			},
			who:  func(a, d, b *audit.Sealed) string { return d.Batch },
			want: []string{"INVALID: hash mismatch", "does not match its SHA-256", "an unsigned dry run"},
		},
		{
			name: "a real run labelled a dry run in its manifest only",
			tamper: func(t *testing.T, dir string, a, d, b *audit.Sealed) {
				ls := lines(t, logPath(dir, d))
				ls[0] = bytes.Replace(ls[0], []byte(`"dry_run":true`), []byte(`"dry_run":false`), 1)
				log, head := rechain(t, ls)
				m := readManifest(t, dir, d.Batch)
				m.ChainHead = head
				reseal(t, dir, m, log, nil)
			},
			who:  func(a, d, b *audit.Sealed) string { return d.Batch },
			want: []string{"INVALID: missing", "-SHA256SUMS.sig not found (the manifest says dry run, the log does not)"},
		},
		{
			// The newest signed batch deleted: the dry run after it
			// still names it. (Without the dry run, only
			// --expect-head tells.)
			name: "the batch it follows deleted",
			tamper: func(t *testing.T, dir string, a, d, b *audit.Sealed) {
				removeBatch(t, dir, b)
			},
			newest: true,
			who:    func(a, d, b *audit.Sealed) string { return d.Batch },
			want:   []string{"INVALID: missing", "follows " + "%b", "no batch here has that SHA256SUMS"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var a, d, b *audit.Sealed
			a = writeBatch(t, dir, key, nil, 3)
			if tt.newest {
				b = writeBatch(t, dir, key, nil, 3)
				d = writeBatch(t, dir, nil, nil, 3)
			} else {
				d = writeBatch(t, dir, nil, nil, 3)
				b = writeBatch(t, dir, key, nil, 3)
			}
			if rep := verify(t, dir, trust); !rep.OK() || statuses(rep)[d.Batch] != "unsigned dry run (not part of the record)" {
				t.Fatalf("the honest bundle: %v", statuses(rep))
			}
			tt.tamper(t, dir, a, d, b)
			rep := verify(t, dir, trust)
			got := detail(rep, tt.who(a, d, b))
			for _, want := range tt.want {
				want = strings.ReplaceAll(want, "%b", b.Batch)
				if !strings.Contains(got, want) {
					t.Errorf("%s; want %q", got, want)
				}
			}
			if rep.OK() || rep.Valid == rep.Total {
				t.Errorf("OK %v, %d/%d valid: %v", rep.OK(), rep.Valid, rep.Total, statuses(rep))
			}
		})
	}
}

// ResignAll re-signs every batch in dir with key, as an attacker without
// the signing key would make the bundle consistent again: each manifest
// names the new key and links to the new head of the batch before.
func resignAll(t *testing.T, dir string, b []*audit.Sealed, key ed25519.PrivateKey) {
	t.Helper()
	prev := ""
	for _, s := range b {
		m := readManifest(t, dir, s.Batch)
		m.KeyFingerprint = sshsig.Fingerprint(pub(key))
		if m.PrevSHA256SUMS != "" {
			m.PrevSHA256SUMS = prev
		}
		log, err := os.ReadFile(logPath(dir, s))
		if err != nil {
			t.Fatal(err)
		}
		prev = reseal(t, dir, m, log, key)
	}
}

// TestAttackResign: every batch re-signed with another key. Without a
// trusted signer, verify can only say the bundle is consistent, and
// names the key that signed it; with the operator's key, every batch
// fails.
func TestAttackResign(t *testing.T) {
	key, other := newKey(t), newKey(t)
	dir := t.TempDir()
	var b []*audit.Sealed
	for range 3 {
		b = append(b, writeBatch(t, dir, key, nil, 2))
	}
	resignAll(t, dir, b, other)
	rep := verify(t, dir, &audit.Trust{})
	if !rep.OK() || rep.Pinned || !slices.Equal(rep.Signers, []string{sshsig.Fingerprint(pub(other))}) {
		t.Errorf("no trust: OK %v, pinned %v, signers %v; want consistent, not pinned, signed by %s", rep.OK(), rep.Pinned, rep.Signers, sshsig.Fingerprint(pub(other)))
	}
	rep = verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	if rep.OK() || rep.Valid != 0 || !rep.Pinned {
		t.Errorf("pinned: OK %v, %d/%d valid: %v", rep.OK(), rep.Valid, rep.Total, statuses(rep))
	}
	for _, s := range b {
		if got := detail(rep, s.Batch); !strings.Contains(got, "INVALID: signature (signed by "+sshsig.Fingerprint(pub(other))+", which is not a trusted signer") {
			t.Errorf("%s: %s", s.Batch, got)
		}
	}
}

// TestAttackChainTip: the chain tip is a hint outside the signatures. An
// attacker who rewrites it cannot make the next batch start a chain of its
// own (a tip naming a batch that is not there is not followed), so that
// batches deleted afterwards show with --expect-head of the newest; nor
// make it follow an older batch unnoticed: verify reports the fork. (Then
// deleting the other branch is deleting what was the newest batch when
// the tip was rewritten: what --witness and retention are for.)
func TestAttackChainTip(t *testing.T) {
	key := newKey(t)
	trust := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	for _, tt := range []struct {
		name string
		tip  func(a *audit.Sealed) string
		want string // what verify says of c before anything is deleted
	}{
		{"names no batch", func(a *audit.Sealed) string { return `{"batch":"` + otherName(a.Batch) + `"}` }, ""},
		{"names no batch, following none", func(a *audit.Sealed) string {
			return `{"batch":"` + otherName(a.Batch) + `","prev_batch":"","prev_sha256sums":""}`
		}, ""},
		{"names an older batch", func(a *audit.Sealed) string { return `{"batch":"` + a.Batch + `"}` }, audit.Forked},
		{"not JSON", func(*audit.Sealed) string { return "x" }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a := writeBatch(t, dir, key, nil, 2)
			b := writeBatch(t, dir, key, nil, 2)
			if err := os.WriteFile(filepath.Join(dir, ".chain-tip"), []byte(tt.tip(a)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c := writeBatch(t, dir, key, nil, 2)
			rep := verify(t, dir, trust, c.Head)
			if got := statuses(rep)[c.Batch]; tt.want == "" && !rep.OK() || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("before deletion: %v", statuses(rep))
			}
			if tt.want != "" {
				return
			}
			removeBatch(t, dir, b)
			if rep := verify(t, dir, trust, c.Head); rep.OK() {
				t.Errorf("b deleted: verify passes: %v", statuses(rep))
			}
			removeBatch(t, dir, a)
			if rep := verify(t, dir, trust, c.Head); rep.OK() {
				t.Errorf("a and b deleted: verify passes: %v", statuses(rep))
			}
		})
	}
}

// otherName returns a batch name that is not name (its last hex digit
// changed).
func otherName(name string) string {
	last := "9"
	if strings.HasSuffix(name, last) {
		last = "8"
	}
	return name[:len(name)-1] + last
}
