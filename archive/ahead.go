package archive

import (
	"io"
	"sync"
)

// ahead reads from r in its own goroutine, a few buffers ahead of its
// reader: a decompressor then runs beside the filter that reads it, on
// another core when one is idle, instead of taking turns with it.
//
// Its buffers start small and double up to aheadBuf, so that a reader that
// stops early (a scan that ends at the first matching row, often within the
// first kilobytes) has not had a megabyte decompressed for nothing.
type ahead struct {
	full chan []byte // filled, in order; closed after the last
	free chan []byte
	done chan struct{}
	err  error // r's error, final; set before full is closed
	cur  []byte
	buf  []byte // the buffer cur is in, to give back
	once sync.Once
	wg   sync.WaitGroup
}

const (
	aheadBuf   = 256 << 10
	aheadFirst = 8 << 10
	aheadN     = 3
)

func newAhead(r io.Reader) *ahead {
	a := &ahead{full: make(chan []byte, aheadN), free: make(chan []byte, aheadN), done: make(chan struct{})}
	for range aheadN {
		a.free <- nil // allocated when first filled, at the size the ramp has reached
	}
	a.wg.Add(1)
	go a.run(r)
	return a
}

func (a *ahead) run(r io.Reader) {
	defer a.wg.Done()
	defer close(a.full)
	size := aheadFirst
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			return
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		size = min(2*size, aheadBuf)
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		if n > 0 {
			select {
			case a.full <- buf[:n]:
			case <-a.done:
				return
			}
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

func (a *ahead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.cur, a.buf = buf, buf
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, so that r is not read after
// Close returns.
func (a *ahead) Close() {
	a.once.Do(func() { close(a.done) })
	a.wg.Wait()
}
