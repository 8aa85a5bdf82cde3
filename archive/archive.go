// Package archive reads and rewrites the archive formats that analytics
// platforms export: plain CSV, gzip (RFC 1952, including files of several
// concatenated members) and zip (PKWARE APPNOTE.TXT).
//
// The format is detected from the first bytes of the data, never from the
// name. The package knows nothing about rows: each CSV stream inside an
// archive is handed to a [Filter], and everything else about the archive is
// carried over: zip member names, order, modification times, comments,
// attributes and extra fields, members the filter does not change (copied
// raw, without recompression), and the gzip header's name, modification time,
// comment and OS.
package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/scrub/filter"
)

// Format is an archive format.
type Format int

// The formats scrub handles.
const (
	Unknown Format = iota
	CSV
	Gzip
	Zip
)

func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case Gzip:
		return "gzip"
	case Zip:
		return "zip"
	}
	return "unknown"
}

// Errors for archives scrub cannot handle.
var (
	ErrEmpty       = errors.New("empty file")
	ErrUnsupported = errors.New("unsupported format")
	ErrEncrypted   = errors.New("encrypted zip member")
	ErrNested      = errors.New("archive nested in a zip member")
	ErrChanged     = errors.New("source changed while it was being read")
)

// Filter is what the package needs of a row filter: a pass that copies a
// CSV stream without the matching records (counting only, with a nil dst)
// and a pass that stops at the first match.
type Filter interface {
	Filter(dst io.Writer, src io.Reader) (filter.Stats, error)
	Match(src io.Reader) (filter.Stats, bool, error)
}

// Member describes one CSV stream or zip member.
type Member struct {
	Name    string // zip member name; the gzip header name or "" otherwise
	CSV     bool   // filtered; false means carried over unchanged
	Rows    int64  // data rows read
	Removed int64  // data rows removed (or matched, when only scanning)

	crc32 uint32 // of a carried-over zip member
	size  uint64
}

// Report describes what a pass over an archive saw.
type Report struct {
	Format  Format
	Members []Member
}

// Rows returns the total of data rows read.
func (r *Report) Rows() (n int64) {
	for _, m := range r.Members {
		n += m.Rows
	}
	return n
}

// Removed returns the total of data rows removed or matched.
func (r *Report) Removed() (n int64) {
	for _, m := range r.Members {
		n += m.Removed
	}
	return n
}

// Carried returns the number of members carried over unfiltered.
func (r *Report) Carried() (n int) {
	for _, m := range r.Members {
		if !m.CSV {
			n++
		}
	}
	return n
}

// MemberError places an error inside a zip member.
type MemberError struct {
	Member string
	Err    error
}

func (e *MemberError) Error() string { return fmt.Sprintf("member %s: %v", e.Member, e.Err) }
func (e *MemberError) Unwrap() error { return e.Err }

// magic numbers of formats that are recognised only to be refused.
var refused = []struct {
	magic []byte
	name  string
}{
	{[]byte("BZh"), "bzip2"},
	{[]byte{0xFD, '7', 'z', 'X', 'Z', 0}, "xz"},
	{[]byte{0x28, 0xB5, 0x2F, 0xFD}, "zstd"},
	{[]byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}, "7z"},
	{[]byte("Rar!"), "rar"},
	{[]byte("PAR1"), "parquet"},
}

// Detect returns the format of the data in r by its first bytes.
func Detect(r io.ReaderAt, size int64) (Format, error) {
	if size == 0 {
		return Unknown, ErrEmpty
	}
	head := make([]byte, min(size, 8))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return Unknown, err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip, nil
	}
	for _, f := range refused {
		if bytes.HasPrefix(head, f.magic) {
			return Unknown, fmt.Errorf("%w: %s", ErrUnsupported, f.name)
		}
	}
	return CSV, nil
}

// IsCSVName reports whether a zip member is filtered as CSV, by its name:
// .csv and .tsv files are; everything else is carried over.
func IsCSVName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".csv", ".tsv":
		return true
	}
	return false
}

// nestedExt are member names refused rather than carried over unfiltered:
// they would hide CSV rows from the filter.
var nestedExt = []string{".gz", ".zip", ".gzip", ".tgz", ".bz2", ".xz", ".zst", ".7z"}

// Scan reads the whole archive through f and reports what it would remove.
// With stop set, it returns at the first matching row; the report then
// counts the rows read so far.
func Scan(src io.ReaderAt, size int64, f Filter, stop bool) (*Report, error) {
	format, err := Detect(src, size)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: format}
	scan := func(name string, r io.Reader) (bool, error) {
		var st filter.Stats
		var found bool
		var err error
		if stop {
			st, found, err = f.Match(r)
		} else {
			st, err = f.Filter(nil, r)
			found = st.Removed > 0
		}
		rep.Members = append(rep.Members, Member{Name: name, CSV: true, Rows: st.Rows, Removed: st.Removed})
		return found, err
	}
	switch format {
	case CSV:
		_, err = scan("", io.NewSectionReader(src, 0, size))
		return rep, err
	case Gzip:
		zr, err := gzip.NewReader(io.NewSectionReader(src, 0, size))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		_, err = scan(zr.Name, gzipReader{zr})
		return rep, err
	}
	zr, err := openZip(src, size)
	if err != nil {
		return nil, err
	}
	for _, zf := range zr.File {
		if !IsCSVName(zf.Name) || zf.FileInfo().IsDir() {
			rep.Members = append(rep.Members, Member{Name: zf.Name, crc32: zf.CRC32, size: zf.UncompressedSize64})
			continue
		}
		found, err := withMember(zf, func(r io.Reader) (bool, error) { return scan(zf.Name, r) })
		if err != nil {
			return rep, err
		}
		if found && stop {
			return rep, nil
		}
	}
	return rep, nil
}

// Options tune a rewrite.
type Options struct {
	// Level is the compression level of rewritten gzip files and zip
	// members, from 1 (fastest) to 9 (smallest); 0 means DefaultLevel.
	Level int
}

// DefaultLevel is the compression level used for rewritten data: level 1
// compresses about twice as fast as level 6 (see README, Performance), and a
// rewrite is a one-time cost in a batch that may touch years of exports.
const DefaultLevel = 1

func (o Options) level() int {
	if o.Level == 0 {
		return DefaultLevel
	}
	return o.Level
}

// Rewrite writes the archive in src to dst without the rows f removes, in
// the same format. Zip members without a matching row are copied raw. On
// error, what was written to dst must be discarded.
func Rewrite(dst io.Writer, src io.ReaderAt, size int64, f Filter, opt Options) (*Report, error) {
	format, err := Detect(src, size)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: format}
	switch format {
	case CSV:
		st, err := f.Filter(dst, io.NewSectionReader(src, 0, size))
		rep.Members = append(rep.Members, Member{CSV: true, Rows: st.Rows, Removed: st.Removed})
		return rep, err
	case Gzip:
		return rep, rewriteGzip(dst, src, size, f, opt, rep)
	}
	return rep, rewriteZip(dst, src, size, f, opt, rep)
}

func rewriteGzip(dst io.Writer, src io.ReaderAt, size int64, f Filter, opt Options, rep *Report) error {
	zr, err := gzip.NewReader(io.NewSectionReader(src, 0, size))
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	zw, err := gzip.NewWriterLevel(dst, opt.level())
	if err != nil {
		return err
	}
	zw.Header = zr.Header // name, modification time, comment, extra, OS
	st, err := f.Filter(zw, gzipReader{zr})
	rep.Members = append(rep.Members, Member{Name: zr.Name, CSV: true, Rows: st.Rows, Removed: st.Removed})
	if err != nil {
		return err
	}
	return zw.Close()
}

// gzipReader names the errors of a gzip stream, which otherwise surface
// through the filter looking like any read error.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("gzip: truncated data: %w", err)
	default:
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

func openZip(src io.ReaderAt, size int64) (*zip.Reader, error) {
	zr, err := zip.NewReader(src, size)
	if err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	for _, zf := range zr.File {
		if zf.Flags&0x1 != 0 {
			return nil, &MemberError{zf.Name, ErrEncrypted}
		}
		lower := strings.ToLower(zf.Name)
		for _, ext := range nestedExt {
			if strings.HasSuffix(lower, ext) {
				return nil, &MemberError{zf.Name, ErrNested}
			}
		}
	}
	return zr, nil
}

// withMember opens a zip member, runs fn on its content and closes it. The
// member's CRC is checked when fn reads it to the end.
func withMember[T any](zf *zip.File, fn func(io.Reader) (T, error)) (T, error) {
	var zero T
	rc, err := zf.Open()
	if err != nil {
		return zero, &MemberError{zf.Name, err}
	}
	v, err := fn(rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return v, &MemberError{zf.Name, err}
	}
	return v, nil
}

func rewriteZip(dst io.Writer, src io.ReaderAt, size int64, f Filter, opt Options, rep *Report) error {
	zr, err := openZip(src, size)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(dst)
	level := opt.level()
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, level)
	})
	if err := zw.SetComment(zr.Comment); err != nil {
		return err
	}
	for _, zf := range zr.File {
		m := Member{Name: zf.Name, crc32: zf.CRC32, size: zf.UncompressedSize64}
		if IsCSVName(zf.Name) && !zf.FileInfo().IsDir() {
			st, err := withMember(zf, func(r io.Reader) (filter.Stats, error) { return f.Filter(nil, r) })
			if err != nil {
				return err
			}
			m = Member{Name: zf.Name, CSV: true, Rows: st.Rows}
			if st.Removed > 0 {
				m.Removed, err = filterMember(zw, zf, f, st)
				if err != nil {
					return err
				}
				rep.Members = append(rep.Members, m)
				continue
			}
		}
		if err := zw.Copy(zf); err != nil {
			return &MemberError{zf.Name, err}
		}
		rep.Members = append(rep.Members, m)
	}
	return zw.Close()
}

// filterMember writes a filtered copy of zf to zw under the same header. It
// checks that the filter pass sees what the counting pass saw.
func filterMember(zw *zip.Writer, zf *zip.File, f Filter, counted filter.Stats) (int64, error) {
	fh := zf.FileHeader
	// Keep the MS-DOS time and the original extra fields (extended
	// timestamps included) as they are: a zero Modified stops the writer
	// from recomputing them. Sizes and CRC are the writer's to fill in, and
	// so is the zip64 extra.
	fh.Modified = time.Time{}
	fh.Extra = stripZip64(fh.Extra)
	fh.CRC32, fh.CompressedSize64, fh.UncompressedSize64 = 0, 0, 0
	fh.CompressedSize, fh.UncompressedSize = 0, 0 //nolint:staticcheck // zeroed so the writer sets both
	w, err := zw.CreateHeader(&fh)
	if err != nil {
		return 0, &MemberError{zf.Name, err}
	}
	st, err := withMember(zf, func(r io.Reader) (filter.Stats, error) { return f.Filter(w, r) })
	if err != nil {
		return 0, err
	}
	if st != counted {
		return 0, &MemberError{zf.Name, ErrChanged}
	}
	return st.Removed, nil
}

// stripZip64 returns extra without zip64 extended information fields.
func stripZip64(extra []byte) []byte {
	var out []byte
	for len(extra) >= 4 {
		tag := uint16(extra[0]) | uint16(extra[1])<<8
		n := int(uint16(extra[2]) | uint16(extra[3])<<8)
		if 4+n > len(extra) {
			break
		}
		if tag != 0x0001 {
			out = append(out, extra[:4+n]...)
		}
		extra = extra[4+n:]
	}
	return out
}

// ErrVerify is returned by Verify.
var ErrVerify = errors.New("verification failed")

// Verify checks a rewritten archive's scan (after) against the report of
// its rewrite (before): the same format and members in the same order, every
// CSV stream holding exactly the rows that were kept and none that match,
// every other member unchanged.
func Verify(before, after *Report) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrVerify, fmt.Sprintf(format, args...))
	}
	if before.Format != after.Format {
		return fail("format %s became %s", before.Format, after.Format)
	}
	if len(before.Members) != len(after.Members) {
		return fail("%d members became %d", len(before.Members), len(after.Members))
	}
	for i, b := range before.Members {
		a := after.Members[i]
		switch {
		case a.Name != b.Name || a.CSV != b.CSV:
			return fail("member %d is %q, want %q", i, a.Name, b.Name)
		case !b.CSV && (a.crc32 != b.crc32 || a.size != b.size):
			return fail("member %s changed", b.Name)
		case b.CSV && a.Removed != 0:
			return fail("member %q still holds %d rows of listed IDs", b.Name, a.Removed)
		case b.CSV && a.Rows != b.Rows-b.Removed:
			return fail("member %q has %d rows, want %d - %d", b.Name, a.Rows, b.Rows, b.Removed)
		}
	}
	return nil
}
