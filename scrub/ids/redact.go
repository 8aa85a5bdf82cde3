package ids

import (
	"bytes"
	"encoding/json"
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
	// escaped maps the JSON-escaped spelling of the IDs that JSON
	// spells otherwise (a backslash, &, <, >) to the ID, so that a JSON
	// document (an audit log line, the --json summary) is redacted too;
	// elens are their lengths.
	escaped map[string]string
	elens   []int
}

// Redactor returns a Redactor for the IDs of s. tag names an ID found (its
// HMAC tag under the ID key, of which the first 12 characters are
// shown); nil names every one "[listed ID]".
func (s *Set) Redactor(tag func(id []byte) string) *Redactor {
	r := &Redactor{set: s, tag: tag}
	seen := map[int]bool{}
	switch {
	case s.digest != 0:
		seen[2*s.digest] = true
	case s.lens[(maxLine+1)/64]&(1<<((maxLine+1)%64)) != 0:
		// An ID longer than a list's line (New takes any): their
		// lengths one by one.
		for i := range s.ends {
			seen[len(s.at(i))] = true
		}
	default:
		s.eachLen(func(n int) { seen[n] = true })
	}
	for n := range seen {
		r.lens = append(r.lens, n)
	}
	slices.Sort(r.lens)
	if s.digest == 0 && s.class&jsonEscaped != 0 {
		eseen := map[int]bool{}
		s.Each(func(id string) {
			if !jsonSpelt(id) {
				return
			}
			b, err := json.Marshal(id)
			if err != nil || string(b[1:len(b)-1]) == id {
				return
			}
			if r.escaped == nil {
				r.escaped = map[string]string{}
			}
			e := string(b[1 : len(b)-1])
			r.escaped[e] = id
			if !eseen[len(e)] {
				eseen[len(e)] = true
				r.elens = append(r.elens, len(e))
			}
		})
		slices.Sort(r.elens)
	}
	return r
}

// jsonSpelt reports whether JSON may spell id otherwise than its bytes:
// it holds a backslash, a quote, &, <, >, a control character or a byte
// that is not ASCII (U+2028, U+2029 and invalid UTF-8 are escaped).
func jsonSpelt(id string) bool {
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c < 0x20, c >= utf8.RuneSelf, c == '\\', c == '"', c == '&', c == '<', c == '>':
			return true
		}
	}
	return false
}

// wordByte reports whether b may be part of an ID's neighbour word: an
// ASCII letter or digit, or a byte of a multi-byte UTF-8 character.
func wordByte(b byte) bool { return wordBytes[b] }

// wordBytes is wordByte as a table: Bytes asks it of every byte.
var wordBytes = func() (t [256]bool) {
	for b := range 256 {
		t[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b >= utf8.RuneSelf
	}
	return t
}()

// KeepsTags reports whether Bytes leaves every list of tags as the audit
// log writes them as it is: 64 lower-case hex digits in quotes, separated
// by commas ("…","…"), wherever it stands in a line (after a byte that is
// not a letter or digit, before one that is not either). It does when no
// listed ID is 64 bytes long, as it is or as JSON spells it, and none holds
// a quote or a comma: an ID that stands on its own and overlaps such a
// list would have to be a whole tag, or hold a quote or a comma. A log
// writer then need not pass a list of a million tags through Bytes.
func (r *Redactor) KeepsTags() bool {
	if r == nil {
		return true
	}
	return r.set.class&(jsonEscaped|comma) == 0 && !slices.Contains(r.lens, 64) && !slices.Contains(r.elens, 64)
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
		if i > 0 && wordBytes[b[i-1]] {
			// Inside a word: past the rest of it, and past the byte
			// that ends it, which follows a word too.
			for i < len(b) && wordBytes[b[i]] {
				i++
			}
			continue
		}
		// The longest ID that starts here and ends at a boundary, as
		// it is or as JSON spells it.
		j, id := r.match(b, i)
		if j < 0 {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:i]...)
		out = append(out, r.mark(id)...)
		last, i = j, j-1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// match returns the end of the longest listed ID (or JSON spelling of
// one) that starts at b[i] and ends at a boundary, and the ID; -1 if none.
func (r *Redactor) match(b []byte, i int) (int, []byte) {
	end := func(j int) bool { return j <= len(b) && (j == len(b) || !wordByte(b[j])) }
	for k := len(r.lens) - 1; k >= 0; k-- {
		if j := i + r.lens[k]; end(j) && r.set.Contains(b[i:j]) {
			return j, b[i:j]
		}
	}
	for k := len(r.elens) - 1; k >= 0; k-- {
		if j := i + r.elens[k]; end(j) {
			if id, ok := r.escaped[string(b[i:j])]; ok {
				return j, []byte(id)
			}
		}
	}
	return -1, nil
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
