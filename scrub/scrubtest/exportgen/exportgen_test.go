package exportgen

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every drawn row has the header's fields and survives a round trip through
// encoding/csv, with and without a quoted Client ID; a mention row names
// ref.
func TestRecords(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := time.Date(2017, time.November, 20, 13, 4, 5, 0, time.UTC)
	for _, k := range []Kind{CustomEvents, ExceptionReports} {
		t.Run(k.String(), func(t *testing.T) {
			header := k.Header()
			for i := range 2000 {
				c := NewClient(r, fmt.Sprintf("%016X", r.Uint64()))
				ref := fmt.Sprintf("%016X", r.Uint64())
				rec := k.Record(r, ts, &c, ref)
				if i%2 == 1 {
					rec = k.MentionRecord(r, ts, &c, ref)
					if !slices.ContainsFunc(rec[2:], func(f string) bool { return strings.Contains(f, ref) }) {
						t.Fatalf("mention row %q does not name %s", rec, ref)
					}
				}
				if len(rec) != len(header) || rec[0] != "2017-11-20 13:04:05" || rec[1] != c.ID {
					t.Fatalf("row %q for header %q", rec, header)
				}
				line := AppendRecord(AppendRecord(nil, header, false, "\r\n"), rec, i%3 == 0, "\n")
				got, err := csv.NewReader(strings.NewReader(string(line))).ReadAll()
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				if len(got) != 2 || !slices.Equal(got[0], header) || !slices.Equal(got[1], rec) {
					t.Fatalf("%q reads back as %q", line, got)
				}
				if quoted := strings.Contains(string(line), `,"`+c.ID+`",`); quoted != (i%3 == 0) {
					t.Fatalf("%q: Client ID quoted %v, want %v", line, quoted, i%3 == 0)
				}
			}
		})
	}
}

// A Community edition is Free, a 32-bit system has at most 4 GB, a Mac
// has a Mac's CPU and screen.
func TestNewClientIsConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		c := NewClient(r, "A1")
		if (c.Edition == "Community") != (c.License == "Free") {
			t.Fatalf("%+v: edition and license disagree", c)
		}
		if c.Arch == "32-bit" && c.RAM > 4096 {
			t.Fatalf("%+v: too much RAM for 32 bits", c)
		}
		if c.OS == "macOS 10.13" && c.Screen != "2560x1600" {
			t.Fatalf("%+v: not a Mac's screen", c)
		}
	}
}
