package blocklist_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/local"
)

func newKey(t testing.TB) *audit.IDKey {
	t.Helper()
	k, err := audit.ParseIDKey(audit.NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signer is the signing key of the tests' changes, which open trusts.
var signer = newSigner()

func newSigner() ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return priv
}

func trusting(keys ...ed25519.PrivateKey) *blocklist.Trust {
	t := &blocklist.Trust{}
	for _, k := range keys {
		t.Keys = append(t.Keys, k.Public().(ed25519.PublicKey))
	}
	return t
}

func open(t *testing.T, loc audit.Location, key *audit.IDKey) *blocklist.List {
	t.Helper()
	l, err := blocklist.Open(context.Background(), loc, key, trusting(signer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func change(t *testing.T, l *blocklist.List, op string, tags ...string) *blocklist.Pending {
	t.Helper()
	p, err := l.Prepare(context.Background(), signer, op, "batch-test", "tester", "DPO-1", tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func tags(k *audit.IDKey, ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, k.Tag([]byte(id)))
	}
	return out
}

// TestReplay adds and removes tags and checks the list as reloaded: the
// replay of its change files in name order.
func TestReplay(t *testing.T) {
	k := newKey(t)
	loc := local.Dir(filepath.Join(t.TempDir(), "blocklist"))
	l := open(t, loc, k)
	if l.Len() != 0 || len(l.Changes()) != 0 {
		t.Fatalf("a missing location holds %d tags, %d changes", l.Len(), len(l.Changes()))
	}
	empty := l.State()
	a, b, c := tags(k, "A"), tags(k, "B"), tags(k, "C")
	p := change(t, l, blocklist.OpAdd, slices.Concat(a, b, a)...)
	if len(p.Change.Tags) != 2 {
		t.Errorf("a change of A, B, A holds %d tags, want 2", len(p.Change.Tags))
	}
	change(t, l, blocklist.OpRemove, a...)
	change(t, l, blocklist.OpAdd, c...)
	want := slices.Sorted(slices.Values(slices.Concat(b, c)))
	if got := l.Tags(); !slices.Equal(got, want) {
		t.Errorf("in memory: tags %v, want %v", got, want)
	}
	re := open(t, loc, k)
	if got := re.Tags(); !slices.Equal(got, want) {
		t.Errorf("reloaded: tags %v, want %v", got, want)
	}
	if re.State() != l.State() || re.State() == empty || re.State() != blocklist.State(want) {
		t.Errorf("states: reloaded %s, in memory %s, empty %s", re.State(), l.State(), empty)
	}
	if !re.Has(b[0]) || re.Has(a[0]) {
		t.Errorf("Has(B) = %v, Has(A) = %v", re.Has(b[0]), re.Has(a[0]))
	}
	if ch, ok := re.ByBatch("batch-test"); !ok || ch.SHA256 != p.SHA256 || ch.Name != p.Name {
		t.Errorf("ByBatch = %+v, %v; want the first change %s", ch, ok, p.Name)
	}
	if _, ok := re.ByBatch("batch-other"); ok {
		t.Error("ByBatch found a change of a batch that made none")
	}
	// Files that are not change files are not part of the list.
	for _, name := range []string{".change-20260101T000000.000Z-00000000.json.123.tmp", "batch-x.jsonl", "README"} {
		if err := os.WriteFile(filepath.Join(string(loc), name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := open(t, loc, k).Tags(); !slices.Equal(got, want) {
		t.Errorf("with other files: tags %v, want %v", got, want)
	}
	// No change is ever empty.
	if _, err := l.Prepare(context.Background(), signer, blocklist.OpAdd, "b", "", "", nil); err == nil {
		t.Error("Prepare of no tags succeeded")
	}
	if _, err := l.Prepare(context.Background(), signer, blocklist.OpAdd, "b", "", "", []string{"9F3A41C07B22E8D1"}); err == nil || strings.Contains(err.Error(), "9F3A") {
		t.Errorf("Prepare of a clear ID: %v", err)
	}
}

// TestConcurrentWriters has many writers add at once, each from its own
// view of the list: every change survives.
func TestConcurrentWriters(t *testing.T) {
	k := newKey(t)
	loc := local.Dir(t.TempDir())
	const writers = 16
	var wg sync.WaitGroup
	var want []string
	errs := make(chan error, writers)
	for i := range writers {
		tag := k.Tag(fmt.Appendf(nil, "ID-%d", i))
		want = append(want, tag)
		l := open(t, loc, k)
		wg.Go(func() {
			p, err := l.Prepare(context.Background(), signer, blocklist.OpAdd, fmt.Sprintf("batch-%d", i), "", "", []string{tag})
			if err == nil {
				err = p.Store(context.Background())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	l := open(t, loc, k)
	if got := l.Tags(); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("after %d concurrent adds the list holds %d tags, want all", writers, len(got))
	}
	if n := len(l.Changes()); n != writers {
		t.Errorf("%d change files, want %d", n, writers)
	}
	// They started the list at once: all took the identity of the one
	// that created it first.
	id := readFile(t, filepath.Join(string(loc), blocklist.ListFile))
	for _, c := range l.Changes() {
		if !strings.Contains(string(id), `"list":"`+c.List+`"`) {
			t.Errorf("%s is of list %s, the list's identity is %s", c.Name, c.List, id)
		}
	}
}

// TestMalformed checks that a bad change file fails the load with an error
// that names it, and quotes no tag.
func TestMalformed(t *testing.T) {
	k := newKey(t)
	tag := k.Tag([]byte("A"))
	tag2 := k.Tag([]byte("B"))
	lo, hi := min(tag, tag2), max(tag, tag2)
	good := func(op, keyID string, tags ...string) string {
		return fmt.Sprintf(`{"format":1,"op":%q,"id_key":%q,"tags":["%s"],"batch":"batch-1","time":"2026-01-02T03:04:05.678Z"}`,
			op, keyID, strings.Join(tags, `","`))
	}
	other := newKey(t)
	tests := []struct {
		name, content string
		want          string
		wantErr       error
	}{
		{"not json", "{", "not a change file", nil},
		{"trailing data", good("add", k.ID(), tag) + "{}", "data after", nil},
		{"unknown field", strings.Replace(good("add", k.ID(), tag), `"format"`, `"ids":["9F3A41C07B22E8D1"],"format"`, 1), "unknown field", nil},
		{"format", strings.Replace(good("add", k.ID(), tag), `"format":1`, `"format":4`, 1), "format 4", nil},
		// Format 2 was signed but named no list: a change of it could be
		// copied from another list.
		{"format 2", strings.Replace(good("add", k.ID(), tag), `"format":1`, `"format":2,"name":"change-20260102T030405.678Z-0123abcd.json"`, 1), "format 2, this scrub reads format 3", nil},
		{"format 1 naming a list", strings.Replace(good("add", k.ID(), tag), `"format":1`, `"format":1,"list":"00000000000000000000000000000000"`, 1), "format 1 with the fields of format 3", nil},
		{"no list", strings.Replace(good("add", k.ID(), tag), `"format":1`, `"format":3,"name":"change-20260102T030405.678Z-0123abcd.json"`, 1), `list "" is not a list identity`, nil},
		{"op", good("delete", k.ID(), tag), `op "delete"`, nil},
		{"no key", good("add", "", tag), "id_key", nil},
		{"no tags", strings.Replace(good("add", k.ID(), tag), `["`+tag+`"]`, `[]`, 1), "no tags", nil},
		{"clear ID as tag", good("add", k.ID(), "9F3A41C07B22E8D1"), "tag 1 is not", nil},
		{"upper-case tag", good("add", k.ID(), strings.ToUpper(tag)), "tag 1 is not", nil},
		{"unsorted", good("add", k.ID(), hi, lo), "tag 2 is out of order", nil},
		{"repeated", good("add", k.ID(), tag, tag), "tag 2 is out of order", nil},
		{"bad time", strings.Replace(good("add", k.ID(), tag), "2026-01-02T03:04:05.678Z", "yesterday", 1), "time", nil},
		{"other key", good("add", other.ID(), tag), "another ID key", blocklist.ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ok := "change-20260101T000000.000Z-00000000.json"
			bad := "change-20260102T030405.678Z-0123abcd.json"
			os.WriteFile(filepath.Join(dir, ok), []byte(good("add", k.ID(), tag2)+"\n"), 0o644)
			os.WriteFile(filepath.Join(dir, bad), []byte(tt.content), 0o644)
			_, err := blocklist.Open(context.Background(), local.Dir(dir), k, trusting(signer))
			switch {
			case err == nil:
				t.Fatal("Open succeeded")
			case !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not name %s and say %q", err, bad, tt.want)
			case strings.Contains(err.Error(), tag) || strings.Contains(err.Error(), "9F3A41C07B22E8D1"):
				t.Errorf("error quotes the content: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestMatcher checks the Set the sweep filters with against the tags,
// from many goroutines at once.
func TestMatcher(t *testing.T) {
	k := newKey(t)
	blocked := []string{"9F3A41C07B22E8D1", "C41D07E2A95B3F68", "", "ä,\"x\""}
	m, err := blocklist.NewMatcher(k, tags(k, blocked...))
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != len(blocked) {
		t.Errorf("Len = %d", m.Len())
	}
	cases := map[string]bool{"9F3A41C07B22E8D1": true, "C41D07E2A95B3F68": true, "": true, "ä,\"x\"": true,
		"9f3a41c07b22e8d1": false, "9F3A41C07B22E8D": false, "5B0E92D4F7A16C3E": false}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				for id, want := range cases {
					if got := m.Contains([]byte(id)); got != want {
						t.Errorf("Contains(%q) = %v, want %v", id, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	empty, _ := blocklist.NewMatcher(k, nil)
	if empty.Contains([]byte("9F3A41C07B22E8D1")) {
		t.Error("an empty matcher matched")
	}
	for _, bad := range []string{"xyz", strings.Repeat("a", 62), strings.Repeat("g", 64), strings.Repeat("a", 66)} {
		if _, err := blocklist.NewMatcher(k, []string{bad}); err == nil {
			t.Errorf("NewMatcher(%q) succeeded", bad)
		}
	}
}

// BenchmarkMatcher measures one lookup of a 16-byte client ID (a miss, as
// most fields are) in a list of 10,000 tags.
func BenchmarkMatcher(b *testing.B) {
	k := newKey(b)
	var list []string
	for i := range 10000 {
		list = append(list, k.Tag(fmt.Appendf(nil, "%016X", i)))
	}
	m, err := blocklist.NewMatcher(k, list)
	if err != nil {
		b.Fatal(err)
	}
	id := []byte("9F3A41C07B22E8D1")
	b.SetBytes(int64(len(id)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if m.Contains(id) {
				b.Fatal("matched")
			}
		}
	})
}
