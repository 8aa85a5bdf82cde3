package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"
)

// The oracle: what an erasure of the listed IDs must leave, computed with
// encoding/csv (RFC 4180), independently of scrub and of the generator.
// Every record of the input is kept byte for byte unless its Client ID
// field, once unquoted, equals a listed ID. The header row stays.

const idColumn = "Client ID"

// readCSV returns the CSV bytes of an archive: a gzip file (every member),
// the first .csv member of a zip, or a plain file.
func readCSV(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch {
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return b, nil
	case strings.HasSuffix(path, ".zip"):
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, m := range zr.File {
			if strings.HasSuffix(m.Name, ".csv") {
				rc, err := m.Open()
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, m.Name, err)
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, m.Name, err)
				}
				return b, nil
			}
		}
		return nil, fmt.Errorf("%s: no .csv member", path)
	}
	return io.ReadAll(f)
}

// record is one CSV record of an input: its exact bytes (line end
// included) and its fields.
type record struct {
	raw    []byte
	fields []string
	listed bool
}

// parseCSV splits data into records with encoding/csv, strictly: every
// record must have as many fields as the header. A leading byte order mark
// is kept in the first record's raw bytes but not in its first field.
func parseCSV(data []byte, listed map[string]bool) ([]record, error) {
	body := bytes.TrimPrefix(data, []byte("\uFEFF"))
	bom := len(data) - len(body)
	r := csv.NewReader(bytes.NewReader(body))
	var recs []record
	col := -1
	prev := int64(0)
	for {
		fields, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return recs, err
		}
		off := r.InputOffset()
		raw := body[prev:off]
		if prev == 0 {
			raw = data[:int(off)+bom]
		}
		prev = off
		rec := record{raw: raw, fields: fields}
		if col < 0 {
			for i, f := range fields {
				if f == idColumn {
					col = i
				}
			}
			if col < 0 {
				return recs, fmt.Errorf("no %q column in the header", idColumn)
			}
		} else {
			rec.listed = listed[fields[col]]
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// expectation is what the correct output of one archive hashes to.
type expectation struct {
	rows, listedRows int
	csvBytes         int64
	sum              [sha256.Size]byte // of the expected CSV bytes
}

func expect(path string, listed map[string]bool) (expectation, error) {
	data, err := readCSV(path)
	if err != nil {
		return expectation{}, err
	}
	recs, err := parseCSV(data, listed)
	if err != nil {
		return expectation{}, fmt.Errorf("%s: %w", path, err)
	}
	e := expectation{rows: len(recs) - 1, csvBytes: int64(len(data))}
	h := sha256.New()
	for _, rec := range recs {
		if rec.listed {
			e.listedRows++
		} else {
			h.Write(rec.raw)
		}
	}
	h.Sum(e.sum[:0])
	return e, nil
}

// verdict counts what is wrong in a tool's output, summed over archives.
type verdict struct {
	files, exact int
	missingFiles int
	listedKept   int // listed rows (whole or their first line) still in the output
	lost         int // unlisted rows missing from the output
	reencoded    int // kept rows whose values are right but whose bytes changed
	debris       int // output lines or records that match no input row
	reordered    int // archives whose rows are all right but out of order
	invalidCSV   int // archives whose output encoding/csv cannot read
	firstErr     string
}

func (v *verdict) add(o verdict) {
	v.files += o.files
	v.exact += o.exact
	v.missingFiles += o.missingFiles
	v.listedKept += o.listedKept
	v.lost += o.lost
	v.reencoded += o.reencoded
	v.debris += o.debris
	v.reordered += o.reordered
	v.invalidCSV += o.invalidCSV
	if v.firstErr == "" {
		v.firstErr = o.firstErr
	}
}

func (v verdict) ok() bool { return v.files > 0 && v.exact == v.files }

// String is the "correct?" cell of the table.
func (v verdict) String() string {
	if v.files == 0 {
		return "n/a"
	}
	if v.ok() {
		return fmt.Sprintf("yes: %d/%d archives byte-exact", v.exact, v.files)
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", commas(n), what))
		}
	}
	add(v.missingFiles, "archives missing")
	add(v.listedKept, "listed rows kept")
	add(v.lost, "other rows lost")
	add(v.reencoded, "kept rows re-encoded (same values, other bytes)")
	add(v.debris, "lines of debris")
	add(v.reordered, "archives reordered")
	add(v.invalidCSV, "archives not valid CSV")
	return "**WRONG**: " + strings.Join(parts, ", ")
}

// checker compares outputs with the oracle.
type checker struct {
	listed map[string]bool
	exp    map[string]expectation // by archive name
	inputs map[string]string      // archive name → pristine input path
	seed   maphash.Seed
}

func newChecker(dataDir string, m *manifest, jobs int) (*checker, error) {
	ids, err := os.ReadFile(filepath.Join(dataDir, "ids.txt"))
	if err != nil {
		return nil, err
	}
	c := &checker{listed: map[string]bool{}, exp: map[string]expectation{}, inputs: map[string]string{}, seed: maphash.MakeSeed()}
	for _, id := range strings.Split(string(ids), "\n") {
		if id = strings.TrimSpace(id); id != "" {
			c.listed[id] = true
		}
	}
	for _, f := range m.Files {
		c.inputs[f.Name] = filepath.Join(dataDir, "archives", f.Name)
	}
	var mu sync.Mutex
	err = parallel(jobs, len(m.Files), func(i int) error {
		e, err := expect(c.inputs[m.Files[i].Name], c.listed)
		mu.Lock()
		c.exp[m.Files[i].Name] = e
		mu.Unlock()
		return err
	})
	return c, err
}

// check compares the output of each archive in names, found by out(name).
func (c *checker) check(names []string, out func(name string) string, jobs int) verdict {
	var mu sync.Mutex
	var v verdict
	parallel(jobs, len(names), func(i int) error {
		fv := c.checkFile(names[i], out(names[i]))
		mu.Lock()
		v.add(fv)
		mu.Unlock()
		return nil
	})
	return v
}

func (c *checker) checkFile(name, outPath string) verdict {
	v := verdict{files: 1}
	e := c.exp[name]
	got, err := readCSV(outPath)
	if err != nil {
		v.missingFiles = 1
		v.lost = e.rows - e.listedRows
		v.firstErr = err.Error()
		return v
	}
	if sha256.Sum256(got) == e.sum {
		v.exact = 1
		return v
	}
	// Not byte-exact: find out how it differs. Re-read the input.
	in, err := readCSV(c.inputs[name])
	if err != nil {
		panic(err) // the oracle read it before
	}
	inRecs, err := parseCSV(in, c.listed)
	if err != nil {
		panic(err)
	}
	outRecs, err := parseCSV(got, c.listed)
	if err != nil {
		v.invalidCSV = 1
		v.firstErr = fmt.Sprintf("%s: %v", outPath, err)
		c.lineDiff(&v, inRecs, got)
		return v
	}
	c.recordDiff(&v, inRecs, outRecs)
	return v
}

// recordDiff compares valid CSV output with the expected records as
// multisets: by values, then by bytes.
func (c *checker) recordDiff(v *verdict, inRecs, outRecs []record) {
	want := map[uint64]int{}    // values of expected records
	wantRaw := map[uint64]int{} // bytes of expected records
	var wantSeq, gotSeq []uint64
	for _, r := range inRecs {
		if !r.listed {
			h := c.fieldsHash(r.fields)
			want[h]++
			wantSeq = append(wantSeq, h)
			wantRaw[maphash.Bytes(c.seed, r.raw)]++
		}
	}
	for _, r := range outRecs {
		h := c.fieldsHash(r.fields)
		gotSeq = append(gotSeq, h)
		switch {
		case want[h] > 0:
			want[h]--
			if k := maphash.Bytes(c.seed, r.raw); wantRaw[k] > 0 {
				wantRaw[k]--
			} else {
				v.reencoded++
			}
		case r.listed:
			v.listedKept++
		default:
			v.debris++
		}
	}
	for _, n := range want {
		v.lost += n
	}
	if v.lost == 0 && v.listedKept == 0 && v.debris == 0 && !equalSeq(wantSeq, gotSeq) {
		v.reordered = 1
	}
}

// lineDiff judges output that is not valid CSV (a line filter that cut a
// multi-line record apart) line by line. A record counts as present when
// its first line is; the first lines hold the timestamp and the Client ID,
// so they are as good as unique.
func (c *checker) lineDiff(v *verdict, inRecs []record, got []byte) {
	have := map[uint64]int{}
	total := 0
	for line := range bytes.Lines(got) {
		have[maphash.Bytes(c.seed, line)]++
		total++
	}
	expected := map[uint64]int{}
	for _, r := range inRecs {
		if !r.listed {
			for line := range bytes.Lines(r.raw) {
				expected[maphash.Bytes(c.seed, line)]++
			}
		}
	}
	for _, r := range inRecs {
		first := r.raw
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i+1]
		}
		k := maphash.Bytes(c.seed, first)
		switch {
		case r.listed && have[k] > 0:
			v.listedKept++
		case !r.listed && have[k] == 0:
			v.lost++
		}
	}
	// Debris: output lines beyond what the expected records hold, other
	// than the first lines of listed rows counted above.
	extra := 0
	for k, n := range have {
		if d := n - expected[k]; d > 0 {
			extra += d
		}
	}
	v.debris = max(0, extra-v.listedKept)
}

func (c *checker) fieldsHash(fields []string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, f := range fields {
		h.WriteString(f)
		h.WriteByte(0)
	}
	return h.Sum64()
}

func equalSeq(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parallel runs fn(0..n-1) on jobs goroutines and returns the errors.
func parallel(jobs, n int, fn func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, jobs) {
		wg.Go(func() {
			for i := range next {
				errs[i] = fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// commas formats n with thousands separators.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
