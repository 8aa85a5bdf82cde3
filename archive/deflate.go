package archive

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Zip members are compressed in parallel as klauspost/pgzip compresses a
// gzip file, without gzip's header and trailer: the data is cut into blocks
// of a fixed size, each compressed on its own goroutine with the last 32
// KiB of the block before as its dictionary and ended by a sync flush (an
// empty stored block, which leaves the output byte-aligned), so that the
// outputs written one after the other are one raw deflate stream (RFC
// 1951), which the last block ends. The output depends only on the data,
// the level and the block size: not on how Write calls cut the data, nor on
// which goroutine finishes first.

const (
	deflateBlock = 1 << 20 // bytes of input per block, as for gzip
	deflateDict  = 32 << 10
)

// parallelDeflate makes the writers of one archive's rewritten zip members,
// at the given level, each with up to 2×threads blocks in flight. They
// share their compressors.
type parallelDeflate struct {
	level   int
	threads int
	block   int // deflateBlock; smaller in tests
	pool    sync.Pool
	last    *blockDeflater // the writer most recently made, to abort on error
}

func newParallelDeflate(level, threads int) (*parallelDeflate, error) {
	if _, err := flate.NewWriter(io.Discard, level); err != nil {
		return nil, err
	}
	return &parallelDeflate{level: level, threads: max(threads, 1), block: deflateBlock}, nil
}

// compressor is the zip.Compressor of p.
func (p *parallelDeflate) compressor(w io.Writer) (io.WriteCloser, error) {
	d := &blockDeflater{p: p, w: w}
	p.last = d
	return d, nil
}

// abort stops the writer most recently made, if a failed rewrite left it
// open, so that its goroutines end.
func (p *parallelDeflate) abort() {
	if p.last != nil {
		p.last.abort()
	}
}

func (p *parallelDeflate) flateWriter(dst io.Writer, dict []byte) *flate.Writer {
	if fw, ok := p.pool.Get().(*flate.Writer); ok {
		fw.ResetDict(dst, dict)
		return fw
	}
	fw, _ := flate.NewWriterDict(dst, p.level, dict) // the level is checked by newParallelDeflate
	return fw
}

// blockDeflater is one zip member's writer.
type blockDeflater struct {
	p      *parallelDeflate
	w      io.Writer
	cur    []byte // the block being filled
	dict   []byte // the last deflateDict bytes before cur
	queue  chan *block
	done   chan struct{} // closed when the goroutine that writes has returned
	free   chan []byte   // input buffers to reuse
	err    error         // the first error; the writing goroutine's is read after done
	failed chan struct{} // closed at the first error of the goroutine that writes
	stop   chan struct{} // closed by abort: write nothing more
	closed bool
}

// block is one block's input and, once done is closed, its output.
type block struct {
	in, dict []byte
	last     bool
	out      bytes.Buffer
	done     chan struct{}
}

var errDeflateClosed = errors.New("deflate: write after close")

func (d *blockDeflater) Write(p []byte) (int, error) {
	if d.closed {
		return 0, errDeflateClosed
	}
	n := 0
	for len(p) > 0 {
		if d.cur == nil {
			d.cur = d.buffer()
		}
		k := copy(d.cur[len(d.cur):d.p.block], p)
		d.cur = d.cur[:len(d.cur)+k]
		p = p[k:]
		n += k
		if len(d.cur) == d.p.block {
			if err := d.dispatch(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// buffer returns an empty input buffer of a block's capacity.
func (d *blockDeflater) buffer() []byte {
	select {
	case b := <-d.free:
		return b[:0]
	default:
		return make([]byte, 0, d.p.block)
	}
}

// dispatch hands the current block to a goroutine that compresses it, and
// queues it to be written, after the blocks before it.
func (d *blockDeflater) dispatch(last bool) error {
	if d.queue == nil {
		n := 2 * d.p.threads
		d.queue = make(chan *block, n)
		d.free = make(chan []byte, n+2)
		d.done = make(chan struct{})
		d.failed = make(chan struct{})
		d.stop = make(chan struct{})
		go d.write()
	}
	b := &block{in: d.cur, dict: d.dict, last: last, done: make(chan struct{})}
	if !last {
		// The next block's dictionary, copied: the input buffer is reused
		// once its block is written.
		d.dict = append([]byte(nil), d.cur[max(0, len(d.cur)-deflateDict):]...)
	}
	d.cur = nil
	go d.compress(b)
	select {
	case d.queue <- b:
		return nil
	case <-d.failed:
		<-b.done
		return d.fail()
	}
}

func (d *blockDeflater) compress(b *block) {
	defer close(b.done)
	fw := d.p.flateWriter(&b.out, b.dict)
	// Writes to a bytes.Buffer do not fail.
	fw.Write(b.in)
	if b.last {
		fw.Close()
	} else {
		fw.Flush()
	}
	d.p.pool.Put(fw)
}

// write writes the blocks' outputs in order; after an error, or once
// aborted, it only waits for them. It alone sets d.err until it returns.
func (d *blockDeflater) write() {
	defer close(d.done)
	for b := range d.queue {
		<-b.done
		if d.err == nil {
			select {
			case <-d.stop:
				d.err = errDeflateClosed
			default:
				n, err := d.w.Write(b.out.Bytes())
				if err == nil && n != b.out.Len() {
					err = io.ErrShortWrite
				}
				d.err = err
			}
			if d.err != nil {
				close(d.failed)
			}
		}
		select {
		case d.free <- b.in:
		default:
		}
	}
}

// fail returns the error of the goroutine that writes, after it has
// returned.
func (d *blockDeflater) fail() error {
	d.closed = true
	close(d.queue)
	<-d.done
	return d.err
}

// Close compresses what is left, ends the stream and waits for it to be
// written.
func (d *blockDeflater) Close() error {
	if d.closed {
		return d.err
	}
	if err := d.dispatch(true); err != nil {
		return err
	}
	return d.fail()
}

// abort stops the goroutines of a writer that was not closed, writing
// nothing more.
func (d *blockDeflater) abort() {
	if d.closed {
		return
	}
	if d.queue == nil {
		d.closed, d.err = true, errDeflateClosed
		return
	}
	d.closed = true
	close(d.stop)
	close(d.queue)
	<-d.done
	if d.err == nil {
		d.err = errDeflateClosed
	}
}
