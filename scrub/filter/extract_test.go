package filter_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// extractOracle computes what Extract must hand over, with encoding/csv:
// for each listed ID, the header record (after a byte order mark, if any)
// and the byte spans of the records that hold the ID in an ID column, with
// the blank lines encoding/csv attributes to a span cut off.
func extractOracle(in []byte, delim rune, columns []string, set *ids.Set) (map[string][]byte, filter.Stats, error) {
	body := bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	bomLen := len(in) - len(body)
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = delim
	out := map[string][]byte{}
	var st filter.Stats
	var header []byte
	var idcol []int
	prev := int64(0)
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			return out, st, nil
		}
		if err != nil {
			return nil, st, err
		}
		span := bytes.TrimLeft(body[prev:r.InputOffset()], "\r\n")
		prev = r.InputOffset()
		if first {
			for i, name := range rec {
				for _, c := range columns {
					if strings.EqualFold(strings.TrimSpace(name), c) {
						idcol = append(idcol, i)
					}
				}
			}
			if idcol == nil {
				return nil, st, filter.ErrNoIDColumn
			}
			header = append(bytes.Clone(in[:bomLen]), span...)
			continue
		}
		st.Rows++
		matched := false
		seen := map[string]bool{}
		for _, i := range idcol {
			id := rec[i]
			if !set.Contains([]byte(id)) || seen[id] {
				continue
			}
			seen[id], matched = true, true
			if out[id] == nil {
				out[id] = bytes.Clone(header)
			}
			out[id] = append(out[id], span...)
		}
		if matched {
			st.Removed++
		}
	}
}

// extract runs Extract and collects, per ID, the header (once) and the
// records, checking that every call has the same header.
func extract(f *filter.Filter, r io.Reader) (map[string][]byte, filter.Stats, error) {
	out := map[string][]byte{}
	var header []byte
	st, err := f.Extract(r, func(id, h, rec []byte) error {
		if header == nil {
			header = bytes.Clone(h)
		} else if !bytes.Equal(h, header) {
			return fmt.Errorf("header changed from %q to %q", header, h)
		}
		if out[string(id)] == nil {
			out[string(id)] = bytes.Clone(h)
		}
		out[string(id)] = append(out[string(id)], rec...)
		return nil
	})
	return out, st, err
}

func TestExtract(t *testing.T) {
	const hdr = "Timestamp,Client ID,Custom Values\n"
	tests := []struct {
		name    string
		in      string
		ids     []string
		columns []string
		want    map[string]string
		rows    int64
		found   int64
		wantErr error
	}{
		{name: "lf", in: hdr + "t1,A1,x\nt2,B2,y\nt3,A1,z\n", ids: []string{"A1", "Z9"},
			want: map[string]string{"A1": hdr + "t1,A1,x\nt3,A1,z\n"}, rows: 3, found: 2},
		{name: "crlf", in: "Timestamp,Client ID\r\nt1,A1\r\nt2,B2\r\n", ids: []string{"B2"},
			want: map[string]string{"B2": "Timestamp,Client ID\r\nt2,B2\r\n"}, rows: 2, found: 1},
		{name: "quoted id", in: hdr + "t1,\"A1\",x\nt2,A1,\"y\"\n", ids: []string{"A1"},
			want: map[string]string{"A1": hdr + "t1,\"A1\",x\nt2,A1,\"y\"\n"}, rows: 2, found: 2},
		{name: "escaped quotes in id", in: hdr + "t1,\"A\"\"1\",x\nt2,A1,y\n", ids: []string{`A"1`},
			want: map[string]string{`A"1`: hdr + "t1,\"A\"\"1\",x\n"}, rows: 2, found: 1},
		{name: "multi-line field", in: hdr + "t1,A1,\"one\ntwo,\"\"x\"\"\"\nt2,B2,y\n", ids: []string{"A1"},
			want: map[string]string{"A1": hdr + "t1,A1,\"one\ntwo,\"\"x\"\"\"\n"}, rows: 2, found: 1},
		{name: "bom and blank lines", in: "\xEF\xBB\xBF\n\r\n" + hdr + "\nt1,A1,x\n\n", ids: []string{"A1"},
			want: map[string]string{"A1": "\xEF\xBB\xBF" + hdr + "t1,A1,x\n"}, rows: 1, found: 1},
		{name: "no final line break", in: hdr + "t1,B2,x\nt2,A1,y", ids: []string{"A1", "B2"},
			want: map[string]string{"A1": hdr + "t2,A1,y", "B2": hdr + "t1,B2,x\n"}, rows: 2, found: 2},
		{name: "id elsewhere is no match", in: hdr + "t1,B2,A1\nA1,B2,y\n", ids: []string{"A1"},
			want: map[string]string{}, rows: 2, found: 0},
		{name: "substring is no match", in: hdr + "t1,A12,x\nt2, A1,y\n", ids: []string{"A1"},
			want: map[string]string{}, rows: 2, found: 0},
		{name: "two id columns", in: "Client ID,client_id,v\nA1,B2,1\nA1,A1,2\nC3,B2,3\n", ids: []string{"A1", "B2"},
			columns: []string{"Client ID", "client_id"},
			want: map[string]string{
				"A1": "Client ID,client_id,v\nA1,B2,1\nA1,A1,2\n",
				"B2": "Client ID,client_id,v\nA1,B2,1\nC3,B2,3\n",
			}, rows: 3, found: 3},
		{name: "semicolon", in: "Client ID;v\n\"A1\";\"1;2\"\nB2;3\n", ids: []string{"A1"},
			want: map[string]string{"A1": "Client ID;v\n\"A1\";\"1;2\"\n"}, rows: 2, found: 1},
		{name: "header only", in: hdr, ids: []string{"A1"}, want: map[string]string{}},
		{name: "no id column", in: "a,b\n1,2\n", ids: []string{"A1"}, wantErr: filter.ErrNoIDColumn},
		{name: "bad quote", in: hdr + "t1,A1,x\nt2,A\"1,y\n", ids: []string{"A1"}, wantErr: filter.ErrBareQuote},
		{name: "field count", in: hdr + "t1,A1\n", ids: []string{"A1"}, wantErr: filter.ErrFieldCount},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				f := &filter.Filter{IDs: ids.New(tt.ids...), Columns: tt.columns}
				got, st, err := extract(f, rd.wrap(strings.NewReader(tt.in)))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				want := map[string][]byte{}
				for id, s := range tt.want {
					want[id] = []byte(s)
				}
				if !maps.EqualFunc(got, want, bytes.Equal) {
					t.Errorf("extracted:\n%q\nwant:\n%q", got, want)
				}
				if st.Rows != tt.rows || st.Removed != tt.found {
					t.Errorf("stats %+v, want %d rows, %d found", st, tt.rows, tt.found)
				}
				// The oracle agrees with the expectations.
				columns := tt.columns
				if columns == nil {
					columns = filter.DefaultColumns
				}
				if o, ost, err := extractOracle([]byte(tt.in), rune(tt.in[strings.IndexAny(tt.in, ",;")]), columns, f.IDs.(*ids.Set)); err != nil ||
					!maps.EqualFunc(o, want, bytes.Equal) || ost != st {
					t.Errorf("oracle: %q %+v %v", o, ost, err)
				}
			})
		}
	}
}

func TestExtractOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		rows      int
		crlf, bom bool
	}{{0, false, false}, {1, true, true}, {100, false, true}, {30000, false, false}, {30000, true, true}} {
		in, clients := genCSV(rng, tc.rows, tc.crlf)
		if tc.bom {
			in = append([]byte("\xEF\xBB\xBF"), in...)
		}
		set := ids.New(clients[:20]...)
		want, wst, err := extractOracle(in, ',', []string{"client id"}, set)
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range readers[:3] {
			t.Run(fmt.Sprintf("%d/%v/%v/%s", tc.rows, tc.crlf, tc.bom, rd.name), func(t *testing.T) {
				got, st, err := extract(&filter.Filter{IDs: set}, rd.wrap(bytes.NewReader(in)))
				if err != nil {
					t.Fatal(err)
				}
				if !maps.EqualFunc(got, want, bytes.Equal) {
					ids := slices.Sorted(maps.Keys(want))
					t.Fatalf("extracted %d IDs, oracle %d (%v)", len(got), len(want), ids)
				}
				if st != wst {
					t.Fatalf("stats %+v, oracle %+v", st, wst)
				}
				if tc.rows > 1000 && (st.Removed == 0 || st.Removed == st.Rows) {
					t.Fatalf("degenerate test data: %+v", st)
				}
				// Extract finds exactly what Filter removes.
				fst, err := (&filter.Filter{IDs: set}).Filter(io.Discard, bytes.NewReader(in))
				if err != nil || fst != st {
					t.Fatalf("Filter: %+v, %v; Extract %+v", fst, err, st)
				}
			})
		}
	}
}

func TestExtractCallbackError(t *testing.T) {
	stop := errors.New("disk full")
	f := &filter.Filter{IDs: ids.New("A1")}
	calls := 0
	_, err := f.Extract(strings.NewReader("Client ID\nA1\nA1\n"), func(_, _, _ []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// FuzzExtract checks Extract against encoding/csv on arbitrary input, on
// what both accept: the same records for the same IDs.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"id,v\na,1\nb,2\n",
		"\xEF\xBB\xBFid,v\r\n\"a\",\"x\ny\"\r\nc,\"\"\"\"\r\n",
		"v,id\n1,ABC123\n2,ABC1234\n3,\"b c\"\n",
		"\n\nid\n\na\n\na",
	} {
		f.Add([]byte(s))
	}
	set := ids.New("a", "b c", "ABC123")
	f.Fuzz(func(t *testing.T, in []byte) {
		flt := &filter.Filter{IDs: set, Columns: []string{"id"}, Delimiter: ',', MaxRecord: fuzzMaxRecord, AllowInvalidUTF8: true}
		got, st, err := extract(flt, &chunkReader{in, 7})
		want, wst, oerr := extractOracle(in, ',', []string{"id"}, set)
		if err != nil || oerr != nil {
			return // which inputs each accepts is FuzzFilter's concern
		}
		if !maps.EqualFunc(got, want, bytes.Equal) || st != wst {
			t.Fatalf("extracted %q %+v\nwant %q %+v\ninput %q", got, st, want, wst, in)
		}
	})
}
