package filter_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// TestByColumnAndComposites checks a filter configured per column (a data
// map's dataset): each column matches its own set only, and a composite
// matches only when all its columns hold one listed tuple.
func TestByColumnAndComposites(t *testing.T) {
	const hdr = "user,host,ip,note\n"
	tuple := func(parts ...string) string { return strings.Join(parts, string(filter.CompositeSep)) }
	f := &filter.Filter{
		ByColumn: []filter.Column{{Name: "User", IDs: ids.New("u1")}, {Name: "ip", IDs: ids.New("10.0.0.1")}},
		Composites: []filter.Composite{
			{Columns: []string{"host", "user"}, IDs: ids.New(tuple("h2", "u2"))},
		},
	}
	tests := []struct {
		name, in, want string
		removed        int64
		err            string
	}{
		{"by user", hdr + "u1,h1,10.0.0.9,x\nu3,h1,10.0.0.9,y\n", hdr + "u3,h1,10.0.0.9,y\n", 1, ""},
		{"the user set is not the ip column's", hdr + "10.0.0.1,h1,u1,x\n", hdr + "10.0.0.1,h1,u1,x\n", 0, ""},
		{"by ip", hdr + "u3,h1,10.0.0.1,x\n", hdr, 1, ""},
		{"composite needs both", hdr + "u2,h1,1,x\nu3,h2,1,x\nu2,h2,1,x\n\"u2\",\"h2\",1,x\n", hdr + "u2,h1,1,x\nu3,h2,1,x\n", 2, ""},
		{"composite with a quote inside", hdr + "\"u\"\"2\",h2,1,x\n", hdr + "\"u\"\"2\",h2,1,x\n", 0, ""},
		{"a missing column fails", "user,host,note\nu1,h1,x\n", "", 0, `missing "ip"`},
		{"a header with none of them is not a table", "a,b\n1,2\n", "", 0, "not-table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range readers {
				var out bytes.Buffer
				st, err := f.Filter(&out, r.wrap(strings.NewReader(tt.in)))
				switch {
				case tt.err == "not-table":
					var pe *filter.ParseError
					if !errors.As(err, &pe) || !pe.NotTable() {
						t.Errorf("%s: %v, want a not-table error", r.name, err)
					}
				case tt.err != "":
					var pe *filter.ParseError
					if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &pe) || pe.NotTable() {
						t.Errorf("%s: %v, want an error with %q", r.name, err, tt.err)
					}
				case err != nil:
					t.Errorf("%s: %v", r.name, err)
				case out.String() != tt.want || st.Removed != tt.removed:
					t.Errorf("%s: %q (%d removed), want %q (%d)", r.name, out.String(), st.Removed, tt.want, tt.removed)
				}
			}
		})
	}
}
