package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/local"
)

// TestLookupCannotAnswer checks that Lookup answers only from a record
// that verifies, under the ID key given, and says why it cannot otherwise.
func TestLookupCannotAnswer(t *testing.T) {
	key := newKey(t)
	idKey, _ := audit.ParseIDKey(audit.NewIDKey(), "id.key")
	wrongKey, _ := audit.ParseIDKey(audit.NewIDKey(), "wrong.key")
	trusted := &audit.Trust{Keys: []ed25519.PublicKey{pub(key)}}
	victim := []byte("9F3A41C07B22E8D1")
	for _, tt := range []struct {
		name   string
		setup  func(t *testing.T, dir string)
		key    *audit.IDKey
		trust  *audit.Trust
		want   []string // in the error; none: it answers
		answer string   // the victim's outcome, when it answers
	}{
		{name: "honest", setup: honestBatch(key, idKey), key: idKey, trust: trusted, answer: audit.OutcomeErased},
		{name: "honest, consistency only", setup: honestBatch(key, idKey), key: idKey, answer: audit.OutcomeErased},
		{name: "dry run only", setup: func(t *testing.T, dir string) {
			writeDryRun(t, dir, key, idKey)
		}, key: idKey, trust: trusted, answer: audit.OutcomeDryRunOnly},
		{name: "wrong ID key", setup: honestBatch(key, idKey), key: wrongKey, trust: trusted,
			want: []string{"cannot answer", "no batch names IDs under the ID key given (" + wrongKey.ID() + ")", idKey.ID()}},
		{name: "empty location", setup: func(*testing.T, string) {}, key: idKey, trust: trusted,
			want: []string{"cannot answer", "no sealed audit batch"}},
		{name: "only a journal", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "batch-20261203T123711.917Z-e1fdfac8555f.journal"), []byte("{}\n"), 0o644)
		}, key: idKey, trust: trusted, want: []string{"cannot answer", "does not verify", "unfinished"}},
		{name: "tampered log line", setup: func(t *testing.T, dir string) {
			s := writeBatch(t, dir, key, idKey, 3)
			p := filepath.Join(dir, s.Batch+".jsonl")
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte(`"rows_removed":3`))
			data[i+len(`"rows_removed":`)] = '0'
			os.WriteFile(p, data, 0o644)
		}, key: idKey, trust: trusted, want: []string{"cannot answer: the audit bundle does not verify", "INVALID: chain broken"}},
		{name: "untrusted signer", setup: honestBatch(key, idKey), key: idKey, trust: &audit.Trust{Keys: []ed25519.PublicKey{pub(newKey(t))}},
			want: []string{"cannot answer: the audit bundle does not verify", "INVALID: signature"}},
		{name: "expected head missing", setup: honestBatch(key, idKey), key: idKey, trust: trusted,
			want: []string{"does not verify", "expected head"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			var heads []string
			if strings.Contains(tt.name, "expected head") {
				heads = []string{strings.Repeat("0", 64)}
			}
			ans, err := audit.Lookup(context.Background(), local.Dir(dir), tt.trust, heads, tt.key, []string{tt.key.Tag(victim), tt.key.Tag([]byte("0D5E7A9C3B1F4826"))})
			if len(tt.want) > 0 {
				if err == nil || !errors.Is(err, audit.ErrCannotAnswer) {
					t.Fatalf("err %v, want one that cannot answer", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := audit.Outcome(ans.Hits[tt.key.Tag(victim)]); got != tt.answer {
				t.Errorf("victim: %q, want %q", got, tt.answer)
			}
			if got := audit.Outcome(ans.Hits[tt.key.Tag([]byte("0D5E7A9C3B1F4826"))]); got != audit.OutcomeNotMentioned {
				t.Errorf("absent: %q", got)
			}
			if ans.Pinned != (tt.trust != nil) {
				t.Errorf("pinned %v", ans.Pinned)
			}
		})
	}
}

func honestBatch(key ed25519.PrivateKey, idKey *audit.IDKey) func(*testing.T, string) {
	return func(t *testing.T, dir string) { writeBatch(t, dir, key, idKey, 3) }
}

// writeDryRun writes a signed dry run that would erase the first ID.
func writeDryRun(t *testing.T, dir string, key ed25519.PrivateKey, idKey *audit.IDKey) {
	t.Helper()
	w, err := audit.Begin(local.Dir(dir), dir, key, audit.Start{Command: "erase", DryRun: true, IDs: 1, IDKey: idKey.ID()})
	if err != nil {
		t.Fatal(err)
	}
	tag := idKey.Tag([]byte("9F3A41C07B22E8D1"))
	if err := w.IDs([]string{tag}); err != nil {
		t.Fatal(err)
	}
	if err := w.Archive(audit.Archive{Key: "exports/a.csv", Status: audit.StatusWouldErase, RowsScanned: 5, RowsRemoved: 1, Tags: []string{tag}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(context.Background(), audit.ResultComplete, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOutcome(t *testing.T) {
	erased := audit.ArchiveHit{Key: "a", Status: audit.StatusErased}
	for _, tt := range []struct {
		name string
		hits []audit.Hit
		want string
	}{
		{"none", nil, audit.OutcomeNotMentioned},
		{"listed", []audit.Hit{{Requested: true}}, audit.OutcomeListedNoRows},
		{"dry run", []audit.Hit{{Requested: true}, {DryRun: true, Archives: []audit.ArchiveHit{{Key: "a", Status: audit.StatusWouldErase}}}}, audit.OutcomeDryRunOnly},
		{"failed", []audit.Hit{{Archives: []audit.ArchiveHit{{Key: "a", Status: audit.StatusReplacedIncomplete}}}}, audit.OutcomeNotErased},
		{"erased", []audit.Hit{{DryRun: true, Archives: []audit.ArchiveHit{erased}}, {Archives: []audit.ArchiveHit{erased}}}, audit.OutcomeErased},
	} {
		if got := audit.Outcome(tt.hits); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
