package filter_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// oracle computes the expected output of the filter with encoding/csv: the
// input with the byte spans of matching records cut out. Blank lines, which
// encoding/csv skips and attributes to the next record's span, always stay.
// It returns ok=false when encoding/csv rejects the input.
func oracle(in []byte, delim rune, column string, set *ids.Set) (out []byte, st filter.Stats, err error) {
	return oracleWith(in, delim, column, set, nil)
}

// oracleWith is oracle with an optional cutoff (see ageOracle); set may
// then be nil.
func oracleWith(in []byte, delim rune, column string, set *ids.Set, cut *cutoff) (out []byte, st filter.Stats, err error) {
	r := csv.NewReader(bytes.NewReader(in))
	r.Comma = delim
	r.ReuseRecord = true
	var idcol []int
	prev := int64(0)
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			out = append(out, in[prev:]...)
			return out, st, nil
		}
		if err != nil {
			return nil, st, err
		}
		off := r.InputOffset()
		span := in[prev:off]
		prev = off
		for {
			switch {
			case bytes.HasPrefix(span, []byte("\n")):
				out, span = append(out, '\n'), span[1:]
				continue
			case bytes.HasPrefix(span, []byte("\r\n")):
				out, span = append(out, "\r\n"...), span[2:]
				continue
			}
			break
		}
		if first {
			for i, name := range rec {
				if set != nil && strings.EqualFold(strings.TrimSpace(name), column) {
					idcol = append(idcol, i)
				}
			}
			if idcol == nil && set != nil {
				return nil, st, filter.ErrNoIDColumn
			}
			if err := cut.header(rec); err != nil {
				return nil, st, err
			}
			out = append(out, span...)
			continue
		}
		expired, err := cut.expired(r, rec)
		if err != nil {
			return nil, st, err
		}
		st.Rows++
		drop := false
		for _, i := range idcol {
			drop = drop || set.Contains([]byte(rec[i]))
		}
		if drop || expired {
			st.Removed++
			if expired {
				st.Expired++
			}
			continue
		}
		out = append(out, span...)
	}
}

// genCSV makes a CSV in the shape of a custom-event export, with every kind
// of quoting, and returns it with the IDs present.
func genCSV(rng *rand.Rand, rows int, crlf bool) ([]byte, []string) {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var b bytes.Buffer
	b.WriteString("Timestamp,Client ID,Edition,Version,Event Category,Event Name,Custom Values" + eol)
	clients := make([]string, 200)
	for i := range clients {
		clients[i] = fmt.Sprintf("%016X", rng.Uint64())
	}
	for i := 0; i < rows; i++ {
		id := clients[rng.IntN(len(clients))]
		if rng.IntN(10) == 0 {
			id = `"` + id + `"`
		}
		custom := fmt.Sprintf(`"(Key1,%d)&&(Path,""C:\data\%s"")"`, rng.IntN(1000), clients[rng.IntN(len(clients))])
		switch rng.IntN(8) {
		case 0:
			custom = ""
		case 1:
			custom = "\"line one" + eol + "line two\""
		}
		fmt.Fprintf(&b, "2017-11-22 %02d:%02d:%02d,%s,Professional,4.2.%d,Editor,Save,%s%s",
			rng.IntN(24), rng.IntN(60), rng.IntN(60), id, rng.IntN(10), custom, eol)
	}
	return b.Bytes(), clients
}

func TestOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		rows int
		crlf bool
	}{{0, false}, {1, true}, {100, false}, {30000, false}, {30000, true}} {
		in, clients := genCSV(rng, tc.rows, tc.crlf)
		set := ids.New(clients[:20]...)
		want, wst, err := oracle(in, ',', "client id", set)
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range readers[:3] {
			t.Run(fmt.Sprintf("%d/%v/%s", tc.rows, tc.crlf, rd.name), func(t *testing.T) {
				f := &filter.Filter{IDs: set}
				var out bytes.Buffer
				st, err := f.Filter(&out, rd.wrap(bytes.NewReader(in)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("output differs from oracle (%d vs %d bytes)", out.Len(), len(want))
				}
				if st != wst {
					t.Fatalf("stats %+v, oracle %+v", st, wst)
				}
				if tc.rows > 1000 && (st.Removed == 0 || st.Removed == st.Rows) {
					t.Fatalf("degenerate test data: %+v", st)
				}
			})
		}
	}
}

// FuzzFilter checks the filter against encoding/csv on arbitrary input: where
// both accept it, the outputs are byte-identical, no listed ID is left in the
// ID column, and the output parses. The filter may be stricter than
// encoding/csv only about CR-only line breaks and a missing header or ID
// column, never the other way round. That comparison allows invalid UTF-8,
// as encoding/csv does; the default, strict filter must then agree exactly
// on valid UTF-8 and fail on the rest, at the first invalid byte.
//
// MaxRecord is small, so that records cross buffer boundaries (and a fuzz
// run does not spend its time clearing 256 KiB buffers); the strict filter
// reads in small chunks, so that runes are cut by reads.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"id,v\na,1\nb,2\n",
		"id,v\r\n\"a\",\"x\ny\"\r\nc,\"\"\"\"\r\n",
		"v,id\n1,ABC123\n2,ABC1234\n3,\"b c\"\n",
		"id\n\na\n\n",
		"\"id\",\"v\"\n\"a\",\"1,2\"",
		"id,v\na,\"unterminated\n",
		"id,v\na\"b,1\n",
		"id;v\na;1\n",
		"t,id\n2017-11-22,a\n2017-11-24 10:00:00,b\n",
		"id,t\r\n\"a\",\"2017-11-24T00:00:00Z\"\r\nx,bad\r\n",
	} {
		f.Add([]byte(s))
	}
	set := ids.New("a", "b c", "ABC123")
	f.Fuzz(func(t *testing.T, in []byte) {
		checkCutoff(t, in, set)
		flt := &filter.Filter{IDs: set, Columns: []string{"id"}, Delimiter: ',', MaxRecord: fuzzMaxRecord, AllowInvalidUTF8: true}
		var out bytes.Buffer
		st, err := flt.Filter(&out, bytes.NewReader(in))
		checkStrict(t, in, out.Bytes(), st, err)
		want, wst, oerr := oracle(in, ',', "id", set)
		if err != nil {
			if oerr != nil || errors.Is(err, filter.ErrNoHeader) || errors.Is(err, filter.ErrNoIDColumn) {
				return
			}
			if errors.Is(err, filter.ErrRecordTooBig) && len(in) > fuzzMaxRecord {
				return
			}
			if errors.Is(err, filter.ErrBareCR) && bytes.IndexByte(in, '\r') >= 0 {
				return
			}
			t.Fatalf("filter rejects what encoding/csv accepts: %v\ninput %q", err, in)
		}
		if oerr != nil {
			t.Fatalf("filter accepts what encoding/csv rejects (%v)\ninput %q", oerr, in)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("output\n%q\nwant\n%q\ninput %q", out.Bytes(), want, in)
		}
		if st != wst {
			t.Fatalf("stats %+v, oracle %+v", st, wst)
		}
		// The output parses, and filtering it again finds nothing.
		again, ast, err := oracle(out.Bytes(), ',', "id", set)
		if err != nil || ast.Removed != 0 || !bytes.Equal(again, out.Bytes()) {
			t.Fatalf("output does not re-read cleanly: %v %+v", err, ast)
		}
	})
}

// checkCutoff checks a filter with a cutoff (column t) against the oracle:
// where both accept the input the outputs are byte-identical; a time that
// does not parse is an error at the same line and column.
func checkCutoff(t *testing.T, in []byte, set *ids.Set) {
	t.Helper()
	cut := time.Date(2017, 11, 23, 0, 0, 0, 0, time.UTC)
	f := &filter.Filter{IDs: set, Columns: []string{"id"}, Delimiter: ',', MaxRecord: fuzzMaxRecord, AllowInvalidUTF8: true,
		Before: cut, TimeColumn: "t"}
	var out bytes.Buffer
	st, err := f.Filter(&out, bytes.NewReader(in))
	want, wst, oerr := oracleWith(in, ',', "id", set, &cutoff{column: "t", before: cut})
	var pe, ope *filter.ParseError
	switch {
	case err == nil && oerr != nil:
		t.Fatalf("cutoff: filter accepts what the oracle rejects (%v)\ninput %q", oerr, in)
	case err == nil && (!bytes.Equal(out.Bytes(), want) || st != wst):
		t.Fatalf("cutoff: output\n%q %+v\nwant\n%q %+v\ninput %q", out.Bytes(), st, want, wst, in)
	case errors.Is(err, filter.ErrTime) && oerr == nil:
		t.Fatalf("cutoff: %v, but the oracle accepts the input %q", err, in)
	case errors.Is(oerr, filter.ErrTime) && errors.As(oerr, &ope) && errors.As(err, &pe) && errors.Is(err, filter.ErrTime) &&
		(pe.Line != ope.Line || pe.Column != ope.Column):
		t.Fatalf("cutoff: %v, oracle at line %d, column %d\ninput %q", err, ope.Line, ope.Column, in)
	}
}

// checkStrict checks the strict filter against the lenient one's result on
// the same input: the same on valid UTF-8; on invalid, an error at the first
// invalid byte if the lenient filter got that far.
func checkStrict(t *testing.T, in, lenientOut []byte, lenientSt filter.Stats, lenientErr error) {
	t.Helper()
	strict := &filter.Filter{IDs: ids.New("a", "b c", "ABC123"), Columns: []string{"id"}, Delimiter: ',', MaxRecord: fuzzMaxRecord}
	var out bytes.Buffer
	st, err := strict.Filter(&out, &chunkReader{in, 13})
	if utf8.Valid(in) {
		if fmt.Sprint(err) != fmt.Sprint(lenientErr) || err == nil && (st != lenientSt || !bytes.Equal(out.Bytes(), lenientOut)) {
			t.Fatalf("strict filter differs on valid UTF-8: %v, lenient %v\ninput %q", err, lenientErr, in)
		}
		return
	}
	if err == nil {
		t.Fatalf("strict filter accepts invalid UTF-8\ninput %q", in)
	}
	if lenientErr != nil {
		return // either error may come first
	}
	k := 0 // the first invalid byte
	for k < len(in) {
		r, n := utf8.DecodeRune(in[k:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		k += n
	}
	line := 1 + bytes.Count(in[:k], []byte("\n"))
	col := k - bytes.LastIndexByte(in[:k], '\n')
	if line == 1 && bytes.HasPrefix(in, []byte("\xEF\xBB\xBF")) {
		col -= 3 // columns of the first line count from after a byte order mark
	}
	var pe *filter.ParseError
	if !errors.Is(err, filter.ErrInvalidUTF8) || !errors.As(err, &pe) || pe.Line != line || pe.Column != col {
		t.Fatalf("strict filter: %v, want invalid UTF-8 at line %d, column %d\ninput %q", err, line, col, in)
	}
}

const fuzzMaxRecord = 1 << 10

// chunkReader reads at most n bytes at a time.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}
