package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestBadInputs checks that every input of scrubtest.BadInputs is refused,
// by Scan (stopping at the first match or not) and Rewrite alike, with the
// error scrubtest.BadInputWant gives and the right type; except those that
// are not a table with an ID column (notScanned), which are reported as
// not read, with that message as the reason, and rewritten unchanged.
func TestBadInputs(t *testing.T) {
	is := map[string]error{
		"corrupt.csv.gz":        archive.ErrCorrupt,
		"truncated.csv.gz":      io.ErrUnexpectedEOF,
		"corrupt.zip":           archive.ErrCorrupt,
		"truncated.zip":         archive.ErrCorrupt,
		"bomb.zip":              archive.ErrRatio,
		"bomb.csv.gz":           archive.ErrRatio,
		"dotdot.zip":            archive.ErrInsecurePath,
		"backslash.zip":         archive.ErrInsecurePath,
		"absolute.zip":          archive.ErrInsecurePath,
		"drive.zip":             archive.ErrInsecurePath,
		"latin1.csv":            filter.ErrInvalidUTF8,
		"unbalanced-quotes.csv": filter.ErrQuote,
		"ragged.csv":            filter.ErrFieldCount,
		"too-long-line.csv":     filter.ErrRecordTooBig,
		"empty.csv":             archive.ErrEmpty,
		// Not tables: not scanned, for the reason BadInputWant gives.
		"no-id-column.csv": nil,
		"empty.csv.gz":     nil,
		"image.png":        nil,
		"random.bin":       nil,
	}
	notScanned := map[string]bool{"no-id-column.csv": true, "empty.csv.gz": true, "image.png": true, "random.bin": true}
	inputs := scrubtest.BadInputs(t)
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			if _, ok := is[name]; !ok {
				t.Fatalf("no expected error for %s", name)
			}
			want := scrubtest.BadInputWant[name]
			if notScanned[name] {
				checkNotScanned(t, in, flt, want)
				return
			}
			for _, stop := range []bool{false, true} {
				_, err := archive.ScanWith(bytes.NewReader(in), int64(len(in)), flt, stop, archive.Options{})
				check(t, "scan", err, want, is[name])
			}
			_, err := archive.Rewrite(io.Discard, bytes.NewReader(in), int64(len(in)), flt, archive.Options{})
			check(t, "rewrite", err, want, is[name])
			for _, id := range scrubtest.Listed {
				if bytes.Contains(in, []byte(id)) {
					t.Errorf("holds listed ID %s", id)
				}
			}
			if strings.HasSuffix(name, ".zip") && !strings.Contains(name, "truncated") {
				var me *archive.MemberError
				if !errors.As(err, &me) {
					t.Errorf("%v is not a MemberError", err)
				}
			}
		})
	}
}

func TestInsecureNames(t *testing.T) {
	tests := []struct {
		name string
		want string // the reason; "" if the name is fine
	}{
		{"a.csv", ""},
		{"dir/a.csv", ""},
		{"./a.csv", ""},
		{`dir\a.csv`, ""},
		{"a..b.csv", ""},
		{"..a.csv", ""},
		{"dir/..a/b.csv", ""},
		{"report 10:00.csv", ""},
		{"../a.csv", `".." element`},
		{"dir/../../a.csv", `".." element`},
		{"dir/..", `".." element`},
		{`..\a.csv`, `".." element`},
		{`dir\..\..\a.csv`, `".." element`},
		{"/a.csv", "absolute path"},
		{"//server/share/a.csv", "absolute path"},
		{`\a.csv`, "absolute path"},
		{`\\server\share\a.csv`, "absolute path"},
		{`C:\a.csv`, "drive letter"},
		{"c:a.csv", "drive letter"},
		{"C:/a.csv", "drive letter"},
		{"a\x00.csv", "NUL byte"},
		{"../notes.txt", `".." element`}, // not CSV: refused all the same
	}
	for _, godebug := range []string{"", "zipinsecurepath=0", "zipinsecurepath=1"} {
		t.Setenv("GODEBUG", godebug)
		for _, tt := range tests {
			t.Run(godebug+"/"+tt.name, func(t *testing.T) {
				in := mkzip(t, "", member{name: "ok.csv", body: clean, method: zip.Deflate}, member{name: tt.name, body: clean, method: zip.Deflate})
				_, serr := archive.ScanWith(bytes.NewReader(in), int64(len(in)), flt, false, archive.Options{})
				_, rerr := archive.Rewrite(io.Discard, bytes.NewReader(in), int64(len(in)), flt, archive.Options{})
				if tt.want == "" {
					if serr != nil || rerr != nil {
						t.Fatalf("scan: %v, rewrite: %v", serr, rerr)
					}
					return
				}
				var me *archive.MemberError
				for _, err := range []error{serr, rerr} {
					if !errors.Is(err, archive.ErrInsecurePath) || !errors.As(err, &me) || me.Member != tt.name ||
						!strings.HasSuffix(err.Error(), "zip: insecure file path: "+tt.want) {
						t.Errorf("err = %v, want ErrInsecurePath (%s) for member %q", err, tt.want, tt.name)
					}
				}
			})
		}
	}
}

// TestMemberNameQuoted checks that a member name that could forge a line
// of a log is quoted in messages.
func TestMemberNameQuoted(t *testing.T) {
	for name, want := range map[string]string{
		"a\nb.csv.gz":  `member "a\nb.csv.gz": archive nested`,
		"\x1b[31m.zip": `member "\x1b[31m.zip": archive nested`,
		"Ä.gz":         `member Ä.gz: archive nested`,
	} {
		in := mkzip(t, "", member{name: name, body: "x"})
		_, err := archive.Scan(bytes.NewReader(in), int64(len(in)), flt, false)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v, want %s", err, want)
		}
	}
}

func TestUnsupportedMethod(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	fw, err := w.CreateRaw(&zip.FileHeader{Name: "a.csv", Method: 12, CompressedSize64: 3, UncompressedSize64: 3}) // bzip2
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("BZh"))
	w.Close()
	_, err = archive.Scan(bytes.NewReader(b.Bytes()), int64(b.Len()), flt, false)
	check(t, "scan", err, "member a.csv: unsupported format: compression method not supported (only store and deflate are)", archive.ErrUnsupported)
}

// TestTruncated checks every prefix of a gzip and a zip file: each is an
// error, and once the format is recognised, a corrupt-or-truncated one.
// (Except where the first of two gzip members ends: that is a gzip file;
// and the first byte of a gzip file, or up to 3 of a zip file, which are
// text without an ID column: not scanned.)
func TestTruncated(t *testing.T) {
	first := len(gz(t, "x.csv", csvIn[:40]))
	for name, in := range map[string][]byte{
		"gzip":           gz(t, "x.csv", csvIn),
		"gzip 2 members": gz(t, "x.csv", csvIn[:40], csvIn[40:]),
		"zip":            mkzip(t, "comment", member{name: "a.csv", body: csvIn, method: zip.Deflate}, member{name: "b.txt", body: "x"}),
		"zip stored":     mkzip(t, "", member{name: "a.csv", body: csvIn}),
	} {
		for n := 1; n < len(in); n++ {
			if n == first && name == "gzip 2 members" {
				continue
			}
			p := in[:n]
			srep, serr := archive.Scan(bytes.NewReader(p), int64(n), flt, false)
			rrep, rerr := archive.Rewrite(io.Discard, bytes.NewReader(p), int64(n), flt, archive.Options{})
			for i, err := range []error{serr, rerr} {
				rep := []*archive.Report{srep, rrep}[i]
				switch {
				case err == nil && n < 4 && rep.Format == archive.CSV && len(rep.NotScanned()) == 1:
				case err == nil:
					t.Errorf("%s: the first %d of %d bytes: no error", name, n, len(in))
				case n >= 4 && !errors.Is(err, archive.ErrCorrupt):
					t.Errorf("%s: the first %d of %d bytes: %v, want ErrCorrupt", name, n, len(in), err)
				}
			}
		}
	}
}

// TestCorruptByte flips each byte of a gzip and a zip file in turn: the
// result is an error, or (where the byte does not matter, like a
// timestamp) the same rows, or (where it was in the name) no CSV member.
func TestCorruptByte(t *testing.T) {
	for name, in := range map[string][]byte{
		"gzip": gz(t, "x.csv", csvIn),
		"zip":  mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate}),
	} {
		for i := range in {
			p := bytes.Clone(in)
			p[i] ^= 0x55
			rep, err := archive.Scan(bytes.NewReader(p), int64(len(p)), flt, false)
			if err == nil && (rep.Rows() != 3 || rep.Removed() != 2) && (len(rep.Members) != 1 || rep.Members[0].CSV) {
				t.Errorf("%s: byte %d flipped: %d rows, %d removed, no error", name, i, rep.Rows(), rep.Removed())
			}
		}
	}
}

// failingReaderAt fails every read that reaches past off.
type failingReaderAt struct {
	data []byte
	off  int64
	err  error
}

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.off {
		n := copy(p, r.data[off:max(off, min(r.off, int64(len(r.data))))])
		return n, r.err
	}
	return copy(p, r.data[off:]), nil
}

// TestSourceErrors checks that an error reading the source is passed on
// with its message, and not taken for corrupt data, even where it wraps
// io.ErrUnexpectedEOF (a store's transfer cut short).
func TestSourceErrors(t *testing.T) {
	broken := fmt.Errorf("read s3://b/k bytes 0-99: %w", io.ErrUnexpectedEOF)
	for name, in := range map[string][]byte{
		"gzip": gz(t, "x.csv", strings.Repeat(csvIn, 100)),
		"zip":  mkzip(t, "", member{name: "a.csv", body: strings.Repeat(csvIn, 100), method: zip.Deflate}),
	} {
		for _, off := range []int64{int64(len(in)) / 2, int64(len(in)) - 1} {
			src := failingReaderAt{in, off, broken}
			_, serr := archive.ScanWith(src, int64(len(in)), flt, false, archive.Options{})
			_, rerr := archive.Rewrite(io.Discard, src, int64(len(in)), flt, archive.Options{})
			for _, err := range []error{serr, rerr} {
				if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), broken.Error()) {
					t.Errorf("%s, failing at %d: %v", name, off, err)
				}
			}
		}
	}
}
