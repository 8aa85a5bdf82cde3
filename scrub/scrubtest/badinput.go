package scrubtest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// BadInputs returns archives that scrub must refuse, by file name: each
// fails its own archive with an error that names what is wrong (and where:
// the member, the line and column), and leaves it as it was. Every one fails
// with the default settings (no --max-record, --max-member-size, --max-ratio
// or --allow-invalid-utf8):
//
//   - corrupt.csv.gz: a gzip file with a wrong checksum
//   - truncated.csv.gz: the first half of a gzip file
//   - corrupt.zip: a zip whose member export.csv has a wrong checksum
//   - truncated.zip: the first two thirds of a zip file
//   - bomb.zip: 4 MiB of CSV ("Client ID" and "A" rows) in a 4 KB member
//     bomb.csv, 1022:1, over the default --max-ratio of 1000 by its header
//   - bomb.csv.gz: the same CSV as a gzip file, over --max-ratio a little
//     after the first MiB is decompressed; with --max-ratio 1100 or more it
//     passes, unless --max-member-size is under 4 MiB
//   - dotdot.zip, backslash.zip, absolute.zip, drive.zip: a member named
//     ../evil.csv, ..\evil.csv, /tmp/evil.csv and C:\evil.csv
//   - latin1.csv: ISO 8859-1 text, invalid UTF-8 at line 3, column 17 (it
//     passes with --allow-invalid-utf8)
//   - unbalanced-quotes.csv: a quoted field opened at line 2, column 6 and
//     never closed
//   - ragged.csv: line 3 has 2 fields, the header 3
//   - no-id-column.csv: no column with one of the default ID column names
//   - too-long-line.csv: a 16 MiB + 1 KiB line 2 (one quoted field, which
//     the filter scans fastest), over the default --max-record of 16 MiB
//     (it passes with --max-record 17000000)
//   - empty.csv: no bytes at all
//   - empty.csv.gz: a gzip file of no bytes: no header row
//   - image.png: the start of a PNG image
//   - random.bin: 4 KiB of random bytes
//
// No ID of Listed occurs in any of them; [BadInputWant] holds a part of each
// one's error message. Those in [NotTables] are not exports: they are not
// refused but reported not-scanned, with that message in the reason.
func BadInputs(t testing.TB) map[string][]byte {
	t.Helper()
	const csv = "Timestamp,Client ID,Custom Values\r\n2017-11-22 10:00:00,Z9,\"(K,V)\"\r\n2017-11-22 10:00:01,Z8,\r\n"
	good := gzipOf(t, csv)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 0xff // CRC-32 in the trailer
	zgood := zipOf(t, "export.csv", csv, zip.Deflate)
	zbadCRC := bytes.Clone(zgood)
	if k := bytes.LastIndex(zbadCRC, []byte("PK\x01\x02")); k < 0 {
		t.Fatal("no central directory")
	} else {
		zbadCRC[k+16] ^= 0xff // CRC-32 in the central directory
	}
	bomb := "Client ID\n" + strings.Repeat("A\n", 2<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	random[0], random[1] = 0xFF, 0 // never another format's magic number, never UTF-8
	return map[string][]byte{
		"corrupt.csv.gz":        badCRC,
		"truncated.csv.gz":      good[:len(good)/2],
		"corrupt.zip":           zbadCRC,
		"truncated.zip":         zgood[:len(zgood)*2/3],
		"bomb.zip":              zipOf(t, "bomb.csv", bomb, zip.Deflate),
		"bomb.csv.gz":           gzipOf(t, bomb),
		"dotdot.zip":            zipOf(t, "../evil.csv", csv, zip.Deflate),
		"backslash.zip":         zipOf(t, `..\evil.csv`, csv, zip.Deflate),
		"absolute.zip":          zipOf(t, "/tmp/evil.csv", csv, zip.Deflate),
		"drive.zip":             zipOf(t, `C:\evil.csv`, csv, zip.Deflate),
		"latin1.csv":            []byte("Zeit,Client ID,Wert\n2017-11-22,Z9,1\n2017-11-22,Z8,Gr\xF6\xDFe\n"),
		"unbalanced-quotes.csv": []byte("Client ID,Custom Values\nZ9,\"(K,V)\nZ8,x\n"),
		"ragged.csv":            []byte("Timestamp,Client ID,Custom Values\nt1,Z9,x\nt2,Z8\n"),
		"no-id-column.csv":      []byte("Timestamp,User,Custom Values\nt1,Z9,x\n"),
		"too-long-line.csv":     []byte("Client ID,Custom Values\nZ9,\"" + strings.Repeat("x", 16<<20+1<<10) + "\"\n"),
		"empty.csv":             {},
		"empty.csv.gz":          gzipOf(t, ""),
		"image.png":             []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"),
		"random.bin":            random,
	}
}

// BadInputWant holds, for each file of [BadInputs], a part of the message
// of the error scrub must report for it (after the name of the archive).
var BadInputWant = map[string]string{
	"corrupt.csv.gz":        "gzip: checksum mismatch",
	"truncated.csv.gz":      "gzip: truncated",
	"corrupt.zip":           "member export.csv: checksum mismatch",
	"truncated.zip":         "zip: not a valid zip file",
	"bomb.zip":              "member bomb.csv: expands more than 1000-fold by its header (",
	"bomb.csv.gz":           "expands more than 1000-fold (",
	"dotdot.zip":            `member ../evil.csv: zip: insecure file path: ".." element`,
	"backslash.zip":         `member ..\evil.csv: zip: insecure file path: ".." element`,
	"absolute.zip":          "member /tmp/evil.csv: zip: insecure file path: absolute path",
	"drive.zip":             `member C:\evil.csv: zip: insecure file path: drive letter`,
	"latin1.csv":            "line 3, column 17: invalid UTF-8",
	"unbalanced-quotes.csv": "line 2, column 4: extraneous or missing \" in quoted field (quoted field opened here is never closed)",
	"ragged.csv":            "line 3, column 1: wrong number of fields (2, header has 3)",
	"no-id-column.csv":      "line 1, column 1: no ID column",
	"too-long-line.csv":     "line 2, column 1: record too long (over 16777216 bytes)",
	"empty.csv":             "empty file",
	"empty.csv.gz":          "no header row (empty CSV)",
	"image.png":             "unsupported format: png",
	"random.bin":            "line 1, column 1: invalid UTF-8",
}

// NotTables names the inputs of [BadInputs] that are not a table with an
// ID column: scrub reports them not-scanned, with the reason, rather than
// failed.
var NotTables = map[string]bool{"no-id-column.csv": true, "empty.csv.gz": true, "image.png": true, "random.bin": true}

func gzipOf(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipOf(t testing.TB, name, body string, method uint16) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	w.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: method})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(fw, body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
