package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest/exportgen"
)

// committedDir is the testdata directory, seen from this package.
const committedDir = ".."

const regenerate = "run `go run ./testdata/gen -out testdata` from the repository root"

// TestCommittedFilesUpToDate regenerates everything into a temporary
// directory and compares it byte for byte with the committed files.
func TestCommittedFilesUpToDate(t *testing.T) {
	tmp := t.TempDir()
	files, _ := generate()
	if err := writeFiles(tmp, files); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	err := filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tmp, path)
		if err != nil {
			return err
		}
		want[filepath.ToSlash(rel)] = true
		compareFile(t, path, filepath.Join(committedDir, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(committedDir, "export"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(committedDir, path)
		if err != nil {
			return err
		}
		if !want[filepath.ToSlash(rel)] {
			t.Errorf("testdata/%s is not produced by the generator; delete it and %s", filepath.ToSlash(rel), regenerate)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walking committed export: %v; %s", err, regenerate)
	}
}

func compareFile(t *testing.T, generated, committed string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Errorf("reading committed file: %v; %s", err, regenerate)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("testdata/%s differs from the generator's output (%d bytes committed, %d generated); %s",
			strings.TrimPrefix(filepath.ToSlash(committed), "../"), len(got), len(want), regenerate)
	}
}

// TestGeneratorIsDeterministic guards against accidental use of time.Now,
// map order or unseeded randomness.
func TestGeneratorIsDeterministic(t *testing.T) {
	a, _ := generate()
	b, _ := generate()
	for i := range a {
		if a[i].path != b[i].path || !bytes.Equal(a[i].data, b[i].data) {
			t.Errorf("%s: two runs differ", a[i].path)
		}
	}
}

// payload is one CSV document extracted from an export file.
type payload struct {
	file string // export file path
	raw  []byte // CSV bytes, BOM included
	rows [][]string
}

// exportCSVs decodes every export file with the standard library, detecting
// the format by magic bytes as a tool would, and parses each CSV.
func exportCSVs(t *testing.T) []payload {
	t.Helper()
	files, _ := generate()
	var out []payload
	for _, f := range files {
		if !strings.HasPrefix(f.path, "export/") {
			continue
		}
		for _, raw := range decodeCSVs(t, f) {
			out = append(out, payload{file: f.path, raw: raw, rows: parseCSV(t, f.path, raw)})
		}
	}
	return out
}

func decodeCSVs(t *testing.T, f outputFile) [][]byte {
	t.Helper()
	switch {
	case bytes.HasPrefix(f.data, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(f.data), int64(len(f.data)))
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		var csvs [][]byte
		for _, m := range zr.File {
			if strings.HasSuffix(m.Name, ".csv") {
				csvs = append(csvs, readZipMember(t, m))
			}
		}
		return csvs
	case bytes.HasPrefix(f.data, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		return [][]byte{data}
	}
	return [][]byte{f.data}
}

func readZipMember(t *testing.T, m *zip.File) []byte {
	t.Helper()
	rc, err := m.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	return data
}

// parseCSV parses data strictly, requiring one field count for all rows.
func parseCSV(t *testing.T, name string, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte(utf8BOM))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rows
}

func TestCSVsParseWithConstantFieldCount(t *testing.T) {
	_, stats := generate()
	for _, p := range exportCSVs(t) {
		header := exportgen.CustomEvents.Header()
		if strings.Contains(p.file, "_exc_") {
			header = exportgen.ExceptionReports.Header()
		}
		if !slices.Equal(p.rows[0], header) {
			t.Errorf("%s: header %q, want %q", p.file, p.rows[0], header)
		}
		st := statsFor(t, stats, p.file)
		if got := len(p.rows) - 1; got != st.rows {
			t.Errorf("%s: %d data rows, summary says %d", p.file, got, st.rows)
		}
		if got := countClientRows(p.rows, victimIDs...); got != st.totalVictims() {
			t.Errorf("%s: %d victim rows, summary says %d", p.file, got, st.totalVictims())
		}
	}
}

func statsFor(t *testing.T, stats []fileStats, path string) fileStats {
	t.Helper()
	i := slices.IndexFunc(stats, func(s fileStats) bool { return s.path == path })
	if i < 0 {
		t.Fatalf("no stats for %s", path)
	}
	return stats[i]
}

// countClientRows counts data rows whose Client ID is one of ids.
func countClientRows(rows [][]string, ids ...string) int {
	n := 0
	for _, row := range rows[1:] {
		if slices.Contains(ids, row[1]) {
			n++
		}
	}
	return n
}

// listedIDs parses ids.txt the way the erasure tool is expected to.
func listedIDs(t *testing.T) []string {
	t.Helper()
	files, _ := generate()
	var ids []string
	for line := range strings.Lines(string(files[0].data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			ids = append(ids, line)
		}
	}
	return ids
}

func TestIDList(t *testing.T) {
	ids := listedIDs(t)
	if want := append(slices.Clone(victimIDs), absentID); !slices.Equal(ids, want) {
		t.Fatalf("ids.txt lists %q, want %q", ids, want)
	}
	csvs := exportCSVs(t)
	for _, id := range victimIDs {
		n := 0
		for _, p := range csvs {
			n += countClientRows(p.rows, id)
		}
		if n == 0 {
			t.Errorf("victim %s is in no Client ID column", id)
		}
	}
	for _, p := range csvs {
		if bytes.Contains(p.raw, []byte(absentID)) {
			t.Errorf("%s contains the absent ID %s", p.file, absentID)
		}
	}
}

func TestLookalikesAndMentions(t *testing.T) {
	csvs := exportCSVs(t)
	for _, id := range []string{superstringID, prefixID} {
		n := 0
		for _, p := range csvs {
			n += countClientRows(p.rows, id)
		}
		if n == 0 {
			t.Errorf("look-alike %s is in no Client ID column", id)
		}
	}
	for _, id := range victimIDs {
		if !mentionedByOthers(csvs, id) {
			t.Errorf("victim %s is never mentioned in a non-victim row", id)
		}
		if !quotedSomewhere(csvs, id) {
			t.Errorf("victim %s never has a quoted Client ID field", id)
		}
	}
}

func mentionedByOthers(csvs []payload, id string) bool {
	for _, p := range csvs {
		for _, row := range p.rows[1:] {
			if !slices.Contains(victimIDs, row[1]) && slices.ContainsFunc(row[2:], func(f string) bool {
				return strings.Contains(f, id)
			}) {
				return true
			}
		}
	}
	return false
}

func quotedSomewhere(csvs []payload, id string) bool {
	for _, p := range csvs {
		if bytes.Contains(p.raw, []byte(`,"`+id+`",`)) {
			return true
		}
	}
	return false
}

func csvOf(t *testing.T, csvs []payload, file string) payload {
	t.Helper()
	i := slices.IndexFunc(csvs, func(p payload) bool { return p.file == file })
	if i < 0 {
		t.Fatalf("no CSV from %s", file)
	}
	return csvs[i]
}

func TestAllVictimsAndNoVictimFiles(t *testing.T) {
	csvs := exportCSVs(t)
	all := csvOf(t, csvs, "export/2376158762_exc_2017-11-20.zip")
	if n := countClientRows(all.rows, victimIDs...); n != len(all.rows)-1 {
		t.Errorf("%s: %d of %d rows are victims', want all", all.file, n, len(all.rows)-1)
	}
	none := csvOf(t, csvs, "export/2376158762_cust_2017-11-21.zip")
	if n := countClientRows(none.rows, victimIDs...); n != 0 {
		t.Errorf("%s: %d victim rows, want none", none.file, n)
	}
	if !bytes.Contains(none.raw, []byte(victimIDs[0])) {
		t.Errorf("%s should mention victim %s outside the Client ID column", none.file, victimIDs[0])
	}
}

func TestLineEndings(t *testing.T) {
	const crlfFile = "export/2376158762_cust_2017-11-25.csv"
	const openFile = "export/2376158762_cust_2017-11-22.zip"
	for _, p := range exportCSVs(t) {
		s := string(p.raw)
		if p.file == crlfFile {
			if !strings.HasPrefix(s, utf8BOM) || strings.Count(s, "\n") != strings.Count(s, "\r\n") {
				t.Errorf("%s: want UTF-8 BOM and CRLF line endings only", p.file)
			}
		} else if strings.HasPrefix(s, utf8BOM) || strings.Contains(s, "\r") {
			t.Errorf("%s: unexpected BOM or CR", p.file)
		}
		if hasFinalBreak := strings.HasSuffix(s, "\n"); hasFinalBreak == (p.file == openFile) {
			t.Errorf("%s: trailing newline = %v", p.file, hasFinalBreak)
		}
		if p.file == openFile && slices.Contains(victimIDs, p.rows[len(p.rows)-1][1]) {
			t.Errorf("%s: the last row, lacking a newline, should not be a victim's", p.file)
		}
	}
}

func generatedFile(t *testing.T, path string) []byte {
	t.Helper()
	files, _ := generate()
	i := slices.IndexFunc(files, func(f outputFile) bool { return f.path == path })
	if i < 0 {
		t.Fatalf("%s is not generated", path)
	}
	return files[i].data
}

func TestMultiMemberGzip(t *testing.T) {
	const name = "2376158762_exc_2017-11-24.csv"
	br := bytes.NewReader(generatedFile(t, "export/"+name+".gz"))
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for {
		zr.Multistream(false)
		checkGzipHeader(t, zr.Header, name, day(24))
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, string(b))
		if err := zr.Reset(br); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(members) != 2 {
		t.Fatalf("%d gzip members, want 2", len(members))
	}
	header := strings.Join(exportgen.ExceptionReports.Header(), ",") + "\n"
	if !strings.HasPrefix(members[0], header) || strings.Contains(members[1], header) {
		t.Error("only the first member should start with the header row")
	}
	for i, m := range members {
		rows := parseCSV(t, name, []byte(header+strings.TrimPrefix(m, header)))
		if !strings.HasSuffix(m, "\n") {
			t.Errorf("member %d does not end at a record boundary", i+1)
		}
		if countClientRows(rows, victimIDs...) == 0 {
			t.Errorf("member %d holds no victim row", i+1)
		}
	}
}

func checkGzipHeader(t *testing.T, h gzip.Header, name string, exportDay time.Time) {
	t.Helper()
	if want := exportDay.Add(24*time.Hour - time.Second); h.Name != name || !h.ModTime.Equal(want) {
		t.Errorf("gzip header (%q, %v), want (%q, %v)", h.Name, h.ModTime, name, want)
	}
}

func TestContainers(t *testing.T) {
	fake := generatedFile(t, "export/2376158762_cust_2017-11-26.zip")
	if !bytes.HasPrefix(fake, []byte{0x1f, 0x8b}) {
		t.Error("2376158762_cust_2017-11-26.zip should be gzip data")
	}
	zr, err := gzip.NewReader(bytes.NewReader(generatedFile(t, "export/2376158762_cust_2017-11-24.csv.gz")))
	if err != nil {
		t.Fatal(err)
	}
	checkGzipHeader(t, zr.Header, "2376158762_cust_2017-11-24.csv", day(24))

	data := generatedFile(t, "export/monthly/2376158762_cust_2017-11-01_to_2017-11-23.zip")
	zf, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if zf.Comment == "" {
		t.Error("monthly cust zip has no archive comment")
	}
	var names []string
	for _, m := range zf.File {
		names = append(names, m.Name)
		if want := day(23).Add(24*time.Hour - time.Second); !m.Modified.Equal(want) {
			t.Errorf("%s modified %v, want %v", m.Name, m.Modified, want)
		}
	}
	if want := []string{"2376158762_cust_2017-11-01_to_2017-11-23.csv", "README.txt"}; !slices.Equal(names, want) {
		t.Errorf("members %q, want %q", names, want)
	}
	if zf.File[0].Comment == "" {
		t.Error("CSV member of the monthly cust zip has no comment")
	}
}
