package scrub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestMaxShare: a batch whose listed IDs hold more than MaxShare of the
// rows read is stopped before it replaces another archive (a placeholder
// listed by mistake, a wrong ID column); under the share, or once the
// limit is raised, it erases. Rows that go only for their age do not
// count.
func TestMaxShare(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Timestamp,Client ID\n")
	for i := range 20000 {
		id := fmt.Sprintf("C%05d", i)
		if i%10 < 6 {
			id = "unknown" // 60% of the rows
		}
		fmt.Fprintf(&b, "2020-01-01,%s\n", id)
	}
	for _, tc := range []struct {
		name     string
		share    float64
		before   time.Time
		listed   []string
		stopped  bool
		erasedTo int64
	}{
		{"over the share", 0.5, time.Time{}, []string{"unknown"}, true, 0},
		{"share raised", 0.7, time.Time{}, []string{"unknown"}, false, 12000},
		{"no limit", 0, time.Time{}, []string{"unknown"}, false, 12000},
		{"by age only", 0.5, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), nil, false, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.csv")
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			f := &filter.Filter{Before: tc.before}
			if tc.listed != nil {
				f.IDs = ids.New(tc.listed...)
			}
			sum, err := scrub.Run(context.Background(), scrub.Options{Filter: f, MaxShare: tc.share},
				[]scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
			after, rerr := os.ReadFile(p)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tc.stopped {
				if !errors.Is(err, scrub.ErrMassErasure) || scrubtest.Results(t, sum)[0].Status != scrub.Failed || !bytes.Equal(after, b.Bytes()) {
					t.Fatalf("err %v, %+v; want the batch stopped, the archive failed and left as it was", err, scrubtest.Results(t, sum)[0])
				}
				return
			}
			if err != nil || sum.Totals.RowsRemoved != tc.erasedTo || sum.Totals.Erased != 1 {
				t.Fatalf("err %v, totals %+v; want %d rows erased", err, sum.Totals, tc.erasedTo)
			}
		})
	}
}
