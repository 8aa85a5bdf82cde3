package archive_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
)

// csvRows returns a CSV with a Client ID column and n rows made by row.
func csvRows(n int, row func(i int) string) string {
	var b strings.Builder
	b.WriteString("Client ID,v\n")
	for i := range n {
		b.WriteString(row(i))
	}
	return b.String()
}

// gz9 is gz at level 9, which compresses runs of a byte over 1000:1, where
// level 6 manages only 510:1.
func gz9(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, 9)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// deflate compresses s at level 9.
func deflate(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, 9)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawZip makes a zip of one deflated member whose header claims the given
// sizes (0: the true one), a lying header if they differ.
func rawZip(t testing.TB, name, body string, claimUncompressed, claimCompressed uint64) []byte {
	data := deflate(t, body)
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(body)),
		UncompressedSize64: uint64(len(body)), CompressedSize64: uint64(len(data))}
	if claimUncompressed != 0 {
		fh.UncompressedSize64 = claimUncompressed
	}
	if claimCompressed != 0 {
		fh.CompressedSize64 = claimCompressed
	}
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	fw, err := w.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// overlapping makes a zip with n central directory entries (named m0.csv,
// m1.csv, ...) that all point at the same local file: a non-recursive zip
// bomb, whose members together expand far beyond what deflate allows one.
func overlapping(t testing.TB, body string, n int) []byte {
	one := mkzip(t, "", member{name: "m0.csv", body: body, method: zip.Deflate})
	cd := bytes.LastIndex(one, []byte("PK\x01\x02"))
	eocd := bytes.LastIndex(one, []byte("PK\x05\x06"))
	entry := one[cd:eocd]
	out := bytes.Clone(one[:cd])
	for i := range n {
		e := bytes.Clone(entry)
		copy(e[46:], fmt.Sprintf("m%d.csv", i%10)) // same length names
		out = append(out, e...)
	}
	end := bytes.Clone(one[eocd:])
	binary.LittleEndian.PutUint16(end[8:], uint16(n))
	binary.LittleEndian.PutUint16(end[10:], uint16(n))
	binary.LittleEndian.PutUint32(end[12:], uint32(n*len(entry)))
	return append(out, end...)
}

func TestLimits(t *testing.T) {
	const mib = 1 << 20
	// About 1.2 MiB of CSV that compresses like an export, 5-10:1.
	varied := csvRows(60_000, func(i int) string { return fmt.Sprintf("%016X,%d\n", uint64(i)*0x9E3779B97F4A7C15, i%977) })
	// 2 MiB of rows of one byte: deflate's best, about 1030:1.
	bomb := csvRows(2*mib/3, func(int) string { return "A,\n" })
	gzBomb := gz9(t, bomb)
	// Rows of 5 bytes deflate about 690:1: over 1000 if counted twice.
	fives := csvRows(400_000, func(int) string { return "ZZZ,\n" }) + "A1,\n"
	// 1.2 MiB that deflate about 400:1.
	overlap := csvRows(60_000, func(int) string { return "ABCDEFGHIJKLMNOPQRS,\n" })
	// Just under RatioGrace, over 1000:1.
	small := csvRows((mib-20)/3, func(int) string { return "A,\n" })

	tests := []struct {
		name string
		in   []byte
		opt  archive.Options
		want string // in the message; "" for no error
		is   error
		lim  archive.LimitError // the fields checked: Claimed, Archive
	}{
		{name: "gzip over size", in: gz(t, "", varied), opt: archive.Options{MaxMemberSize: mib},
			want: "expands to more than 1 MiB (1048576 bytes): a decompression bomb? If the archive is genuine, raise the limit with --max-member-size", is: archive.ErrTooLarge},
		{name: "gzip at size", in: gz(t, "", varied), opt: archive.Options{MaxMemberSize: int64(len(varied))}},
		{name: "gzip one byte over size", in: gz(t, "", varied), opt: archive.Options{MaxMemberSize: int64(len(varied)) - 1},
			want: fmt.Sprintf("expands to more than %d bytes: ", len(varied)-1), is: archive.ErrTooLarge},
		{name: "zip over size by header", in: mkzip(t, "", member{name: "a.csv", body: varied, method: zip.Deflate}), opt: archive.Options{MaxMemberSize: mib},
			want: fmt.Sprintf("member a.csv: expands to %d bytes by its header, more than 1 MiB (1048576 bytes): a decompression bomb? If the archive is genuine, raise the limit with --max-member-size", len(varied)),
			is:   archive.ErrTooLarge, lim: archive.LimitError{Claimed: true}},
		{name: "zip header understates size", in: rawZip(t, "a.csv", varied, 1000, 0), want: "member a.csv: data does not match its header: corrupt", is: archive.ErrCorrupt},
		{name: "zip header understates size, stored", in: mkzip(t, "", member{name: "a.csv", body: varied}), opt: archive.Options{MaxMemberSize: mib}, is: archive.ErrTooLarge,
			want: "member a.csv: expands to", lim: archive.LimitError{Claimed: true}},
		{name: "gzip bomb", in: gzBomb, want: "expands more than 1000-fold (", is: archive.ErrRatio},
		{name: "gzip bomb, ratio raised", in: gzBomb, opt: archive.Options{MaxRatio: 1100}},
		{name: "gzip bomb, no ratio limit", in: gzBomb, opt: archive.Options{MaxRatio: -1}},
		{name: "gzip bomb, no ratio limit, size", in: gzBomb, opt: archive.Options{MaxRatio: -1, MaxMemberSize: mib + mib/2}, want: "expands to more than 1572864 bytes", is: archive.ErrTooLarge},
		{name: "gzip bomb, no limits", in: gzBomb, opt: archive.Options{MaxRatio: -1, MaxMemberSize: -1}},
		{name: "zip bomb", in: rawZip(t, "a.csv", bomb, 0, 0),
			want: "member a.csv: expands more than 1000-fold by its header (", is: archive.ErrRatio, lim: archive.LimitError{Claimed: true}},
		{name: "zip bomb, header claims data beyond the end", in: rawZip(t, "a.csv", bomb, 0, 1<<30),
			want: "member a.csv: truncated: unexpected EOF", is: archive.ErrCorrupt},
		{name: "zip bomb, header overstates compressed size", in: overstated(t, bomb, 64<<10), opt: archive.Options{MaxRatio: 500},
			want: "member a.csv: expands more than 500-fold (", is: archive.ErrRatio},
		{name: "zip bomb, ratio limit lowered", in: rawZip(t, "a.csv", fives, 0, 0), opt: archive.Options{MaxRatio: 500},
			want: "member a.csv: expands more than 500-fold by its header", is: archive.ErrRatio, lim: archive.LimitError{Claimed: true}},
		{name: "rewrite reads a member twice, counts it once", in: rawZip(t, "a.csv", fives, 0, 0)},
		{name: "small file over the ratio", in: gz9(t, small)},
		{name: "overlapping members", in: overlapping(t, overlap, 4),
			want: "member m2.csv: members together expand to more than 1000 times the archive's size by its header (", is: archive.ErrRatio,
			lim: archive.LimitError{Claimed: true, Archive: true}},
		{name: "overlapping members, ratio limit off", in: overlapping(t, overlap, 4),
			opt: archive.Options{MaxRatio: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLimit := func(op string, err error) {
				t.Helper()
				if tt.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", op, err)
					}
					return
				}
				check(t, op, err, tt.want, tt.is)
				var le *archive.LimitError
				if errors.As(err, &le) && (le.Claimed != tt.lim.Claimed || le.Archive != tt.lim.Archive) {
					t.Errorf("%s: %+v, want Claimed %v Archive %v", op, le, tt.lim.Claimed, tt.lim.Archive)
				}
			}
			src := bytes.NewReader(tt.in)
			scan, err := archive.ScanWith(src, src.Size(), flt, false, tt.opt)
			checkLimit("scan", err)
			_, err = archive.ScanWith(src, src.Size(), flt, true, tt.opt)
			if err != nil || tt.want == "" {
				checkLimit("stopping scan", err)
			}
			var out bytes.Buffer
			rep, err := archive.Rewrite(&out, src, src.Size(), flt, tt.opt)
			checkLimit("rewrite", err)
			if err != nil {
				return
			}
			if rep.Rows() != scan.Rows() || rep.Removed() != scan.Removed() {
				t.Errorf("rewrite: %d rows, %d removed; scan: %d, %d", rep.Rows(), rep.Removed(), scan.Rows(), scan.Removed())
			}
			// The rewrite of a bomb whose ratio was under the limit may be
			// over it, so scrub's own output is read back without limits.
			after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false, noLimits)
			if err != nil {
				t.Fatalf("scan of the rewrite: %v", err)
			}
			if err := archive.Verify(rep, after); err != nil {
				t.Fatal(err)
			}
		})
	}
}

var noLimits = archive.Options{}.WithoutLimits()

// overstated makes a zip whose member a.csv holds body deflated, under a
// header that says its compressed data is extra bytes longer: they are those
// of the stored member pad.bin that follows.
func overstated(t testing.TB, body string, extra int) []byte {
	data := deflate(t, body)
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	fw, err := w.CreateRaw(&zip.FileHeader{Name: "a.csv", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(body)),
		UncompressedSize64: uint64(len(body)), CompressedSize64: uint64(len(data) + extra)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	fw, err = w.CreateHeader(&zip.FileHeader{Name: "pad.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(make([]byte, extra)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDefaultLimits checks that Scan is ScanWith with the zero Options, and
// that the zero Options mean the documented defaults.
func TestDefaultLimits(t *testing.T) {
	bomb := gz9(t, csvRows(1<<20, func(int) string { return "A,\n" }))
	src := bytes.NewReader(bomb)
	_, err := archive.Scan(src, src.Size(), flt, false)
	var le *archive.LimitError
	if !errors.As(err, &le) || le.Limit != archive.DefaultMaxRatio || le.Err != archive.ErrRatio {
		t.Errorf("Scan: %v", err)
	}
	_, err = archive.ScanWith(src, src.Size(), flt, false, archive.Options{MaxRatio: archive.DefaultMaxRatio})
	if !errors.As(err, &le) || le.Limit != archive.DefaultMaxRatio {
		t.Errorf("ScanWith: %v", err)
	}
	_, err = archive.ScanWith(src, src.Size(), flt, false, archive.Options{MaxRatio: -1, MaxMemberSize: 1 << 20})
	if !errors.As(err, &le) || le.Limit != 1<<20 || le.Err != archive.ErrTooLarge {
		t.Errorf("ScanWith: %v", err)
	}
	if archive.DefaultMaxMemberSize != 16<<30 || archive.DefaultMaxRatio != 1000 || archive.RatioGrace != 1<<20 {
		t.Error("the defaults differ from what README and the flags' help say")
	}
}

// TestRewriteOverRatio shows why scrub's own output is read back
// WithoutLimits: a rewrite at level 1 can expand more than its source did.
func TestRewriteOverRatio(t *testing.T) {
	opt := archive.Options{MaxRatio: 900}
	in := gz(t, "", csvRows(1<<20, func(int) string { return "A,\n" })+"A1,\n") // level 6: about 510:1
	var out bytes.Buffer
	rep, err := archive.Rewrite(&out, bytes.NewReader(in), int64(len(in)), flt, opt)
	if err != nil || rep.Removed() != 1 {
		t.Fatalf("rewrite: %v, %d removed", err, rep.Removed())
	}
	_, err = archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false, opt)
	if !errors.Is(err, archive.ErrRatio) {
		t.Fatalf("the rewrite (%d bytes) scans with the limits: %v (the test no longer shows the point)", out.Len(), err)
	}
	after, err := archive.ScanWith(bytes.NewReader(out.Bytes()), int64(out.Len()), flt, false, opt.WithoutLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.Verify(rep, after); err != nil {
		t.Fatal(err)
	}
}
