// Package archive reads and rewrites the archive formats that analytics
// platforms export: plain CSV, gzip (RFC 1952, including files of several
// concatenated members) and zip (PKWARE APPNOTE.TXT).
//
// The format is detected from the first bytes of the data, never from the
// name. The package knows nothing about rows: each stream of an archive (a
// plain file, a gzip file's content, every zip member but directories) is
// handed to a [Filter], and everything else about the archive is carried
// over: zip member names, order, modification times, comments, attributes
// and extra fields, members the filter does not change (copied raw,
// without recompression), and the gzip header's name, modification time,
// comment and OS.
//
// What a stream is, is decided by its content, the same way plain, in gzip
// and in a zip member: first by its first bytes (formats that could hide
// rows are refused, see [Detect]), then by the filter. A stream that the
// filter finds is not a table with an ID column (its error has a NotTable
// method that reports true: prose, JSON, a checksum list, an image, an
// empty member) is not an export: it is carried over unchanged and named
// in the report with the reason ([Member].Reason, [Report.NotScanned]),
// and is not an error.
//
// Bad input is an error, never a guess: data that is not a valid gzip or zip
// stream ([ErrCorrupt]), a zip member whose name is not a plain relative path
// ([ErrInsecurePath]), encrypted or nested archives (a zip member named or
// made like a compressed stream or archive, [ErrNested]), a stream that
// decompresses beyond the [Options] limits ([LimitError]), and a table the
// filter rejects. Errors inside a zip name the member ([MemberError]).
package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"
	"github.com/klauspost/pgzip"
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
	ErrCorrupt     = errors.New("corrupt or truncated")

	// ErrInsecurePath is the zip package's error for a member name that is
	// not a local path. scrub refuses such names whatever GODEBUG's
	// zipinsecurepath says: it extracts nothing, but an archive that could
	// write outside its directory when unpacked is not an export.
	ErrInsecurePath = zip.ErrInsecurePath
)

// Filter is what the package needs of a row filter: a pass that copies a
// CSV stream without the matching records (counting only, with a nil dst)
// and a pass that stops at the first match.
type Filter interface {
	Filter(dst io.Writer, src io.Reader) (Stats, error)
	Match(src io.Reader) (Stats, bool, error)
}

// Stats counts what a filter's pass over one CSV stream saw. It is an
// alias of an unnamed struct type, so that any row filter whose methods
// return a struct of the same fields (scrub/filter's Stats) is a Filter
// without importing this package, nor this package it.
type Stats = struct {
	Rows    int64 // data records read (the header and blank lines excluded)
	Removed int64 // data records dropped (or, for Match, found)
	Expired int64 // of those, the records older than the filter's cutoff
}

// Member describes one stream: a plain file, a gzip file's content or a zip
// member.
type Member struct {
	Name    string // zip member name; the gzip header name or "" otherwise
	CSV     bool   // filtered; false means carried over unchanged
	Rows    int64  // data rows read
	Removed int64  // data rows removed (or matched, when only scanning)
	Expired int64  // of those, the rows older than the filter's cutoff
	// Reason, for a member or stream not read as CSV (CSV false), says
	// why; "" for a zip directory entry.
	Reason string

	crc32 uint32 // of a carried-over zip member
	size  uint64
	read  *readResult // of a zip member read back as it was rewritten
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

// Expired returns the total of data rows removed (or matched) for their
// age.
func (r *Report) Expired() (n int64) {
	for _, m := range r.Members {
		n += m.Expired
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

// NotScanned returns the members and streams not read as CSV, for a
// reason (directory entries are not among them).
func (r *Report) NotScanned() []Member {
	var ms []Member
	for _, m := range r.Members {
		if !m.CSV && m.Reason != "" {
			ms = append(ms, m)
		}
	}
	return ms
}

// Scanned reports whether any stream of the archive was read as CSV.
func (r *Report) Scanned() bool {
	for _, m := range r.Members {
		if m.CSV {
			return true
		}
	}
	return false
}

// MemberError places an error inside a zip member.
type MemberError struct {
	Member string
	Err    error
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("member %s: %v", memberName(e.Member), e.Err)
}

func (e *MemberError) Unwrap() error { return e.Err }

// memberName quotes a member name that is empty or holds characters that
// are not printable, so that it cannot forge or hide a line of a log.
func memberName(name string) string {
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(name)
	}
	return name
}

// formatErr describes an error of a gzip or zip decoder ("" for a zip
// member's data) in a message that says what is wrong. Errors that the data
// caused, which the decoders return bare, match ErrCorrupt. Others, such as
// errors of reading the source (which may wrap io.ErrUnexpectedEOF too),
// keep their message, prefixed with the format.
func formatErr(format string, err error) error {
	var ce flate.CorruptInputError
	switch {
	case err == zip.ErrAlgorithm:
		return fmt.Errorf("%w: compression method not supported (only store and deflate are)", ErrUnsupported)
	case err == io.ErrUnexpectedEOF, err == gzip.ErrChecksum, err == gzip.ErrHeader,
		err == zip.ErrChecksum, err == zip.ErrFormat, errors.As(err, &ce),
		format == "zip" && strings.HasPrefix(err.Error(), "zip: "): // zip.NewReader's other complaints
		return &corruptError{format, err}
	case format == "":
		return err
	}
	return fmt.Errorf("%s: %w", format, err)
}

// headerErr describes an error reading a zip member's local header: at
// the end of the file, it is cut short.
func headerErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return formatErr("", err)
}

// corruptError describes data that is not a valid stream of its format. It
// matches ErrCorrupt, and the decoder's own error.
type corruptError struct {
	format string // "gzip", "zip", or "" inside a zip member
	err    error
}

func (e *corruptError) Error() string {
	var what string
	var ce flate.CorruptInputError
	switch {
	case e.err == io.ErrUnexpectedEOF:
		what = "truncated: unexpected EOF"
	case e.err == gzip.ErrChecksum, e.err == zip.ErrChecksum:
		what = "checksum mismatch: the data is corrupt"
	case e.err == gzip.ErrHeader:
		what = "invalid header: corrupt, or something appended"
	case errors.As(e.err, &ce):
		what = fmt.Sprintf("corrupt deflate data at byte %d", int64(ce))
	case e.err == zip.ErrFormat && e.format == "zip":
		what = "not a valid zip file: truncated or corrupt"
	case e.err == zip.ErrFormat:
		what = "data does not match its header: corrupt"
	default:
		what = strings.TrimPrefix(strings.TrimPrefix(e.err.Error(), "gzip: "), "zip: ")
	}
	if e.format == "" {
		return what
	}
	return e.format + ": " + what
}

func (e *corruptError) Unwrap() []error { return []error{ErrCorrupt, e.err} }

// Detect returns the format of the data in r by its first bytes (and, for
// Parquet, its last). Data of a format scrub does not read is an error
// (ErrUnsupported); a compressed stream or archive other than gzip and zip,
// Parquet and UTF-16 text could hold rows that scrub cannot read. All
// other data is CSV, to be judged by the filter: data that it finds is not
// a table (prose, JSON, an image) is not read, and is named with the reason
// in the report of [ScanFunc] and [Rewrite]. Magic numbers that text could
// start with are checked further: bzip2's by the block magic that follows,
// Parquet's by the same at the end of the data.
func Detect(r io.ReaderAt, size int64) (Format, error) {
	f, _, err := detect(r, size)
	return f, err
}

// detect is Detect, and for CSV that starts like an image or a document,
// the name of that format, to name it by if the filter finds it is not a
// table.
func detect(r io.ReaderAt, size int64) (Format, string, error) {
	if size == 0 {
		return Unknown, "", ErrEmpty
	}
	head := make([]byte, min(size, sniffLen))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return Unknown, "", err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip, "", nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip, "", nil
	}
	kind, name := sniff(head)
	switch kind {
	case kindArchive, kindRefused:
		return Unknown, "", unsupported(name)
	case kindNotTable:
		return CSV, name, nil
	case kindParquet:
		if size >= int64(2*len(parquetTail)) {
			tail := make([]byte, len(parquetTail))
			if _, err := r.ReadAt(tail, size-int64(len(tail))); err != nil && err != io.EOF {
				return Unknown, "", err
			}
			if bytes.Equal(tail, parquetTail) {
				return Unknown, "", unsupported(name)
			}
		}
	}
	return CSV, "", nil
}

// IsCSVName reports whether a name ends in .csv or .tsv (in any case).
// The package does not decide by it: every zip member is judged by its
// content. It is for naming the CSV that scrub writes.
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
// counts the rows read so far. It applies the default limits; see
// [ScanWith].
func Scan(src io.ReaderAt, size int64, f Filter, stop bool) (*Report, error) {
	return ScanWith(src, size, f, stop, Options{})
}

// ScanWith is [Scan] with the decompression limits of opt. Its verdict
// agrees with that of [Rewrite] with the same opt: an archive that one
// refuses for a limit, the other refuses too.
func ScanWith(src io.ReaderAt, size int64, f Filter, stop bool, opt Options) (*Report, error) {
	return ScanFunc(src, size, opt, func(_ string, r io.Reader) (Stats, bool, error) {
		if stop {
			return f.Match(r)
		}
		st, err := f.Filter(nil, r)
		return st, false, err
	})
}

// Options tune how archives are read ([ScanWith], [Rewrite]) and
// rewritten ([Rewrite]). The zero value means the defaults.
type Options struct {
	// Level is the compression level of rewritten gzip files and zip
	// members, from 1 (fastest) to 9 (smallest); 0 means DefaultLevel.
	Level int

	// MaxMemberSize limits the uncompressed size in bytes of each
	// stream: a zip member (every one is read, to judge its content) or a
	// gzip file. 0 means DefaultMaxMemberSize; a negative value, no limit.
	// A plain file is not limited: reading it costs no more than its size.
	MaxMemberSize int64

	// MaxRatio limits how many times its compressed size each stream
	// may expand, once it has expanded to more than RatioGrace bytes, and
	// how many times the size of a zip archive all its members may
	// expand to together. 0 means DefaultMaxRatio; a negative value, no
	// limit.
	MaxRatio int

	// Threads, above 1, compresses a rewritten gzip file or zip member
	// with that many goroutines, in blocks of 1 MiB (klauspost/pgzip's
	// scheme): for a large archive while cores are idle. The output is one
	// gzip member, or one deflate stream, as always, a few bytes per MiB
	// larger.
	Threads int

	// Reread, if set, has Rewrite read back each zip member it deflates
	// as it writes it, through this filter's counting pass, in a goroutine
	// of its own: on a core that would otherwise be idle, rather than in a
	// second pass once the rewrite is done. [Reread] of the written archive
	// with the same filter then confirms such a member by its compressed
	// bytes instead of inflating it again.
	//
	// A gzip file is read back so too, as a whole: its bytes as written
	// are hashed and inflated and scanned beside the rewrite, and [Reread]
	// confirms the file by its SHA-256 instead of inflating it again.
	Reread Filter
}

// DefaultLevel is the compression level used for rewritten data: level 1
// compresses about twice as fast as level 6 (see docs/performance.md), and a
// rewrite is a one-time cost in a batch that may touch years of exports.
const DefaultLevel = 1

func (o Options) level() int {
	if o.Level == 0 {
		return DefaultLevel
	}
	return o.Level
}

// Rewrite writes the archive in src to dst without the rows f removes, in
// the same format. Zip members without a matching row, and those that are
// not a table, are copied raw; a plain or gzip file that is not a table is
// written as it was (a gzip file recompressed). Its verdict and report
// agree with [ScanFunc]'s. On error, what was written to dst must be
// discarded.
func Rewrite(dst io.Writer, src io.ReaderAt, size int64, f Filter, opt Options) (*Report, error) {
	format, what, err := detect(src, size)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: format}
	m := newMeter(src, size, opt)
	switch format {
	case CSV:
		return rep, rewritePlain(dst, src, size, f, what, rep)
	case Gzip:
		return rep, rewriteGzip(dst, m, f, opt, rep)
	}
	return rep, rewriteZip(dst, m, f, opt, rep)
}

// rewritePlain rewrites a plain file, or copies it if the filter finds it
// is not a table; what is the format its first bytes say, if any.
func rewritePlain(dst io.Writer, src io.ReaderAt, size int64, f Filter, what string, rep *Report) error {
	cw := &countWriter{w: dst}
	st, err := f.Filter(cw, io.NewSectionReader(src, 0, size))
	if reason, ok := notTableReason(err, what); ok {
		// What the filter wrote is the start of src, as it was: the rest
		// follows.
		rep.Members = append(rep.Members, Member{Reason: reason})
		_, err := io.Copy(dst, io.NewSectionReader(src, cw.n, size-cw.n))
		return err
	}
	rep.Members = append(rep.Members, Member{CSV: true, Rows: st.Rows, Removed: st.Removed, Expired: st.Expired})
	return err
}

func rewriteGzip(dst io.Writer, m *meter, f Filter, opt Options, rep *Report) (err error) {
	gr, err := m.gzip()
	if err != nil {
		return err
	}
	defer gr.release() // after the read-ahead's Close, below
	if opt.Reread != nil {
		// The file written is read back as it is written (see
		// readback.go): its bytes, hashed, inflated and scanned.
		rb := newReadback(opt.Reread, gzipFile)
		dst = io.MultiWriter(dst, rb)
		defer func() {
			if err != nil {
				rb.abort()
				return
			}
			rep.Members[0].read = rb.finish()
		}()
	}
	zr := gr.zr
	// The header is the first member's: name, modification time,
	// comment, extra, OS. The file becomes one member. (zr.Header changes
	// as gr steps from member to member.)
	h := zr.Header
	var zw io.WriteCloser
	if opt.Threads > 1 {
		pw, err := pgzip.NewWriterLevel(dst, opt.level())
		if err != nil {
			return err
		}
		if err := pw.SetConcurrency(1<<20, 2*opt.Threads); err != nil {
			return err
		}
		pw.Header = pgzip.Header{Comment: h.Comment, Extra: h.Extra, ModTime: h.ModTime, Name: h.Name, OS: h.OS}
		zw = pw
	} else {
		gw, err := gzipWriter(dst, opt.level())
		if err != nil {
			return err
		}
		defer gzipWriters[opt.level()].Put(gw) // closed below, on every path
		gw.Header = h
		zw = gw
	}
	r := newAhead(m.stream(gr, 0, 0))
	defer r.Close()
	cw := &countWriter{w: zw}
	var st Stats
	reason, err := content(r, false, func(r io.Reader) error {
		var err error
		st, err = f.Filter(cw, r)
		return err
	})
	mem := Member{Name: h.Name, CSV: reason == "", Rows: st.Rows, Removed: st.Removed, Expired: st.Expired, Reason: reason}
	if reason != "" {
		mem.Rows, mem.Removed, mem.Expired = 0, 0, 0
	}
	rep.Members = append(rep.Members, mem)
	if err == nil && reason != "" {
		err = carryGzip(zw, m, opt, cw.n)
	}
	if err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// carryGzip writes to zw the content of the gzip file that m meters after
// its first n bytes: the content of a gzip file that is not a table, of
// which the filter wrote the first n bytes as they were before it stopped.
// The content has been read to its end once already, checked.
func carryGzip(zw io.Writer, m *meter, opt Options, n int64) error {
	m = newMeter(m.src.r, m.size, opt)
	gr, err := m.gzip()
	if err != nil {
		return err
	}
	defer gr.release()
	r := m.stream(gr, 0, 0)
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return err
	}
	_, err = io.Copy(zw, r)
	return err
}

// gzipReader reads the members of a gzip file one after the other, as one
// stream, and names its errors, which otherwise surface through the filter
// looking like any read error. It steps from member to member itself rather
// than leave that to the gzip package, so that a file cut short in a later
// member's header is an error: klauspost/compress (v1.20.3) takes a cut in
// the name or comment for the end of the file (golang/go#51417, fixed in
// compress/gzip but not there).
type gzipReader struct {
	zr *gzip.Reader
	br *bufio.Reader // what zr reads
}

// gzip opens the gzip file that m meters.
func (m *meter) gzip() (*gzipReader, error) {
	m.ahead = bufio.NewReader(io.NewSectionReader(&m.src, 0, m.size))
	return newGzipReader(m.ahead)
}

// gzipWriters keeps gzip writers between rewrites, by level: each holds a
// compressor's tables and window (about 700 KiB at level 1), which a batch
// erasing thousands of small files would otherwise allocate for every one.
var gzipWriters [10]sync.Pool

// gzipWriter returns a gzip writer of the level to dst, with an empty
// header; once closed, it goes back to gzipWriters[level].
func gzipWriter(dst io.Writer, level int) (*gzip.Writer, error) {
	if level < 0 || level >= len(gzipWriters) {
		return nil, fmt.Errorf("gzip: invalid compression level: %d", level)
	}
	if gw, ok := gzipWriters[level].Get().(*gzip.Writer); ok {
		gw.Reset(dst)
		return gw, nil
	}
	return gzip.NewWriterLevel(dst, level)
}

// gzipReaders keeps gzip readers between files: each holds a 32 KiB
// window and its Huffman tables, which a batch of thousands of small files
// would otherwise allocate and clear for every one.
var gzipReaders sync.Pool

// newGzipReader opens the gzip file that br reads. Its release gives the
// reader back once nothing reads it any more.
func newGzipReader(br *bufio.Reader) (*gzipReader, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // there is a magic number, so not an empty file
	}
	if err != nil {
		if zr != nil {
			gzipReaders.Put(zr)
		}
		return nil, formatErr("gzip", err)
	}
	zr.Multistream(false)
	return &gzipReader{zr, br}, nil
}

// release gives the reader back to be reused; g is not read after it.
func (g *gzipReader) release() {
	if g.zr != nil {
		gzipReaders.Put(g.zr)
		g.zr = nil
	}
}

func (g *gzipReader) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			if err != nil {
				err = formatErr("gzip", err)
			}
			return n, err
		}
		// The end of a member, checksum checked. Is there another?
		if _, err := g.br.Peek(1); err == io.EOF {
			return n, io.EOF
		} else if err != nil {
			return n, formatErr("gzip", err)
		}
		if err := g.zr.Reset(g.br); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, formatErr("gzip", err)
		}
		g.zr.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// openZip opens the zip file that m meters, and checks its member names
// and flags.
func openZip(m *meter) (*zip.Reader, error) {
	zr, err := zip.NewReader(&m.src, m.size)
	switch {
	case err == ErrInsecurePath && zr != nil:
		err = nil // GODEBUG=zipinsecurepath=0; checkName names the member
	case err == io.EOF:
		err = io.ErrUnexpectedEOF // an offset beyond the end
	}
	if err != nil {
		return nil, formatErr("zip", err)
	}
	zr.RegisterDecompressor(zip.Deflate, m.deflate)
	for _, zf := range zr.File {
		if err := checkName(zf.Name); err != nil {
			return nil, &MemberError{zf.Name, err}
		}
		if err := checkRaw(zf, m.size); err != nil {
			return nil, err
		}
		if zf.Flags&0x1 != 0 {
			return nil, &MemberError{zf.Name, ErrEncrypted}
		}
		if zf.FileInfo().IsDir() && (zf.UncompressedSize64 > 0 || zf.CompressedSize64 > 0) {
			// No zip tool writes one, and no writer can copy it.
			return nil, &MemberError{zf.Name, fmt.Errorf("%w: a directory entry with content", ErrCorrupt)}
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

// checkRaw checks what a zip member must be for a raw copy of it to be
// whole, without reading its data: a valid local header, and data that ends
// within the file. Every member is checked, so that Scan does not pass an
// archive that Rewrite fails; the deflate data of a CSV member may end
// before its compressed size says.
func checkRaw(zf *zip.File, size int64) error {
	off, err := zf.DataOffset()
	if err != nil {
		return &MemberError{zf.Name, headerErr(err)}
	}
	if zf.CompressedSize64 > uint64(size) || off > size-int64(zf.CompressedSize64) {
		return &MemberError{zf.Name, &corruptError{"", io.ErrUnexpectedEOF}}
	}
	return nil
}

// copyRaw copies a zip member to zw as it is, compressed data, header and
// all, and checks that all its data was there.
func copyRaw(zw *zip.Writer, zf *zip.File) error {
	r, err := zf.OpenRaw()
	if err != nil {
		return &MemberError{zf.Name, headerErr(err)}
	}
	w, err := zw.CreateRaw(&zf.FileHeader)
	if err != nil {
		return &MemberError{zf.Name, err}
	}
	n, err := io.Copy(w, r)
	if err == nil && uint64(n) != zf.CompressedSize64 {
		err = &corruptError{"", io.ErrUnexpectedEOF}
	}
	if err != nil {
		return &MemberError{zf.Name, err}
	}
	return nil
}

// checkName refuses a member name that would not stay inside the
// directory it is unpacked in, on any system: an absolute path, a drive
// letter, or a ".." element, with backslashes taken as separators too (the
// zip format uses only slashes; Windows tools take either).
func checkName(name string) error {
	n := strings.ReplaceAll(name, `\`, "/")
	switch {
	case strings.HasPrefix(n, "/"):
		return fmt.Errorf("%w: absolute path", ErrInsecurePath)
	case len(n) >= 2 && n[1] == ':' && ('A' <= n[0] && n[0] <= 'Z' || 'a' <= n[0] && n[0] <= 'z'):
		return fmt.Errorf("%w: drive letter", ErrInsecurePath)
	case strings.IndexByte(n, 0) >= 0:
		return fmt.Errorf("%w: NUL byte", ErrInsecurePath)
	}
	for _, e := range strings.Split(n, "/") {
		if e == ".." {
			return fmt.Errorf("%w: \"..\" element", ErrInsecurePath)
		}
	}
	return nil
}

// withMember opens a member of a zip, runs fn on its content and closes
// it, under the limits of m, and returns how many bytes of it were read
// (fn reads them through a read-ahead, which decompresses beside it). The
// member's CRC is checked when fn reads it to the end. counted is how many
// of the member's bytes an earlier pass of this archive has read, or -1 for
// the first pass, which checks the member's header against the limits.
func withMember[T any](m *meter, zf *zip.File, counted int64, fn func(io.Reader) (T, error)) (T, int64, error) {
	var zero T
	if counted < 0 {
		if err := m.claim(zf.UncompressedSize64, zf.CompressedSize64); err != nil {
			return zero, 0, &MemberError{zf.Name, err}
		}
	}
	m.ahead = nil
	in0 := m.src.n
	rc, err := zf.Open()
	if err != nil {
		return zero, 0, &MemberError{zf.Name, headerErr(err)}
	}
	lr := m.stream(memberReader{rc}, in0, max(counted, 0))
	r := newAhead(lr)
	v, err := fn(r)
	r.Close() // before lr and m are used here again
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = formatErr("", cerr)
	}
	if err != nil {
		return v, lr.out, &MemberError{zf.Name, err}
	}
	return v, lr.out, nil
}

// memberReader names the errors of a zip member's data.
type memberReader struct{ r io.Reader }

func (z memberReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = formatErr("", err)
	}
	return n, err
}

func rewriteZip(dst io.Writer, m *meter, f Filter, opt Options, rep *Report) error {
	zr, err := openZip(m)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(dst)
	comps, err := newCompressors(opt, len(zr.File))
	if err != nil {
		return err
	}
	defer comps.abort()
	zw.RegisterCompressor(zip.Deflate, comps.compressor)
	if err := zw.SetComment(zr.Comment); err != nil {
		return err
	}
	for _, zf := range zr.File {
		mem := Member{Name: zf.Name, crc32: zf.CRC32, size: zf.UncompressedSize64}
		if !zf.FileInfo().IsDir() {
			// The first matching row decides: a member without one is read
			// to its end, counted and copied raw; one with a match is read
			// again, through the filter, from its start. A member that is
			// not a table is copied raw.
			var matched bool
			var st Stats
			reason, n, err := withMember(m, zf, -1, func(r io.Reader) (string, error) {
				return content(r, true, func(r io.Reader) error {
					var err error
					st, matched, err = f.Match(r)
					return err
				})
			})
			if err != nil {
				return err
			}
			mem.Reason = reason
			if reason == "" {
				mem.CSV, mem.Rows, mem.Expired = true, st.Rows, st.Expired
			}
			if reason == "" && matched {
				if opt.Reread != nil && zf.Method == zip.Deflate {
					comps.readBack(len(rep.Members), opt.Reread)
				}
				st, err := filterMember(zw, m, zf, f, n)
				if err != nil {
					return err
				}
				mem.Rows, mem.Removed, mem.Expired = st.Rows, st.Removed, st.Expired
				rep.Members = append(rep.Members, mem)
				continue
			}
		}
		if err := copyRaw(zw, zf); err != nil {
			return err
		}
		rep.Members = append(rep.Members, mem)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	for i, r := range comps.reads {
		rep.Members[i].read = r
	}
	return nil
}

// filterMember writes a filtered copy of zf to zw under the same header,
// after a first pass found a matching row in its first counted bytes. A
// filter pass that removes nothing means the member changed between the
// passes.
func filterMember(zw *zip.Writer, m *meter, zf *zip.File, f Filter, counted int64) (Stats, error) {
	fh := zf.FileHeader
	// Keep the MS-DOS time and the original extra fields (extended
	// timestamps included) as they are: a zero Modified stops the writer
	// from recomputing them. Sizes and CRC are the writer's to fill in, and
	// so is the zip64 extra.
	fh.Modified = time.Time{}
	fh.Extra = stripZip64(fh.Extra)
	fh.CRC32, fh.CompressedSize64, fh.UncompressedSize64 = 0, 0, 0
	//lint:ignore SA1019 the deprecated 32-bit sizes are zeroed so that the writer sets both
	fh.CompressedSize, fh.UncompressedSize = 0, 0
	w, err := zw.CreateHeader(&fh)
	if err != nil {
		return Stats{}, &MemberError{zf.Name, err}
	}
	st, _, err := withMember(m, zf, counted, func(r io.Reader) (Stats, error) { return f.Filter(w, r) })
	if err != nil {
		return st, err
	}
	if st.Removed == 0 {
		return st, &MemberError{zf.Name, ErrChanged}
	}
	return st, nil
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
