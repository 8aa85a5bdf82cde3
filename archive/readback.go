package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
)

// A zip member that Rewrite deflates may be read back as it is written
// ([Options.Reread]): a goroutine inflates the compressed bytes as they
// come and passes them through the filter's counting pass, beside the
// filtering and compressing of the rest, on another core when one is idle.
// What it saw is kept in the report, with the SHA-256 of the compressed
// bytes. [Reread] of the written archive then reads that member's
// compressed bytes from it and, if they hash the same and its header
// states the CRC-32 and sizes that the read-back found, reports what the
// read-back counted rather than inflate and scan it a second time. Anything
// else is read as [ScanWith] reads it.
//
// A gzip file that Rewrite writes with Options.Reread set is read back the
// same way, as a whole: every byte written (header, deflate stream,
// trailer) is hashed and counted, inflated (the trailer's CRC-32 and size
// checked) and passed through the counting pass, judged by its content as
// a scan judges it. [Reread] then reads the written file, and if it is
// as many bytes as were read back, with the same SHA-256, reports what the
// read-back found instead of inflating and scanning it a second time.

// compressors makes the compressors of one rewrite's zip members: with
// Threads, parallel; for a member to be read back, writing to its
// read-back too.
type compressors struct {
	comp    func(io.Writer) (io.WriteCloser, error)
	pd      *parallelDeflate // with Threads
	reading *readback        // for the next compressor made
	idx     int              // of the member it is for
	last    *readback        // the most recent, to abort on error
	reads   []*readResult    // what was read back, by member
}

func newCompressors(opt Options, members int) (*compressors, error) {
	level := opt.level()
	c := &compressors{reads: make([]*readResult, members)}
	c.comp = func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, level) }
	if opt.Threads > 1 {
		pd, err := newParallelDeflate(level, opt.Threads)
		if err != nil {
			return nil, err
		}
		c.pd, c.comp = pd, pd.compressor
	}
	return c, nil
}

// readBack has the next compressor made, that of member i, read back what
// it writes through f. What it finds is in c.reads[i] once the compressor
// is closed.
func (c *compressors) readBack(i int, f Filter) {
	c.reading, c.idx = newReadback(f, deflateMember), i
	c.last = c.reading
}

// compressor is the zip.Compressor.
func (c *compressors) compressor(w io.Writer) (io.WriteCloser, error) {
	rb, i := c.reading, c.idx
	c.reading = nil
	if rb == nil {
		return c.comp(w)
	}
	wc, err := c.comp(io.MultiWriter(w, rb))
	if err != nil {
		return nil, err
	}
	return &readbackCloser{wc, func() { c.reads[i] = rb.finish() }}, nil
}

// abort ends the goroutines of a member that an error left open: the
// compressor's first, as they write to the read-back.
func (c *compressors) abort() {
	if c.pd != nil {
		c.pd.abort()
	}
	if c.last != nil {
		c.last.abort()
	}
}

// readbackCloser finishes a member's read-back when its compressor is
// closed, which is when all its compressed bytes are written.
type readbackCloser struct {
	io.WriteCloser
	finish func()
}

func (c *readbackCloser) Close() error {
	err := c.WriteCloser.Close()
	c.finish()
	return err
}

// readResult is what reading back a member, or a gzip file, found.
type readResult struct {
	sum        [sha256.Size]byte // of the compressed bytes (of a gzip file: all of them)
	compressed int64
	size       int64 // uncompressed
	crc32      uint32
	st         Stats
	name       string // a gzip file's header name
}

// readKind says what a read-back reads.
type readKind int

const (
	deflateMember readKind = iota // a zip member's deflate stream
	gzipFile                      // a whole gzip file
)

// readback reads back one member's compressed bytes, written to it.
type readback struct {
	ch   chan []byte
	buf  []byte // written, not yet sent
	sent bool   // a chunk was sent
	done chan struct{}
	res  readResult
	err  error // set before done is closed
}

const (
	readbackChunk = 64 << 10 // bytes sent at once: a serial deflater writes a few hundred at a time
	readbackQueue = 8
)

func newReadback(f Filter, kind readKind) *readback {
	rb := &readback{ch: make(chan []byte, readbackQueue), done: make(chan struct{})}
	go rb.run(f, kind)
	return rb
}

// Write queues a copy of p to be read back.
func (rb *readback) Write(p []byte) (int, error) {
	if len(rb.buf)+len(p) > readbackChunk && len(rb.buf) > 0 {
		rb.ch <- rb.buf
		rb.buf, rb.sent = nil, true
	}
	if len(p) >= readbackChunk {
		rb.ch <- bytes.Clone(p)
		return len(p), nil
	}
	if rb.buf == nil {
		// The first chunk starts small and grows: a small file's
		// read-back needs no 64 KiB.
		size := readbackChunk
		if !rb.sent {
			size = 4 << 10
		}
		rb.buf = make([]byte, 0, size)
	}
	rb.buf = append(rb.buf, p...)
	return len(p), nil
}

// finish waits for the read-back of what was written, and returns what it
// found, or nil if it failed.
func (rb *readback) finish() *readResult {
	if len(rb.buf) > 0 {
		rb.ch <- rb.buf
		rb.buf = nil
	}
	close(rb.ch)
	<-rb.done
	if rb.err != nil {
		return nil
	}
	return &rb.res
}

// abort stops a read-back left unfinished by an error.
func (rb *readback) abort() {
	select {
	case <-rb.done:
	default:
		rb.finish()
	}
}

func (rb *readback) run(f Filter, kind readKind) {
	defer close(rb.done)
	defer func() {
		for range rb.ch { // after a failure, let the writer go on
		}
	}()
	in := &chanReader{ch: rb.ch, h: sha256.New()}
	br := bufio.NewReader(in)
	var inflated io.Reader
	var name string
	if kind == gzipFile {
		// A gzip reader checks each member's CRC-32 and size, and reads
		// to the end of the file: what follows the last member must be
		// another member.
		gr, err := newGzipReader(br)
		if err != nil {
			rb.err = err
			return
		}
		defer gr.release()
		name, inflated = gr.zr.Name, gr
	} else {
		inflated = flate.NewReader(br)
	}
	out := &crcReader{r: inflated, h: crc32.NewIEEE()}
	// Judged as a scan judges a member or a gzip file's content: by its
	// first bytes, then by the filter. One that would not scan as CSV is
	// read again.
	var st Stats
	reason, err := content(out, kind == deflateMember, func(r io.Reader) error {
		var err error
		st, err = f.Filter(nil, r)
		return err
	})
	if err == nil && reason != "" {
		err = errors.New(reason)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, out) // the filter reads to the end, but to be sure
	}
	if err == nil {
		// Nothing after the end of the deflate stream, or the gzip file.
		var n int64
		n, err = io.Copy(io.Discard, br)
		if err == nil && n > 0 {
			err = errors.New("data after the end of the deflate stream")
		}
	}
	rb.err = err
	if err != nil {
		return
	}
	rb.res = readResult{compressed: in.n, size: out.n, crc32: out.h.Sum32(), st: st, name: name}
	in.h.Sum(rb.res.sum[:0])
}

// chanReader reads the chunks sent on ch, hashing and counting them.
type chanReader struct {
	ch  chan []byte
	cur []byte
	h   hash.Hash
	n   int64
}

func (c *chanReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		b, ok := <-c.ch
		if !ok {
			return 0, io.EOF
		}
		c.h.Write(b)
		c.n += int64(len(b))
		c.cur = b
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// crcReader counts what it reads, and its CRC-32.
type crcReader struct {
	r io.Reader
	h hash.Hash32
	n int64
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// confirm reports whether zf is the member that read back as res: the
// same compressed bytes (read and hashed here), and a header stating the
// sizes and CRC-32 of what they inflated to.
func confirm(zf *zip.File, res *readResult) (bool, error) {
	if zf.Method != zip.Deflate || zf.CRC32 != res.crc32 || zf.UncompressedSize64 != uint64(res.size) ||
		zf.CompressedSize64 != uint64(res.compressed) {
		return false, nil
	}
	r, err := zf.OpenRaw()
	if err != nil {
		return false, &MemberError{zf.Name, headerErr(err)}
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return false, &MemberError{zf.Name, err}
	}
	var sum [sha256.Size]byte
	return n == res.compressed && bytes.Equal(h.Sum(sum[:0]), res.sum[:]), nil
}

// confirmFile reports whether the size bytes of src are the gzip file that
// read back as res: as many bytes, with the same SHA-256 (read and hashed
// here).
func confirmFile(src io.ReaderAt, size int64, res *readResult) (bool, error) {
	if size != res.compressed {
		return false, nil
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.NewSectionReader(src, 0, size), make([]byte, max(min(size, 32<<10), 1)))
	if err != nil {
		return false, err
	}
	var sum [sha256.Size]byte
	return n == res.compressed && bytes.Equal(h.Sum(sum[:0]), res.sum[:]), nil
}
