package filter_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// BenchmarkFilter measures the filter alone, in MB/s of CSV, on data shaped
// like a custom-event export (200 clients, quoted custom values, some
// multi-line fields). The utf8 case has a non-ASCII character in every row,
// the worst case for the UTF-8 check; lax skips that check.
func BenchmarkFilter(b *testing.B) {
	in, clients := genCSV(rand.New(rand.NewPCG(7, 7)), 100_000, false)
	intl := bytes.ReplaceAll(in, []byte("Professional"), []byte("Profissão ✓"))
	export := exportCSV(b, 10<<20)
	for _, bc := range []struct {
		name string
		ids  []string
		dst  io.Writer
		in   []byte
		lax  bool
	}{
		{"nomatch/count", []string{"NOT-PRESENT"}, nil, in, false},
		{"match5pct/count", clients[:10], nil, in, false},
		{"match5pct/write", clients[:10], io.Discard, in, false},
		{"nomatch/count/utf8", []string{"NOT-PRESENT"}, nil, intl, false},
		{"nomatch/count/lax", []string{"NOT-PRESENT"}, nil, in, true},
		{"export/nomatch/count", []string{"NOT-PRESENT"}, nil, export, false},
		{"export/match/write", victims(b), io.Discard, export, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := &filter.Filter{IDs: ids.New(bc.ids...), AllowInvalidUTF8: bc.lax}
			in := bc.in
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Filter(bc.dst, bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// exportCSV is the bundled export's plain CSV day (16 columns, the client
// ID second, quoted custom values last) with its rows repeated to about n
// bytes: the shape the skip past the ID column is for.
func exportCSV(b *testing.B, n int) []byte {
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, "2376158762_cust_2017-11-25.csv"))
	if err != nil {
		b.Fatal(err)
	}
	header, rows, _ := bytes.Cut(data, []byte("\n"))
	out := append(append([]byte{}, header...), '\n')
	for len(out) < n {
		out = append(out, rows...)
	}
	return out
}

func victims(b *testing.B) []string {
	f, err := os.Open(scrubtest.IDsFile)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []string
	if err := ids.ReadFunc(f, "ids.txt", func(id string, _ int) { out = append(out, id) }); err != nil {
		b.Fatal(err)
	}
	return out
}
