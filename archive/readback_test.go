package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
)

// rereadSource is a zip with a rewritten member of many blocks, a stored
// one, one left without rows, one without a match and one not a table.
func rereadSource(t *testing.T) []byte {
	var csv bytes.Buffer
	csv.WriteString("Timestamp,Client ID\n")
	for i := 0; csv.Len() < 3<<20; i++ {
		id := fmt.Sprintf("C%07d", i)
		if i%10 == 0 {
			id = "B2"
		}
		fmt.Fprintf(&csv, "t%d,%s\n", i, id)
	}
	return mkzip(t, "",
		member{name: "notes.txt", body: "A1 stays here", method: zip.Deflate},
		member{name: "big.csv", body: csv.String(), method: zip.Deflate},
		member{name: "stored.csv", body: csvIn, method: zip.Store},
		member{name: "dir/", method: zip.Store},
		member{name: "dir/gone.csv", body: "Client ID\nA1\n", method: zip.Deflate},
		member{name: "dir/clean.csv", body: clean, method: zip.Deflate})
}

// summary is what a report says of each member, for comparing reports.
func summary(rep *archive.Report) string {
	var b strings.Builder
	for _, m := range rep.Members {
		fmt.Fprintf(&b, "%s csv=%v rows=%d removed=%d reason=%q\n", m.Name, m.CSV, m.Rows, m.Removed, m.Reason)
	}
	return b.String()
}

// TestReread: the zip members that Rewrite deflates with Options.Reread
// set are confirmed by Reread without being inflated again, and Reread
// reports what ScanWith reports, which Verify passes.
func TestReread(t *testing.T) {
	src := rereadSource(t)
	for _, threads := range []int{1, 4} {
		t.Run(fmt.Sprint("threads ", threads), func(t *testing.T) {
			var out bytes.Buffer
			rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, archive.Options{Threads: threads, Reread: flt})
			if err != nil {
				t.Fatal(err)
			}
			scan, err := archive.Scan(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false)
			if err != nil {
				t.Fatal(err)
			}
			cf := &countingFilter{}
			after, err := archive.Reread(bytes.NewReader(out.Bytes()), int64(out.Len()), rep, cf, archive.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summary(after), summary(scan); got != want {
				t.Errorf("Reread reports\n%swant, as Scan\n%s", got, want)
			}
			if err := archive.Verify(rep, after); err != nil {
				t.Error(err)
			}
			// Read again: notes.txt, stored.csv and clean.csv, not the
			// deflated members rewritten.
			want := int64(len("A1 stays here") + len(csvOut) + len(clean))
			if cf.read != want {
				t.Errorf("Reread read %d bytes, want %d: the members read back were read again", cf.read, want)
			}
		})
	}
}

// TestRereadOther: given an archive other than the one the rewrite wrote
// (the original, or the rewrite with one byte of a member's compressed data
// changed), Reread confirms nothing: it reports, or fails, as ScanWith, and
// Verify fails the original.
func TestRereadOther(t *testing.T) {
	src := rereadSource(t)
	var out bytes.Buffer
	rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, archive.Options{Threads: 2, Reread: flt})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	others := map[string][]byte{"the original": src}
	for _, zf := range zr.File {
		if zf.Name != "big.csv" && zf.Name != "dir/gone.csv" {
			continue
		}
		off, err := zf.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []int64{0, int64(zf.CompressedSize64) / 2, int64(zf.CompressedSize64) - 1} {
			b := bytes.Clone(out.Bytes())
			b[off+at] ^= 0x10
			others[fmt.Sprintf("%s byte %d changed", zf.Name, at)] = b
		}
	}
	for name, data := range others {
		t.Run(name, func(t *testing.T) {
			got, gerr := archive.Reread(bytes.NewReader(data), int64(len(data)), rep, flt, archive.Options{})
			want, werr := archive.ScanWith(bytes.NewReader(data), int64(len(data)), flt, false, archive.Options{})
			if fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("Reread: %v; ScanWith: %v", gerr, werr)
			}
			if gerr == nil && summary(got) != summary(want) {
				t.Fatalf("Reread reports\n%swant, as ScanWith\n%s", summary(got), summary(want))
			}
			// (A changed byte may be a padding bit of a stored block,
			// which changes nothing the scan sees.)
			if name == "the original" && (gerr != nil || archive.Verify(rep, got) == nil) {
				t.Fatalf("the original: %v, or Verify passes it", gerr)
			}
		})
	}
}

// TestRereadWithout: a rewrite without Options.Reread is read by Reread as
// by ScanWith; with it, a gzip file is confirmed without being read again.
func TestRereadWithout(t *testing.T) {
	for name, src := range map[string][]byte{"zip": rereadSource(t), "gzip": gz(t, "x.csv", csvIn)} {
		t.Run(name, func(t *testing.T) {
			for _, opt := range []archive.Options{{}, {Reread: flt}} {
				var out bytes.Buffer
				rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, opt)
				if err != nil {
					t.Fatal(err)
				}
				cf := &countingFilter{}
				after, err := archive.Reread(bytes.NewReader(out.Bytes()), int64(out.Len()), rep, cf, archive.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := archive.Verify(rep, after); err != nil {
					t.Error(err)
				}
				switch {
				case name == "gzip" && opt.Reread != nil:
					if cf.read != 0 {
						t.Errorf("Reread read %d bytes of a gzip file read back as it was written", cf.read)
					}
				case cf.read == 0 || (name == "zip" && opt.Reread == nil && cf.read < 3<<20*8/10):
					t.Errorf("Reread read %d bytes", cf.read)
				}
			}
		})
	}
}

// bigGzip is a gzip file of 3 MiB of CSV, one row in ten of a listed ID,
// in two members, named big.csv.
func bigGzip(t *testing.T) []byte {
	var csv bytes.Buffer
	csv.WriteString("Timestamp,Client ID\n")
	for i := 0; csv.Len() < 3<<20; i++ {
		id := fmt.Sprintf("C%07d", i)
		if i%10 == 0 {
			id = "B2"
		}
		fmt.Fprintf(&csv, "t%d,%s\n", i, id)
	}
	half := bytes.IndexByte(csv.Bytes()[csv.Len()/2:], '\n') + csv.Len()/2 + 1
	return gz(t, "big.csv", csv.String()[:half], csv.String()[half:])
}

// TestRereadGzip: a gzip file that Rewrite writes with Options.Reread set
// (serial or on several threads) is confirmed by Reread without being
// inflated again, and Reread reports what ScanWith reports, which Verify
// passes.
func TestRereadGzip(t *testing.T) {
	src := bigGzip(t)
	for _, threads := range []int{1, 4} {
		t.Run(fmt.Sprint("threads ", threads), func(t *testing.T) {
			var out bytes.Buffer
			rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, archive.Options{Threads: threads, Reread: flt})
			if err != nil {
				t.Fatal(err)
			}
			scan, err := archive.Scan(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false)
			if err != nil {
				t.Fatal(err)
			}
			cf := &countingFilter{}
			after, err := archive.Reread(bytes.NewReader(out.Bytes()), int64(out.Len()), rep, cf, archive.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summary(after), summary(scan); got != want {
				t.Errorf("Reread reports\n%swant, as Scan\n%s", got, want)
			}
			if err := archive.Verify(rep, after); err != nil {
				t.Error(err)
			}
			if cf.read != 0 {
				t.Errorf("Reread read %d bytes: the file read back was read again", cf.read)
			}
		})
	}
}

// TestRereadGzipOther: given a file other than the one the rewrite wrote
// (the original; the rewrite with a byte of its header, its deflate
// stream or its trailer changed, cut short, or with a byte more), Reread
// confirms nothing: it reports, or fails, as ScanWith, so that a staged
// file that is not what was read back is inflated and scanned in full, and
// the original fails Verify.
func TestRereadGzipOther(t *testing.T) {
	src := bigGzip(t)
	var out bytes.Buffer
	rep, err := archive.Rewrite(&out, bytes.NewReader(src), int64(len(src)), flt, archive.Options{Reread: flt})
	if err != nil {
		t.Fatal(err)
	}
	w := out.Bytes()
	others := map[string][]byte{"the original": src, "cut short": w[:len(w)-1], "a byte more": append(bytes.Clone(w), 0)}
	for _, at := range []int{4, 20, len(w) / 2, len(w) - 9, len(w) - 1} {
		b := bytes.Clone(w)
		b[at] ^= 0x10
		others[fmt.Sprintf("byte %d of %d changed", at, len(w))] = b
	}
	for name, data := range others {
		t.Run(name, func(t *testing.T) {
			cf := &countingFilter{}
			got, gerr := archive.Reread(bytes.NewReader(data), int64(len(data)), rep, cf, archive.Options{})
			want, werr := archive.ScanWith(bytes.NewReader(data), int64(len(data)), flt, false, archive.Options{})
			if fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("Reread: %v; ScanWith: %v", gerr, werr)
			}
			if gerr == nil && summary(got) != summary(want) {
				t.Fatalf("Reread reports\n%swant, as ScanWith\n%s", summary(got), summary(want))
			}
			if gerr == nil && cf.read == 0 {
				t.Errorf("Reread confirmed a file that is not the one read back")
			}
			if name == "the original" && (gerr != nil || archive.Verify(rep, got) == nil) {
				t.Fatalf("the original: %v, or Verify passes it", gerr)
			}
		})
	}
}

// shortDisk fails the writes after its first n bytes.
type shortDisk struct{ n int }

var errShortDisk = errors.New("no space left")

func (d *shortDisk) Write(p []byte) (int, error) {
	if len(p) > d.n {
		k := d.n
		d.n = 0
		return k, errShortDisk
	}
	d.n -= len(p)
	return len(p), nil
}

// TestRewriteZipWriteFails: a destination that fails, early or in the
// middle of a zip member or gzip file compressed in blocks and read back,
// fails the rewrite with its error, and the rewrite returns (its
// goroutines end).
func TestRewriteZipWriteFails(t *testing.T) {
	for name, src := range map[string][]byte{"zip": rereadSource(t), "gzip": bigGzip(t)} {
		t.Run(name, func(t *testing.T) { rewriteWriteFails(t, src) })
	}
}

func rewriteWriteFails(t *testing.T, src []byte) {
	for _, opt := range []archive.Options{{}, {Threads: 4}, {Reread: flt}, {Threads: 4, Reread: flt}} {
		for _, n := range []int{0, 100, 200 << 10} {
			t.Run(fmt.Sprintf("threads %d reread %v after %d", opt.Threads, opt.Reread != nil, n), func(t *testing.T) {
				_, err := archive.Rewrite(&shortDisk{n: n}, bytes.NewReader(src), int64(len(src)), flt, opt)
				if !errors.Is(err, errShortDisk) {
					t.Errorf("got %v, want %v", err, errShortDisk)
				}
			})
		}
	}
}
