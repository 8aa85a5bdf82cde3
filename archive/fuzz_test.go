package archive_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// Fuzzing limits: small, so that no input costs much time or memory.
var (
	fuzzOpt    = archive.Options{MaxMemberSize: 256 << 10}
	fuzzFilter = &filter.Filter{IDs: ids.New("A1", "B2", scrubtest.Victims[0]), MaxRecord: 4 << 10}
)

// seedArchives adds the test data's small archives and the bad inputs
// (except the 16 MiB line) to a fuzz corpus.
func seedArchives(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(scrubtest.ExportDir, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil && len(b) < 8<<10 {
			f.Add(b)
		}
	}
	for _, b := range scrubtest.BadInputs(f) {
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(csvIn))
	f.Add(gz(f, "x.csv", csvIn[:40], csvIn[40:]))
	for _, b := range [][]byte{[]byte(bzCSV), []byte(parCSV), bzip2Block, parquet, utf16BE, png, []byte(manifest1)} {
		f.Add(b)
		f.Add(gz(f, "", string(b)))
		f.Add(mkzip(f, "", member{name: "data", body: string(b), method: zip.Deflate}, member{name: "n.txt", body: prose}))
	}
	f.Add(mkzip(f, "c", member{name: "a.csv", body: csvIn, method: zip.Deflate}, member{name: "n.txt", body: "A1"},
		member{name: "d/", method: zip.Store}, member{name: "d/b.tsv", body: "Client ID\tx\nB2\t1\n"}))
}

// FuzzScan reads arbitrary bytes as an archive. Nothing may panic or hang,
// and the limits bound the work. Where the scan fails, the rewrite fails
// too, with an error of a documented kind. Where it succeeds, the scan that
// stops at the first match agrees, the rewrite succeeds with the same
// counts and the same members (read as CSV or not, for the same reason), and the rewrite reads back (as the engine reads it back) to the
// rows kept and none that match: archive.Verify.
func FuzzScan(f *testing.F) {
	seedArchives(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		rep, err := archive.ScanWith(src, src.Size(), fuzzFilter, false, fuzzOpt)
		quick, qerr := archive.ScanWith(src, src.Size(), fuzzFilter, true, fuzzOpt)
		if err != nil {
			checkErr(t, err)
			if _, rerr := archive.Rewrite(io.Discard, src, src.Size(), fuzzFilter, fuzzOpt); rerr == nil {
				t.Fatalf("scan fails (%v), rewrite does not", err)
			}
			return
		}
		if qerr != nil || (quick.Removed() > 0) != (rep.Removed() > 0) {
			t.Fatalf("stopping scan: %v, removed %d; full scan removed %d", qerr, quick.Removed(), rep.Removed())
		}
		var out bytes.Buffer
		rrep, err := archive.Rewrite(&out, src, src.Size(), fuzzFilter, fuzzOpt)
		if err != nil {
			t.Fatalf("scan succeeds, rewrite fails: %v", err)
		}
		if rrep.Rows() != rep.Rows() || rrep.Removed() != rep.Removed() || rrep.Format != rep.Format || len(rrep.Members) != len(rep.Members) {
			t.Fatalf("rewrite %+v, scan %+v", rrep, rep)
		}
		for i, m := range rep.Members {
			if r := rrep.Members[i]; r.Name != m.Name || r.CSV != m.CSV || r.Reason != m.Reason {
				t.Fatalf("member %d: rewrite %+v, scan %+v", i, r, m)
			}
		}
		after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), fuzzFilter, false, noLimits)
		if err != nil {
			t.Fatalf("the rewrite does not scan: %v", err)
		}
		if err := archive.Verify(rrep, after); err != nil {
			t.Fatal(err)
		}
		if rep.Removed() == 0 && rep.Format == archive.CSV && !bytes.Equal(out.Bytes(), in) {
			t.Fatal("a CSV file without a match changed")
		}
	})
}

// checkErr checks that an error is one of the kinds the package documents,
// not an accident (a nil map, an index out of range surfaces as a panic
// anyway; this catches errors that escape unnamed).
func checkErr(t *testing.T, err error) {
	t.Helper()
	var pe *filter.ParseError
	var le *archive.LimitError
	var me *archive.MemberError
	switch {
	case errors.As(err, &pe), errors.As(err, &le),
		errors.Is(err, archive.ErrCorrupt), errors.Is(err, archive.ErrEmpty), errors.Is(err, archive.ErrUnsupported),
		errors.Is(err, archive.ErrEncrypted), errors.Is(err, archive.ErrNested), errors.Is(err, archive.ErrInsecurePath):
	case errors.As(err, &me):
		t.Fatalf("unclassified error in a member: %v", err)
	default:
		t.Fatalf("unclassified error: %v", err)
	}
}

// FuzzRewrite puts fuzzed CSV into each format, under a fuzzed member name
// and comment, and checks the rewrite byte for byte: decoded with the
// standard library, it is what the filter makes of the CSV, and the zip's
// other member is unchanged.
func FuzzRewrite(f *testing.F) {
	f.Add("a.csv", []byte(csvIn), uint8(0), "")
	f.Add("dir/b.CSV", []byte("\xEF\xBB\xBFClient ID;v\r\nA1;1\r\nC3;\"x\r\ny\"\r\n"), uint8(1), "comment")
	f.Add("x.tsv", []byte("Client ID\tv\nB2\t1\n\n"), uint8(2), "")
	f.Add(`..\a.csv`, []byte(csvIn), uint8(2), "")
	f.Add("data.txt", []byte(csvIn), uint8(2), "")
	f.Add("manifest.json", []byte(manifest), uint8(3), "")
	f.Add("manifest.json", []byte(manifest1), uint8(1), "")
	f.Add("", []byte(sums), uint8(0), "")
	f.Add("p", []byte(parCSV), uint8(2), "")
	f.Add("u", utf16LE, uint8(1), "")
	f.Add("a.csv", []byte(csvIn), uint8(6), "")   // zip, compressed by blocks
	f.Add("b.csv", []byte(csvIn), uint8(5), "gz") // gzip, by pgzip
	f.Add("c.csv", []byte(csvIn), uint8(10), "")  // zip, read back as written
	f.Add("d.csv", []byte(csvIn), uint8(14), "")  // both
	f.Fuzz(func(t *testing.T, name string, body []byte, kind uint8, comment string) {
		var in []byte
		switch kind % 4 {
		case 0:
			if format, _ := archive.Detect(bytes.NewReader(body), int64(len(body))); format != archive.CSV {
				return
			}
			in = body
		case 1:
			if !latin1(name) {
				name = "x.csv" // a gzip header holds ISO 8859-1 without NUL
			}
			in = gz(t, name, string(body))
		case 2, 3:
			var method uint16 = zip.Deflate
			if kind%4 == 3 {
				method = zip.Store
			}
			if len(comment) > 0xffff || len(name) > 0xffff || name == "notes.txt" || strings.HasSuffix(name, "/") {
				return
			}
			in = mkzip(t, comment, member{name: "notes.txt", body: "A1"}, member{name: name, body: string(body), method: method})
		}
		var want bytes.Buffer
		wst, werr := fuzzFilter.Filter(&want, bytes.NewReader(body))
		var out bytes.Buffer
		opt := fuzzOpt
		if kind&4 != 0 {
			opt.Threads = 2
		}
		if kind&8 != 0 {
			opt.Reread = fuzzFilter
		}
		rep, err := archive.Rewrite(&out, bytes.NewReader(in), int64(len(in)), fuzzFilter, opt)
		if err != nil {
			checkErr(t, err)
			return
		}
		after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), fuzzFilter, false, noLimits)
		if err != nil {
			t.Fatalf("the rewrite does not scan: %v", err)
		}
		if err := archive.Verify(rep, after); err != nil {
			t.Fatal(err)
		}
		reread, err := archive.Reread(bytes.NewReader(out.Bytes()), int64(out.Len()), rep, fuzzFilter, noLimits)
		if err != nil || summary(reread) != summary(after) {
			t.Fatalf("Reread: %v, %s; ScanWith: %s", err, summary(reread), summary(after))
		}
		streams := scrubtest.Streams(t, out.Bytes())
		if kind%4 == 0 {
			streams = map[string][]byte{"": out.Bytes()}
		}
		key := ""
		mem := rep.Members[0]
		if kind%4 >= 2 {
			key = name
			if string(streams["notes.txt"]) != "A1" || rep.Members[0].CSV || rep.Members[0].Reason == "" {
				t.Fatalf("notes.txt = %q, %+v", streams["notes.txt"], rep.Members[0])
			}
			mem = rep.Members[1]
		}
		if !mem.CSV {
			// Not a table, by its first bytes or the filter's verdict.
			var nt interface{ NotTable() bool }
			if werr != nil && (!errors.As(werr, &nt) || !nt.NotTable()) {
				t.Fatalf("the filter fails (%v), the rewrite carries the stream (%s)", werr, mem.Reason)
			}
			if !bytes.Equal(streams[key], body) {
				t.Fatal("a stream not read changed")
			}
			return
		}
		if werr != nil {
			t.Fatalf("the filter fails (%v), the rewrite does not", werr)
		}
		if !bytes.Equal(streams[key], want.Bytes()) || rep.Rows() != wst.Rows || rep.Removed() != wst.Removed {
			t.Fatalf("rewritten %q (%d rows, %d removed), want %q (%+v)", streams[key], rep.Rows(), rep.Removed(), want.Bytes(), wst)
		}
	})
}

func latin1(s string) bool {
	for _, r := range s {
		if r == 0 || r > 0xff || r == utf8.RuneError {
			return false
		}
	}
	return true
}
