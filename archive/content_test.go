package archive_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// Contents that are not exports.
const (
	prose     = "This archive holds the analytics export of 2017-11-22.\nClient IDs are in the CSV files.\n"
	manifest  = "{\n  \"files\": [\"a.csv\"],\n  \"rows\": 3\n}\n"
	manifest1 = `{"files": ["a.csv"], "id_column": "client_id"}` + "\n"
	sums      = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.csv.gz\n"
	// A CSV whose first bytes are another format's first magic bytes.
	bzCSV  = "BZh1 value,Client ID\n1,A1\n2,C3\n"
	parCSV = "PAR1 col,Client ID\n1,A1\n2,C3\n"
)

// Contents of formats scrub refuses, by more than their first bytes.
var (
	bzip2Block = []byte("BZh91AY&SY\x00\x01\x02\x03")                       // a block's magic
	bzip2Empty = []byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00")     // an empty stream
	parquet    = []byte("PAR1\x15\x00\x15\x1c\x2c\x00\x00\x00\x00\x00PAR1") // start and end
	utf16LE    = []byte("\xFF\xFEC\x00l\x00i\x00e\x00n\x00t\x00 \x00I\x00D\x00\n\x00A\x001\x00\n\x00")
	utf16BE    = []byte("\xFE\xFF\x00C\x00l\x00i\x00e\x00n\x00t\x00 \x00I\x00D\x00\n\x00A\x001\x00\n")
	png        = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
)

// judged is what a pass must report of one stream or member.
type judged struct {
	name    string
	csv     bool
	reason  string // a part of the reason, when not csv
	removed int64
}

// TestContent checks that every stream is judged by its content, the same
// way plain, in gzip and in a zip member, whatever its name: a table with
// an ID column is filtered; other text (prose, JSON, a checksum list, an
// image) is reported with the reason and carried over unchanged, without
// an error; a table with an ID column that is bad fails; and formats that
// could hide rows are refused. Scan (stopping at the first match or not)
// and Rewrite report the same, and the rewrite verifies.
func TestContent(t *testing.T) {
	type contentCase struct {
		name   string
		in     []byte
		want   []judged // nil with err
		err    error
		msg    string
		strict bool // only without AllowInvalidUTF8
	}
	tests := []contentCase{
		// Item 1: zip members judged by content, not by name.
		{name: "zip members not named .csv", in: mkzip(t, "",
			member{name: "data.txt", body: csvIn, method: zip.Deflate},
			member{name: "events", body: csvIn},
			member{name: "export.tsv", body: "Client ID\tv\nA1\t1\nZ9\t2\n", method: zip.Deflate},
			member{name: "dir/", method: zip.Store},
			member{name: "a.csv", body: clean, method: zip.Deflate}),
			want: []judged{{"data.txt", true, "", 2}, {"events", true, "", 2}, {"export.tsv", true, "", 1}, {"dir/", false, "", 0}, {"a.csv", true, "", 0}}},
		{name: "zip members that are not tables", in: mkzip(t, "",
			member{name: "README.txt", body: prose, method: zip.Deflate},
			member{name: "manifest.json", body: manifest},
			member{name: "meta.json", body: manifest1, method: zip.Deflate},
			member{name: "SHA256SUMS", body: sums},
			member{name: "empty.csv", body: ""},
			member{name: "logo.png", body: string(png)},
			member{name: "a.csv", body: csvIn, method: zip.Deflate}),
			want: []judged{
				{"README.txt", false, "not scanned: line 1, column 1: no ID column (looked for", 0},
				{"manifest.json", false, "not scanned: line 1, column 1: no ID column", 0},
				{"meta.json", false, "not scanned: line 1, column 2: bare \"", 0},
				{"SHA256SUMS", false, "not scanned: line 1, column 1: no ID column", 0},
				{"empty.csv", false, "not scanned: no header row (empty CSV)", 0},
				{"logo.png", false, "not scanned: unsupported format: png", 0},
				{"a.csv", true, "", 2}}},
		{name: "zip of not tables only", in: mkzip(t, "", member{name: "README.txt", body: prose, method: zip.Deflate}),
			want: []judged{{"README.txt", false, "no ID column", 0}}},

		// Item 11: plain files and gzip content that are not tables.
		{name: "plain manifest.json", in: []byte(manifest), want: []judged{{"", false, "not scanned: line 1, column 1: no ID column", 0}}},
		{name: "plain JSON on one line", in: []byte(manifest1), want: []judged{{"", false, "not scanned: line 1, column 2: bare \"", 0}}},
		{name: "plain SHA256SUMS", in: []byte(sums), want: []judged{{"", false, "no ID column", 0}}},
		{name: "plain prose", in: []byte(prose), want: []judged{{"", false, "no ID column", 0}}},
		{name: "plain blank lines", in: []byte("\n\r\n"), want: []judged{{"", false, "not scanned: no header row", 0}}},
		{name: "plain binary", in: []byte{0, 1, 2, 3, 0xff, '\n'}, want: []judged{{"", false, "not scanned: line 1, column ", 0}}},
		{name: "gzip of JSON", in: gz(t, "manifest.json", manifest), want: []judged{{"manifest.json", false, "no ID column", 0}}},
		{name: "gzip of JSON after blank lines", in: gz(t, "", "\n\n"+manifest1), want: []judged{{"", false, "line 3, column 2: bare \"", 0}}},
		{name: "gzip of nothing", in: gz(t, "", ""), want: []judged{{"", false, "no header row", 0}}},
		{name: "gzip of an image", in: gz(t, "", string(png)), want: []judged{{"", false, "not scanned: unsupported format: png", 0}}},
		{name: "plain image", in: png, want: []judged{{"", false, "not scanned: unsupported format: png", 0}}},
		{name: "plain empty", in: nil, err: archive.ErrEmpty, msg: "empty file"},

		// Tables with an ID column that are bad still fail.
		{name: "csv, bad quote on line 5", in: []byte("Client ID,v\nZ9,1\nZ8,2\nZ7,3\nZ6,\"x\nZ5,5\n"), err: filter.ErrQuote, msg: "line 5, column 4"},
		{name: "gzip, bad quote on line 5", in: gz(t, "", "Client ID,v\nZ9,1\nZ8,2\nZ7,3\nZ6,\"x\nZ5,5\n"), err: filter.ErrQuote, msg: "line 5, column 4"},
		{name: "zip member, bad quote on line 5", in: mkzip(t, "", member{name: "events", body: "Client ID,v\nZ9,1\nZ8,2\nZ7,3\nZ6,\"x\nZ5,5\n"}),
			err: filter.ErrQuote, msg: "member events: line 5, column 4"},
		{name: "Latin-1 header with an ID column", in: []byte("Client ID,Gr\xF6\xDFe\nZ9,1\n"), err: filter.ErrInvalidUTF8, msg: "line 1, column 13", strict: true},

		// Item 12: more than the first magic bytes decide.
		{name: "csv starting BZh", in: []byte(bzCSV), want: []judged{{"", true, "", 1}}},
		{name: "csv starting PAR1", in: []byte(parCSV), want: []judged{{"", true, "", 1}}},
		{name: "gzip csv starting BZh", in: gz(t, "", bzCSV), want: []judged{{"", true, "", 1}}},
		{name: "zip csv starting PAR1", in: mkzip(t, "", member{name: "p", body: parCSV, method: zip.Deflate}), want: []judged{{"p", true, "", 1}}},
		{name: "csv starting GIF89a", in: []byte("GIF89a,Client ID\n1,A1\n"), want: []judged{{"", true, "", 1}}},
		{name: "zip csv starting %PDF-1.", in: mkzip(t, "", member{name: "x", body: "%PDF-1.4,Client ID\n1,A1\n"}), want: []judged{{"x", true, "", 1}}},
		{name: "zip csv starting Rar!", in: mkzip(t, "", member{name: "x", body: "Rar!,Client ID\n1,A1\n"}), want: []judged{{"x", true, "", 1}}},
		{name: "bzip2", in: bzip2Block, err: archive.ErrUnsupported, msg: "unsupported format: bzip2"},
		{name: "bzip2 empty stream", in: bzip2Empty, err: archive.ErrUnsupported, msg: "unsupported format: bzip2"},
		{name: "gzip of bzip2", in: gz(t, "", string(bzip2Block)), err: archive.ErrUnsupported, msg: "bzip2 inside gzip"},
		{name: "zip member of bzip2", in: mkzip(t, "", member{name: "data", body: string(bzip2Block)}), err: archive.ErrNested, msg: "member data: archive nested in a zip member (bzip2"},
		{name: "zip member of xz", in: mkzip(t, "", member{name: "data", body: "\xFD7zXZ\x00\x00\x04"}), err: archive.ErrNested, msg: "(xz"},
		{name: "zip member of zstd", in: mkzip(t, "", member{name: "data", body: "\x28\xB5\x2F\xFD\x24\x05"}), err: archive.ErrNested, msg: "(zstd"},
		{name: "zip member of gzip", in: mkzip(t, "", member{name: "data", body: string(gz(t, "", csvIn))}), err: archive.ErrNested, msg: "(gzip"},
		{name: "zip member of zip", in: mkzip(t, "", member{name: "data", body: string(mkzip(t, "", member{name: "a.csv", body: csvIn}))}), err: archive.ErrNested, msg: "(zip"},
		{name: "parquet", in: parquet, err: archive.ErrUnsupported, msg: "unsupported format: parquet"},
		{name: "gzip of parquet", in: gz(t, "", string(parquet)), err: archive.ErrUnsupported, msg: "unsupported format: parquet"},
		{name: "zip member of parquet", in: mkzip(t, "", member{name: "t.parquet", body: string(parquet)}), err: archive.ErrUnsupported, msg: "member t.parquet: unsupported format: parquet"},
		{name: "PAR1 at the start only", in: []byte("PAR1\x15\x00\x15"), want: []judged{{"", false, "not scanned:", 0}}},
		{name: "gzip, PAR1 at the start only", in: gz(t, "", "PAR1\x15\x00\x15"), want: []judged{{"", false, "not scanned:", 0}}},
	}
	// The same UTF-16 text, plain, in gzip and in a zip member, is refused
	// the same way.
	for _, u := range []struct {
		name string
		b    []byte
	}{{"UTF-16LE", utf16LE}, {"UTF-16BE", utf16BE}} {
		const msg = "unsupported format: UTF-16 text (convert it to UTF-8)"
		tests = append(tests,
			contentCase{name: u.name + " plain", in: u.b, err: archive.ErrUnsupported, msg: msg},
			contentCase{name: u.name + " in gzip", in: gz(t, "", string(u.b)), err: archive.ErrUnsupported, msg: msg},
			contentCase{name: u.name + " in zip", in: mkzip(t, "", member{name: "a.csv", body: string(u.b), method: zip.Deflate}), err: archive.ErrUnsupported, msg: "member a.csv: " + msg})
	}
	for _, tt := range tests {
		for _, f := range []*filter.Filter{flt, {IDs: ids.New("A1", "B2"), AllowInvalidUTF8: true}} {
			name := tt.name
			if f.AllowInvalidUTF8 {
				if tt.strict {
					continue
				}
				name += "/lax"
			}
			t.Run(name, func(t *testing.T) {
				if tt.want == nil {
					checkRefused(t, tt.in, f, tt.err, tt.msg)
					return
				}
				checkJudged(t, tt.in, f, tt.want)
			})
		}
	}
}

// checkRefused checks that Scan and Rewrite both fail on in with err.
func checkRefused(t *testing.T, in []byte, f archive.Filter, err error, msg string) {
	t.Helper()
	for _, stop := range []bool{false, true} {
		_, serr := archive.ScanWith(bytes.NewReader(in), int64(len(in)), f, stop, archive.Options{})
		check(t, "scan", serr, msg, err)
	}
	_, rerr := archive.Rewrite(io.Discard, bytes.NewReader(in), int64(len(in)), f, archive.Options{})
	check(t, "rewrite", rerr, msg, err)
}

// checkJudged checks that Scan and Rewrite both accept in and report its
// streams as want says, that the rewrite verifies, that a stream not read
// is carried over unchanged, and that no listed ID is left in one read.
func checkJudged(t *testing.T, in []byte, f archive.Filter, want []judged) {
	t.Helper()
	srep, err := archive.ScanWith(bytes.NewReader(in), int64(len(in)), f, false, archive.Options{})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if _, err := archive.ScanWith(bytes.NewReader(in), int64(len(in)), f, true, archive.Options{}); err != nil {
		t.Fatalf("stopping scan: %v", err)
	}
	var out bytes.Buffer
	rrep, err := archive.Rewrite(&out, bytes.NewReader(in), int64(len(in)), f, archive.Options{})
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	for _, rep := range []*archive.Report{srep, rrep} {
		if len(rep.Members) != len(want) {
			t.Fatalf("members %+v, want %+v", rep.Members, want)
		}
		for i, w := range want {
			m := rep.Members[i]
			if m.Name != w.name || m.CSV != w.csv || m.Removed != w.removed || !strings.Contains(m.Reason, w.reason) || (m.Reason == "") != (w.reason == "") {
				t.Errorf("member %d: %+v, want %+v", i, m, w)
			}
		}
	}
	after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), f, false, archive.Options{}.WithoutLimits())
	if err != nil {
		t.Fatalf("the rewrite does not scan: %v", err)
	}
	if err := archive.Verify(rrep, after); err != nil {
		t.Fatal(err)
	}
	before, got := scrubtest.Streams(t, in), scrubtest.Streams(t, out.Bytes())
	if rrep.Format == archive.CSV {
		before, got = map[string][]byte{"": in}, map[string][]byte{"": out.Bytes()}
	}
	for _, m := range rrep.Members {
		key := m.Name
		if rrep.Format != archive.Zip {
			key = ""
		}
		if !m.CSV && !bytes.Equal(got[key], before[key]) {
			t.Errorf("%q not read, but changed: %q, was %q", m.Name, got[key], before[key])
		}
		if m.CSV && listed(got[key]) {
			t.Errorf("%q still holds a listed ID: %q", m.Name, got[key])
		}
	}
}

// TestContentErrorsNotHidden: a stream that is not a table is read to its
// end, so that a corrupt one is an error, not a stream not read.
func TestContentErrorsNotHidden(t *testing.T) {
	g := gz(t, "", manifest+strings.Repeat("x", 100))
	g[len(g)-8] ^= 0xff // the CRC-32
	z := mkzip(t, "", member{name: "README.txt", body: prose + strings.Repeat("x", 100), method: zip.Deflate})
	k := bytes.LastIndex(z, []byte("PK\x01\x02"))
	z[k+16] ^= 0xff // the CRC-32 in the central directory
	for name, in := range map[string][]byte{"gzip": g, "zip": z} {
		t.Run(name, func(t *testing.T) {
			checkRefused(t, in, flt, archive.ErrCorrupt, "checksum mismatch")
		})
	}
	var me *archive.MemberError
	_, err := archive.Scan(bytes.NewReader(z), int64(len(z)), flt, false)
	if !errors.As(err, &me) || me.Member != "README.txt" {
		t.Errorf("%v does not name the member", err)
	}
}

// checkNotScanned checks that Scan and Rewrite both accept in, a plain or
// gzip file, as one stream not read, for a reason that says want.
func checkNotScanned(t *testing.T, in []byte, f archive.Filter, want string) {
	t.Helper()
	name := ""
	if bytes.HasPrefix(in, []byte{0x1f, 0x8b}) {
		name = "" // scrubtest's gzip files have no name
	}
	checkJudged(t, in, f, []judged{{name, false, "not scanned: " + want, 0}})
}

// listed reports whether a field of CSV (split at commas and tabs, without
// regard to quotes) is a listed ID.
func listed(csv []byte) bool {
	for _, f := range bytes.FieldsFunc(csv, func(r rune) bool { return r == ',' || r == '\t' || r == '\n' }) {
		if string(f) == "A1" || string(f) == "B2" {
			return true
		}
	}
	return false
}

// TestScanRewriteAgree puts every content above, plain, in gzip and in a
// zip member beside a CSV member, through Scan (stopping or not) and
// Rewrite with filters of each kind: they accept and refuse the same
// archives, report the same streams read and not read, for the same
// reasons, and a rewrite verifies.
func TestScanRewriteAgree(t *testing.T) {
	contents := map[string][]byte{
		"csv": []byte(csvIn), "clean": []byte(clean), "prose": []byte(prose), "manifest": []byte(manifest),
		"manifest1": []byte(manifest1), "sums": []byte(sums), "bz csv": []byte(bzCSV), "par csv": []byte(parCSV),
		"bzip2": bzip2Block, "parquet": parquet, "utf16": utf16LE, "png": png, "blank": []byte("\n"),
		"latin1": []byte("Client ID,Gr\xF6\xDFe\nA1,1\n"), "ragged": []byte("Client ID,v\nA1\n"),
		"gzip": gz(t, "", csvIn), "timed": []byte("Timestamp,Client ID\n2017-11-22 10:00:00,Z9\n"),
	}
	cutoff := mtime
	filters := map[string]*filter.Filter{
		"ids":       flt,
		"lax":       {IDs: ids.New("A1", "B2"), AllowInvalidUTF8: true},
		"retention": {Before: cutoff},
		"both":      {IDs: ids.New("A1", "B2"), Before: cutoff},
	}
	for cname, c := range contents {
		archives := map[string][]byte{
			"gzip": gz(t, "x", string(c)),
			"zip": mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate},
				member{name: "data", body: string(c), method: zip.Deflate}),
		}
		if len(c) > 0 && !bytes.HasPrefix(c, []byte{0x1f, 0x8b}) {
			archives["plain"] = c
		}
		for aname, in := range archives {
			for fname, f := range filters {
				t.Run(cname+"/"+aname+"/"+fname, func(t *testing.T) {
					src := bytes.NewReader(in)
					srep, serr := archive.ScanWith(src, src.Size(), f, false, archive.Options{})
					_, qerr := archive.ScanWith(src, src.Size(), f, true, archive.Options{})
					var out bytes.Buffer
					rrep, rerr := archive.Rewrite(&out, src, src.Size(), f, archive.Options{})
					if (serr == nil) != (rerr == nil) || serr == nil && qerr != nil {
						t.Fatalf("scan: %v, stopping scan: %v, rewrite: %v", serr, qerr, rerr)
					}
					if serr != nil {
						return
					}
					if len(srep.Members) != len(rrep.Members) {
						t.Fatalf("scan %+v, rewrite %+v", srep.Members, rrep.Members)
					}
					for i, m := range srep.Members {
						r := rrep.Members[i]
						if r.Name != m.Name || r.CSV != m.CSV || r.Reason != m.Reason || r.Rows != m.Rows || r.Removed != m.Removed {
							t.Errorf("member %d: scan %+v, rewrite %+v", i, m, r)
						}
					}
					after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), f, false, archive.Options{}.WithoutLimits())
					if err != nil {
						t.Fatalf("the rewrite does not scan: %v", err)
					}
					if err := archive.Verify(rrep, after); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}
