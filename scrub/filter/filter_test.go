package filter_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// readers wraps the input in readers of different shapes, so that records
// cross read boundaries at every possible byte.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"dataerr", iotest.DataErrReader},
}

func TestFilter(t *testing.T) {
	const hdr = "Timestamp,Client ID,Custom Values\n"
	tests := []struct {
		name    string
		in      string
		ids     []string
		columns []string
		want    string // output; "" with wantErr
		rows    int64
		removed int64
		wantErr error
		line    int // of the error, if not 0
	}{
		{name: "lf", in: hdr + "t1,A1,x\nt2,B2,y\nt3,C3,z\n", ids: []string{"B2"},
			want: hdr + "t1,A1,x\nt3,C3,z\n", rows: 3, removed: 1},
		{name: "crlf", in: "Timestamp,Client ID\r\nt1,A1\r\nt2,B2\r\nt3,C3\r\n", ids: []string{"A1"},
			want: "Timestamp,Client ID\r\nt2,B2\r\nt3,C3\r\n", rows: 3, removed: 1},
		{name: "bom", in: "\xEF\xBB\xBFClient ID,v\nA1,1\nB2,2\n", ids: []string{"A1"},
			want: "\xEF\xBB\xBFClient ID,v\nB2,2\n", rows: 2, removed: 1},
		{name: "no final newline, last kept", in: hdr + "t1,A1,x\nt2,B2,y", ids: []string{"A1"},
			want: hdr + "t2,B2,y", rows: 2, removed: 1},
		{name: "no final newline, last dropped", in: hdr + "t1,A1,x\nt2,B2,y", ids: []string{"B2"},
			want: hdr + "t1,A1,x\n", rows: 2, removed: 1},
		{name: "quoted id", in: hdr + "t1,\"A1\",x\nt2,B2,y\n", ids: []string{"A1"},
			want: hdr + "t2,B2,y\n", rows: 2, removed: 1},
		{name: "quoted id with escaped quote is not an id", in: hdr + "t1,\"A\"\"1\",x\n", ids: []string{"A1", "A"},
			want: hdr + "t1,\"A\"\"1\",x\n", rows: 1},
		{name: "id in another column", in: hdr + "t1,A1,\"(ReferredBy,B2)\"\nB2,C3,B2\n", ids: []string{"B2"},
			want: hdr + "t1,A1,\"(ReferredBy,B2)\"\nB2,C3,B2\n", rows: 2},
		{name: "substrings", in: hdr + "t,ABC1234,x\nt,ABC12,x\nt,ABC123,x\nt, ABC123,x\nt,ABC123 ,x\n", ids: []string{"ABC123"},
			want: hdr + "t,ABC1234,x\nt,ABC12,x\nt, ABC123,x\nt,ABC123 ,x\n", rows: 5, removed: 1},
		{name: "embedded newlines", in: "Client ID,Stack\nA1,\"at a\nat b\r\nat c\"\nB2,\"x\n\ny\"\nC3,\"\"\n", ids: []string{"B2"},
			want: "Client ID,Stack\nA1,\"at a\nat b\r\nat c\"\nC3,\"\"\n", rows: 3, removed: 1},
		{name: "custom values with quotes", in: hdr + "t,A1,\"(K,\"\"v\"\"),(K2,V2)\"\nt,B2,\"(a,b)&&(c,d)\"\n", ids: []string{"A1"},
			want: hdr + "t,B2,\"(a,b)&&(c,d)\"\n", rows: 2, removed: 1},
		{name: "semicolon", in: "Zeit;Client ID;Wert\nt;A1;1,5\nt;B2;2,5\n", ids: []string{"B2"},
			want: "Zeit;Client ID;Wert\nt;A1;1,5\n", rows: 2, removed: 1},
		{name: "tab", in: "Time\tClient ID\tv\nt\tA1\ta,b\nt\tB2\tc;d\n", ids: []string{"A1"},
			want: "Time\tClient ID\tv\nt\tB2\tc;d\n", rows: 2, removed: 1},
		{name: "header only", in: hdr, ids: []string{"A1"}, want: hdr},
		{name: "header only, no newline", in: "Client ID,x", ids: []string{"A1"}, want: "Client ID,x"},
		{name: "all removed keeps header", in: hdr + "t,A1,x\nt,A1,y\r\nt,B2,z", ids: []string{"A1", "B2"},
			want: hdr, rows: 3, removed: 3},
		{name: "first and consecutive", in: hdr + "t,A1,1\nt,A1,2\nt,C,3\nt,A1,4\nt,A1,5\nt,D,6\n", ids: []string{"A1"},
			want: hdr + "t,C,3\nt,D,6\n", rows: 6, removed: 4},
		{name: "blank lines kept", in: "\n" + hdr + "\nt,A1,x\n\r\nt,B2,y\n\n", ids: []string{"A1"},
			want: "\n" + hdr + "\n\r\nt,B2,y\n\n", rows: 2, removed: 1},
		{name: "single column", in: "clientId\nA1\nB2\n", ids: []string{"B2"},
			want: "clientId\nA1\n", rows: 2, removed: 1},
		{name: "header case and quoting", in: "\"CLIENT_ID\",x\nA1,1\n", ids: []string{"A1"},
			want: "\"CLIENT_ID\",x\n", rows: 1, removed: 1},
		{name: "configured columns, any matches", in: "user,host,v\nu1,h1,1\nu2,h2,2\nu3,h3,3\n", ids: []string{"u1", "h3"},
			columns: []string{"User", " host "}, want: "user,host,v\nu2,h2,2\n", rows: 3, removed: 2},
		{name: "duplicate id columns", in: "Client ID,clientId\nA1,B2\nC3,A1\nD,E\n", ids: []string{"A1"},
			want: "Client ID,clientId\nD,E\n", rows: 3, removed: 2},
		{name: "empty id field", in: hdr + "t,,x\n", ids: []string{"A1"}, want: hdr + "t,,x\n", rows: 1},
		{name: "quoted field then crlf", in: "Client ID,v\r\nA1,\"x\"\r\nB2,\"y\"\r\n", ids: []string{"A1"},
			want: "Client ID,v\r\nB2,\"y\"\r\n", rows: 2, removed: 1},
		{name: "cr at eof", in: "Client ID,v\nA1,x\r", ids: []string{"B2"}, want: "Client ID,v\nA1,x\r", rows: 1},

		{name: "empty", in: "", ids: []string{"A1"}, wantErr: filter.ErrNoHeader},
		{name: "blank only", in: "\n\r\n", ids: []string{"A1"}, wantErr: filter.ErrNoHeader},
		{name: "no id column", in: "Timestamp,User\nt,A1\n", ids: []string{"A1"}, wantErr: filter.ErrNoIDColumn, line: 1},
		{name: "ragged short", in: hdr + "t,A1,x\nt,B2\n", ids: []string{"A1"}, wantErr: filter.ErrFieldCount, line: 3},
		{name: "ragged long", in: hdr + "t,A1,x,y\n", ids: []string{"Z"}, wantErr: filter.ErrFieldCount, line: 2},
		{name: "ragged after multiline", in: hdr + "t,A1,\"x\ny\"\nt\n", ids: []string{"Z"}, wantErr: filter.ErrFieldCount, line: 4},
		{name: "unbalanced quote", in: hdr + "t,A1,\"x\nt,B2,y\n", ids: []string{"A1"}, wantErr: filter.ErrQuote, line: 2},
		{name: "bare quote", in: hdr + "t,A\"1,x\n", ids: []string{"A1"}, wantErr: filter.ErrBareQuote, line: 2},
		{name: "text after quote", in: hdr + "t,\"A1\"x,y\n", ids: []string{"A1"}, wantErr: filter.ErrQuote, line: 2},
		{name: "cr only line endings", in: "Client ID,v\rA1,1\rB2,2\r", ids: []string{"A1"}, wantErr: filter.ErrBareCR, line: 1},
		{name: "bare cr in data", in: hdr + "t,A1,x\ry\n", ids: []string{"A1"}, wantErr: filter.ErrBareCR, line: 2},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				f := &filter.Filter{IDs: ids.New(tt.ids...), Columns: tt.columns}
				var out bytes.Buffer
				st, err := f.Filter(&out, rd.wrap(strings.NewReader(tt.in)))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					var pe *filter.ParseError
					if tt.line != 0 && (!errors.As(err, &pe) || pe.Line != tt.line) {
						t.Fatalf("err = %v, want line %d", err, tt.line)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got := out.String(); got != tt.want {
					t.Errorf("output:\n%q\nwant:\n%q", got, tt.want)
				}
				if st.Rows != tt.rows || st.Removed != tt.removed {
					t.Errorf("stats = %+v, want rows %d removed %d", st, tt.rows, tt.removed)
				}
				// Counting alone sees the same, and Match agrees.
				st2, err := f.Filter(nil, rd.wrap(strings.NewReader(tt.in)))
				if err != nil || st2 != st {
					t.Errorf("count-only: %+v, %v; want %+v", st2, err, st)
				}
				_, found, err := f.Match(rd.wrap(strings.NewReader(tt.in)))
				if err != nil || found != (tt.removed > 0) {
					t.Errorf("Match = %v, %v; want %v", found, err, tt.removed > 0)
				}
				// Filtering the output again changes nothing.
				var again bytes.Buffer
				st3, err := f.Filter(&again, strings.NewReader(out.String()))
				if err != nil || again.String() != out.String() || st3.Removed != 0 || st3.Rows != st.Rows-st.Removed {
					t.Errorf("second pass: %+v, %v, changed=%v", st3, err, again.String() != out.String())
				}
			})
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	f := &filter.Filter{IDs: ids.New("SECRETID")}
	_, err := f.Filter(io.Discard, strings.NewReader("Client ID,v\nSECRETID,\"x\ny\"z\n"))
	if err == nil {
		t.Fatal("no error")
	}
	const want = `record on line 2: line 3, column 3: extraneous or missing " in quoted field`
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if strings.Contains(err.Error(), "SECRETID") {
		t.Error("error message contains the ID")
	}
}

func TestMaxRecord(t *testing.T) {
	long := strings.Repeat("x", 5000)
	in := "Client ID,v\nA," + long + "\nB,y\n"
	f := &filter.Filter{IDs: ids.New("B"), MaxRecord: 1000}
	_, err := f.Filter(io.Discard, strings.NewReader(in))
	var pe *filter.ParseError
	if !errors.Is(err, filter.ErrRecordTooBig) || !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("err = %v, want ErrRecordTooBig on line 2", err)
	}
	f.MaxRecord = 10000
	var out bytes.Buffer
	if _, err := f.Filter(&out, strings.NewReader(in)); err != nil || out.String() != "Client ID,v\nA,"+long+"\n" {
		t.Fatalf("err = %v, output len %d", err, out.Len())
	}
}

type failWriter struct{ err error }

func (w failWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestWriteAndReadErrors(t *testing.T) {
	f := &filter.Filter{IDs: ids.New("A1")}
	boom := errors.New("boom")
	if _, err := f.Filter(failWriter{boom}, strings.NewReader("Client ID\nA1\nB2\n")); !errors.Is(err, boom) {
		t.Errorf("write error: got %v", err)
	}
	r := io.MultiReader(strings.NewReader("Client ID\nA1\n"), iotest.ErrReader(boom))
	if _, err := f.Filter(io.Discard, r); !errors.Is(err, boom) {
		t.Errorf("read error: got %v", err)
	}
}

func TestInvalidUTF8(t *testing.T) {
	const hdr = "Timestamp,Client ID,Custom Values\n"
	tests := []struct {
		name      string
		in        string
		line, col int // of the error; 0 for none
		startLine int // of the record, if not line
	}{
		{name: "valid multi-byte", in: hdr + "t,A1,\"Größe ✓ 🙂\"\nt,B2,日本語\n"},
		{name: "bom", in: "\xEF\xBB\xBF" + hdr + "t,A1,x\n"},
		{name: "bom in the middle", in: hdr + "t,A1,\xEF\xBB\xBFx\n"},
		{name: "latin-1 in a field", in: hdr + "t,A1,x\nt,B2,Gr\xF6\xDFe\n", line: 3, col: 8},
		{name: "in the id", in: hdr + "t,A\xFF1,x\n", line: 2, col: 4},
		{name: "in the header", in: "Timestamp,Client ID,W\xE4hrung\nt,A1,x\n", line: 1, col: 22},
		{name: "after a bom", in: "\xEF\xBB\xBF\xFFClient ID\nA1\n", line: 1, col: 1},
		{name: "in a quoted multi-line field", in: hdr + "t,A1,\"x\ny\x80\"\n", line: 3, col: 2, startLine: 2},
		{name: "rune cut off at eof", in: hdr + "t,A1,x\xE2\x9C", line: 2, col: 7},
		{name: "overlong", in: hdr + "t,A1,\xC0\xAF\n", line: 2, col: 6},
		{name: "surrogate", in: hdr + "t,A1,\xED\xA0\x80\n", line: 2, col: 6},
		{name: "beyond U+10FFFF", in: hdr + "t,A1,\xF4\x90\x80\x80\n", line: 2, col: 6},
		{name: "continuation byte alone", in: hdr + "t,A1,\x9C\n", line: 2, col: 6},
		{name: "binary", in: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", line: 1, col: 1},
		{name: "before a parse error", in: hdr + "t,A1,\xFF\"x\n", line: 2, col: 6},
		{name: "before a ragged row", in: hdr + "t,\xFF\n", line: 2, col: 3},
		{name: "before a missing id column", in: "a,\xFF\n", line: 1, col: 3},
		{name: "after a parse error", in: hdr + "t,A\"1,\xFF\n", line: 2, col: 4},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				f := &filter.Filter{IDs: ids.New("A1")}
				var out bytes.Buffer
				_, err := f.Filter(&out, rd.wrap(strings.NewReader(tt.in)))
				if tt.line == 0 {
					if err != nil || out.String() == tt.in {
						t.Fatalf("err = %v, output %q", err, out.String())
					}
					return
				}
				var pe *filter.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a ParseError", err)
				}
				start := tt.startLine
				if start == 0 {
					start = tt.line
				}
				wantErr := filter.ErrInvalidUTF8
				if tt.name == "after a parse error" {
					wantErr = filter.ErrBareQuote
				}
				if !errors.Is(err, wantErr) || pe.Line != tt.line || pe.Column != tt.col || pe.StartLine != start {
					t.Fatalf("err = %v (line %d, column %d, record on line %d), want %v at line %d, column %d, record on line %d",
						err, pe.Line, pe.Column, pe.StartLine, wantErr, tt.line, tt.col, start)
				}
				// Every input here has bytes that are not UTF-8: a message
				// that holds them is not valid UTF-8 either.
				if !utf8.ValidString(err.Error()) {
					t.Errorf("message %q holds input bytes", err)
				}
				// Allowed, the bytes go through unchanged.
				if wantErr == filter.ErrInvalidUTF8 {
					lax := &filter.Filter{IDs: ids.New("A1"), AllowInvalidUTF8: true}
					_, lerr := lax.Filter(io.Discard, rd.wrap(strings.NewReader(tt.in)))
					if errors.Is(lerr, filter.ErrInvalidUTF8) {
						t.Errorf("AllowInvalidUTF8: err = %v", lerr)
					}
				}
			})
		}
	}
}

func TestInvalidUTF8Message(t *testing.T) {
	f := &filter.Filter{IDs: ids.New("A1")}
	_, err := f.Filter(io.Discard, strings.NewReader("Client ID,v\nA1,\"x\ny\xFF\"\n"))
	const want = "record on line 2: line 3, column 2: invalid UTF-8 (binary data, or text in another encoding)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// TestInvalidUTF8Match checks that Match, which may stop before the end,
// answers the same whatever the reads: a match before the first invalid byte
// is found, one after it is not.
func TestInvalidUTF8Match(t *testing.T) {
	f := &filter.Filter{IDs: ids.New("A1")}
	for _, rd := range readers {
		_, found, err := f.Match(rd.wrap(strings.NewReader("Client ID,v\nA1,x\nB2,\xFF\n")))
		if !found || err != nil {
			t.Errorf("%s: match before: found %v, err %v", rd.name, found, err)
		}
		_, found, err = f.Match(rd.wrap(strings.NewReader("Client ID,v\nB2,\xFF\nA1,x\n")))
		if found || !errors.Is(err, filter.ErrInvalidUTF8) {
			t.Errorf("%s: match after: found %v, err %v", rd.name, found, err)
		}
	}
}

// TestInvalidUTF8LongRecord checks that a record too long for MaxRecord
// reports a byte that is not UTF-8 inside it, wherever the reads end.
func TestInvalidUTF8LongRecord(t *testing.T) {
	f := &filter.Filter{IDs: ids.New("A1"), MaxRecord: 1000}
	in := "Client ID,v\nA1," + strings.Repeat("é", 300) + "\xFF" + strings.Repeat("x", 2000) + "\n"
	for _, rd := range readers {
		_, err := f.Filter(io.Discard, rd.wrap(strings.NewReader(in)))
		var pe *filter.ParseError
		if !errors.Is(err, filter.ErrInvalidUTF8) || !errors.As(err, &pe) || pe.Line != 2 || pe.Column != 604 {
			t.Errorf("%s: err = %v, want invalid UTF-8 at line 2, column 604", rd.name, err)
		}
	}
	in = "Client ID,v\nA1," + strings.Repeat("é", 2000) + "\xFF\n"
	for _, rd := range readers {
		if _, err := f.Filter(io.Discard, rd.wrap(strings.NewReader(in))); !errors.Is(err, filter.ErrRecordTooBig) {
			t.Errorf("%s: err = %v, want record too long", rd.name, err)
		}
	}
}
