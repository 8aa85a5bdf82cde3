package ids_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/scrubtool/scrub/scrub/ids"
)

// members returns the IDs of s, sorted.
func members(s *ids.Set) []string {
	var out []string
	s.Each(func(id string) { out = append(out, id) })
	slices.Sort(out)
	return out
}

func TestReadValid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // sorted
	}{
		{"single", "9F3A41C07B22E8D1\n", []string{"9F3A41C07B22E8D1"}},
		{"no final newline", "9F3A41C07B22E8D1", []string{"9F3A41C07B22E8D1"}},
		{"several", "B\nA\nC\n", []string{"A", "B", "C"}},
		{"comments", "# tickets DPO-1, DPO-2\nA\n#B\n# C, \"quoted\"\tand tab\n", []string{"A"}},
		{"indented comment", "   # comment, with a comma\n\t# another\nA\n", []string{"A"}},
		{"hash inside an ID", "A#B\n", []string{"A#B"}},
		{"blank lines", "\n\nA\n\n\nB\n\n", []string{"A", "B"}},
		{"white-space-only lines", "  \n\t\n \t \nA\n\v\f\n", []string{"A"}},
		{"trimming", "  A  \n\tB\t\n \t C \t \n", []string{"A", "B", "C"}},
		{"trailing white space before CRLF", "A \t\r\n", []string{"A"}},
		{"inner space is kept", "A B\n", []string{"A B"}},
		{"duplicates", "A\nA\n  A\nA  \nB\nA\n", []string{"A", "B"}},
		{"case is significant", "abc\nABC\n", []string{"ABC", "abc"}},
		{"CRLF lines", "# comment\r\nA\r\n\r\nB\r\nC", []string{"A", "B", "C"}},
		{"mixed line endings", "A\r\nB\nC\r\n", []string{"A", "B", "C"}},
		{"dash is an ordinary ID", "-\n", []string{"-"}},
		{"dashed IDs", "a-b-c\n--x\n", []string{"--x", "a-b-c"}},
		{"semicolon allowed", "A;B\n", []string{"A;B"}},
		{"non-ASCII allowed", "Zoë\n", []string{"Zoë"}},
		{"testdata list", "# GDPR erasure requests\n9F3A41C07B22E8D1\n\n  C41D07E2A95B3F68  \n5B0E92D4F7A16C3E\n0D5E7A9C3B1F4826\n",
			[]string{"0D5E7A9C3B1F4826", "5B0E92D4F7A16C3E", "9F3A41C07B22E8D1", "C41D07E2A95B3F68"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ids.Read(strings.NewReader(tt.input), "ids.txt")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := members(s); !slices.Equal(got, tt.want) {
				t.Errorf("IDs = %q, want %q", got, tt.want)
			}
			if s.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", s.Len(), len(tt.want))
			}
			for _, id := range tt.want {
				if !s.Contains([]byte(id)) {
					t.Errorf("Contains(%q) = false", id)
				}
			}
		})
	}
}

func TestReadContainsIsExact(t *testing.T) {
	s, err := ids.Read(strings.NewReader("  9F3A41C07B22E8D1 \r\n"), "ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "9F3A41C07B22E8D", "9F3A41C07B22E8D1 ", " 9F3A41C07B22E8D1", "9f3a41c07b22e8d1", "9F3A41C07B22E8D1\r", "9F3A41C07B22E8D10"} {
		if s.Contains([]byte(id)) {
			t.Errorf("Contains(%q) = true", id)
		}
	}
}

func TestReadEmpty(t *testing.T) {
	tests := []struct{ name, input string }{
		{"no input", ""},
		{"newlines", "\n\n\n"},
		{"CRLF newlines", "\r\n\r\n"},
		{"white space", "  \t \n \n"},
		{"only comments", "# a\n# b\n   # c\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ids.Read(strings.NewReader(tt.input), "list.txt")
			if !errors.Is(err, ids.ErrEmpty) {
				t.Fatalf("Read = %v, %v; want ErrEmpty", s, err)
			}
			if s != nil {
				t.Errorf("set = %v, want nil", s)
			}
			if !strings.Contains(err.Error(), "list.txt") {
				t.Errorf("error %q does not name the list", err)
			}
			var le *ids.LineError
			if errors.As(err, &le) {
				t.Errorf("empty list gave a LineError: %v", err)
			}
		})
	}
}

// secret is the ID-like text placed on every invalid line; no error message
// may contain it.
const secret = "9F3A41C07B22E8D1"

func TestReadInvalidLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  int
		msg   string // part of the error message
	}{
		{"comma", secret + ",x\n", 1, "comma"},
		{"pasted CSV row", "A\n# c\n\n2017-11-20," + secret + ",Zoë\n", 4, "comma"},
		{"comma alone", "A\n,\n", 2, "comma"},
		{"double quote", `"` + secret + `"` + "\n", 1, "double quote"},
		{"quote inside", "A\nB\n" + secret + `"x` + "\n", 3, "double quote"},
		{"tab inside", "A\n" + secret + "\tx\n", 2, "0x09"},
		{"NUL", "A\nB\nC\n" + secret + "\x00\n", 4, "0x00"},
		{"DEL", secret + "\x7f" + secret + "\n", 1, "0x7f"},
		{"escape", "A\n\x1b[31m" + secret + "\n", 2, "0x1b"},
		{"bare CR inside", "A\n" + secret + "\rB\n", 2, "0x0d"},
		{"CR-only line endings", secret + "\r" + secret + "\r", 1, "0x0d"},
		{"after CRLF lines", "A\r\nB\r\n" + secret + ",\r\n", 3, "comma"},
		{"after duplicates and comments", "#x\nA\nA\n\n#y\n" + secret + ",\n", 6, "comma"},
		{"first bad line wins", "A\n" + secret + "\x00\n" + secret + ",\n", 2, "0x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ids.Read(strings.NewReader(tt.input), "requests.txt")
			if err == nil {
				t.Fatalf("Read succeeded with %d IDs, want an error", s.Len())
			}
			var le *ids.LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T) is not a *LineError", err, err)
			}
			if le.Line != tt.line || le.Name != "requests.txt" {
				t.Errorf("LineError at %s:%d, want requests.txt:%d", le.Name, le.Line, tt.line)
			}
			msg := err.Error()
			if want := fmt.Sprintf("requests.txt:%d: ", tt.line); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q does not start with %q", msg, want)
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not mention %q", msg, tt.msg)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "Zoë") || strings.Contains(msg, "[31m") {
				t.Errorf("message %q leaks the line's content", msg)
			}
			if errors.Is(err, ids.ErrEmpty) {
				t.Errorf("invalid line reported as ErrEmpty")
			}
		})
	}
}

func TestReadLongLine(t *testing.T) {
	const max = 64 << 10
	long := strings.Repeat("A", max+1)
	tests := []struct {
		name  string
		input string
		line  int
	}{
		{"first line", long + "\n", 1},
		{"third line", "A\n\n" + long + "\nB\n", 3},
		{"no final newline", "A\n" + long, 2},
		{"long comment", "A\n#" + long + "\n", 2},
		{"very long", "A\n" + strings.Repeat(secret, 1<<16) + "\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ids.Read(strings.NewReader(tt.input), "big.txt")
			var le *ids.LineError
			if !errors.As(err, &le) {
				t.Fatalf("Read = %v, want a *LineError", err)
			}
			if le.Line != tt.line {
				t.Errorf("Line = %d, want %d", le.Line, tt.line)
			}
			if msg := err.Error(); !strings.Contains(msg, "longer than") || strings.Contains(msg, "AAAA") || strings.Contains(msg, secret) {
				t.Errorf("message %q", msg)
			}
		})
	}
	t.Run("just below the limit", func(t *testing.T) {
		// The limit counts the line terminator: max-1 bytes and "\n".
		id := strings.Repeat("B", max-1)
		s, err := ids.Read(strings.NewReader("A\n"+id+"\n"), "big.txt")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Contains([]byte(id)) || s.Len() != 2 {
			t.Errorf("long ID not loaded")
		}
	})
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("A\nB\n"), iotest.ErrReader(boom))
	s, err := ids.Read(r, "ids.txt")
	if !errors.Is(err, boom) {
		t.Fatalf("Read = %v, %v; want the reader's error", s, err)
	}
	var le *ids.LineError
	if errors.As(err, &le) {
		t.Errorf("read error reported as LineError: %v", err)
	}
	if !strings.Contains(err.Error(), "ids.txt") {
		t.Errorf("error %q does not name the list", err)
	}
}

func TestLineError(t *testing.T) {
	inner := errors.New("bad")
	err := error(&ids.LineError{Name: "x.txt", Line: 7, Err: inner})
	if got, want := err.Error(), "x.txt:7: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Errorf("LineError does not unwrap")
	}
}

func TestNewAndZeroSet(t *testing.T) {
	var zero ids.Set
	if zero.Len() != 0 || zero.Contains([]byte("A")) || zero.Contains(nil) {
		t.Errorf("zero Set is not empty")
	}
	zero.Each(func(string) { t.Errorf("Each on zero Set called fn") })

	s := ids.New("A", "B", "A")
	if s.Len() != 2 || !s.Contains([]byte("A")) || !s.Contains([]byte("B")) || s.Contains([]byte("C")) {
		t.Errorf("New: got %q", members(s))
	}
	if e := ids.New(); e.Len() != 0 || e.Contains(nil) {
		t.Errorf("New() not empty")
	}
}

func TestContainsDoesNotAllocate(t *testing.T) {
	s, err := ids.Read(strings.NewReader("9F3A41C07B22E8D1\nC41D07E2A95B3F68\n"), "ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Keys in a larger buffer, as the filter passes sub-slices of its own.
	buf := []byte("xx9F3A41C07B22E8D1,0D5E7A9C3B1F4826,")
	hit, miss := buf[2:18], buf[19:35]
	tests := []struct {
		name string
		id   []byte
		want bool
	}{
		{"hit", hit, true},
		{"miss", miss, false},
		{"empty", buf[:0], false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			allocs := testing.AllocsPerRun(1000, func() { got = s.Contains(tt.id) })
			if got != tt.want {
				t.Errorf("Contains(%q) = %v, want %v", tt.id, got, tt.want)
			}
			if allocs != 0 {
				t.Errorf("Contains allocates %v times per call", allocs)
			}
		})
	}
}

// idList returns a list of n distinct 16-digit hex IDs, one per line, with
// some comments and blank lines, and the IDs themselves.
func idList(n int) ([]byte, []string) {
	var b bytes.Buffer
	b.Grow(n * 18)
	b.WriteString("# generated list\n")
	out := make([]string, n)
	for i := range n {
		// An odd multiplier permutes uint64, so the IDs are distinct.
		id := fmt.Sprintf("%016X", uint64(i)*0x9E3779B97F4A7C15)
		out[i] = id
		b.WriteString(id)
		switch i % 1000 {
		case 0:
			b.WriteString("\r\n\n# batch\n")
		case 1:
			b.WriteString("  \n")
		default:
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), out
}

func TestReadMillion(t *testing.T) {
	const n = 1_000_000
	data, list := idList(n)
	s, err := ids.Read(bytes.NewReader(data), "million.txt")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != n {
		t.Fatalf("Len = %d, want %d", s.Len(), n)
	}
	for i := 0; i < n; i += 997 {
		if !s.Contains([]byte(list[i])) {
			t.Fatalf("ID %d (%s) missing", i, list[i])
		}
	}
	if !s.Contains([]byte(list[n-1])) {
		t.Errorf("last ID missing")
	}
	for _, id := range []string{"", "# generated list", "# batch", "0000000000000001", list[1][:15]} {
		if s.Contains([]byte(id)) {
			t.Errorf("Contains(%q) = true", id)
		}
	}
}

func BenchmarkReadMillion(b *testing.B) {
	data, _ := idList(1_000_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := ids.Read(bytes.NewReader(data), "million.txt")
		if err != nil || s.Len() != 1_000_000 {
			b.Fatalf("Read: %v", err)
		}
	}
}

// A list saved with a byte order mark (as Windows editors do) must still
// erase its first ID; a BOM anywhere else is an error.
func TestByteOrderMark(t *testing.T) {
	set, err := ids.Read(strings.NewReader("\uFEFF9F3A41C07B22E8D1\r\nC41D07E2A95B3F68\n"), "ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !set.Contains([]byte("9F3A41C07B22E8D1")) || set.Len() != 2 {
		t.Errorf("first ID lost to the BOM: len %d", set.Len())
	}
	if set, err := ids.Read(strings.NewReader("\uFEFF# comment\nA1\n"), "ids.txt"); err != nil || set.Len() != 1 {
		t.Errorf("BOM before a comment: %v", err)
	}
	_, err = ids.Read(strings.NewReader("A1\n\uFEFFB2\n"), "ids.txt")
	var le *ids.LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("BOM on line 2: err = %v", err)
	}
}

// TestReadBytesFuncStops checks that an error of fn ends the read at its
// line, with the lines before passed in order, however far the list's
// splitting has gone ahead.
func TestReadBytesFuncStops(t *testing.T) {
	data, list := idList(10_000)
	errStop := errors.New("stop")
	for _, stopAt := range []int{0, 1, 1023, 1024, 5000, 9999} {
		var got []string
		err := ids.ReadBytesFunc(bytes.NewReader(data), "list", func(id []byte, line int) error {
			if len(got) == stopAt {
				return errStop
			}
			got = append(got, string(id))
			return nil
		})
		var le *ids.LineError
		if !errors.As(err, &le) || !errors.Is(err, errStop) {
			t.Fatalf("stop at %d: error %v", stopAt, err)
		}
		if !slices.Equal(got, list[:stopAt]) {
			t.Errorf("stop at %d: got %d IDs, not the first ones", stopAt, len(got))
		}
	}
	// A bad line after many good ones: the good ones first, then its error.
	bad := append(bytes.Clone(data), "a,b\n"...)
	n := 0
	err := ids.ReadBytesFunc(bytes.NewReader(bad), "list", func([]byte, int) error { n++; return nil })
	var le *ids.LineError
	if !errors.As(err, &le) || n != len(list) {
		t.Errorf("bad last line: %d IDs, error %v", n, err)
	}
}
