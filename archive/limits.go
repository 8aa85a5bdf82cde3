package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
)

// Limits on decompression, against decompression ("zip") bombs. Memory is
// bounded anyway (the filter holds one record at a time), so what a bomb
// costs is time: every byte it expands to is decompressed and scanned, at
// about 300 MB/s. The limits bound that cost while leaving real exports,
// which are at most a few GB uncompressed and compress 5–20:1, well clear:
// an archive refused is an erasure not done, so the defaults err towards
// letting data through, and the error says how to raise them.
const (
	// DefaultMaxMemberSize is the default limit on the uncompressed size of
	// one stream: a zip member or a whole gzip file. It is about four
	// times the largest real monthly export, and a stream that size takes
	// about a minute to scan.
	DefaultMaxMemberSize = 16 << 30

	// DefaultMaxRatio is the default limit on how many times its compressed
	// size a stream may expand, and all the members of a zip together
	// the size of the archive. Deflate, the only method scrub reads, cannot
	// expand more than 1032-fold (a 258-byte match in 2 bits), so a higher
	// limit would only catch overlapping zip members, the trick by which
	// non-recursive zip bombs get past that; 1000 also catches what bombs are
	// made of, runs of a byte or of a pattern of up to 4 bytes, which deflate
	// to 1028–1032:1. CSV with anything that varies from row to row does not
	// come close: rows repeated exactly, the most compressible CSV there is,
	// deflate to about 295:1, and real exports to 5–20:1. A lower limit would
	// bound the work of a bomb more tightly but not in kind (patterns of 5 to
	// 32 bytes still deflate 400 to 700-fold), at the risk of refusing odd but
	// genuine data.
	DefaultMaxRatio = 1000

	// RatioGrace is the output a stream may have before the ratio is
	// checked: a small file's few hundred bytes of compressed data say
	// little, and a MiB costs nothing to scan.
	RatioGrace = 1 << 20
)

// Errors wrapped in a [LimitError].
var (
	ErrTooLarge = errors.New("uncompressed size over the limit")
	ErrRatio    = errors.New("compression ratio over the limit")
)

// LimitError is returned when a stream exceeds [Options.MaxMemberSize] or
// [Options.MaxRatio]. In a zip, it is wrapped in a [MemberError].
type LimitError struct {
	Err   error // ErrTooLarge or ErrRatio
	Limit int64 // bytes for ErrTooLarge, the ratio for ErrRatio

	// Size is the uncompressed size seen when the limit was crossed, and
	// Compressed the compressed bytes it came from (for ErrRatio).
	Size, Compressed int64
	// Claimed means that Size and Compressed are what a zip header says:
	// the limit was crossed before anything was decompressed.
	Claimed bool
	// Archive means the ratio is that of all the archive's members
	// together to the size of the archive.
	Archive bool
}

func (e *LimitError) Error() string {
	by := ""
	if e.Claimed {
		by = " by its header"
	}
	var what, flag string
	switch {
	case e.Err == ErrTooLarge:
		what = fmt.Sprintf("expands to more than %s%s", bytesString(e.Limit), by)
		if e.Claimed {
			what = fmt.Sprintf("expands to %d bytes by its header, more than %s", e.Size, bytesString(e.Limit))
		}
		flag = "--max-member-size"
	case e.Archive:
		what = fmt.Sprintf("members together expand to more than %d times the archive's size%s (%d bytes from %d)",
			e.Limit, by, e.Size, e.Compressed)
		flag = "--max-ratio"
	default:
		what = fmt.Sprintf("expands more than %d-fold%s (%d bytes from %d compressed)", e.Limit, by, e.Size, e.Compressed)
		flag = "--max-ratio"
	}
	return what + ": a decompression bomb? If the archive is genuine, raise the limit with " + flag
}

func (e *LimitError) Unwrap() error { return e.Err }

// bytesString formats n as bytes and, if it is a whole number of them, GiB
// or MiB.
func bytesString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB (%d bytes)", n>>30, n)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// WithoutLimits returns o without decompression limits: for reading back
// what Rewrite wrote, which is trusted and may be over the limits even where
// its source was not (level 1 deflates runs of a byte 1000:1, where level 6
// manages 510:1; the uncompressed size never grows).
func (o Options) WithoutLimits() Options {
	o.MaxMemberSize, o.MaxRatio = -1, -1
	return o
}

func (o Options) maxMemberSize() int64 {
	if o.MaxMemberSize == 0 {
		return DefaultMaxMemberSize
	}
	return o.MaxMemberSize
}

func (o Options) maxRatio() int64 {
	if o.MaxRatio == 0 {
		return DefaultMaxRatio
	}
	return int64(o.MaxRatio)
}

// meter enforces the limits on one pass over an archive. It counts the
// bytes read from the archive (compressed) and the bytes decompressed from
// it, so that a header that lies about either gains nothing. It is not safe
// for concurrent use.
type meter struct {
	src     countingReaderAt
	size    int64 // of the archive
	maxSize int64 // < 0: none
	ratio   int64 // < 0: none
	out     int64 // uncompressed bytes of the streams read, each counted once

	// ahead is the read-ahead buffer of the decompressor being metered,
	// if it has one: what it holds has been read but not consumed. Without
	// it, the ratio of a small stream would be understated by up to 4 KiB.
	ahead *bufio.Reader
	br    *bufio.Reader // for zip members, reused
	fr    io.ReadCloser // flate reader for zip members, reused
}

func newMeter(src io.ReaderAt, size int64, opt Options) *meter {
	return &meter{src: countingReaderAt{r: src}, size: size, maxSize: opt.maxMemberSize(), ratio: opt.maxRatio()}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, zip.ErrFormat // an offset in a zip header beyond 2⁶³
	}
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// consumed returns the number of compressed bytes consumed so far.
func (m *meter) consumed() int64 {
	if m.ahead != nil {
		return m.src.n - int64(m.ahead.Buffered())
	}
	return m.src.n
}

// deflate is the zip decompressor of the members that m meters: flate's,
// with a read-ahead buffer m can see. (A *bufio.Reader also keeps flate on
// its fast path.)
func (m *meter) deflate(r io.Reader) io.ReadCloser {
	if m.br == nil {
		m.br = bufio.NewReader(r)
	} else {
		m.br.Reset(r)
	}
	m.ahead = m.br
	if m.fr == nil {
		m.fr = flate.NewReader(m.br)
	} else if err := m.fr.(flate.Resetter).Reset(m.br, nil); err != nil {
		return io.NopCloser(errReader{err})
	}
	return m.fr
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// overRatio reports whether out bytes from in exceed the ratio limit.
func (m *meter) overRatio(out, in int64) bool {
	return m.ratio >= 0 && out > RatioGrace && float64(out) > float64(m.ratio)*float64(in)
}

// claim checks what a zip header says about a member before it is read:
// an honest header is exact (the zip reader fails a member whose data does
// not match it), so a claim over a limit fails the member at once.
func (m *meter) claim(uncompressed, compressed uint64) error {
	out, in := int64(min(uncompressed, 1<<62)), int64(min(compressed, 1<<62))
	switch {
	case m.maxSize >= 0 && out > m.maxSize:
		return &LimitError{Err: ErrTooLarge, Limit: m.maxSize, Size: out, Claimed: true}
	case m.overRatio(out, in):
		return &LimitError{Err: ErrRatio, Limit: m.ratio, Size: out, Compressed: in, Claimed: true}
	case m.overRatio(m.out+out, m.size):
		return &LimitError{Err: ErrRatio, Limit: m.ratio, Size: m.out + out, Compressed: m.size, Claimed: true, Archive: true}
	}
	return nil
}

// stream wraps the decompressed data of one stream, whose compressed
// data starts with the archive's byte in0 to be read. The first counted
// bytes of a stream read a second time (to filter what a first pass found a
// match in) are not added to the archive's total again.
func (m *meter) stream(r io.Reader, in0, counted int64) *limitReader {
	return &limitReader{r: r, m: m, in0: in0, counted: counted}
}

type limitReader struct {
	r       io.Reader
	m       *meter
	in0     int64 // m.src.n when the stream started
	out     int64
	counted int64 // bytes already in m.out
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.out += int64(n)
	if l.out > l.counted {
		l.m.out += l.out - l.counted
		l.counted = l.out
	}
	m := l.m
	switch in := m.consumed() - l.in0; {
	case m.maxSize >= 0 && l.out > m.maxSize:
		return 0, &LimitError{Err: ErrTooLarge, Limit: m.maxSize, Size: l.out}
	case m.overRatio(l.out, in):
		return 0, &LimitError{Err: ErrRatio, Limit: m.ratio, Size: l.out, Compressed: in}
	case m.overRatio(m.out, m.size):
		return 0, &LimitError{Err: ErrRatio, Limit: m.ratio, Size: m.out, Compressed: m.size, Archive: true}
	}
	return n, err
}
