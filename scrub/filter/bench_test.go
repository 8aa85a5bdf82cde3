package filter_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// BenchmarkFilter measures the filter alone, in MB/s of CSV, on data shaped
// like a custom-event export (200 clients, quoted custom values, some
// multi-line fields). The utf8 case has a non-ASCII character in every row,
// the worst case for the UTF-8 check; lax skips that check.
func BenchmarkFilter(b *testing.B) {
	in, clients := genCSV(rand.New(rand.NewPCG(7, 7)), 100_000, false)
	intl := bytes.ReplaceAll(in, []byte("Professional"), []byte("Profissão ✓"))
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
