package ids_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/ids"
)

// randomIDs returns n IDs drawn from a small alphabet and short lengths
// (empty and one-byte IDs included), so that there are duplicates, IDs
// that begin others and IDs that share their first bytes; bytes 0x00 and
// 0xff test the ends of the order.
func randomIDs(r *rand.Rand, n, maxLen int) []string {
	alphabet := []byte{0x00, '0', '1', 'a', 'b', 'Z', '-', 0xc3, 0xa9, 0xff}
	out := make([]string, n)
	for i := range out {
		b := make([]byte, r.IntN(maxLen+1))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		out[i] = string(b)
	}
	return out
}

// TestSetMatchesMap checks the set against a map on random lists, built by
// New and by Add (with and without a Grow hint, and across rehashes).
func TestSetMatchesMap(t *testing.T) {
	for _, tt := range []struct {
		name   string
		n, len int
		grow   bool
	}{
		{"tiny", 5, 2, false},
		{"short IDs, many duplicates", 3000, 3, false},
		{"longer", 20000, 12, false},
		{"grown first", 20000, 12, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tt.n), uint64(tt.len)))
			list := randomIDs(r, tt.n, tt.len)
			want := map[string]bool{}
			var added ids.Set
			if tt.grow {
				added.Grow(tt.n, tt.n*tt.len)
			}
			for _, id := range list {
				want[id] = true
				if err := added.Add([]byte(id)); err != nil {
					t.Fatal(err)
				}
			}
			for name, s := range map[string]*ids.Set{"New": ids.New(list...), "Add": &added} {
				if s.Len() != len(want) {
					t.Errorf("%s: Len = %d, want %d", name, s.Len(), len(want))
				}
				got := map[string]bool{}
				s.Each(func(id string) {
					if got[id] {
						t.Errorf("%s: Each passes %q twice", name, id)
					}
					got[id] = true
				})
				if !mapsEqual(got, want) {
					t.Errorf("%s: Each differs from the list", name)
				}
				// Probes: the listed IDs, and random ones (most not listed).
				for _, id := range slices.Concat(list, randomIDs(r, 2000, tt.len+1)) {
					if s.Contains([]byte(id)) != want[id] {
						t.Fatalf("%s: Contains(%q) = %v, want %v", name, id, !want[id], want[id])
					}
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestSetNoAllocation checks that looking up, adding an ID the set holds
// and listing IDs do not allocate.
func TestSetNoAllocation(t *testing.T) {
	s := ids.New("9F3A41C07B22E8D1", "C41D07E2A95B3F68", "x")
	id := []byte("C41D07E2A95B3F68")
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"Contains", func() { s.Contains(id) }},
		{"Add of a listed ID", func() { s.Add(id) }},
		{"Each", func() { s.Each(func(string) {}) }},
		{"Len", func() { s.Len() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
				t.Errorf("%s allocates %v times per call", tt.name, n)
			}
		})
	}
}

// TestSorted checks Sorted against sorting the IDs, for sets whose IDs
// are empty, short, share prefixes, and for a set of digests (listed as
// hex), whatever the number of workers.
func TestSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	digests, err := ids.ParseTransform("sha256")
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]*ids.Set{
		"empty":          ids.New(),
		"one":            ids.New("a"),
		"empty ID":       ids.New("", "a", "\x00", "\x00\x00", "\xff", "a\x00", "ab"),
		"random short":   ids.New(randomIDs(r, 5000, 4)...),
		"random long":    ids.New(randomIDs(r, 20000, 20)...),
		"common prefix":  ids.New(prefixed(30000)...),
		"digests as hex": digests.Set(ids.New(randomIDs(r, 3000, 10)...)),
	}
	for name, s := range sets {
		var want []string
		s.Each(func(id string) { want = append(want, strings.Clone(id)) })
		slices.Sort(want)
		for _, workers := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%s/%d", name, workers), func(t *testing.T) {
				var got []string
				for id := range s.Sorted(workers) {
					got = append(got, string(id))
				}
				if !slices.Equal(got, want) {
					t.Errorf("Sorted differs from the sorted IDs (%d against %d)", len(got), len(want))
				}
			})
		}
	}
	t.Run("stop early", func(t *testing.T) {
		n := 0
		for range sets["common prefix"].Sorted(2) {
			if n++; n == 5000 {
				break
			}
		}
	})
}

// prefixed returns n IDs that share their first 9 bytes, as numbered IDs
// do: one long run of the sort.
func prefixed(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("customer-%d", (i*7919)%n)
	}
	return out
}

// TestSums checks Sums against tagging every ID one at a time and sorting,
// for several numbers of workers.
func TestSums(t *testing.T) {
	key := []byte("test key")
	newSum := func() func([]byte, *ids.Sum) {
		m := hmac.New(sha256.New, key)
		return func(id []byte, sum *ids.Sum) {
			m.Reset()
			m.Write(id)
			m.Sum(sum[:0])
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	digests, err := ids.ParseTransform("lower,md5")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*ids.Set{
		"empty":   ids.New(),
		"few":     ids.New("a", "b", "c"),
		"many":    ids.New(randomIDs(r, 30000, 16)...),
		"digests": digests.Set(ids.New(randomIDs(r, 5000, 16)...)),
	} {
		var want [][]byte
		s.Each(func(id string) {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(id))
			want = append(want, m.Sum(nil))
		})
		slices.SortFunc(want, bytes.Compare)
		for _, workers := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/%d", name, workers), func(t *testing.T) {
				got := s.Sums(workers, newSum)
				if len(got) != len(want) {
					t.Fatalf("%d sums, want %d", len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i][:], want[i]) {
						t.Fatalf("sum %d: %x, want %x", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestPlaceholderBytes checks PlaceholderBytes against Placeholder, on the
// placeholder test's cases, their case variants and random IDs.
func TestPlaceholderBytes(t *testing.T) {
	cases := []string{"unknown", "UNKNOWN", "Null", "n/a", "N/A", "-", "0", "00000000-0000-0000-0000-000000000000",
		"0000000000000000000000000000000000000000000000", " none ", "un\u212Anown", "NİL", "abc", "", "anonymous", "anonymou"}
	r := rand.New(rand.NewPCG(11, 12))
	cases = append(cases, randomIDs(r, 5000, 5)...)
	for _, c := range cases {
		if got, want := ids.PlaceholderBytes([]byte(c)), ids.Placeholder(c); got != want {
			t.Errorf("PlaceholderBytes(%q) = %v, Placeholder says %v", c, got, want)
		}
	}
	id := []byte("9F3A41C07B22E8D1")
	if n := testing.AllocsPerRun(100, func() { ids.PlaceholderBytes(id) }); n != 0 {
		t.Errorf("PlaceholderBytes allocates %v times per call", n)
	}
}

// TestMeasure checks that Measure counts at least the lines and exactly
// the bytes.
func TestMeasure(t *testing.T) {
	for _, tt := range []struct {
		in    string
		lines int
	}{
		{"", 1},
		{"a", 1},
		{"a\n", 2},
		{"a\nb\r\n\n#c", 4},
	} {
		lines, size, err := ids.Measure(strings.NewReader(tt.in))
		if err != nil || lines != tt.lines || size != len(tt.in) {
			t.Errorf("Measure(%q) = %d, %d, %v; want %d, %d", tt.in, lines, size, err, tt.lines, len(tt.in))
		}
	}
}

// TestReadMatchesMap reads a random valid list and checks the set against
// a map of its IDs.
func TestReadMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var b strings.Builder
	want := map[string]bool{}
	for range 50000 {
		id := hex.EncodeToString([]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(4))})
		want[id] = true
		b.WriteString(id + "\n")
	}
	s, err := ids.Read(strings.NewReader(b.String()), "list")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	s.Each(func(id string) { got[id] = true })
	if !mapsEqual(got, want) {
		t.Errorf("Read: %d IDs, want %d", len(got), len(want))
	}
}

// BenchmarkSorted1M sorts a million UUID-like IDs.
func BenchmarkSorted1M(b *testing.B) {
	s := uuidSet(1_000_000)
	b.SetBytes(int64(37 * s.Len()))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for range s.Sorted(2) {
			n++
		}
		if n != s.Len() {
			b.Fatal(n)
		}
	}
}

// BenchmarkSums1M tags a million UUID-like IDs with HMAC-SHA256 and sorts
// the tags.
func BenchmarkSums1M(b *testing.B) {
	s := uuidSet(1_000_000)
	newSum := func() func([]byte, *ids.Sum) {
		m := hmac.New(sha256.New, []byte("bench key"))
		return func(id []byte, sum *ids.Sum) {
			m.Reset()
			m.Write(id)
			m.Sum(sum[:0])
		}
	}
	b.SetBytes(int64(37 * s.Len()))
	b.ReportAllocs()
	for b.Loop() {
		s.Sums(2, newSum)
	}
}

func uuidSet(n int) *ids.Set {
	r := rand.New(rand.NewPCG(1, 2))
	s := &ids.Set{}
	s.Grow(n, 36*n)
	for range n {
		id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
		s.Add([]byte(id))
	}
	return s
}

// TestSortedSums checks that SortedSums passes what Sorted yields and
// returns what Sums does, though the sort's indexes and the sums share
// memory; also when the sort is left early, or skipped.
func TestSortedSums(t *testing.T) {
	newSum := func() func([]byte, *ids.Sum) {
		m := hmac.New(sha256.New, []byte("k"))
		return func(id []byte, sum *ids.Sum) {
			m.Reset()
			m.Write(id)
			m.Sum(sum[:0])
		}
	}
	r := rand.New(rand.NewPCG(15, 16))
	for name, s := range map[string]*ids.Set{
		"empty":  ids.New(),
		"one":    ids.New("x"),
		"random": ids.New(randomIDs(r, 40000, 12)...),
		"prefix": ids.New(prefixed(20000)...),
	} {
		var want []string
		for id := range s.Sorted(2) {
			want = append(want, string(id))
		}
		wantSums := s.Sums(2, newSum)
		for _, stop := range []int{-1, 0, 3000} {
			t.Run(fmt.Sprintf("%s/stop %d", name, stop), func(t *testing.T) {
				var got []string
				sorted := func(seq iter.Seq[[]byte]) {
					for id := range seq {
						if len(got) == stop {
							break
						}
						got = append(got, string(id))
					}
				}
				sums := s.SortedSums(2, sorted, newSum)
				if n := min(uint(stop), uint(len(want))); !slices.Equal(got, want[:n]) {
					t.Errorf("sorted got %d IDs, not the first %d of Sorted", len(got), n)
				}
				if !slices.Equal(sums, wantSums) {
					t.Errorf("sums differ from Sums")
				}
			})
		}
		if sums := s.SortedSums(2, nil, newSum); !slices.Equal(sums, wantSums) {
			t.Errorf("%s: without a sort, sums differ from Sums", name)
		}
	}
}
