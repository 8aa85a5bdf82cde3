package ids

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// referenceBytes is Redactor.Bytes as it was before it skipped words
// whole: every position is tried that does not follow a word byte.
func referenceBytes(r *Redactor, b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		if i > 0 && wordByte(b[i-1]) {
			continue
		}
		j, id := r.match(b, i)
		if j < 0 {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:i]...)
		out = append(out, r.mark(id)...)
		last, i = j, j-1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// TestRedactorBytesMatchesReference compares Bytes with referenceBytes on
// random text made of listed IDs, pieces of them, word bytes and
// separators.
func TestRedactorBytesMatchesReference(t *testing.T) {
	s := New("ab", "a-b", "[", "x1", "é9", "9f3a41c0", "a&b", `\u0026`)
	r := s.Redactor(nil)
	pieces := []string{"ab", "a-b", "[", "]", "x1", "é9", "9f3a41c0", "a&b", `a\u0026b`, "a", "b", "-", " ", ",", `"`, "x", "1", "é", "\xff", "/"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b []byte
		for range rnd.IntN(12) {
			b = append(b, pieces[rnd.IntN(len(pieces))]...)
		}
		want := referenceBytes(r, bytes.Clone(b))
		if got := r.Bytes(bytes.Clone(b)); !bytes.Equal(got, want) {
			t.Fatalf("Bytes(%q) = %q, want %q", b, got, want)
		}
	}
}

// TestRedactorLengths checks that the Redactor finds IDs of every length
// the set holds, from the set's record of them, and one longer than a
// list's line (which only New makes).
func TestRedactorLengths(t *testing.T) {
	long := bytes.Repeat([]byte("L"), maxLine+3)
	s := New("a", "bb", "c-c-c", string(bytes.Repeat([]byte("x"), 63)), string(bytes.Repeat([]byte("y"), 64)), string(long))
	r := s.Redactor(nil)
	if want := []int{1, 2, 5, 63, 64, maxLine + 3}; !slices.Equal(r.lens, want) {
		t.Errorf("lens = %v, want %v", r.lens, want)
	}
	in := "a " + string(long) + " c-c-c"
	if got, want := r.String(in), "[listed ID] [listed ID] [listed ID]"; got != want {
		t.Errorf("String = %.80q, want %q", got, want)
	}
}
