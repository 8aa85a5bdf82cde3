package archive_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/scrubtool/scrub/archive"
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
