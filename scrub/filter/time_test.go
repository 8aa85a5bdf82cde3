package filter_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// oracleLayouts are the layouts the filter reads, for time.Parse, which
// also takes a fraction of a second after the seconds without the layout
// saying so.
var oracleLayouts = []string{
	"2006-01-02",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05Z07:00",
}

// oracleTime parses a time with time.Parse. The filter is stricter in two
// respects: a zone offset is under 24 hours with minutes under 60
// (time.Parse takes +24:00 and +00:60), and the date and time are apart by
// one space or T (time.Parse takes a run of spaces for a space). Either is
// far more likely a broken value than a time.
func oracleTime(s string) (time.Time, bool) {
	if n := len(s); strings.Contains(s, "  ") || n > 6 && strings.ContainsRune("+-", rune(s[n-6])) && s[n-3] == ':' && s[n-2:] > "59" {
		return time.Time{}, false
	}
	for _, l := range oracleLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

// cutoff is the oracle's age filter: rows whose time in column is before
// before go.
type cutoff struct {
	column string
	before time.Time
	col    int
}

func (c *cutoff) header(rec []string) error {
	if c == nil {
		return nil
	}
	c.col = -1
	for i, name := range rec {
		if strings.EqualFold(strings.TrimSpace(name), c.column) {
			if c.col >= 0 {
				return filter.ErrNoTimeColumn
			}
			c.col = i
		}
	}
	if c.col < 0 {
		return filter.ErrNoTimeColumn
	}
	return nil
}

func (c *cutoff) expired(r *csv.Reader, rec []string) (bool, error) {
	if c == nil {
		return false, nil
	}
	t, ok := oracleTime(rec[c.col])
	if !ok {
		line, col := r.FieldPos(c.col)
		return false, &filter.ParseError{Line: line, Column: col, Err: filter.ErrTime}
	}
	return t.Before(c.before), nil
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		in   string
		want time.Time // zero: not a time
	}{
		{"2017-11-25 00:21:05", utc("2017-11-25T00:21:05Z")},
		{"2017-11-25T00:21:05", utc("2017-11-25T00:21:05Z")},
		{"2017-11-25 00:21:05.5", utc("2017-11-25T00:21:05.5Z")},
		{"2017-11-25 00:21:05,123456789", utc("2017-11-25T00:21:05.123456789Z")},
		{"2017-11-25T00:21:05.120Z", utc("2017-11-25T00:21:05.12Z")},
		{"2017-11-25T00:21:05+02:00", utc("2017-11-24T22:21:05Z")},
		{"2017-11-25T00:21:05.1-05:30", utc("2017-11-25T05:51:05.1Z")},
		{"2017-11-25 00:21:05Z", utc("2017-11-25T00:21:05Z")},
		{"2017-11-25", utc("2017-11-25T00:00:00Z")},
		{"2016-02-29", utc("2016-02-29T00:00:00Z")},
		{"2017-12-31 23:59:59", utc("2017-12-31T23:59:59Z")},

		{"", time.Time{}},
		{"2017-11-2", time.Time{}},
		{"2017/11/25", time.Time{}},
		{"25.11.2017", time.Time{}},
		{"2017-02-29", time.Time{}},
		{"2017-13-01", time.Time{}},
		{"2017-00-01", time.Time{}},
		{"2017-11-00", time.Time{}},
		{"2017-11-25 24:00:00", time.Time{}},
		{"2017-11-25 23:60:00", time.Time{}},
		{"2017-11-25 23:59:60", time.Time{}},
		{"2017-11-25 00:21", time.Time{}},
		{"2017-11-25 0:21:05", utc("2017-11-25T00:21:05Z")},
		{"2017-11-25 :21:05", time.Time{}},
		{"2017-11-25 00:21:05.", time.Time{}},
		{"2017-11-25 00:21:05.1234567891", utc("2017-11-25T00:21:05.123456789Z")},
		{"2017-11-25 00:21:05 ", time.Time{}},
		{" 2017-11-25 00:21:05", time.Time{}},
		{"2017-11-25x00:21:05", time.Time{}},
		{"2017-11-25T00:21:05+0200", time.Time{}},
		{"2017-11-25T00:21:05+02", time.Time{}},
		{"2017-11-25T00:21:05z", time.Time{}},
		{"2017-11-25T00:21:05+24:00", time.Time{}},
		{"2017-11-25T00:21:05+00:60", time.Time{}},
		{"2017-11-25  00:21:05", time.Time{}},
		{"1511569265", time.Time{}},
		{"+017-11-25", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := filter.ParseTime([]byte(tt.in))
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
		if ot, ook := oracleTime(tt.in); ook != ok || !ot.Equal(got) {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse says %v, %v", tt.in, got, ok, ot, ook)
		}
	}
	b := []byte("2017-11-25T00:21:05.123+02:00")
	if n := testing.AllocsPerRun(100, func() { filter.ParseTime(b) }); n != 0 {
		t.Errorf("ParseTime allocates %v times", n)
	}
}

// FuzzParseTime checks ParseTime against time.Parse with the same layouts.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2017-11-25 00:21:05", "2017-11-25T00:21:05.123+02:00", "2017-11-25", "2017-11-25 00:21:05,5Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := filter.ParseTime([]byte(s))
		want, wok := oracleTime(s)
		if ok != wok || !got.Equal(want) {
			t.Fatalf("ParseTime(%q) = %v, %v; time.Parse says %v, %v", s, got, ok, want, wok)
		}
	})
}

func TestFilterCutoff(t *testing.T) {
	const hdr = "Timestamp,Client ID,v\n"
	cut := time.Date(2017, 11, 23, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		ids     []string // nil: by age alone
		column  string   // the time column; "" for the default
		want    string
		removed int64
		expired int64
		wantErr error
		line    int
		col     int
	}{
		{name: "by age", in: hdr + "2017-11-22 23:59:59,A,1\n2017-11-23 00:00:00,B,2\n2017-11-24 10:00:00,C,3\n",
			want: hdr + "2017-11-23 00:00:00,B,2\n2017-11-24 10:00:00,C,3\n", removed: 1, expired: 1},
		{name: "by age or id", in: hdr + "2017-11-22 10:00:00,A,1\n2017-11-24 10:00:00,B,2\n2017-11-22 11:00:00,B,3\n2017-11-24 10:00:00,C,4\n",
			ids: []string{"B"}, want: hdr + "2017-11-24 10:00:00,C,4\n", removed: 3, expired: 2},
		{name: "quoted crlf", in: "\"Timestamp\",Client ID,v\r\n\"2017-11-22 10:00:00\",A,1\r\n\"2017-11-24T10:00:00Z\",\"B\",\"x\r\ny\"\r\n",
			want: "\"Timestamp\",Client ID,v\r\n\"2017-11-24T10:00:00Z\",\"B\",\"x\r\ny\"\r\n", removed: 1, expired: 1},
		{name: "zones", in: hdr + "2017-11-23T01:00:00+02:00,A,1\n2017-11-22T23:00:00-02:00,B,2\n",
			want: hdr + "2017-11-22T23:00:00-02:00,B,2\n", removed: 1, expired: 1},
		{name: "dates", in: hdr + "2017-11-22,A,1\n2017-11-23,B,2\n", want: hdr + "2017-11-23,B,2\n", removed: 1, expired: 1},
		{name: "fraction just before", in: hdr + "2017-11-22 23:59:59.999999999,A,1\n", want: hdr, removed: 1, expired: 1},
		{name: "no id column needed by age alone", in: "when;v\n2017-11-22;1\n2017-11-24;2\n", column: " WHEN ",
			want: "when;v\n2017-11-24;2\n", removed: 1, expired: 1},
		{name: "all expired keeps header", in: hdr + "2017-01-01,A,1\n2017-01-02,B,2", want: hdr, removed: 2, expired: 2},

		{name: "bad time", in: hdr + "2017-11-24 10:00:00,A,1\n25.11.2017,B,2\n", wantErr: filter.ErrTime, line: 3, col: 1},
		{name: "bad time in a listed row", in: hdr + "2017-11-24 10:00:00,A,1\nsoon,B,2\n", ids: []string{"B"},
			wantErr: filter.ErrTime, line: 3, col: 1},
		{name: "empty time", in: "Client ID,v,Timestamp\nA,1,2017-11-24\nB,\"x\ny\",\n", wantErr: filter.ErrTime, line: 4, col: 4},
		{name: "quoted bad time", in: "v,Timestamp\r\n1,\"2017-11-24\"\r\n2,\"2017-11-24 \"\r\n", wantErr: filter.ErrTime, line: 3, col: 3},
		{name: "escaped quote", in: "v,Timestamp\n1,\"2017-11-24\"\"\"\n", wantErr: filter.ErrTime, line: 2, col: 3},
		{name: "no time column", in: "Time,Client ID\n2017-11-24,A\n", wantErr: filter.ErrNoTimeColumn, line: 1},
		{name: "time column twice", in: "Timestamp,Client ID,timestamp\n2017-11-24,A,2017-11-24\n", wantErr: filter.ErrNoTimeColumn, line: 1},
		{name: "no id column with ids", in: "Timestamp,User\n2017-11-24,A\n", ids: []string{"A"}, wantErr: filter.ErrNoIDColumn, line: 1},
		{name: "ragged before time", in: hdr + "2017-11-24\n", wantErr: filter.ErrFieldCount, line: 2},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				f := &filter.Filter{Before: cut, TimeColumn: tt.column}
				var set *ids.Set
				if tt.ids != nil {
					set = ids.New(tt.ids...)
					f.IDs = set
				}
				var out bytes.Buffer
				st, err := f.Filter(&out, rd.wrap(strings.NewReader(tt.in)))
				column := strings.TrimSpace(tt.column)
				if column == "" {
					column = "timestamp"
				}
				want, wst, oerr := oracleWith([]byte(tt.in), rune(detectDelim(tt.in)), "client id", set, &cutoff{column: column, before: cut})
				if tt.wantErr != nil {
					var pe *filter.ParseError
					if !errors.Is(err, tt.wantErr) || !errors.As(err, &pe) || pe.Line != tt.line || tt.col != 0 && pe.Column != tt.col {
						t.Fatalf("err = %v, want %v at line %d, column %d", err, tt.wantErr, tt.line, tt.col)
					}
					var ope *filter.ParseError
					if errors.Is(tt.wantErr, filter.ErrTime) && (!errors.As(oerr, &ope) || ope.Line != pe.Line || ope.Column != pe.Column) {
						t.Errorf("oracle: %v", oerr)
					}
					if strings.Contains(err.Error(), "25.11") || strings.Contains(err.Error(), "soon") {
						t.Errorf("error %q quotes the value", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if oerr != nil || out.String() != string(want) || st != wst {
					t.Errorf("differs from oracle (%v):\n%q %+v\n%q %+v", oerr, out.String(), st, want, wst)
				}
				if out.String() != tt.want || st.Removed != tt.removed || st.Expired != tt.expired {
					t.Errorf("output:\n%q %+v\nwant:\n%q removed %d expired %d", out.String(), st, tt.want, tt.removed, tt.expired)
				}
				_, found, err := f.Match(rd.wrap(strings.NewReader(tt.in)))
				if err != nil || found != (tt.removed > 0) {
					t.Errorf("Match = %v, %v; want %v", found, err, tt.removed > 0)
				}
			})
		}
	}
}

func detectDelim(s string) byte {
	if strings.Contains(s[:strings.IndexByte(s, '\n')], ";") {
		return ';'
	}
	return ','
}

func TestFilterCutoffMessage(t *testing.T) {
	f := &filter.Filter{Before: time.Date(2017, 11, 23, 0, 0, 0, 0, time.UTC)}
	_, err := f.Filter(io.Discard, strings.NewReader("Client ID,Timestamp\nSECRETID,SECRETID\n"))
	const want = `line 2, column 10: not a valid time (column "Timestamp": not a time; want 2006-01-02 15:04:05[.fraction], RFC 3339 or 2006-01-02)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	_, err = f.Filter(io.Discard, strings.NewReader("Client ID,Time\nA,2017-11-22\n"))
	if err == nil || !strings.Contains(err.Error(), `no time column (looked for "Timestamp")`) {
		t.Errorf("err = %v, want no time column naming Timestamp", err)
	}
}

// TestFilterCutoffOracle checks generated exports, with IDs and a cutoff,
// against the oracle, with records crossing reads.
func TestFilterCutoffOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, crlf := range []bool{false, true} {
		in, clients := genCSV(rng, 20000, crlf)
		set := ids.New(clients[:10]...)
		cut := time.Date(2017, 11, 22, 12, 0, 0, 0, time.UTC)
		want, wst, err := oracleWith(in, ',', "client id", set, &cutoff{column: "timestamp", before: cut})
		if err != nil {
			t.Fatal(err)
		}
		if wst.Expired == 0 || wst.Expired == wst.Removed || wst.Removed == wst.Rows {
			t.Fatalf("degenerate test data: %+v", wst)
		}
		for _, rd := range readers[:3] {
			t.Run(fmt.Sprintf("%v/%s", crlf, rd.name), func(t *testing.T) {
				f := &filter.Filter{IDs: set, Before: cut}
				var out bytes.Buffer
				st, err := f.Filter(&out, rd.wrap(bytes.NewReader(in)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), want) || st != wst {
					t.Fatalf("differs from oracle: %+v, want %+v", st, wst)
				}
			})
		}
	}
}

func TestFilterCutoffAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	in, clients := genCSV(rng, 2000, false)
	f := &filter.Filter{IDs: ids.New(clients[:10]...), Before: time.Date(2017, 11, 22, 12, 0, 0, 0, time.UTC)}
	base := testing.AllocsPerRun(5, func() { f.Filter(io.Discard, bytes.NewReader(in[:200])) })
	full := testing.AllocsPerRun(5, func() { f.Filter(io.Discard, bytes.NewReader(in)) })
	if full > base {
		t.Errorf("filtering 2000 rows allocates %v times, 2 rows %v: allocations per row", full, base)
	}
}

// TestSmallStreamBytes: a small stream does not cost a fresh read buffer
// (256 KiB, cleared) each time: scanners reuse them.
func TestSmallStreamBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	in, clients := genCSV(rng, 20, false)
	f := &filter.Filter{IDs: ids.New(clients[:2]...)}
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := f.Filter(io.Discard, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Match(bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// A fresh buffer is 256 KiB a pass. Under the race detector the pool
	// drops a quarter of what it is given, on purpose.
	if per := (after.TotalAlloc - before.TotalAlloc) / (2 * runs); per > 96<<10 {
		t.Errorf("%d bytes allocated per pass over %d bytes of CSV, want at most 96 KiB", per, len(in))
	}
}
