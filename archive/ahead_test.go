package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100_000) // several buffers
	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		r    io.Reader
		err  error
	}{
		{"whole", bytes.NewReader(data), nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:5000])), nil},
		{"error after the data", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)), boom},
		{"data with the error", iotest.DataErrReader(bytes.NewReader(data)), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAhead(tt.r)
			defer a.Close()
			got, err := io.ReadAll(iotest.OneByteReader(a))
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			want := data
			if tt.name == "one byte at a time" {
				want = data[:5000]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes, want %d", len(got), len(want))
			}
		})
	}
	// Closed early, without reading: the goroutine ends and stops reading.
	r := &countReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 64<<20))}
	a := newAhead(r)
	a.Close()
	n := r.n
	if n > (aheadN+1)*aheadBuf {
		t.Errorf("read %d bytes ahead of nothing", n)
	}
	if r.n != n {
		t.Error("read after Close returned")
	}

	// A reader that stops after a few bytes has not had much more read for
	// it: the buffers start small (8, 16 and 32 KiB before it has returned
	// any), and only a reader that keeps reading gets the full size.
	r = &countReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 64<<20))}
	a = newAhead(r)
	if _, err := io.ReadFull(a, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if limit := aheadFirst * (1<<(aheadN+1) - 1); r.n > limit {
		t.Errorf("read %d bytes ahead of a reader that took 100, want at most %d", r.n, limit)
	}
	r = &countReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 64<<20))}
	a = newAhead(r)
	if _, err := io.CopyN(io.Discard, a, 8<<20); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if r.n > 8<<20+(aheadN+1)*aheadBuf {
		t.Errorf("read %d bytes for a reader that took 8 MiB", r.n)
	}
	if cap(a.buf) != aheadBuf {
		t.Errorf("reading from a buffer of %d bytes after 8 MiB, want %d", cap(a.buf), aheadBuf)
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
