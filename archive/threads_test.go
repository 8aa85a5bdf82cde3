package archive_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestRewriteGzipThreads: a gzip file rewritten on several cores is the
// same CSV, in one gzip member with the original's header, as when
// rewritten on one.
func TestRewriteGzipThreads(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("Client ID,v\r\n")
	for i := 0; csv.Len() < 5<<20; i++ {
		id := fmt.Sprintf("C%07d", i)
		if i%20 == 0 {
			id = "A1"
		}
		fmt.Fprintf(&csv, "%s,\"value, %d\"\r\n", id, i)
	}
	var src bytes.Buffer
	zw := gzip.NewWriter(&src)
	zw.Name, zw.ModTime, zw.Comment = "export.csv", time.Date(2017, 11, 22, 0, 0, 0, 0, time.UTC), "daily"
	zw.Write(csv.Bytes())
	zw.Close()

	rewrite := func(threads int) ([]byte, gzip.Header) {
		t.Helper()
		var out bytes.Buffer
		rep, err := archive.Rewrite(&out, bytes.NewReader(src.Bytes()), int64(src.Len()), flt, archive.Options{Threads: threads})
		if err != nil || rep.Removed() == 0 {
			t.Fatalf("threads %d: %v, %d removed", threads, err, rep.Removed())
		}
		zr, err := gzip.NewReader(&out)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zr.Read(nil); err != io.EOF || out.Len() != 0 {
			t.Errorf("threads %d: %d bytes after the first member", threads, out.Len())
		}
		return data, zr.Header
	}
	one, h1 := rewrite(1)
	four, h4 := rewrite(4)
	if !bytes.Equal(one, four) {
		t.Error("the rewrite on 4 threads differs from the one on 1")
	}
	if h4.Name != "export.csv" || !h4.ModTime.Equal(h1.ModTime) || h4.Comment != "daily" {
		t.Errorf("header %+v, want %+v", h4, h1)
	}
}

// TestRewriteZipThreads: a zip rewritten on several cores holds the same
// members, with the same headers, as when rewritten on one: its CSV members
// hold the same rows (one of several MiB, so of several blocks, one
// stored, one empty of rows once filtered), the others are copied raw; and
// the rewrite is the same bytes every time.
func TestRewriteZipThreads(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("Client ID,v\r\n")
	for i := 0; csv.Len() < 5<<20; i++ {
		id := fmt.Sprintf("C%07d", i)
		if i%20 == 0 {
			id = "A1"
		}
		fmt.Fprintf(&csv, "%s,\"value, %d\"\r\n", id, i)
	}
	src := mkzip(t, "archive comment",
		member{name: "notes.txt", body: "A1 stays here", method: zip.Deflate},
		member{name: "big.csv", body: csv.String(), method: zip.Deflate, comment: "member comment"},
		member{name: "stored.csv", body: csvIn, method: zip.Store},
		member{name: "gone.csv", body: "Client ID\nA1\nB2\n", method: zip.Deflate},
		member{name: "dir/", method: zip.Store},
		member{name: "dir/clean.csv", body: clean, method: zip.Deflate})
	rewrite := func(threads int) []byte {
		t.Helper()
		var out bytes.Buffer
		rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, archive.Options{Threads: threads})
		if err != nil {
			t.Fatalf("threads %d: %v", threads, err)
		}
		after, err := archive.Scan(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false)
		if err != nil {
			t.Fatalf("threads %d: %v", threads, err)
		}
		if err := archive.Verify(rep, after); err != nil {
			t.Fatalf("threads %d: %v", threads, err)
		}
		return out.Bytes()
	}
	one, four := rewrite(1), rewrite(4)
	if again := rewrite(4); !bytes.Equal(four, again) {
		t.Error("two rewrites on 4 threads differ")
	}
	zone, err := zip.NewReader(bytes.NewReader(one), int64(len(one)))
	if err != nil {
		t.Fatal(err)
	}
	zfour, err := zip.NewReader(bytes.NewReader(four), int64(len(four)))
	if err != nil {
		t.Fatal(err)
	}
	if zfour.Comment != "archive comment" || len(zfour.File) != len(zone.File) {
		t.Fatalf("comment %q, %d members; want %q, %d", zfour.Comment, len(zfour.File), "archive comment", len(zone.File))
	}
	for i, a := range zone.File {
		b := zfour.File[i]
		if a.Name != b.Name || a.Comment != b.Comment || a.Method != b.Method || !a.Modified.Equal(b.Modified) ||
			a.CRC32 != b.CRC32 || a.UncompressedSize64 != b.UncompressedSize64 || !bytes.Equal(a.Extra, b.Extra) {
			t.Errorf("member %d: header %+v\nwant %+v", i, b.FileHeader, a.FileHeader)
		}
	}
	s1, s4 := scrubtest.Streams(t, one), scrubtest.Streams(t, four)
	for name, data := range s1 {
		if !bytes.Equal(s4[name], data) {
			t.Errorf("member %s differs on 4 threads", name)
		}
	}
	if !bytes.Equal(s4["notes.txt"], []byte("A1 stays here")) || bytes.Contains(s4["big.csv"], []byte("A1")) {
		t.Error("rewritten on 4 threads, notes.txt changed or big.csv holds A1")
	}
}
