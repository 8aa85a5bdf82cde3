package filter_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// TestNotTable checks which errors say that the input is not a table with
// an ID column (ParseError.NotTable), so that a stream of other text (a
// manifest, a checksum list, prose) is told from an export that is bad:
// only errors found before any data record, and only when the first line
// does not name a column the filter looks for.
func TestNotTable(t *testing.T) {
	byID := &filter.Filter{IDs: ids.New("A1")}
	lax := &filter.Filter{IDs: ids.New("A1"), AllowInvalidUTF8: true}
	small := &filter.Filter{IDs: ids.New("A1"), MaxRecord: 100}
	short := &filter.Filter{IDs: ids.New("A1"), MaxRecord: 1000}
	cutoff := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	byAge := &filter.Filter{Before: cutoff}
	both := &filter.Filter{IDs: ids.New("A1"), Before: cutoff}
	tests := []struct {
		name     string
		f        *filter.Filter
		in       string
		err      error
		notTable bool
	}{
		{"empty", byID, "", filter.ErrNoHeader, true},
		{"blank lines", byID, "\r\n\n", filter.ErrNoHeader, true},
		{"byte order mark only", byID, "\xEF\xBB\xBF", filter.ErrNoHeader, true},
		{"no ID column", byID, "a,b\n1,2\n", filter.ErrNoIDColumn, true},
		{"prose", byID, "This archive holds the export of 2017-11-22.\nSee manifest.json.\n", filter.ErrNoIDColumn, true},
		{"checksum list", byID, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.csv.gz\n", filter.ErrNoIDColumn, true},
		{"JSON on one line", byID, `{"files": ["a.csv"], "id_column": "client_id"}` + "\n", filter.ErrBareQuote, true},
		{"JSON", byID, "{\n  \"files\": [\"a.csv\"]\n}\n", filter.ErrNoIDColumn, true},
		{"binary", byID, "\x00\x01\xff\xfe\n", filter.ErrInvalidUTF8, true},
		{"binary without a line end", short, "\x00\x01\xff" + strings.Repeat("x", 2000), filter.ErrInvalidUTF8, true},
		{"binary, lax", lax, "\x89PNG\r\n\x1a\n", filter.ErrNoIDColumn, true},
		{"binary with a bare CR, lax", lax, "\x89PNG\r\x1a\n", filter.ErrBareCR, true},
		{"Latin-1 header with an ID column", byID, "Client ID,Gr\xF6\xDFe\nA1,1\n", filter.ErrInvalidUTF8, false},
		{"bad quote in a header with an ID column", byID, "\"Client ID\",x\"y\nA1,1\n", filter.ErrBareQuote, false},
		{"bad quote in a header with the time column", byAge, "Timestamp,\"x\"y\n2019-01-01,1\n", filter.ErrQuote, false},
		{"header over MaxRecord", small, strings.Repeat("x", 200) + "\n", filter.ErrRecordTooBig, false},
		{"header with a default ID column, filter told another", &filter.Filter{IDs: ids.New("A1"), Columns: []string{"Customer"}}, "Timestamp,Client ID\nt,A1\n", filter.ErrNoIDColumn, false},
		{"header without the configured column", &filter.Filter{IDs: ids.New("A1"), Columns: []string{"Customer"}}, "Timestamp,User\nt,A1\n", filter.ErrNoIDColumn, true},
		{"bad quote in a header with a default ID column", &filter.Filter{IDs: ids.New("A1"), Columns: []string{"Customer"}}, "client_id,\"x\"y\n", filter.ErrQuote, false},
		{"ragged record", byID, "Client ID,v\nA1\n", filter.ErrFieldCount, false},
		{"broken quote on line 5", byID, "Client ID,v\nA1,1\nB2,2\nC3,3\nD4,\"x\nE5,5\n", filter.ErrQuote, false},
		{"invalid UTF-8 in a record", byID, "Client ID,v\nZ9,\xff\n", filter.ErrInvalidUTF8, false},
		// By age alone, a header that names neither the time column nor an
		// ID column is not an export's; one with an ID column is, and its
		// missing time column fails.
		{"by age, no time column", byAge, "a,b\n1,2\n", filter.ErrNoTimeColumn, true},
		{"by age, JSON", byAge, "{\n}\n", filter.ErrNoTimeColumn, true},
		{"by age, prose", byAge, "This archive holds, the export.\n", filter.ErrNoTimeColumn, true},
		{"by age, ID column but no time column", byAge, "Client ID,b\nA1,2\n", filter.ErrNoTimeColumn, false},
		{"by age, time column twice", byAge, "Timestamp,timestamp\n1,2\n", filter.ErrNoTimeColumn, false},
		{"IDs and age, no time column", both, "Client ID,b\nA1,2\n", filter.ErrNoTimeColumn, false},
		{"IDs and age, no ID column, the time column", both, "Timestamp,b\n2019-01-01,2\n", filter.ErrNoIDColumn, false},
		{"IDs and age, neither column", both, "a,b\n2019-01-01,2\n", filter.ErrNoIDColumn, true},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				_, err := tt.f.Filter(nil, rd.wrap(strings.NewReader(tt.in)))
				if tt.notTable {
					// Found in the header: the same for either pass.
					_, _, merr := tt.f.Match(rd.wrap(strings.NewReader(tt.in)))
					if (merr == nil) != (err == nil) || merr != nil && merr.Error() != err.Error() {
						t.Errorf("Match: %v, Filter: %v", merr, err)
					}
				}
				var pe *filter.ParseError
				if !errors.Is(err, tt.err) || !errors.As(err, &pe) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if pe.NotTable() != tt.notTable {
					t.Errorf("%v: NotTable() = %v, want %v", err, pe.NotTable(), tt.notTable)
				}
			})
		}
	}
}
