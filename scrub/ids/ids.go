// Package ids loads the list of client IDs to erase.
//
// The list has one ID per line. Blank lines and lines starting with '#' are
// ignored and surrounding white space is trimmed. An ID may not contain a
// comma, a double quote or a control character: such a line is far more
// likely a pasted CSV row or a broken file than an ID, and it could never
// match a field exactly. Errors name the line, never its content: the list
// is personal data.
package ids

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ErrEmpty is returned for a list without any ID.
var ErrEmpty = errors.New("no IDs in list")

// LineError reports an invalid line of an ID list.
type LineError struct {
	Name string // the list's name, as given by the user
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// maxLine bounds one line of the list; no real ID comes near it.
const maxLine = 64 << 10

// Read parses an ID list from r. name is used in error messages.
func Read(r io.Reader, name string) (*Set, error) {
	s := &Set{}
	if err := ReadSet(r, name, s, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadFunc parses an ID list from r like Read, calling fn with each ID and
// its line number, in order; an ID listed twice is passed twice.
func ReadFunc(r io.Reader, name string, fn func(id string, line int)) error {
	return ReadBytesFunc(r, name, func(id []byte, line int) error {
		fn(string(id), line)
		return nil
	})
}

// ReadBytesFunc is ReadFunc without a string per ID: id is valid only
// during the call. An error fn returns ends the read, wrapped with the
// list's name and the line.
//
// The list is split and checked in a goroutine of its own, a batch of IDs
// ahead of fn, which is called in the caller's goroutine; nothing reads r
// once ReadBytesFunc has returned.
func ReadBytesFunc(r io.Reader, name string, fn func(id []byte, line int) error) error {
	return readBatches(r, name, func(b *batch) error {
		start := 0
		for i, end := range b.ends {
			if err := fn(b.data[start:end], b.lines[i]); err != nil {
				return &LineError{Name: name, Line: b.lines[i], Err: err}
			}
			start = end
		}
		return nil
	})
}

// ReadSet reads a list into s, as Read does, calling fn first (if not nil)
// with each ID and its line, in order, as ReadFunc does. The IDs go into
// the set a batch at a time (see addAll).
func ReadSet(r io.Reader, name string, s *Set, fn func(id []byte, line int)) error {
	return readBatches(r, name, func(b *batch) error {
		if fn != nil {
			start := 0
			for i, end := range b.ends {
				fn(b.data[start:end], b.lines[i])
				start = end
			}
		}
		if i, err := s.addAll(b.data, b.ends); err != nil {
			return &LineError{Name: name, Line: b.lines[i], Err: err}
		}
		return nil
	})
}

// batch is a run of a list's IDs: ID i is data[ends[i-1]:ends[i]] (from
// 0), on line lines[i].
type batch struct {
	data  []byte
	ends  []int
	lines []int
	err   error // after the batch's IDs: how the list ended (nil: well)
}

func (b *batch) reset() { b.data, b.ends, b.lines, b.err = b.data[:0], b.ends[:0], b.lines[:0], nil }

// readBatches splits and checks a list in a goroutine of its own, and
// calls fn with its IDs a batch at a time in the caller's goroutine, until
// fn fails; nothing reads r once it has returned.
func readBatches(r io.Reader, name string, fn func(b *batch) error) error {
	const perBatch = 1024
	free := make(chan *batch, 4)
	for range cap(free) {
		free <- &batch{}
	}
	full := make(chan *batch, cap(free))
	stop := make(chan struct{})
	go func() {
		defer close(full)
		b := <-free
		b.reset()
		err := scan(r, name, func(id []byte, line int) bool {
			b.data = append(b.data, id...)
			b.ends, b.lines = append(b.ends, len(b.data)), append(b.lines, line)
			if len(b.ends) < perBatch {
				return true
			}
			full <- b
			select {
			case <-stop: // fn failed: no more IDs are wanted
				b = nil
				return false
			default:
			}
			b = <-free
			b.reset()
			return true
		})
		if b != nil { // else scan stopped, and err is nil
			b.err = err
			full <- b
		}
	}()
	var err error
	for b := range full {
		if err == nil && len(b.ends) > 0 {
			if err = fn(b); err != nil {
				close(stop)
			}
		}
		if err == nil {
			err = b.err
		}
		free <- b
	}
	return err
}

// scan splits and checks a list, calling fn with each ID and its line
// until it returns false.
func scan(r io.Reader, name string, fn func(id []byte, line int) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine+2) // the limit excludes CR LF
	line, n := 0, 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if line == 1 {
			// A byte order mark, as Windows editors write, is not part of
			// the first ID.
			text = bytes.TrimPrefix(text, bom)
		}
		id := bytes.TrimSpace(text)
		if len(id) > maxLine {
			return &LineError{Name: name, Line: line, Err: fmt.Errorf("line longer than %d bytes", maxLine)}
		}
		if len(id) == 0 || id[0] == '#' {
			continue
		}
		if err := check(id); err != nil {
			return &LineError{Name: name, Line: line, Err: err}
		}
		n++
		if !fn(id, line) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &LineError{Name: name, Line: line + 1, Err: fmt.Errorf("line longer than %d bytes", maxLine)}
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", name, ErrEmpty)
	}
	return nil
}

// Measure reads a list to its end and returns its lines (at least its
// IDs) and bytes (at least theirs), for [Set.Grow]: a list read twice
// costs less than a set that grows as it is read, which copies and
// leaves behind what it outgrows.
func Measure(r io.Reader) (lines, size int, err error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		size += n
		if err == io.EOF {
			return lines + 1, size, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// bom is a byte order mark (U+FEFF) in UTF-8.
var bom = []byte("\uFEFF")

// Placeholder reports whether id looks like what an export holds where a
// client has no ID (unknown, none, null, n/a, -, 0, an all-zero or nil
// UUID) rather than an ID: listed by mistake, it matches the rows of every
// such client. Case and surrounding space do not matter.
func Placeholder(id string) bool {
	return placeholder(strings.ToLower(strings.TrimSpace(id)))
}

// PlaceholderBytes is Placeholder for an ID in bytes. It does not
// allocate for an ASCII ID.
func PlaceholderBytes(id []byte) bool {
	id = bytes.TrimSpace(id)
	var buf [16]byte
	if len(id) > len(buf) {
		// Only the all-zero forms are this long.
		for _, c := range id {
			if c != '0' && c != '-' {
				return false
			}
		}
		return true
	}
	low := buf[:len(id)]
	for i, c := range id {
		switch {
		case c >= utf8.RuneSelf:
			// Unicode case mapping (the Kelvin sign lowers to k).
			return Placeholder(string(id))
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return placeholder(string(low)) // no copy: the conversion does not escape
}

// placeholder is Placeholder for a trimmed, lower-case ID.
func placeholder(s string) bool {
	switch s {
	case "unknown", "none", "null", "nil", "undefined", "n/a", "na", "?", "empty", "anonymous":
		return true
	}
	return s != "" && strings.Trim(s, "0-") == ""
}

// check rejects IDs that cannot be a CSV field value on their own.
func check(id []byte) error {
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == ',':
			return errors.New("ID contains a comma")
		case c == '"':
			return errors.New("ID contains a double quote")
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("ID contains control character 0x%02x", c)
		}
	}
	if bytes.Contains(id, bom) {
		return errors.New("ID contains a byte order mark (U+FEFF)")
	}
	return nil
}
