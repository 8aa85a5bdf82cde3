package ids

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"unicode/utf8"
)

// Redactor replaces the listed IDs that occur in text a batch records or
// prints (an archive's path, as in Hive-style partitions like
// exports/client=ab12cd/..., a ticket, the ID file's name) by a short form
// of their tag, so that no ID reaches the permanent record in clear. An
// occurrence counts where it stands on its own: not preceded or followed
// by a letter, a digit or a byte of a multi-byte character, so that a
// short ID does not match inside a longer word or number.
type Redactor struct {
	set  *Set
	lens []int // the lengths of the listed IDs, in bytes, ascending
	tag  func(id []byte) string
}

// Redactor returns a Redactor for the IDs of s. tag names an ID found (its
// HMAC tag under the ID key, of which the first 12 characters are
// shown); nil names every one "[listed ID]".
func (s *Set) Redactor(tag func(id []byte) string) *Redactor {
	r := &Redactor{set: s, tag: tag}
	seen := map[int]bool{}
	if s.digest != 0 {
		seen[2*s.digest] = true
	} else {
		for id := range s.m {
			seen[len(id)] = true
		}
	}
	for n := range seen {
		r.lens = append(r.lens, n)
	}
	slices.Sort(r.lens)
	return r
}

// wordByte reports whether b may be part of an ID's neighbour word: an
// ASCII letter or digit, or a byte of a multi-byte UTF-8 character.
func wordByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b >= utf8.RuneSelf
}

// Bytes returns b with every listed ID that stands on its own in it
// replaced, or b itself when there is none.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || len(r.lens) == 0 {
		return b
	}
	var out []byte
	last := 0 // b[:last] is in out
	for i := 0; i < len(b); i++ {
		if i > 0 && wordByte(b[i-1]) {
			continue
		}
		// The longest ID that starts here and ends at a boundary.
		for k := len(r.lens) - 1; k >= 0; k-- {
			j := i + r.lens[k]
			if j > len(b) || j < len(b) && wordByte(b[j]) || !r.set.Contains(b[i:j]) {
				continue
			}
			if out == nil {
				out = make([]byte, 0, len(b))
			}
			out = append(out, b[last:i]...)
			out = append(out, r.mark(b[i:j])...)
			last, i = j, j-1
			break
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	b := r.Bytes([]byte(s))
	return string(b)
}

// mark is what an ID is replaced by.
func (r *Redactor) mark(id []byte) string {
	if r.tag == nil {
		return "[listed ID]"
	}
	t := r.tag(id)
	if len(t) > 12 {
		t = t[:12]
	}
	return "[id:" + t + "]"
}

// Writer returns a writer that passes what is written to w redacted, line
// by line: a line ends at '\n' or '\r' (a progress bar redraws its line
// with '\r'), so that an ID written in two pieces is still found. Flush
// writes a last line that has no end. It is safe for concurrent use.
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// Writer is a redacting writer; see Redactor.Writer.
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	end := bytes.LastIndexAny(w.buf, "\r\n")
	if end < 0 {
		return len(p), nil
	}
	line := w.buf[:end+1]
	if _, err := w.w.Write(w.r.Bytes(line)); err != nil {
		return 0, err
	}
	w.buf = append(w.buf[:0], w.buf[end+1:]...)
	return len(p), nil
}

// Flush writes what is left, an unfinished line.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.r.Bytes(w.buf))
	w.buf = w.buf[:0]
	return err
}
