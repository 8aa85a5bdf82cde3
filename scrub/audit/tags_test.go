package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/local"
)

// tagLines writes a batch with write and returns its journal's lines
// after the first (batch_start, which names the batch).
func tagLines(t *testing.T, write func(w *Writer) error) []string {
	t.Helper()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st := Start{Command: "erase", Tool: Tool{Name: "scrub", Version: "test"}, Sources: []string{"exports"}}
	// The same first line in every batch, so that the chains agree.
	w, err := Begin(local.Dir(dir), dir, key, st, WithRedact(func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("secret-id"), []byte("[listed ID]"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	w.prev = strings.Repeat("1", 64)
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Spool())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	return lines[1:]
}

// sums returns n random tags, sorted, and their hex.
func sums(n int) ([][sha256.Size]byte, []string) {
	s := make([][sha256.Size]byte, n)
	for i := range s {
		rand.Read(s[i][:])
	}
	slices.SortFunc(s, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	h := make([]string, n)
	for i := range s {
		h[i] = hex.EncodeToString(s[i][:])
	}
	return s, h
}

// TestIDSumsAsIDs checks that IDSums writes the very lines IDs writes for
// the tags' hex, whatever their number (a part of an event, events full
// to the byte).
func TestIDSumsAsIDs(t *testing.T) {
	for _, n := range []int{0, 1, 999, 1000, 2500} {
		s, h := sums(n)
		want := tagLines(t, func(w *Writer) error { return w.IDs(h) })
		got := tagLines(t, func(w *Writer) error { return w.IDSums(s) })
		if !slices.Equal(got, want) {
			t.Errorf("%d tags: IDSums wrote\n%.300q\nwant\n%.300q", n, got, want)
		}
	}
}

// TestUnmatchedSumsAsEvents checks that UnmatchedSums writes the lines
// of ids_unmatched events of the unmatched tags' hex, 1000 per event.
func TestUnmatchedSumsAsEvents(t *testing.T) {
	for _, n := range []int{1, 1000, 2999} {
		s, h := sums(n)
		unmatched := func(sum *[sha256.Size]byte) bool { return sum[0]%3 != 0 }
		var tags []string
		for i := range s {
			if unmatched(&s[i]) {
				tags = append(tags, h[i])
			}
		}
		want := tagLines(t, func(w *Writer) error {
			for i := 0; i < len(tags); i += idsPerLine {
				if err := w.Event(EventIDsUnmatched, IDsUnmatched{Count: len(tags), Tags: tags[i:min(i+idsPerLine, len(tags))]}); err != nil {
					return err
				}
			}
			return nil
		})
		got := tagLines(t, func(w *Writer) error { return w.UnmatchedSums(len(tags), s, unmatched) })
		if !slices.Equal(got, want) {
			t.Errorf("%d tags: UnmatchedSums wrote\n%.300q\nwant\n%.300q", n, got, want)
		}
	}
}

// TestRequestSeq checks RequestSeq against Request and against values an
// earlier release computed (a request's identity must never change: resume
// compares it with those of logs already written).
func TestRequestSeq(t *testing.T) {
	k, err := ParseIDKey([]byte(strings.Repeat("aa", 131)), "rfc")
	if err != nil {
		t.Fatal(err)
	}
	seq := func(ids ...string) func(func([]byte) bool) {
		return func(yield func([]byte) bool) {
			for _, id := range ids {
				if !yield([]byte(id)) {
					return
				}
			}
		}
	}
	for _, tt := range []struct {
		ids      []string
		settings string
		want     string
	}{
		{[]string{"0123-abc", "9F3A41C07B22E8D1", "é"}, `{"command":"erase"}`, "3df5b022f06aa9233c5758619b4908da28ee7b76937e01615b3b6574f86f8588"},
		{nil, "", "f9dea6c7d2a88a10884383b7c51401fcee5a4bfc8423cedabe400534693adab6"},
	} {
		if got := k.RequestSeq(seq(tt.ids...), tt.settings); got != tt.want {
			t.Errorf("RequestSeq(%q) = %s, want %s", tt.ids, got, tt.want)
		}
		if got := k.Request(tt.ids, tt.settings); got != tt.want {
			t.Errorf("Request(%q) = %s, want %s", tt.ids, got, tt.want)
		}
	}
	// Many IDs: more than the buffer RequestSeq writes through.
	var many []string
	for i := range 5000 {
		many = append(many, strings.Repeat("x", i%50)+hex.EncodeToString([]byte{byte(i), byte(i >> 8)}))
	}
	if a, b := k.RequestSeq(seq(many...), "s"), k.Request(many, "s"); a != b {
		t.Errorf("RequestSeq = %s, Request = %s", a, b)
	}
}

// TestSummer checks that a Summer gives Sum's tags, one ID after another.
func TestSummer(t *testing.T) {
	k, err := ParseIDKey(NewIDKey(), "k")
	if err != nil {
		t.Fatal(err)
	}
	sum := k.Summer()
	for _, id := range []string{"a", "", "9F3A41C07B22E8D1", strings.Repeat("long", 100)} {
		var got, want [sha256.Size]byte
		sum([]byte(id), &got)
		k.Sum([]byte(id), &want)
		if got != want {
			t.Errorf("Summer(%q) = %x, Sum = %x", id, got, want)
		}
	}
	var s [sha256.Size]byte
	id := []byte("9F3A41C07B22E8D1")
	if n := testing.AllocsPerRun(100, func() { sum(id, &s) }); n != 0 {
		t.Errorf("a Summer allocates %v times per ID", n)
	}
}

// TestSealLargeJournal seals a batch whose journal is larger than the
// piece lastLine reads back at a time, and reads its result.
func TestSealLargeJournal(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	w, err := Begin(local.Dir(dir), dir, key, Start{Command: "erase", Tool: Tool{Name: "scrub", Version: "test"}, Sources: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sums(5000)
	if err := w.IDSums(s); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("e", 100<<10) // a batch_end longer than a piece
	sealed, err := w.Finish(context.Background(), ResultFailed, &testError{long})
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(dir + "/" + sealed.Batch + manifestSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(m, []byte(`"result": "failed"`)) {
		t.Errorf("manifest does not record the result:\n%.500s", m)
	}
	// Its long lines, written and hashed at once, chain and hash as
	// verify reads them.
	rep, err := Verify(context.Background(), local.Dir(dir), &Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Batches) != 1 || rep.Batches[0].Status() != "valid" {
		t.Errorf("verify: %d batches, %+v", len(rep.Batches), rep.Batches)
	}
}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }
