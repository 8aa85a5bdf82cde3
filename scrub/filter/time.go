package filter

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeColumn is the header name of the time column when a filter
// with a cutoff ([Filter.Before]) names none.
const DefaultTimeColumn = "Timestamp"

// Errors wrapped in a [ParseError] by a filter with a cutoff.
var (
	ErrNoTimeColumn = errors.New("no time column")
	ErrTime         = errors.New("not a valid time")
)

// timeColumn returns the name of the time column, for messages.
func (f *Filter) timeColumn() string {
	if strings.TrimSpace(f.TimeColumn) == "" {
		return DefaultTimeColumn
	}
	return f.TimeColumn
}

// findTimeColumn locates the time column in the header just parsed, when
// the filter has a cutoff; it must be there exactly once.
func (s *scanner) findTimeColumn() error {
	s.timeCol = -1
	if s.f.Before.IsZero() {
		return nil
	}
	want := strings.TrimSpace(s.f.timeColumn())
	for i, name := range s.names {
		if !strings.EqualFold(strings.TrimSpace(name), want) {
			continue
		}
		if s.timeCol >= 0 {
			return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrNoTimeColumn,
				detail: fmt.Sprintf("%q is the name of more than one column", s.f.timeColumn())}
		}
		s.timeCol = i
	}
	if s.timeCol < 0 {
		// By age alone, a header without the time column that names no ID
		// column either is not an export's (a README, a manifest): not a
		// table. One that names an ID column is an export without its
		// time column, which fails.
		return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrNoTimeColumn,
			detail: fmt.Sprintf("looked for %q", s.f.timeColumn()), notTable: !s.f.listsIDs() && !s.namesAny(s.f.columns()) && !s.namesAny(DefaultColumns)}
	}
	return nil
}

// checkTime handles the value of the time column: a record older than the
// cutoff is marked expired, and a value that is not a time is an error,
// kept in s.terr until the record has been parsed. val is a slice of
// s.buf, so its offset is told by its capacity.
func (s *scanner) checkTime(val []byte) {
	t, ok := ParseTime(val)
	if ok {
		if t.Before(s.f.Before) {
			s.expired = true
		}
		return
	}
	if s.terr != nil {
		return
	}
	off := cap(s.buf) - cap(val)
	if off > s.pos && s.buf[off-1] == '"' {
		off-- // a quoted field starts at its quote
	}
	s.terr = s.errAt(s.pos, off, ErrTime)
	if s.terr.Err == ErrTime {
		what := "not a time"
		if len(val) == 0 {
			what = "empty"
		}
		// The value itself is not quoted: a misnamed column could hold IDs.
		s.terr.detail = fmt.Sprintf("column %q: %s; want 2006-01-02 15:04:05[.fraction], RFC 3339 or 2006-01-02", s.f.timeColumn(), what)
	}
}

// ParseTime parses a time as a filter with a cutoff reads its time column,
// in the layouts of exports, without allocating:
//
//	2006-01-02
//	2006-01-02 15:04:05       (or T instead of the space; the hour may have one digit)
//
// the latter with an optional fraction of a second (digits after '.' or ',',
// cut off at nanoseconds) and an optional zone, Z or ±hh:mm (hh up to 23).
// A time without a zone is UTC. It accepts what time.Parse accepts with
// these layouts, except offsets of 24 hours or more.
func ParseTime(b []byte) (time.Time, bool) {
	num := func(p []byte) (int, bool) {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 {
		return time.Time{}, false
	}
	var hour, minute, sec, nsec, offset int
	if rest := b[10:]; len(rest) > 0 {
		if rest[0] != ' ' && rest[0] != 'T' {
			return time.Time{}, false
		}
		rest = rest[1:]
		h := 2 // the hour may have one digit, as time.Parse allows
		if len(rest) > 1 && rest[1] == ':' {
			h = 1
		}
		if len(rest) < h+6 || rest[h] != ':' || rest[h+3] != ':' {
			return time.Time{}, false
		}
		var ok1, ok2, ok3 bool
		hour, ok1 = num(rest[:h])
		minute, ok2 = num(rest[h+1 : h+3])
		sec, ok3 = num(rest[h+4 : h+6])
		if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
			return time.Time{}, false
		}
		rest = rest[h+6:]
		if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
			n := 1
			for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
				n++
			}
			digits := n - 1
			if digits < 1 {
				return time.Time{}, false
			}
			nsec, _ = num(rest[1:min(n, 10)]) // digits past nanoseconds are cut off
			for ; digits < 9; digits++ {
				nsec *= 10
			}
			rest = rest[n:]
		}
		switch {
		case len(rest) == 0:
		case len(rest) == 1 && rest[0] == 'Z':
		case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
			oh, ok1 := num(rest[1:3])
			om, ok2 := num(rest[4:6])
			if !ok1 || !ok2 || oh > 23 || om > 59 {
				return time.Time{}, false
			}
			offset = (oh*60 + om) * 60
			if rest[0] == '-' {
				offset = -offset
			}
		default:
			return time.Time{}, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 2017-02-30 and the like
		return time.Time{}, false
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}
