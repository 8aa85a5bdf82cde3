package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/local"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// writeBatch writes a sealed batch of n archive events into dir.
func writeBatch(t testing.TB, dir string, key ed25519.PrivateKey, idKey *audit.IDKey, n int) *audit.Sealed {
	t.Helper()
	st := audit.Start{Command: "erase", Tool: audit.Tool{Name: "scrub", Version: "test"}, Sources: []string{"exports"}, IDs: 2}
	if key == nil {
		st.DryRun = true
	}
	if idKey == nil {
		idKey, _ = audit.ParseIDKey(audit.NewIDKey(), "test")
	}
	st.IDKey = idKey.ID()
	w, err := audit.Begin(local.Dir(dir), dir, key, st)
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{idKey.Tag([]byte("9F3A41C07B22E8D1")), idKey.Tag([]byte("C41D07E2A95B3F68"))}
	if err := w.IDs(tags); err != nil {
		t.Fatal(err)
	}
	totals := audit.Totals{Archives: n, Erased: n}
	for i := range n {
		after := int64(90 + i)
		r := audit.Archive{Key: "exports/day-" + string(rune('a'+i)) + ".csv.gz", Status: audit.StatusErased, Format: "gzip",
			RowsScanned: 100, RowsRemoved: 3, SizeBefore: 100, SizeAfter: &after,
			SHA256Before: strings.Repeat("ab", 32), SHA256After: strings.Repeat("cd", 32)}
		if i%2 == 0 {
			r.Tags = tags[:1]
		}
		if err := w.Archive(r); err != nil {
			t.Fatal(err)
		}
		totals.RowsScanned += r.RowsScanned
		totals.RowsRemoved += r.RowsRemoved
	}
	sealed, err := w.Finish(context.Background(), audit.ResultComplete, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func verify(t testing.TB, dir string, trust *audit.Trust, heads ...string) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), local.Dir(dir), trust, heads)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// statuses maps each batch name to its status.
func statuses(rep *audit.Report) map[string]string {
	m := map[string]string{}
	for _, b := range rep.Batches {
		m[b.Batch] = b.Status()
	}
	return m
}

func TestVerifyValidChain(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	var sealed []*audit.Sealed
	for range 3 {
		sealed = append(sealed, writeBatch(t, dir, key, nil, 4))
	}
	rep := verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}, sealed[2].Head)
	if !rep.OK() || rep.Valid != 3 || rep.Head != sealed[2].Head {
		t.Fatalf("report %d/%d head %s, want 3/3 head %s: %v", rep.Valid, rep.Total, rep.Head, sealed[2].Head, statuses(rep))
	}
	// Each manifest links to the batch before.
	for i, b := range rep.Batches {
		m := b.Manifest
		want := ""
		if i > 0 {
			want = sealed[i-1].Head
		}
		if m.PrevSHA256SUMS != want || m.Lines != 4+3 || m.Totals.Archives != 4 {
			t.Errorf("%s: prev %q lines %d, want prev %q lines 7", b.Batch, m.PrevSHA256SUMS, m.Lines, want)
		}
	}
}

// lines returns the lines of a file, each with its newline.
func lines(t *testing.T, p string) [][]byte {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))[:bytes.Count(data, []byte("\n"))]
}

func writeLines(t *testing.T, p string, ls [][]byte) {
	if err := os.WriteFile(p, bytes.Join(ls, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTamper(t *testing.T) {
	key, other := newKey(t), newKey(t)
	trust := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	// Three batches of 4 archives: 7 lines each (start, ids, 4 archives,
	// end). Every case tampers with the middle one, except where noted.
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, b []*audit.Sealed) // b: the three batches
		trust  *audit.Trust
		heads  func(b []*audit.Sealed) []string
		want   map[int]string // batch index (3 = extra entry) -> status
		valid  string         // "N/M"
	}{
		{
			name: "one byte changed",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				ls := lines(t, p)
				ls[2] = bytes.Replace(ls[2], []byte("day-a"), []byte("day-A"), 1)
				writeLines(t, p, ls)
			},
			want:  map[int]string{1: "INVALID: chain broken at line 4"},
			valid: "2/3",
		},
		{
			name: "last line changed",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				ls := lines(t, p)
				ls[6] = bytes.Replace(ls[6], []byte(`"complete"`), []byte(`"partial" `), 1)
				writeLines(t, p, ls)
			},
			want:  map[int]string{1: "INVALID: chain broken at line 7"},
			valid: "2/3",
		},
		{
			name: "line deleted",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				ls := lines(t, p)
				writeLines(t, p, append(ls[:3:3], ls[4:]...))
			},
			want:  map[int]string{1: "INVALID: chain broken at line 4"},
			valid: "2/3",
		},
		{
			name: "two lines swapped",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				ls := lines(t, p)
				ls[3], ls[4] = ls[4], ls[3]
				writeLines(t, p, ls)
			},
			want:  map[int]string{1: "INVALID: chain broken at line 4"},
			valid: "2/3",
		},
		{
			name: "tail truncated at a line end",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				writeLines(t, p, lines(t, p)[:5])
			},
			want:  map[int]string{1: "INVALID: chain broken at line 6"},
			valid: "2/3",
		},
		{
			name: "tail truncated inside a line",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				data, _ := os.ReadFile(p)
				os.WriteFile(p, data[:len(data)-10], 0o644)
			},
			want:  map[int]string{1: "INVALID: chain broken at line 7"},
			valid: "2/3",
		},
		{
			name: "line appended",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				ls := lines(t, p)
				writeLines(t, p, append(ls, ls[3]))
			},
			want:  map[int]string{1: "INVALID: chain broken at line 8"},
			valid: "2/3",
		},
		{
			name: "manifest changed",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				replaceIn(t, filepath.Join(dir, b[1].Batch+"-manifest.json"), `"rows_removed": 12`, `"rows_removed": 11`)
			},
			want:  map[int]string{1: "INVALID: hash mismatch"},
			valid: "2/3",
		},
		{
			name: "manifest and SHA256SUMS changed to match",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				m := filepath.Join(dir, b[1].Batch+"-manifest.json")
				old, _ := os.ReadFile(m)
				replaceIn(t, m, `"rows_removed": 12`, `"rows_removed": 11`)
				now, _ := os.ReadFile(m)
				replaceIn(t, filepath.Join(dir, b[1].Batch+"-SHA256SUMS"), hexSum(old), hexSum(now))
			},
			want:  map[int]string{1: "INVALID: signature"},
			valid: "2/3",
		},
		{
			name: "log and SHA256SUMS rewritten consistently",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				p := logPath(dir, b[1])
				old, _ := os.ReadFile(p)
				ls := lines(t, p)
				writeLines(t, p, append(ls[:3:3], ls[4:]...))
				now, _ := os.ReadFile(p)
				replaceIn(t, filepath.Join(dir, b[1].Batch+"-SHA256SUMS"), hexSum(old), hexSum(now))
			},
			want:  map[int]string{1: "INVALID: signature"},
			valid: "2/3",
		},
		{
			name: "signature from another key",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				resign(t, dir, b[1], other, audit.Namespace)
			},
			want:  map[int]string{1: "INVALID: signature"},
			valid: "2/3",
		},
		{
			name: "signature in another namespace",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				resign(t, dir, b[1], key, "file")
			},
			want:  map[int]string{1: "INVALID: signature"},
			valid: "2/3",
		},
		{
			name: "signature from another key, no key pinned",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				resign(t, dir, b[1], other, audit.Namespace)
			},
			trust: &audit.Trust{},
			want:  map[int]string{1: "INVALID: signature"},
			valid: "2/3",
		},
		{
			name: "signature deleted",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				os.Remove(filepath.Join(dir, b[1].Batch+"-SHA256SUMS.sig"))
			},
			want:  map[int]string{1: "INVALID: missing"},
			valid: "2/3",
		},
		{
			name: "log deleted",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				os.Remove(logPath(dir, b[1]))
			},
			want:  map[int]string{1: "INVALID: missing"},
			valid: "2/3",
		},
		{
			name: "batch deleted",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				removeBatch(t, dir, b[1])
			},
			want:  map[int]string{3: "INVALID: missing"},
			valid: "2/3",
		},
		{
			name: "first batch deleted",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				removeBatch(t, dir, b[0])
			},
			want:  map[int]string{3: "INVALID: missing"},
			valid: "2/3",
		},
		{
			name: "newest batch deleted, head pinned",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				removeBatch(t, dir, b[2])
			},
			heads: func(b []*audit.Sealed) []string { return []string{b[2].Head} },
			want:  map[int]string{3: "INVALID: missing"},
			valid: "2/3",
		},
		{
			// What no chain can tell on its own: hence --expect-head.
			name: "newest batch deleted, no head pinned",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				removeBatch(t, dir, b[2])
			},
			valid: "2/2",
		},
		{
			name: "batch replaced by one signed with an untrusted key",
			tamper: func(t *testing.T, dir string, b []*audit.Sealed) {
				removeBatch(t, dir, b[1])
				writeBatch(t, dir, other, nil, 4)
			},
			want:  map[int]string{3: "INVALID: missing"},
			valid: "2/4", // the forgery and the missing batch
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var b []*audit.Sealed
			for range 3 {
				b = append(b, writeBatch(t, dir, key, nil, 4))
			}
			tt.tamper(t, dir, b)
			tr := trust
			if tt.trust != nil {
				tr = tt.trust
			}
			var heads []string
			if tt.heads != nil {
				heads = tt.heads(b)
			}
			rep := verify(t, dir, tr, heads...)
			got := statuses(rep)
			for i, want := range tt.want {
				if i == 3 {
					if !hasExtra(rep, b, want) {
						t.Errorf("no entry for a deleted batch with status %q: %v", want, got)
					}
					continue
				}
				if got[b[i].Batch] != want {
					t.Errorf("batch %d: %q, want %q (%v)", i, got[b[i].Batch], want, got)
				}
			}
			if s := fmt.Sprintf("%d/%d", rep.Valid, rep.Total); s != tt.valid {
				t.Errorf("%s batches valid, want %s: %v", s, tt.valid, got)
			}
			if rep.OK() != (tt.want == nil) {
				t.Errorf("OK() = %v", rep.OK())
			}
		})
	}
}

// hasExtra reports whether the report has an entry with the status for a
// batch whose files are gone (one without a head of its own).
func hasExtra(rep *audit.Report, b []*audit.Sealed, want string) bool {
	for _, st := range rep.Batches {
		if st.Status() == want && st.Head == "" {
			return true
		}
	}
	return false
}

func logPath(dir string, s *audit.Sealed) string { return filepath.Join(dir, s.Batch+".jsonl") }

func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q", p, old)
	}
	if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexSum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func resign(t *testing.T, dir string, s *audit.Sealed, key ed25519.PrivateKey, namespace string) {
	t.Helper()
	sums, err := os.ReadFile(filepath.Join(dir, s.Batch+"-SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(key, namespace, bytes.NewReader(sums))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, s.Batch+"-SHA256SUMS.sig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeBatch(t *testing.T, dir string, s *audit.Sealed) {
	t.Helper()
	for _, f := range s.Files {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStockTools checks a bundle with what an auditor has: ssh-keygen -Y
// verify for the signature and sha256sum -c for the files, the exact
// commands of docs/auditors-guide.md.
func TestStockTools(t *testing.T) {
	sshKeygen, sha256sum := lookTool(t, "ssh-keygen"), lookTool(t, "sha256sum")
	dir := t.TempDir()
	key := newKey(t)
	s := writeBatch(t, dir, key, nil, 3)
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	os.WriteFile(signers, []byte(sshsig.AllowedSignersLine("dpo@example.com", audit.Namespace, pub(key))), 0o644)
	sums := s.Batch + "-SHA256SUMS"
	check := func(wantOK bool) {
		t.Helper()
		cmd := exec.Command(sshKeygen, "-Y", "verify", "-f", signers, "-I", "dpo@example.com", "-n", "scrub-audit", "-s", sums+".sig")
		cmd.Dir = dir
		cmd.Stdin, _ = os.Open(filepath.Join(dir, sums))
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("ssh-keygen -Y verify: %v\n%s", err, out)
		}
		if wantOK && !strings.Contains(string(out), "Good \"scrub-audit\" signature for dpo@example.com") {
			t.Errorf("ssh-keygen -Y verify says:\n%s", out)
		}
	}
	check(true)
	cmd := exec.Command(sha256sum, "-c", sums)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	// A changed byte in the log fails sha256sum; a changed SHA256SUMS
	// fails ssh-keygen.
	replaceIn(t, filepath.Join(dir, s.Batch+".jsonl"), "day-a", "day-b")
	cmd = exec.Command(sha256sum, "-c", sums)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("sha256sum -c passed a changed log:\n%s", out)
	}
	replaceIn(t, filepath.Join(dir, sums), "0", "1")
	check(false)
}

// lookTool finds a stock tool; CI must have it, elsewhere the test skips.
func lookTool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found; CI must run this test", name)
		}
		t.Skipf("%s not found", name)
	}
	return p
}

func TestUnsignedDryRun(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	a := writeBatch(t, dir, key, nil, 2)
	d := writeBatch(t, dir, nil, nil, 2)
	b := writeBatch(t, dir, key, nil, 2)
	rep := verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	got := statuses(rep)
	if !rep.OK() || rep.Total != 2 || got[d.Batch] != "unsigned dry run (not part of the record)" {
		t.Fatalf("%d/%d: %v", rep.Valid, rep.Total, got)
	}
	// The signed batches chain past the unsigned one.
	for _, st := range rep.Batches {
		if st.Batch == b.Batch && st.Manifest.PrevSHA256SUMS != a.Head {
			t.Errorf("%s follows %s, want %s", b.Batch, st.Manifest.PrevSHA256SUMS, a.Head)
		}
	}
	// Without a key, a batch that changes data cannot start.
	if _, err := audit.Begin(local.Dir(dir), dir, nil, audit.Start{}); err == nil {
		t.Error("Begin without a key for a real run succeeded")
	}
	// An unsigned real batch (a signed one stripped of its signature and
	// relabelled) is not passed off as a dry run.
	os.Remove(filepath.Join(dir, a.Batch+"-SHA256SUMS.sig"))
	rep = verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	if got := statuses(rep)[a.Batch]; got != "INVALID: missing" {
		t.Errorf("stripped batch: %q", got)
	}
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	idKey, err := audit.ParseIDKey(audit.NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	s := writeBatch(t, dir, key, idKey, 3)
	otherKey, _ := audit.ParseIDKey(audit.NewIDKey(), "other")
	o := writeBatch(t, dir, key, otherKey, 1)
	victim, listed, absent := idKey.Tag([]byte("9F3A41C07B22E8D1")), idKey.Tag([]byte("C41D07E2A95B3F68")), idKey.Tag([]byte("0D5E7A9C3B1F4826"))
	ans, err := audit.Lookup(context.Background(), local.Dir(dir), &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}, nil, idKey, []string{victim, listed, absent})
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Other) != 1 || ans.Other[0] != o.Batch || len(ans.OtherKeys) != 1 || ans.OtherKeys[0] != otherKey.ID() {
		t.Errorf("other-key batches %v under %v, want [%s] under %s", ans.Other, ans.OtherKeys, o.Batch, otherKey.ID())
	}
	hits := ans.Hits
	if h := hits[victim]; len(h) != 1 || h[0].Batch != s.Batch || !h[0].Requested || len(h[0].Archives) != 2 {
		t.Errorf("victim: %+v", h)
	}
	if h := hits[listed]; len(h) != 1 || !h[0].Requested || len(h[0].Archives) != 0 {
		t.Errorf("listed, no rows: %+v", h)
	}
	if h := hits[absent]; len(h) != 0 {
		t.Errorf("absent: %+v", h)
	}
	// The log names the IDs by tag only.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, []byte("9F3A41C07B22E8D1")) {
				t.Errorf("%s holds a clear ID", p)
			}
		}
		return nil
	})
}

func TestIDKey(t *testing.T) {
	k, err := audit.ParseIDKey(audit.NewIDKey(), "k")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := audit.ParseIDKey(audit.NewIDKey(), "k2")
	if k.Tag([]byte("a")) == k2.Tag([]byte("a")) || k.ID() == k2.ID() || k.Tag([]byte("a")) == k.Tag([]byte("b")) {
		t.Error("tags or key IDs collide across keys or IDs")
	}
	if len(k.Tag([]byte("a"))) != 64 {
		t.Errorf("tag %q", k.Tag([]byte("a")))
	}
	for _, bad := range []string{"", "zz", strings.Repeat("ab", 31)} {
		if _, err := audit.ParseIDKey([]byte(bad), "bad.key"); err == nil || !strings.Contains(err.Error(), "bad.key") {
			t.Errorf("ParseIDKey(%q) = %v", bad, err)
		}
	}
	if _, err := audit.ParseIDKey([]byte("  "+strings.Repeat("AB", 32)+"\n"), "k"); err != nil {
		t.Errorf("upper-case hex with spaces: %v", err)
	}

	// RFC 4231 test case 6 (a key longer than the block), from many
	// goroutines at once: Tag reuses keyed states, which must not leak
	// one ID into another's tag.
	rfc, err := audit.ParseIDKey([]byte(strings.Repeat("aa", 131)), "rfc4231")
	if err != nil {
		t.Fatal(err)
	}
	const (
		msg  = "Test Using Larger Than Block-Size Key - Hash Key First"
		want = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
	)
	other := rfc.Tag([]byte("other"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := rfc.Tag([]byte(msg)); got != want {
					t.Errorf("Tag = %s, want %s", got, want)
					return
				}
				if got := rfc.Tag([]byte("other")); got != other {
					t.Errorf("Tag(other) changed: %s, then %s", other, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCreateNeverOverwrites(t *testing.T) {
	d := local.Dir(t.TempDir())
	ctx := context.Background()
	if err := d.Create(ctx, "a", strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, "a", strings.NewReader("2")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create = %v, want fs.ErrExist", err)
	}
	if data, _ := d.ReadFile(ctx, "a"); string(data) != "1" {
		t.Errorf("content %q", data)
	}
	if names, _ := d.List(ctx); len(names) != 1 {
		t.Errorf("List = %v (temporary files left?)", names)
	}
	for _, bad := range []string{"", "../x", "a/b", ".."} {
		if err := d.Create(ctx, bad, strings.NewReader("")); err == nil {
			t.Errorf("Create(%q) succeeded", bad)
		}
	}
}

func TestEventAndReadLogs(t *testing.T) {
	ctx := context.Background()
	dir := local.Dir(t.TempDir())
	key := newKey(t)
	w, err := audit.Begin(dir, t.TempDir(), key, audit.Start{Command: "sweep", Sources: []string{"src"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Event("archive", map[string]string{}); err == nil {
		t.Error("Event accepted a reserved type")
	}
	if err := w.Event("sweep", map[string]any{"watermark": "2026-01-02T03:04:05Z", "n": 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(ctx, audit.ResultComplete, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, dir, &audit.Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	var logs []*audit.BatchLog
	err = audit.EachLogNewestFirst(ctx, dir, func(b *audit.BatchLog) bool { logs = append(logs, b); return true })
	if err != nil || len(logs) != 1 {
		t.Fatalf("EachLogNewestFirst: %v, %d logs", err, len(logs))
	}
	b := logs[0]
	if b.Start.Command != "sweep" || b.Result != audit.ResultComplete || b.Started.IsZero() {
		t.Errorf("log: %+v", b)
	}
	var got []string
	for _, e := range b.Events {
		got = append(got, e.Type)
	}
	if want := []string{"batch_start", "sweep", "batch_end"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	var data struct {
		Watermark string `json:"watermark"`
		N         int    `json:"n"`
	}
	if err := json.Unmarshal(b.Events[1].Data, &data); err != nil || data.N != 3 || data.Watermark != "2026-01-02T03:04:05Z" {
		t.Errorf("data %s: %v %+v", b.Events[1].Data, err, data)
	}
}

// TestGroupCommit: an archive's outcome is not synced on its own, a run of
// ids events once after its last line, a step each time, and with it every
// line before; steps logged at once share syncs. Every line is there and chained whatever the order.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	w, err := audit.Begin(local.Dir(dir), dir, key, audit.Start{Command: "erase", Sources: []string{"exports"}, IDs: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := audit.Syncs(w)
	if err := w.IDs(make([]string, 2500)); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := w.Archive(audit.Archive{Key: fmt.Sprintf("a/%03d.csv", i), Status: audit.StatusUnchanged}); err != nil {
			t.Fatal(err)
		}
	}
	if n := audit.Syncs(w) - base; n != 1 {
		t.Errorf("%d syncs for 3 ids events (synced once, after the last) and 100 outcomes, want 1", n)
	}
	if err := w.Step(audit.Step{Key: "a/000.csv", State: audit.StepRead, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if n := audit.Syncs(w) - base; n != 2 {
		t.Errorf("%d syncs after a step, want 2", n)
	}
	const writers, steps = 8, 50
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range steps {
				key := fmt.Sprintf("b/%d-%d.csv", g, i)
				if err := w.Step(audit.Step{Key: key, State: audit.StepRead, Size: 1}); err != nil {
					t.Error(err)
				}
				if err := w.Archive(audit.Archive{Key: key, Status: audit.StatusUnchanged}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := audit.Syncs(w) - base - 2; n < 1 || n > writers*steps {
		t.Errorf("%d syncs for %d steps", n, writers*steps)
	} else {
		t.Logf("%d syncs for %d steps from %d writers", n, writers*steps, writers)
	}
	s, err := w.Finish(context.Background(), audit.ResultComplete, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	if st := statuses(rep)[s.Batch]; st != "valid" {
		t.Errorf("batch %s: %s", s.Batch, st)
	}
	if got, want := len(lines(t, logPath(dir, s))), 1+3+100+1+writers*steps*2+1; got != want {
		t.Errorf("%d lines in the log, want %d", got, want)
	}
}

// TestStepDeferred: a deferred step is logged without a sync of its own,
// as the same line a synced step writes; the next synced step makes it
// durable with one sync.
func TestStepDeferred(t *testing.T) {
	dir := t.TempDir()
	w, err := audit.Begin(local.Dir(dir), dir, newKey(t), audit.Start{Command: "erase", Sources: []string{"exports"}, IDs: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := audit.Syncs(w)
	read := audit.Step{Key: "a.csv", State: audit.StepRead, Size: 1, Staged: "/x/.a.csv.scrub-1.tmp"}
	read.Deferred = true
	if err := w.Step(read); err != nil {
		t.Fatal(err)
	}
	if n := audit.Syncs(w) - base; n != 0 {
		t.Errorf("%d syncs after a deferred step, want 0", n)
	}
	if err := w.Step(audit.Step{Key: "a.csv", State: audit.StepWritten, Size: 1, SHA256: "ab", RowsScanned: 2, RowsRemoved: 1}); err != nil {
		t.Fatal(err)
	}
	if n := audit.Syncs(w) - base; n != 1 {
		t.Errorf("%d syncs after a deferred step and a synced one, want 1", n)
	}
	s, err := w.Finish(context.Background(), audit.ResultComplete, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(t, logPath(dir, s))
	if len(ls) != 4 || !bytes.Contains(ls[1], []byte(`"type":"read","time":`)) || bytes.Contains(ls[1], []byte("eferred")) {
		t.Errorf("the log's read step: %q", ls[1])
	}
}

// TestOutcomesSmall: what the writer keeps of an archive's outcome for the
// totals is a few dozen bytes, not the event, whatever the key's length.
func TestOutcomesSmall(t *testing.T) {
	dir := t.TempDir()
	w, err := audit.Begin(local.Dir(dir), dir, newKey(t), audit.Start{Command: "erase", Sources: []string{"exports"}, IDs: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	long := strings.Repeat("exports/telemetry/2017/11/", 8)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := w.Archive(audit.Archive{Key: fmt.Sprintf("%s%05d.csv.gz", long, i), Status: audit.StatusUnchanged, RowsScanned: 10,
			SHA256Before: strings.Repeat("ab", 32), Format: "gzip", SizeBefore: 100}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	if per > 200 {
		t.Errorf("%d bytes kept per archive outcome, want at most 200 (a whole event with its 230-byte key was over 500)", per)
	}
	t.Logf("%d bytes kept per archive outcome", per)
	if tot := w.Totals(); tot.Archives != n || tot.Unchanged != n || tot.RowsScanned != 10*n || tot.BytesBefore != 100*n {
		t.Errorf("totals %+v", tot)
	}
	runtime.KeepAlive(w)
}

// TestReadArchives: the archives of a valid batch read back, each by its
// last event; a batch that is not valid, or whose log changed after it was
// verified, is not read.
func TestReadArchives(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	st := audit.Start{Command: "erase", Tool: audit.Tool{Name: "scrub", Version: "test"}, Sources: []string{"exports"}}
	w, err := audit.Begin(local.Dir(dir), dir, key, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []audit.Archive{
		{Key: "a.csv", Status: audit.StatusFailed, Error: "first try"},
		{Key: "b.csv", Status: audit.StatusHeld, Reason: "object lock"},
		{Key: "a.csv", Status: audit.StatusErased, RowsRemoved: 2},
	} {
		if err := w.Archive(a); err != nil {
			t.Fatal(err)
		}
	}
	s, err := w.Finish(context.Background(), audit.ResultPartial, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	got, err := audit.ReadArchives(context.Background(), local.Dir(dir), rep.Batches[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != "b.csv" || got[0].Reason != "object lock" || got[1].Key != "a.csv" || got[1].Status != audit.StatusErased || got[1].RowsRemoved != 2 {
		t.Errorf("archives %+v", got)
	}
	replaceIn(t, logPath(dir, s), `"object lock"`, `"object-lock"`)
	if _, err := audit.ReadArchives(context.Background(), local.Dir(dir), rep.Batches[0]); err == nil || !strings.Contains(err.Error(), "changed after it was verified") {
		t.Errorf("a log changed after verify: %v", err)
	}
	rep = verify(t, dir, &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}})
	if _, err := audit.ReadArchives(context.Background(), local.Dir(dir), rep.Batches[0]); err == nil || !strings.Contains(err.Error(), "not a valid batch") {
		t.Errorf("an invalid batch: %v", err)
	}
}
