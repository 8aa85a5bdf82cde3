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
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
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

// Set is a set of IDs. The zero value is empty. A Set is safe for concurrent
// reads.
type Set struct {
	m map[string]struct{}
	// digest, if not 0, is the size of the digests m holds (a
	// [Transform]'s set): IDs are their hex.
	digest int
}

// New returns a set holding ids, which must already be valid.
func New(ids ...string) *Set {
	s := &Set{m: make(map[string]struct{}, len(ids))}
	for _, id := range ids {
		s.m[id] = struct{}{}
	}
	return s
}

// Contains reports whether id is in the set. It does not allocate.
func (s *Set) Contains(id []byte) bool {
	if s.digest != 0 {
		return s.containsHex(id)
	}
	_, ok := s.m[string(id)]
	return ok
}

// Len returns the number of distinct IDs.
func (s *Set) Len() int { return len(s.m) }

// Each calls fn for every ID, in no particular order; a digest as its
// lower-case hex.
func (s *Set) Each(fn func(id string)) {
	for id := range s.m {
		if s.digest != 0 {
			id = hex.EncodeToString([]byte(id))
		}
		fn(id)
	}
}

// maxLine bounds one line of the list; no real ID comes near it.
const maxLine = 64 << 10

// Read parses an ID list from r. name is used in error messages.
func Read(r io.Reader, name string) (*Set, error) {
	s := &Set{m: make(map[string]struct{})}
	err := ReadFunc(r, name, func(id string, _ int) { s.m[id] = struct{}{} })
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ReadFunc parses an ID list from r like Read, calling fn with each ID and
// its line number, in order; an ID listed twice is passed twice.
func ReadFunc(r io.Reader, name string, fn func(id string, line int)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine+2) // the limit excludes CR LF
	line, n := 0, 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			// A byte order mark, as Windows editors write, is not part of
			// the first ID.
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		id := strings.TrimSpace(text)
		if len(id) > maxLine {
			return &LineError{Name: name, Line: line, Err: fmt.Errorf("line longer than %d bytes", maxLine)}
		}
		if id == "" || strings.HasPrefix(id, "#") {
			continue
		}
		if err := check(id); err != nil {
			return &LineError{Name: name, Line: line, Err: err}
		}
		fn(id, line)
		n++
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

// Placeholder reports whether id looks like what an export holds where a
// client has no ID (unknown, none, null, n/a, -, 0, an all-zero or nil
// UUID) rather than an ID: listed by mistake, it matches the rows of every
// such client. Case and surrounding space do not matter.
func Placeholder(id string) bool {
	s := strings.ToLower(strings.TrimSpace(id))
	switch s {
	case "unknown", "none", "null", "nil", "undefined", "n/a", "na", "?", "empty", "anonymous":
		return true
	}
	return s != "" && strings.Trim(s, "0-") == ""
}

// check rejects IDs that cannot be a CSV field value on their own.
func check(id string) error {
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
	if strings.ContainsRune(id, '\uFEFF') {
		return errors.New("ID contains a byte order mark (U+FEFF)")
	}
	return nil
}
