package archive_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
)

// TestScanFunc checks that ScanFunc hands over each stream with its name
// and whole content, in order, whatever the member's name (directories
// aside), and stops when told to.
func TestScanFunc(t *testing.T) {
	z := mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate}, member{name: "readme.txt", body: "hi"},
		member{name: "dir/b.CSV", body: clean, method: zip.Store}, member{name: "c.csv", body: csvIn})
	type stream struct{ name, body string }
	for _, tt := range []struct {
		name   string
		in     []byte
		stopAt int // stop after this stream (1-based); 0 never
		want   []stream
		format archive.Format
		report []string // member names in the report
	}{
		{name: "csv", in: []byte(csvIn), want: []stream{{"", csvIn}}, format: archive.CSV, report: []string{""}},
		{name: "gzip", in: gz(t, "x.csv", csvIn, clean), want: []stream{{"x.csv", csvIn + clean}}, format: archive.Gzip, report: []string{"x.csv"}},
		{name: "zip", in: z, want: []stream{{"a.csv", csvIn}, {"readme.txt", "hi"}, {"dir/b.CSV", clean}, {"c.csv", csvIn}}, format: archive.Zip,
			report: []string{"a.csv", "readme.txt", "dir/b.CSV", "c.csv"}},
		{name: "zip stopped", in: z, stopAt: 3, want: []stream{{"a.csv", csvIn}, {"readme.txt", "hi"}, {"dir/b.CSV", clean}}, format: archive.Zip,
			report: []string{"a.csv", "readme.txt", "dir/b.CSV"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []stream
			rep, err := archive.ScanFunc(bytes.NewReader(tt.in), int64(len(tt.in)), archive.Options{}, func(name string, r io.Reader) (filter.Stats, bool, error) {
				b, err := io.ReadAll(r)
				got = append(got, stream{name, string(b)})
				return filter.Stats{Rows: int64(len(got))}, len(got) == tt.stopAt, err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("streams %q, want %q", got, tt.want)
			}
			var names []string
			for _, m := range rep.Members {
				names = append(names, m.Name)
			}
			if rep.Format != tt.format || !slices.Equal(names, tt.report) {
				t.Errorf("report %v %q, want %v %q", rep.Format, names, tt.format, tt.report)
			}
		})
	}
}

// TestScanFuncErrors checks that fn's error, and a corrupt stream's, end
// the pass and come back.
func TestScanFuncErrors(t *testing.T) {
	stop := errors.New("spool full")
	z := mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate}, member{name: "b.csv", body: csvIn, method: zip.Deflate})
	calls := 0
	_, err := archive.ScanFunc(bytes.NewReader(z), int64(len(z)), archive.Options{}, func(string, io.Reader) (filter.Stats, bool, error) {
		calls++
		return filter.Stats{}, false, stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err %v after %d calls, want %v after 1", err, calls, stop)
	}
	g := gz(t, "", csvIn)
	g = g[:len(g)-6]
	_, err = archive.ScanFunc(bytes.NewReader(g), int64(len(g)), archive.Options{}, func(_ string, r io.Reader) (filter.Stats, bool, error) {
		_, err := io.ReadAll(r)
		return filter.Stats{}, false, err
	})
	if !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("truncated gzip: %v, want ErrCorrupt", err)
	}
}
