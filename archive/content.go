package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// What the content of a stream is decided by, in the same way whether the
// stream is a plain file, the content of a gzip file or a zip member: first
// its first bytes (sniff), then the filter, which tells a stream that is
// not a table with an ID column (notTable) from a table that is bad.

// sniffLen is how many first bytes of a stream sniff looks at.
const sniffLen = 16

// The kinds of content sniff recognises.
const (
	kindText     = iota // none of the below: for the filter to read
	kindRefused         // may hold rows scrub cannot read: refused
	kindArchive         // a compressor or archive: refused, as nested inside another
	kindParquet         // "PAR1" first: Parquet if "PAR1" is last too
	kindNotTable        // an image or a document: for the filter to read, named if it is not a table
)

// formats are recognised by more than their first 3 or 4 bytes where a
// CSV header could start with those: a column named "BZh1 value" or
// "PAR1" is a column, not a format.
var formats = []struct {
	name  string
	kind  int
	match func(h []byte) bool
}{
	{"gzip", kindArchive, prefix("\x1f\x8b\x08")},
	{"zip", kindArchive, func(h []byte) bool {
		return bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06"))
	}},
	// "BZh", the block size '1' to '9', and the magic number of a
	// compressed block or of the end of the stream.
	{"bzip2", kindArchive, func(h []byte) bool {
		return len(h) >= 10 && bytes.HasPrefix(h, []byte("BZh")) && '1' <= h[3] && h[3] <= '9' &&
			(bytes.Equal(h[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}) ||
				bytes.Equal(h[4:10], []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90}))
	}},
	{"xz", kindArchive, prefix("\xFD7zXZ\x00")},
	// The frame header descriptor's reserved bit is 0.
	{"zstd", kindArchive, func(h []byte) bool {
		return len(h) >= 5 && bytes.HasPrefix(h, []byte{0x28, 0xB5, 0x2F, 0xFD}) && h[4]&0x08 == 0
	}},
	{"7z", kindArchive, prefix("7z\xBC\xAF\x27\x1C")},
	{"rar", kindArchive, prefix("Rar!\x1A\x07")},
	{"parquet", kindParquet, prefix("PAR1")},
	{"UTF-16 text (convert it to UTF-8)", kindRefused, func(h []byte) bool {
		return bytes.HasPrefix(h, []byte{0xFF, 0xFE}) || bytes.HasPrefix(h, []byte{0xFE, 0xFF})
	}},
	{"png", kindNotTable, prefix("\x89PNG\r\n\x1a\n")},
	{"jpeg", kindNotTable, prefix("\xFF\xD8\xFF")},
	{"gif", kindNotTable, func(h []byte) bool {
		return bytes.HasPrefix(h, []byte("GIF87a")) || bytes.HasPrefix(h, []byte("GIF89a"))
	}},
	{"pdf", kindNotTable, func(h []byte) bool {
		return len(h) >= 6 && bytes.HasPrefix(h, []byte("%PDF-")) && '1' <= h[5] && h[5] <= '9'
	}},
}

func prefix(p string) func([]byte) bool {
	return func(h []byte) bool { return bytes.HasPrefix(h, []byte(p)) }
}

// sniff returns the kind and name of the content that starts with head
// (kindText for text, or what is not recognised).
func sniff(head []byte) (kind int, name string) {
	for _, f := range formats {
		if f.match(head) {
			return f.kind, f.name
		}
	}
	return kindText, ""
}

// parquetTail is what a Parquet file ends with, as it starts; a file that
// only starts with it is not Parquet.
var parquetTail = []byte("PAR1")

// unsupported is the error for content of a format scrub does not read.
func unsupported(name string) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, name)
}

// notTableReason is the reason a stream that the filter found is not a
// table was not read: err's message, or the format its first bytes say
// (what), if any.
func notTableReason(err error, what string) (string, bool) {
	reason, ok := isNotTable(err)
	if ok && what != "" {
		reason = "not scanned: " + unsupported(what).Error() + " (not a table)"
	}
	return reason, ok
}

// notTable is what the filter's errors for a stream that is not a table
// with an ID column implement (scrub/filter's ParseError): an empty
// stream, a header without the ID column, a first line that is not CSV
// text. Such a stream is not an export; it is carried over unread, and
// named in the report.
type notTable interface{ NotTable() bool }

// isNotTable reports whether err is a filter's error for a stream that is
// not a table, and then the reason to report.
func isNotTable(err error) (string, bool) {
	var nt notTable
	if err == nil || !errors.As(err, &nt) || !nt.NotTable() {
		return "", false
	}
	return "not scanned: " + err.Error(), true
}

// content reads a decompressed stream r (a gzip file's content or a zip
// member's) through fn, judged as a plain file's content is: refused if
// it starts like a format scrub does not read (inside a zip member, an
// archive or compressed stream is nested: ErrNested), and not read as CSV
// if fn's error says it is not a table (an image is named as such). It
// returns why the stream was not read as CSV, "" if it was. A stream not
// read as CSV, and one that may be Parquet, is read to its end, so that
// the decompressor's checksum and the limits are checked as for CSV, and
// an error there is the stream's error.
func content(r io.Reader, member bool, fn func(io.Reader) error) (string, error) {
	w := &watch{r: r}
	if err := w.peek(sniffLen); err != nil {
		return "", err
	}
	kind, name := sniff(w.head)
	switch kind {
	case kindArchive:
		if member {
			return "", fmt.Errorf("%w (%s, by its content)", ErrNested, name)
		}
		return "", fmt.Errorf("%w: %s inside gzip", ErrUnsupported, name)
	case kindRefused:
		return "", unsupported(name)
	}
	what := ""
	if kind == kindNotTable {
		what = name
	}
	err := fn(w)
	reason, skip := notTableReason(err, what)
	if skip {
		err = w.drain()
	}
	if kind == kindParquet {
		if derr := w.drain(); derr != nil {
			return "", cmpErr(err, derr)
		}
		if w.n >= int64(2*len(parquetTail)) && bytes.Equal(w.tail[:], parquetTail) {
			return "", unsupported(name)
		}
	}
	return reason, err
}

// cmpErr returns err, or else derr.
func cmpErr(err, derr error) error {
	if err != nil {
		return err
	}
	return derr
}

// watch passes a stream through, after reading its first bytes ahead,
// and keeps its last bytes.
type watch struct {
	r    io.Reader
	head []byte // the first bytes
	off  int    // of head, passed on
	err  error  // that ended peek
	tail [4]byte
	n    int64 // bytes read from r
}

// peek reads up to n first bytes into w.head. It returns an error of the
// stream other than its end.
func (w *watch) peek(n int) error {
	buf := make([]byte, n)
	k := 0
	for k < n && w.err == nil {
		var m int
		m, w.err = w.r.Read(buf[k:])
		k += m
	}
	w.head = buf[:k]
	w.keep(w.head)
	if w.err == io.EOF {
		return nil
	}
	return w.err
}

func (w *watch) keep(b []byte) {
	w.n += int64(len(b))
	if len(b) >= len(w.tail) {
		copy(w.tail[:], b[len(b)-len(w.tail):])
		return
	}
	copy(w.tail[:], w.tail[len(b):])
	copy(w.tail[len(w.tail)-len(b):], b)
}

func (w *watch) Read(p []byte) (int, error) {
	if w.off < len(w.head) {
		n := copy(p, w.head[w.off:])
		w.off += n
		return n, nil
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.r.Read(p)
	w.keep(p[:n])
	return n, err
}

// drain reads the rest of the stream.
func (w *watch) drain() error {
	_, err := io.Copy(io.Discard, w)
	return err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
