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
// multi-line fields).
func BenchmarkFilter(b *testing.B) {
	in, clients := genCSV(rand.New(rand.NewPCG(7, 7)), 100_000, false)
	for _, bc := range []struct {
		name string
		ids  []string
		dst  io.Writer
	}{
		{"nomatch/count", []string{"NOT-PRESENT"}, nil},
		{"match5pct/count", clients[:10], nil},
		{"match5pct/write", clients[:10], io.Discard},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := &filter.Filter{IDs: ids.New(bc.ids...)}
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
