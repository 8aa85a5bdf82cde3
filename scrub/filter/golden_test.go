package filter_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden filters each testdata/golden/*.csv with the IDs of ids.txt and
// compares the output with its .golden file byte for byte. Filtering the
// golden output again must change nothing.
func TestGolden(t *testing.T) {
	f, err := os.Open("testdata/golden/ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	set, err := ids.Read(f, "ids.txt")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	flt := &filter.Filter{IDs: set}
	inputs, _ := filepath.Glob("testdata/golden/*.csv")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := flt.Filter(&out, bytes.NewReader(src)); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".csv") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%q\nwant\n%q", golden, out.Bytes(), want)
			}
			var again bytes.Buffer
			st, err := flt.Filter(&again, bytes.NewReader(want))
			if err != nil || st.Removed != 0 || !bytes.Equal(again.Bytes(), want) {
				t.Errorf("filtering the golden output changed it: %+v %v", st, err)
			}
		})
	}
}
