package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest/exportgen"
)

const productID = "2376158762"

// genOptions are the knobs of the data set. Equal options give equal bytes.
type genOptions struct {
	Size        int64   `json:"size"`         // uncompressed CSV bytes, about
	IDs         int     `json:"ids"`          // listed client IDs
	ListedShare float64 `json:"listed_share"` // share of rows that belong to a listed ID
	Clients     int     `json:"clients"`      // unlisted clients
	DayBytes    int64   `json:"day_bytes"`    // uncompressed CSV per day (custom events + exceptions)
	Level       int     `json:"level"`        // compression level of the archives
	Seed        uint64  `json:"seed"`
}

// manifest describes a generated data set; the runner reads it.
type manifest struct {
	Options genOptions `json:"options"`
	Files   []fileInfo `json:"files"`
}

// fileInfo is one archive. The counts are the generator's; the runner's
// oracle computes its own with encoding/csv and does not trust these.
type fileInfo struct {
	Name          string `json:"name"`   // relative to archives/
	Format        string `json:"format"` // "gzip" or "zip"
	Kind          string `json:"kind"`   // "cust" or "exc"
	CRLF          bool   `json:"crlf"`   // CRLF line ends and a UTF-8 byte order mark
	Bytes         int64  `json:"bytes"`  // archive size
	CSVBytes      int64  `json:"csv_bytes"`
	Rows          int    `json:"rows"` // data rows, header not counted
	ListedRows    int    `json:"listed_rows"`
	QuotedListed  int    `json:"quoted_listed_rows"` // listed rows whose Client ID is quoted
	MentionRows   int    `json:"mention_rows"`       // unlisted rows that name a listed ID in another column
	LookalikeRows int    `json:"lookalike_rows"`     // unlisted rows whose ID is a prefix or extension of a listed one
	Multiline     int    `json:"multiline_rows"`     // rows with a quoted line break
}

func genMain(args []string) error {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fl.String("out", "build/bench/data", "output `DIR` (archives/, ids.txt, ids.csv, manifest.json)")
	size := fl.String("size", "1GB", "uncompressed CSV `SIZE` (e.g. 50MB, 1GB, 2GiB)")
	o := genOptions{}
	fl.IntVar(&o.IDs, "ids", 10000, "listed client IDs")
	fl.Float64Var(&o.ListedShare, "listed-share", 0.05, "share of rows that belong to listed IDs")
	fl.IntVar(&o.Clients, "clients", 100000, "unlisted clients")
	fl.Int64Var(&o.DayBytes, "day-bytes", 8<<20, "uncompressed CSV per day")
	fl.IntVar(&o.Level, "level", 6, "compression level of the archives")
	fl.Uint64Var(&o.Seed, "seed", 20171127, "random seed")
	force := fl.Bool("force", false, "regenerate even when DIR holds a data set made with the same options")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var err error
	if o.Size, err = parseSize(*size); err != nil {
		return err
	}
	if old, err := readManifest(*out); err == nil && old.Options == o && !*force {
		fmt.Fprintf(os.Stderr, "gen: %s already holds this data set (-force regenerates it)\n", *out)
		return nil
	}
	start := time.Now()
	m, err := generate(*out, o)
	if err != nil {
		return err
	}
	var t fileInfo
	for _, f := range m.Files {
		t.Bytes += f.Bytes
		t.CSVBytes += f.CSVBytes
		t.Rows += f.Rows
		t.ListedRows += f.ListedRows
		t.QuotedListed += f.QuotedListed
		t.MentionRows += f.MentionRows
		t.LookalikeRows += f.LookalikeRows
		t.Multiline += f.Multiline
	}
	fmt.Fprintf(os.Stderr, "gen: %d archives in %s/archives: %s CSV in %s compressed, %d rows, %d listed (%.1f%%; %d with a quoted ID), "+
		"%d unlisted rows naming a listed ID, %d rows of look-alike IDs, %d multi-line rows; %.0fs\n",
		len(m.Files), *out, mb(t.CSVBytes), mb(t.Bytes), t.Rows, t.ListedRows, 100*float64(t.ListedRows)/float64(t.Rows),
		t.QuotedListed, t.MentionRows, t.LookalikeRows, t.Multiline, time.Since(start).Seconds())
	return nil
}

func readManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	m := &manifest{}
	return m, json.Unmarshal(b, m)
}

// parseSize reads 50MB, 1GB (powers of 1000) or 2GiB (powers of 1024): a
// size above zero, as cli.ParseSize reads it.
func parseSize(s string) (int64, error) {
	n, err := cli.ParseSize(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 50MB, 1GB, 2GiB)", s)
	}
	return n, nil
}

// population holds every client that can appear in a Client ID column.
type population struct {
	listed  []exportgen.Client
	regular []exportgen.Client // unlisted, look-alikes among them
	lookRef map[string]bool
}

// newPopulation draws the listed IDs and the unlisted clients. Some unlisted
// IDs look like listed ones: a listed ID plus one more digit (a substring
// match on the listed ID drops its rows) or a listed ID without its last
// digit.
func newPopulation(o genOptions) *population {
	r := rand.New(rand.NewPCG(o.Seed, 1))
	seen := map[string]bool{}
	newID := func() string {
		for {
			id := fmt.Sprintf("%016X", r.Uint64())
			if !seen[id] {
				seen[id] = true
				return id
			}
		}
	}
	p := &population{lookRef: map[string]bool{}}
	for range o.IDs {
		p.listed = append(p.listed, exportgen.NewClient(r, newID()))
	}
	looks := min(o.IDs/20, o.Clients/20)
	for i := range o.Clients {
		var id string
		switch {
		case i < looks/2:
			id = p.listed[r.IntN(len(p.listed))].ID + fmt.Sprintf("%X", r.IntN(16))
		case i < looks:
			id = p.listed[r.IntN(len(p.listed))].ID[:15]
		default:
			id = newID()
		}
		if i < looks {
			if seen[id] {
				continue
			}
			seen[id] = true
			p.lookRef[id] = true
		}
		p.regular = append(p.regular, exportgen.NewClient(r, id))
	}
	r.Shuffle(len(p.regular), func(i, j int) { p.regular[i], p.regular[j] = p.regular[j], p.regular[i] })
	return p
}

// fileSpec is one archive to make.
type fileSpec struct {
	day    time.Time
	kind   exportgen.Kind
	format string // gzip or zip
	crlf   bool
	target int64 // uncompressed bytes
}

func (s fileSpec) base() string {
	return fmt.Sprintf("%s_%s_%s", productID, s.kind, s.day.Format(time.DateOnly))
}

func (s fileSpec) name() string {
	if s.format == "zip" {
		return s.base() + ".zip"
	}
	return s.base() + ".csv.gz"
}

// specs plans the archives: one custom-event file (70% of a day's bytes)
// and one exception file (30%) per day, gzip and zip alternating, every
// fourth day with CRLF line ends and a byte order mark.
func specs(o genOptions) []fileSpec {
	days := max(2, int((o.Size+o.DayBytes/2)/o.DayBytes))
	perDay := o.Size / int64(days)
	var s []fileSpec
	first := time.Date(2017, time.January, 1, 0, 0, 0, 0, time.UTC)
	for d := range days {
		day := first.AddDate(0, 0, d)
		crlf := d%4 == 3
		for k, kind := range []exportgen.Kind{exportgen.CustomEvents, exportgen.ExceptionReports} {
			format := "gzip"
			if (d+k)%2 == 1 {
				format = "zip"
			}
			target := perDay * 7 / 10
			if kind == exportgen.ExceptionReports {
				target = perDay - target
			}
			s = append(s, fileSpec{day: day, kind: kind, format: format, crlf: crlf, target: target})
		}
	}
	return s
}

func generate(out string, o genOptions) (*manifest, error) {
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(out, "archives"), 0o755); err != nil {
		return nil, err
	}
	p := newPopulation(o)
	var ids, idsCSV strings.Builder
	idsCSV.WriteString("Client ID\n")
	for _, c := range p.listed {
		ids.WriteString(c.ID + "\n")
		idsCSV.WriteString(c.ID + "\n")
	}
	if err := os.WriteFile(filepath.Join(out, "ids.txt"), []byte(ids.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, "ids.csv"), []byte(idsCSV.String()), 0o644); err != nil {
		return nil, err
	}

	sp := specs(o)
	m := &manifest{Options: o, Files: make([]fileInfo, len(sp))}
	errs := make([]error, len(sp))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				m.Files[i], errs[i] = makeArchive(out, o, p, sp[i])
			}
		})
	}
	for i := range sp {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(out, "manifest.json"), append(b, '\n'), 0o644)
}

// makeArchive renders one CSV table and packs it. Each file has its own
// generator seeded from its name, so the bytes do not depend on the order
// in which the workers make the files.
func makeArchive(out string, o genOptions, p *population, s fileSpec) (fileInfo, error) {
	h := fnv.New64a()
	h.Write([]byte(s.name()))
	r := rand.New(rand.NewPCG(o.Seed, h.Sum64()))
	fi := fileInfo{Name: s.name(), Format: s.format, Kind: s.kind.String(), CRLF: s.crlf}
	eol := "\n"
	rowBytes := 192
	if s.kind == exportgen.ExceptionReports {
		rowBytes = 640
	}
	buf := make([]byte, 0, s.target+4096)
	if s.crlf {
		eol = "\r\n"
		buf = append(buf, "\uFEFF"...)
	}
	buf = exportgen.AppendRecord(buf, s.kind.Header(), false, eol)

	// Timestamps rise through the day at a pace that spreads the expected
	// number of rows over 24 hours.
	gap := max(1, 2*86400*rowBytes/int(max(s.target, 1)))
	sec := 0
	for int64(len(buf)) < s.target {
		var c *exportgen.Client
		isListed := r.Float64() < o.ListedShare
		if isListed {
			c = &p.listed[r.IntN(len(p.listed))]
		} else {
			u := r.Float64()
			c = &p.regular[int(u*u*float64(len(p.regular)))]
		}
		ref := p.regular[r.IntN(len(p.regular))].ID
		refListed := r.IntN(10) < 3
		if refListed {
			ref = p.listed[r.IntN(len(p.listed))].ID
		}
		sec = min(sec+r.IntN(gap+1), 86399)
		ts := s.day.Add(time.Duration(sec) * time.Second)
		rec := s.kind.Record(r, ts, c, ref)
		quoted := r.IntN(100) < 3
		buf = exportgen.AppendRecord(buf, rec, quoted, eol)

		fi.Rows++
		switch {
		case isListed:
			fi.ListedRows++
			if quoted {
				fi.QuotedListed++
			}
		case p.lookRef[c.ID]:
			fi.LookalikeRows++
		}
		if !isListed && refListed && strings.Contains(strings.Join(rec[2:], ","), ref) {
			fi.MentionRows++
		}
		if strings.Contains(rec[len(rec)-1], "\n") || strings.Contains(rec[len(rec)-2], "\n") {
			fi.Multiline++
		}
	}
	fi.CSVBytes = int64(len(buf))

	path := filepath.Join(out, "archives", s.name())
	modified := s.day.Add(24*time.Hour - time.Second)
	n, err := writeArchive(path, s.format, s.base()+".csv", modified, o.Level, buf)
	fi.Bytes = n
	return fi, err
}

// writeArchive writes data as a gzip file or as a zip with one deflated
// member, and returns the file's size.
func writeArchive(path, format, member string, modified time.Time, level int, data []byte) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var w io.WriteCloser
	var closeArchive func() error
	switch format {
	case "gzip":
		zw, err := gzip.NewWriterLevel(f, level)
		if err != nil {
			return 0, err
		}
		zw.Name, zw.ModTime = member, modified
		w, closeArchive = zw, func() error { return nil }
	case "zip":
		zw := zip.NewWriter(f)
		zw.RegisterCompressor(zip.Deflate, deflateLevel(level))
		mw, err := zw.CreateHeader(&zip.FileHeader{Name: member, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return 0, err
		}
		w, closeArchive = nopCloser{mw}, zw.Close
	default:
		return 0, fmt.Errorf("unknown format %q", format)
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	if err := closeArchive(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// copyFile copies the regular file src to dst (created or truncated).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func mb(n int64) string {
	if n >= 1e9 {
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// deflateLevel is a zip compressor at the given level.
func deflateLevel(level int) zip.Compressor {
	return func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, level) }
}
