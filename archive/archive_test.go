package archive_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

var flt = &filter.Filter{IDs: ids.New("A1", "B2")}

const (
	csvIn  = "Timestamp,Client ID,Custom Values\nt1,A1,\"(K,V)\"\nt2,C3,\"(K,A1)\"\nt3,B2,x\n"
	csvOut = "Timestamp,Client ID,Custom Values\nt2,C3,\"(K,A1)\"\n"
	clean  = "Timestamp,Client ID\nt,Z9\n"
)

var mtime = time.Date(2017, 11, 22, 23, 59, 58, 0, time.UTC)

func gz(t testing.TB, name string, parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		w, _ := gzip.NewWriterLevel(&b, 6)
		w.Name, w.ModTime, w.Comment = name, mtime, "exported"
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

type member struct {
	name, body, comment string
	method              uint16
	flags               uint16
}

func mkzip(t testing.TB, comment string, members ...member) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, m := range members {
		fh := &zip.FileHeader{Name: m.name, Method: m.method, Modified: mtime, Comment: m.comment}
		fw, err := w.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(fw, m.body); err != nil {
			t.Fatal(err)
		}
		fh.Flags |= m.flags
	}
	if err := w.SetComment(comment); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want archive.Format
		err  error
	}{
		{[]byte("Client ID\n"), archive.CSV, nil},
		{[]byte("x"), archive.CSV, nil},
		{gz(t, "a.csv", "x"), archive.Gzip, nil},
		{mkzip(t, ""), archive.Zip, nil},
		{mkzip(t, "", member{name: "a.csv", body: "x"}), archive.Zip, nil},
		{nil, archive.Unknown, archive.ErrEmpty},
		{[]byte("BZh91AY&SY"), archive.Unknown, archive.ErrUnsupported},
		{[]byte{0x28, 0xB5, 0x2F, 0xFD, 0}, archive.Unknown, archive.ErrUnsupported},
	} {
		got, err := archive.Detect(bytes.NewReader(tt.in), int64(len(tt.in)))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Detect(%q) = %v, %v; want %v, %v", tt.in[:min(len(tt.in), 8)], got, err, tt.want, tt.err)
		}
	}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    map[string]string
		rows    int64
		removed int64
	}{
		{"csv", []byte(csvIn), map[string]string{"": csvOut}, 3, 2},
		{"gzip", gz(t, "x.csv", csvIn), map[string]string{"": csvOut}, 3, 2},
		{"gzip multi-member", gz(t, "x.csv", csvIn[:50], csvIn[50:]), map[string]string{"": csvOut}, 3, 2},
		{"gzip members with other names", append(gz(t, "x.csv", csvIn[:50]), gz(t, "y.csv", csvIn[50:])...), map[string]string{"": csvOut}, 3, 2},
		{"zip", mkzip(t, "archive comment",
			member{name: "README.txt", body: "A1 is listed here and stays", method: zip.Deflate},
			member{name: "a.csv", body: csvIn, method: zip.Deflate, comment: "member comment"},
			member{name: "dir/", method: zip.Store},
			member{name: "dir/b.CSV", body: clean, method: zip.Deflate},
			member{name: "dir/c.csv", body: csvIn, method: zip.Store}),
			map[string]string{"README.txt": "A1 is listed here and stays", "a.csv": csvOut, "dir/": "", "dir/b.CSV": clean, "dir/c.csv": csvOut}, 7, 4},
		{"zip all removed", mkzip(t, "", member{name: "a.csv", body: "Client ID\nA1\nB2", method: zip.Deflate}),
			map[string]string{"a.csv": "Client ID\n"}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := bytes.NewReader(tt.in)
			scan, err := archive.Scan(src, src.Size(), flt, false)
			if err != nil {
				t.Fatal(err)
			}
			if scan.Rows() != tt.rows || scan.Removed() != tt.removed {
				t.Errorf("scan: rows %d removed %d, want %d %d", scan.Rows(), scan.Removed(), tt.rows, tt.removed)
			}
			quick, err := archive.Scan(src, src.Size(), flt, true)
			if err != nil || quick.Removed() != 1 {
				t.Errorf("stopping scan: %v removed %d, want 1", err, quick.Removed())
			}
			var out bytes.Buffer
			rep, err := archive.Rewrite(&out, src, src.Size(), flt, archive.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rows() != tt.rows || rep.Removed() != tt.removed {
				t.Errorf("rewrite: rows %d removed %d, want %d %d", rep.Rows(), rep.Removed(), tt.rows, tt.removed)
			}
			got := scrubtest.Streams(t, out.Bytes()) // the standard library's decoders
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("member %q = %q, want %q", k, got[k], v)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("members %v, want %v", got, tt.want)
			}
			after, err := archive.Scan(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := archive.Verify(rep, after); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRewriteKeepsZipMetadata(t *testing.T) {
	in := mkzip(t, "archive comment",
		member{name: "notes.txt", body: strings.Repeat("carried raw ", 100), method: zip.Deflate},
		member{name: "a.csv", body: csvIn, method: zip.Deflate, comment: "member comment"},
		member{name: "b.csv", body: clean, method: zip.Deflate})
	var out bytes.Buffer
	if _, err := archive.Rewrite(&out, bytes.NewReader(in), int64(len(in)), flt, archive.Options{}); err != nil {
		t.Fatal(err)
	}
	zin, _ := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	zout, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if zout.Comment != zin.Comment {
		t.Errorf("comment %q, want %q", zout.Comment, zin.Comment)
	}
	for i, a := range zin.File {
		b := zout.File[i]
		//lint:ignore SA1019 the MS-DOS time fields are compared on purpose: a rewrite keeps them bit for bit
		sameDOSTime := a.ModifiedDate == b.ModifiedDate && a.ModifiedTime == b.ModifiedTime
		if a.Name != b.Name || a.Comment != b.Comment || !a.Modified.Equal(b.Modified) ||
			!sameDOSTime || a.Method != b.Method || a.ExternalAttrs != b.ExternalAttrs {
			t.Errorf("member %d: header %+v\nwant %+v", i, b.FileHeader, a.FileHeader)
		}
		if a.Name == "a.csv" {
			continue
		}
		// Unchanged members are copied raw: same compressed bytes.
		ra, _ := a.OpenRaw()
		rb, _ := b.OpenRaw()
		ba, _ := io.ReadAll(ra)
		bb, _ := io.ReadAll(rb)
		if !bytes.Equal(ba, bb) || a.CRC32 != b.CRC32 {
			t.Errorf("member %s was not copied raw", a.Name)
		}
	}
}

func TestRewriteKeepsGzipHeader(t *testing.T) {
	in := gz(t, "2376158762_cust_2017-11-24.csv", csvIn)
	var out bytes.Buffer
	if _, err := archive.Rewrite(&out, bytes.NewReader(in), int64(len(in)), flt, archive.Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "2376158762_cust_2017-11-24.csv" || !r.ModTime.Equal(mtime) || r.Comment != "exported" {
		t.Errorf("header %+v", r.Header)
	}
}

func TestBadArchives(t *testing.T) {
	good := gz(t, "x.csv", csvIn)
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-6] ^= 0xff // CRC
	zgood := mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate})
	zcorrupt := append([]byte(nil), zgood...)
	zcorrupt[52] ^= 0xff // inside the compressed data (30 + name + 9 bytes of extra)
	tests := []struct {
		name string
		in   []byte
		want string
		is   error
	}{
		{"empty", nil, "empty file", archive.ErrEmpty},
		{"gzip crc", corrupt, "gzip: ", nil},
		{"gzip truncated", good[:len(good)/2], "gzip: truncated", io.ErrUnexpectedEOF},
		{"gzip trailing garbage", append(append([]byte(nil), good...), "garbage"...), "gzip: ", nil},
		{"zip truncated", zgood[:len(zgood)-10], "zip: ", nil},
		{"zip corrupt member", zcorrupt, "member a.csv: ", nil},
		{"zip nested", mkzip(t, "", member{name: "a.csv.gz", body: "x"}), "member a.csv.gz", archive.ErrNested},
		{"zip bad csv", mkzip(t, "", member{name: "a.csv", body: "Client ID,v\nA1\n", method: zip.Deflate}),
			"member a.csv: line 2, column 1: wrong number of fields", filter.ErrFieldCount},
		{"csv with id column, bad quote", []byte("Client ID,v\nA1,1\nB2,2\nC3,3\nD4,\"x\nE5,5\n"), "line 5, column 4: extraneous or missing \"", filter.ErrQuote},
		{"csv with id column, not UTF-8", []byte("Client ID,Gr\xF6\xDFe\nZ9,1\n"), "line 1, column 13: invalid UTF-8", filter.ErrInvalidUTF8},
		{"zip member with id column, bad quote", mkzip(t, "", member{name: "data.txt", body: "Client ID,v\nZ9,1\nZ8,2\nZ7,3\nZ6,\"x\nZ5,5\n", method: zip.Deflate}),
			"member data.txt: line 5, column 4: extraneous or missing \"", filter.ErrQuote},
		{"xz", []byte{0xFD, '7', 'z', 'X', 'Z', 0, 1}, "unsupported format: xz", archive.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, stop := range []bool{false, true} {
				_, err := archive.Scan(bytes.NewReader(tt.in), int64(len(tt.in)), flt, stop)
				if err == nil && stop {
					continue // stopping at the first match may not reach the damage
				}
				check(t, "scan", err, tt.want, tt.is)
			}
			_, err := archive.Rewrite(io.Discard, bytes.NewReader(tt.in), int64(len(tt.in)), flt, archive.Options{})
			check(t, "rewrite", err, tt.want, tt.is)
		})
	}
}

func check(t *testing.T, op string, err error, want string, is error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) || (is != nil && !errors.Is(err, is)) {
		t.Errorf("%s: err = %v, want %q (%v)", op, err, want, is)
	}
}

func TestVerifyDetects(t *testing.T) {
	in := mkzip(t, "", member{name: "a.csv", body: csvIn, method: zip.Deflate}, member{name: "n.txt", body: "x"})
	rep, err := archive.Rewrite(io.Discard, bytes.NewReader(in), int64(len(in)), flt, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string][]byte{
		"unfiltered":     in,
		"member missing": mkzip(t, "", member{name: "a.csv", body: csvOut, method: zip.Deflate}),
		"row lost":       mkzip(t, "", member{name: "a.csv", body: "Timestamp,Client ID,Custom Values\n", method: zip.Deflate}, member{name: "n.txt", body: "x"}),
		"other changed":  mkzip(t, "", member{name: "a.csv", body: csvOut, method: zip.Deflate}, member{name: "n.txt", body: "y"}),
		"format":         gz(t, "a.csv", csvOut),
	} {
		after, err := archive.Scan(bytes.NewReader(other), int64(len(other)), flt, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := archive.Verify(rep, after); !errors.Is(err, archive.ErrVerify) {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
}

// countingFilter is flt, counting the bytes each of its passes reads; with
// unmatch set, its filter pass finds nothing to remove whatever its
// first pass matched, as if the data changed between the passes.
type countingFilter struct {
	read    int64
	unmatch bool
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func (c *countingFilter) Filter(dst io.Writer, src io.Reader) (filter.Stats, error) {
	if c.unmatch {
		if dst == nil {
			dst = io.Discard
		}
		n, err := io.Copy(dst, countReader{src, &c.read})
		return filter.Stats{Rows: n}, err
	}
	return flt.Filter(dst, countReader{src, &c.read})
}

func (c *countingFilter) Match(src io.Reader) (filter.Stats, bool, error) {
	return flt.Match(countReader{src, &c.read})
}

// TestRewriteZipPasses: a zip member's first pass stops at its first
// matching row, so a member that matches early is read a little more than
// once, not twice; and a filter pass that then removes nothing (the member
// changed between the passes) fails the archive.
func TestRewriteZipPasses(t *testing.T) {
	body := "Timestamp,Client ID\nt,A1\n" + strings.Repeat("t,Z9\n", 1<<20) // 5 MiB
	data := mkzip(t, "", member{name: "events.csv", body: body, method: zip.Deflate})
	f := &countingFilter{}
	var out bytes.Buffer
	rep, err := archive.Rewrite(&out, bytes.NewReader(data), int64(len(data)), f, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed() != 1 || rep.Rows() != 1<<20+1 {
		t.Errorf("removed %d of %d rows, want 1 of %d", rep.Removed(), rep.Rows(), 1<<20+1)
	}
	if size := int64(len(body)); f.read > size+size/4 {
		t.Errorf("read %d bytes of a %d-byte member that matches in its first row", f.read, size)
	}

	_, err = archive.Rewrite(io.Discard, bytes.NewReader(data), int64(len(data)), &countingFilter{unmatch: true}, archive.Options{})
	var me *archive.MemberError
	if !errors.Is(err, archive.ErrChanged) || !errors.As(err, &me) || me.Member != "events.csv" {
		t.Errorf("a filter pass that finds nothing after a match: %v, want ErrChanged in events.csv", err)
	}
}
