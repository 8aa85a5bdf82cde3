// Package filter removes the records of listed IDs from CSV data and copies
// every other byte through unchanged.
//
// The input is CSV as described by RFC 4180: fields separated by a
// delimiter (',' ';' or tab, detected from the header), records terminated
// by LF or CRLF, and fields that contain the delimiter, a quote or a line
// break enclosed in double quotes, with quotes inside doubled. The first
// non-blank record is the header; it names the ID column(s). A data record is
// dropped exactly when the unquoted value of one of its ID columns is in the
// ID set, or, with a cutoff, when its time is before the cutoff. All other
// bytes of the input, the header, blank lines, quoting, line endings, a byte
// order mark and a missing final line break included, are written to the
// output as they were.
//
// The scanner is strict where leniency could hide a record boundary: a quote
// inside an unquoted field, text after a closing quote, a carriage return
// that does not end a line, an unterminated quoted field and a record whose
// field count differs from the header's are errors ([ParseError]), never
// guesses. A filter that cannot find the ID column fails rather than keep
// every row; so does one with a cutoff that cannot find the time column, and
// a record whose time does not parse is an error ([ErrTime]), never kept or
// dropped by guess. Errors that say the input is not a table at all (no
// header row, or a first line that names no ID column and is not a CSV
// header with the ID column: prose, JSON, a checksum list, binary data)
// report so through [ParseError.NotTable], so that a caller can pass over
// such input, naming it, while an export that is bad fails. Input that is not UTF-8 (RFC 3629) is an error too,
// unless [Filter.AllowInvalidUTF8] is set: it is a sign of binary data or of
// text in another encoding, where an ID may be spelt in bytes that do not
// match.
package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultColumns are the header names that identify the client ID column
// when no column is configured. They are matched case-insensitively.
var DefaultColumns = []string{"Client ID", "clientId", "client_id", "ClientID"}

// DefaultMaxRecord is the default limit on the size of one record in bytes.
const DefaultMaxRecord = 16 << 20

// Errors wrapped in a [ParseError].
var (
	ErrNoHeader     = errors.New("no header row (empty CSV)")
	ErrNoIDColumn   = errors.New("no ID column")
	ErrBareQuote    = errors.New(`bare " in non-quoted field`)
	ErrQuote        = errors.New(`extraneous or missing " in quoted field`)
	ErrBareCR       = errors.New("carriage return not followed by line feed (CR-only line endings are not supported)")
	ErrFieldCount   = errors.New("wrong number of fields")
	ErrRecordTooBig = errors.New("record too long")
	ErrInvalidUTF8  = errors.New("invalid UTF-8 (binary data, or text in another encoding)")
)

// ParseError is returned for malformed input. Line and Column (1-based, in
// bytes) locate the error; StartLine is the line where its record starts.
// Messages never include field contents, so no ID ends up in a log.
type ParseError struct {
	StartLine int
	Line      int
	Column    int
	Err       error
	detail    string
	notTable  bool
}

func (e *ParseError) Error() string {
	msg := e.Err.Error()
	if e.detail != "" {
		msg += " (" + e.detail + ")"
	}
	if e.Line == 0 {
		return msg
	}
	if e.StartLine != 0 && e.StartLine != e.Line {
		return fmt.Sprintf("record on line %d: line %d, column %d: %s", e.StartLine, e.Line, e.Column, msg)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, msg)
}

func (e *ParseError) Unwrap() error { return e.Err }

// NotTable reports whether the error says that the input is not a table
// with an ID column at all, rather than a table with a bad record: it was
// found before any data record, and the input has no header row (it is
// empty or blank), or a first line that does not name an ID column (the
// filter's, or one of [DefaultColumns]) and is not CSV, not UTF-8 text, or
// a header without the ID column. Whoever
// hands the filter streams of unknown content (package archive does) can
// tell such a stream, which is not an export, from an export that fails.
// A header over [Filter.MaxRecord] is not of this kind, nor is a missing
// time column ([ErrNoTimeColumn]) in a header that names an ID column, or
// in any header when IDs are set (the ID column is there): a retention
// pass must not pass over an export silently. By age alone (IDs nil), a
// header that names neither the time column nor an ID column is not a
// table.
func (e *ParseError) NotTable() bool { return e.notTable }

// Set is the set of IDs to remove.
type Set interface {
	// Contains reports whether id is in the set. It must not retain id.
	Contains(id []byte) bool
}

// Filter removes the records of the IDs in a Set, and those older than a
// cutoff. Its zero value, with IDs set, filters on the [DefaultColumns] with
// the delimiter detected from the header. A Filter is safe for concurrent
// use by several goroutines.
type Filter struct {
	// IDs are the IDs whose records go. Nil, with a cutoff, filters by
	// age alone: no ID column is needed.
	IDs Set
	// Columns are the header names of the ID columns, matched
	// case-insensitively after trimming spaces. Every column whose name
	// matches is an ID column; a record is dropped when any of them holds a
	// listed ID. Nil means DefaultColumns.
	Columns []string
	// Delimiter, if non-zero, is used instead of detecting it.
	Delimiter byte
	// MaxRecord limits the size of one record in bytes; 0 means
	// DefaultMaxRecord.
	MaxRecord int
	// AllowInvalidUTF8 passes bytes that are not UTF-8 through like any
	// others. By default they are an error ([ErrInvalidUTF8]) at the line
	// and column of the first one. A byte order mark is valid UTF-8, and is
	// allowed either way.
	AllowInvalidUTF8 bool
	// Before, if not zero, is a cutoff: a record whose time is before it
	// goes too. The time is the value of the column TimeColumn (matched
	// like Columns; "" means DefaultTimeColumn), which must be there
	// exactly once, in a layout ParseTime reads (a time without a zone is
	// UTC). A value that is not a time, or is empty, is an error ([ErrTime]).
	Before     time.Time
	TimeColumn string
	// ByColumn and Composites, if set, say which column holds which IDs,
	// instead of IDs and Columns (which must then be nil): a data map's
	// dataset, whose columns hold identifiers of different types and
	// stored forms. Every column they name must be in the header; a
	// header that names none of them is not a table
	// ([ParseError.NotTable]).
	ByColumn   []Column
	Composites []Composite
}

// Column is an ID column with a set of its own: a record is dropped when
// the column holds an ID of IDs.
type Column struct {
	Name string
	IDs  Set
}

// Composite is an identifier held in several columns together: a record
// is dropped when the values of Columns, in that order, joined by
// [CompositeSep], are a member of IDs. A header that names one of Columns
// twice has its first one read.
type Composite struct {
	Columns []string
	IDs     Set
}

// CompositeSep joins the values of a composite identifier's columns (the
// ASCII unit separator, which no ID list allows).
const CompositeSep = '\x1f'

// byRules reports whether the filter is configured by ByColumn and
// Composites.
func (f *Filter) byRules() bool { return len(f.ByColumn) > 0 || len(f.Composites) > 0 }

// listsIDs reports whether the filter drops records for their IDs (not
// only for their age).
func (f *Filter) listsIDs() bool { return f.IDs != nil || f.byRules() }

// Stats counts what a pass over one CSV stream saw. It is an alias of an
// unnamed struct type, identical to [archive.Stats], so that a *Filter is an
// archive.Filter while neither package imports the other: the filter knows
// rows, not archives.
type Stats = struct {
	Rows    int64 // data records read (the header and blank lines excluded)
	Removed int64 // data records dropped (or, for Match, found)
	Expired int64 // of those, the records older than Filter.Before, their ID listed or not
}

// Filter copies src to dst without the records whose ID is in the set. With a
// nil dst it only counts. It reads src to the end, so a decompressor's
// checksum error surfaces here.
func (f *Filter) Filter(dst io.Writer, src io.Reader) (Stats, error) {
	s := f.newScanner(dst, src, false)
	defer s.release()
	err := s.run()
	return s.stats, err
}

// Match reads src until the first record whose ID is in the set. It reports
// whether there was one; Stats counts the data records read up to there.
func (f *Filter) Match(src io.Reader) (Stats, bool, error) {
	s := f.newScanner(nil, src, true)
	defer s.release()
	err := s.run()
	return s.stats, s.stats.Removed > 0, err
}

// Columns returns the ID column names a filter looks for, for messages.
func (f *Filter) columns() []string {
	if f.byRules() {
		var names []string
		for _, c := range f.ByColumn {
			names = append(names, c.Name)
		}
		for _, c := range f.Composites {
			names = append(names, c.Columns...)
		}
		return names
	}
	if len(f.Columns) == 0 {
		return DefaultColumns
	}
	return f.Columns
}

const initialBuffer = 256 << 10

// buffers holds scanners' buffers of initialBuffer bytes for reuse: a
// batch of small archives would otherwise allocate and clear one for every
// stream (a quarter of the CPU time of 8,000 small archives).
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// release gives the scanner's buffer back for reuse; nothing may use the
// scanner after.
func (s *scanner) release() {
	if cap(s.buf) == initialBuffer {
		b := s.buf[:0]
		buffers.Put(&b)
	}
	s.buf = nil
}

// errShort means the buffer ends inside the current record and more input
// may follow.
var errShort = errors.New("short buffer")

type scanner struct {
	f     *Filter
	src   io.Reader
	dst   io.Writer
	stop  bool // stop at the first match
	limit int
	delim byte
	stats Stats

	buf  []byte
	pos  int  // start of the next record
	end  int  // end of valid data in buf
	mark int  // start of bytes not yet written to dst
	eof  bool // src is exhausted
	line int  // line number of buf[pos]

	sets    []Set  // per field of the header: the IDs of an ID column, or nil
	parts   []part // per field of the header: the composite part it is, if any (comp < 0: none)
	comps   []comp // per composite: the values of the record being parsed
	key     []byte // a composite's values, joined
	last    int    // the last field the filter looks at; the rest of a record is only skipped
	nfields int    // fields per record, from the header
	header  bool   // parsing the header: collect names
	names   []string
	bomDone bool   // a byte order mark at the start has been skipped
	matched bool   // the record being parsed holds a listed ID
	scratch []byte // unescaped quoted values
	stopCh  [256]bool

	expired bool        // the record being parsed is older than the cutoff
	timeCol int         // the time column, or -1
	terr    *ParseError // the record's time column does not hold a time

	checkUTF8 bool
	checked   int // buf[pos:checked] is valid UTF-8
	bad       int // offset of the first byte that is not UTF-8, or -1

	x *extraction // set by Extract
}

func (f *Filter) newScanner(dst io.Writer, src io.Reader, stop bool) *scanner {
	limit := f.MaxRecord
	if limit <= 0 {
		limit = DefaultMaxRecord
	}
	var buf []byte
	if limit+1 >= initialBuffer {
		buf = (*buffers.Get().(*[]byte))[:0]
	}
	if cap(buf) != min(initialBuffer, limit+1) {
		buf = make([]byte, 0, min(initialBuffer, limit+1))
	}
	return &scanner{f: f, src: src, dst: dst, stop: stop, limit: limit, line: 1,
		buf: buf, checkUTF8: !f.AllowInvalidUTF8, bad: -1}
}

// run scans the whole stream.
func (s *scanner) run() error {
	if err := s.readHeader(); err != nil {
		return err
	}
	if s.x != nil {
		s.x.keepHeader(s)
	}
	for {
		if s.pos == s.end {
			if s.eof {
				return s.flush(s.end)
			}
			if err := s.fill(); err != nil {
				return err
			}
			continue
		}
		if n := s.blankLine(); n > 0 {
			s.pos += n
			s.line++
			continue
		} else if n < 0 {
			if err := s.fill(); err != nil {
				return err
			}
			continue
		}
		start, startLine := s.pos, s.line
		s.matched, s.expired, s.terr = false, false, nil
		for i := range s.comps {
			s.comps[i].n = 0
		}
		end, nfields, err := s.record()
		if err == errShort {
			if err := s.fill(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if s.bad >= 0 && s.bad < end {
			return s.errAt(start, s.bad, ErrInvalidUTF8)
		}
		if nfields != s.nfields {
			return &ParseError{StartLine: startLine, Line: startLine, Column: 1, Err: ErrFieldCount,
				detail: fmt.Sprintf("%d, header has %d", nfields, s.nfields)}
		}
		if s.terr != nil {
			return s.terr
		}
		if len(s.comps) > 0 && !s.matched && s.compositeMatch() {
			s.matched = true
		}
		s.stats.Rows++
		s.line += bytes.Count(s.buf[start:end], nl)
		s.pos = end
		if s.matched || s.expired {
			s.stats.Removed++
			if s.expired {
				s.stats.Expired++
			}
			if s.x != nil && s.matched {
				if err := s.x.emit(s.buf[start:end]); err != nil {
					return err
				}
			}
			if s.stop {
				return nil
			}
			if err := s.flush(start); err != nil {
				return err
			}
			s.mark = end
		}
	}
}

var nl = []byte{'\n'}

// part places a field in a composite: comp is the composite's index, or
// -1; idx the part's.
type part struct{ comp, idx int }

// comp is a composite identifier as read from the record being parsed.
type comp struct {
	c    *Composite
	vals [][]byte
	n    int // the values read
}

// compositeMatch reports whether the record just parsed holds a listed
// composite identifier.
func (s *scanner) compositeMatch() bool {
	for i := range s.comps {
		c := &s.comps[i]
		if c.n != len(c.vals) {
			continue
		}
		s.key = s.key[:0]
		for j, v := range c.vals {
			if j > 0 {
				s.key = append(s.key, CompositeSep)
			}
			s.key = append(s.key, v...)
		}
		if c.c.IDs.Contains(s.key) {
			return true
		}
	}
	return false
}

// blankLine returns the length of an empty line at pos (LF or CRLF), 0 if
// the line is not empty, or -1 if more input is needed to tell.
func (s *scanner) blankLine() int {
	b := s.buf[s.pos:s.end]
	switch {
	case b[0] == '\n':
		return 1
	case b[0] != '\r':
		return 0
	case len(b) > 1:
		if b[1] == '\n' {
			return 2
		}
		return 0
	case s.eof:
		return 1 // a CR ending the input ends an empty line
	}
	return -1
}

// readHeader skips a byte order mark and blank lines, detects the delimiter
// and parses the header record.
func (s *scanner) readHeader() error {
	// An error of the input before the header record is parsed says it is
	// not a table (unless its first line names a column looked for).
	fill := func() error {
		err := s.fill()
		return s.headerErr(err, s.pos, -1)
	}
	for {
		if !s.eof && s.end-s.pos < 4 {
			if err := fill(); err != nil {
				return err
			}
			continue
		}
		if !s.bomDone {
			s.bomDone = true
			if bytes.HasPrefix(s.buf[:s.end], bom) {
				s.pos = len(bom)
			}
		}
		if s.pos == s.end {
			if !s.eof {
				if err := fill(); err != nil {
					return err
				}
				continue
			}
			return &ParseError{Err: ErrNoHeader, notTable: true}
		}
		if n := s.blankLine(); n > 0 {
			s.pos += n
			s.line++
			continue
		} else if n < 0 {
			if err := fill(); err != nil {
				return err
			}
			continue
		}
		if s.delim == 0 {
			d, ok := s.detect()
			if !ok {
				if err := fill(); err != nil {
					return err
				}
				continue
			}
			s.setDelim(d)
		}
		start := s.pos
		s.header, s.names = true, s.names[:0]
		end, nfields, err := s.record()
		if err == errShort {
			if err := fill(); err != nil {
				return err
			}
			continue
		}
		s.header = false
		if err != nil {
			return s.headerErr(err, start, -1)
		}
		if s.bad >= 0 && s.bad < end {
			return s.headerErr(s.errAt(start, s.bad, ErrInvalidUTF8), start, end)
		}
		s.nfields = nfields
		s.sets = make([]Set, nfields)
		found := !s.f.listsIDs() && !s.f.Before.IsZero() // by age alone
		if s.f.byRules() {
			if err := s.ruleColumns(); err != nil {
				return err
			}
			found = true
		}
		for i, name := range s.names {
			name = strings.TrimSpace(name)
			for _, c := range s.f.columns() {
				if s.f.IDs != nil && strings.EqualFold(name, strings.TrimSpace(c)) {
					s.sets[i], found = s.f.IDs, true
				}
			}
		}
		for i, set := range s.sets {
			if set != nil || s.parts != nil && s.parts[i].comp >= 0 {
				s.last = i
			}
		}
		if !found {
			return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrNoIDColumn,
				detail: "looked for " + quoteList(s.f.columns()), notTable: !s.exportHeader()}
		}
		if err := s.findTimeColumn(); err != nil {
			return err
		}
		s.last = max(s.last, s.timeCol)
		s.line += bytes.Count(s.buf[start:end], nl)
		s.pos = end
		return nil
	}
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// ruleColumns finds the columns of ByColumn and Composites in the header:
// each must be there; a header that names none of them (nor one of
// [DefaultColumns]) is not a table.
func (s *scanner) ruleColumns() error {
	find := func(want string) int {
		for i, name := range s.names {
			if strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(want)) {
				return i
			}
		}
		return -1
	}
	var missing []string
	for _, c := range s.f.ByColumn {
		found := false
		for i, name := range s.names {
			if strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(c.Name)) {
				s.sets[i], found = c.IDs, true
			}
		}
		if !found {
			missing = append(missing, c.Name)
		}
	}
	if len(s.f.Composites) > 0 {
		s.parts = make([]part, len(s.names))
		for i := range s.parts {
			s.parts[i].comp = -1
		}
		s.comps = make([]comp, len(s.f.Composites))
	}
	for ci := range s.f.Composites {
		c := &s.f.Composites[ci]
		s.comps[ci] = comp{c: c, vals: make([][]byte, len(c.Columns))}
		for pi, name := range c.Columns {
			i := find(name)
			switch {
			case i < 0:
				missing = append(missing, name)
			case s.parts[i].comp >= 0:
				return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrNoIDColumn,
					detail: fmt.Sprintf("column %q is part of two composite identifiers", name)}
			default:
				s.parts[i] = part{ci, pi}
			}
		}
	}
	if len(missing) > 0 {
		return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrNoIDColumn,
			detail: "missing " + quoteList(missing) + " of " + quoteList(s.f.columns()), notTable: !s.exportHeader()}
	}
	return nil
}

// headerErr marks an error found in the header record, which starts at
// start, as saying that the input is not a table ([ParseError.NotTable]),
// unless the header names a column of an export (exportHeader): then its
// error fails it. The names are those parsed when end >= 0; otherwise
// the record did not parse, and the fields of its first line, split at
// the delimiter (',' if none is known yet) and stripped of spaces and
// quotes, stand in for them.
func (s *scanner) headerErr(err error, start, end int) error {
	pe, ok := err.(*ParseError)
	if !ok || pe.Err == ErrRecordTooBig {
		return err
	}
	if end < 0 {
		// The whole first line, whatever was read of it so far, so that
		// the verdict does not depend on how the input arrives.
		for !s.eof && bytes.IndexByte(s.buf[start:s.end], '\n') < 0 && s.end-start <= s.limit {
			off := start - s.pos
			if s.fill() != nil {
				break
			}
			start = s.pos + off
		}
		line := s.buf[start:s.end]
		if k := bytes.IndexByte(line, '\n'); k >= 0 {
			line = line[:k]
		}
		delim := s.delim
		if delim == 0 {
			delim = ','
		}
		s.names = s.names[:0]
		for _, f := range bytes.Split(line, []byte{delim}) {
			s.names = append(s.names, strings.Trim(string(f), " \t\r\""))
		}
	}
	pe.notTable = !s.exportHeader()
	if pe.notTable && pe.detail == "" {
		pe.detail = "the first line is not a CSV header"
	}
	return err
}

// exportHeader reports whether the header (s.names) names a column that
// makes it an export's, whatever else is wrong with it: one of the ID
// columns looked for, one of the [DefaultColumns] (a header with "Client
// ID" and a filter told to look for another column is an export and a
// mistake, not a stream to pass over), or the time column of a cutoff.
func (s *scanner) exportHeader() bool {
	return s.namesAny(s.f.columns()) || s.namesAny(DefaultColumns) ||
		!s.f.Before.IsZero() && s.namesAny([]string{s.f.timeColumn()})
}

// namesAny reports whether a name of the header is one of want, matched as
// the filter matches column names.
func (s *scanner) namesAny(want []string) bool {
	for _, name := range s.names {
		for _, c := range want {
			if strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(c)) {
				return true
			}
		}
	}
	return false
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func (s *scanner) setDelim(d byte) {
	s.delim = d
	for _, c := range []byte{d, '\n', '\r', '"'} {
		s.stopCh[c] = true
	}
}

// detect picks the delimiter of the header record at pos: the most frequent
// of ',' ';' and tab outside quotes, ',' when there is none. It reports false
// when the buffer ends before the header does.
func (s *scanner) detect() (byte, bool) {
	if s.f.Delimiter != 0 {
		return s.f.Delimiter, true
	}
	var comma, semi, tab int
	quoted := false
	b := s.buf[s.pos:s.end]
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			quoted = !quoted
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		switch c {
		case ',':
			comma++
		case ';':
			semi++
		case '\t':
			tab++
		}
	}
	if i == len(b) && !s.eof {
		return 0, false
	}
	switch {
	case semi > comma && semi >= tab:
		return ';', true
	case tab > comma && tab > semi:
		return '\t', true
	}
	return ',', true
}

// record parses the record at pos. It returns the offset just past its
// terminator and its number of fields, sets s.matched when an ID field holds
// a listed ID, and in header mode collects the field values in s.names.
func (s *scanner) record() (end, nfields int, err error) {
	buf := s.buf[:s.end]
	i := s.pos
	field := 0
	skip := !s.header
	for {
		if skip && field > s.last {
			var end int
			var done bool
			if i, field, end, done, skip = s.skipRest(i, field); done {
				return end, field, nil
			}
		}
		var val []byte
		escaped := false
		if i < len(buf) && buf[i] == '"' {
			// Quoted field: find the closing quote, skipping doubled quotes.
			j := i + 1
			for {
				k := bytes.IndexByte(buf[j:], '"')
				if k < 0 {
					if !s.eof {
						return 0, 0, errShort
					}
					err := s.errAt(s.pos, i, ErrQuote)
					err.detail = "quoted field opened here is never closed"
					return 0, 0, err
				}
				q := j + k
				if q+1 == len(buf) && !s.eof {
					return 0, 0, errShort
				}
				if q+1 < len(buf) && buf[q+1] == '"' {
					escaped = true
					j = q + 2
					continue
				}
				val = buf[i+1 : q]
				i = q + 1
				break
			}
			s.value(field, val, escaped)
			field++
			if i == len(buf) {
				return i, field, nil // EOF ends the record
			}
			switch c := buf[i]; {
			case c == s.delim:
				i++
				continue
			case c == '\n':
				return i + 1, field, nil
			case c == '\r':
				if e, err := s.crlf(i); err != errBareCR {
					return e, field, err
				}
				return 0, 0, s.errAt(s.pos, i, ErrBareCR)
			default:
				return 0, 0, s.errAt(s.pos, i, ErrQuote)
			}
		}
		// Unquoted field: runs to the delimiter or line end.
		j := i
		for j < len(buf) && !s.stopCh[buf[j]] {
			j++
		}
		if j == len(buf) {
			if !s.eof {
				return 0, 0, errShort
			}
			s.value(field, buf[i:j], false)
			return j, field + 1, nil
		}
		s.value(field, buf[i:j], false)
		field++
		switch c := buf[j]; c {
		case s.delim:
			i = j + 1
		case '\n':
			return j + 1, field, nil
		case '\r':
			e, err := s.crlf(j)
			if err == errBareCR {
				return 0, 0, s.errAt(s.pos, j, ErrBareCR)
			}
			return e, field, err
		default: // '"'
			return 0, 0, s.errAt(s.pos, j, ErrBareQuote)
		}
	}
}

// skipRest is the fast way through the fields after the last one the
// filter looks at, which are only counted. From i it looks for the end of
// the line, and for the first quote or carriage return before it. When
// there is neither (a CR just before the line feed aside), the record ends
// at that line feed with one more field than the rest has delimiters:
// exactly what the field-by-field loop would find, and it reports done.
// Otherwise it moves i past the whole unquoted fields before the quote or
// CR, counting them, and the loop takes over from there (a quoted field,
// an error to report at its exact place); more reports whether calling it
// again in this record can help (not when the record runs past the
// buffer, or made no progress).
func (s *scanner) skipRest(i, field int) (ni, nfield, end int, done, more bool) {
	rest := s.buf[i:s.end]
	k := bytes.IndexByte(rest, '\n')
	if k < 0 {
		return i, field, 0, false, false
	}
	line := rest[:k]
	if k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	stop := len(line)
	if q := bytes.IndexByte(line, '"'); q >= 0 {
		stop = q
	}
	if r := bytes.IndexByte(line[:stop], '\r'); r >= 0 {
		stop = r
	}
	if stop == len(line) {
		return i, field + 1 + bytes.Count(line, []byte{s.delim}), i + k + 1, true, true
	}
	j := bytes.LastIndexByte(line[:stop], s.delim)
	if j < 0 {
		// A quoted field right here: the loop takes the rest of the
		// record, rather than this looking ahead at every field.
		return i, field, 0, false, false
	}
	return i + j + 1, field + bytes.Count(line[:j+1], []byte{s.delim}), 0, false, true
}

var errBareCR = errors.New("bare CR")

// crlf handles a CR at i that follows a field: CRLF ends the record, and so
// does a CR at the very end of the input.
func (s *scanner) crlf(i int) (int, error) {
	switch {
	case i+1 < s.end && s.buf[i+1] == '\n':
		return i + 2, nil
	case i+1 == s.end && !s.eof:
		return 0, errShort
	case i+1 == s.end:
		return i + 1, nil
	}
	return 0, errBareCR
}

// value handles the value of one field.
func (s *scanner) value(field int, val []byte, escaped bool) {
	if s.header {
		s.names = append(s.names, string(unescape(nil, val, escaped)))
		return
	}
	if field == s.timeCol {
		s.checkTime(val) // quotes inside are never part of a time: no unescaping
	}
	if field >= len(s.sets) || s.matched && s.x == nil {
		return
	}
	if s.parts != nil && s.parts[field].comp >= 0 {
		p := s.parts[field]
		c := &s.comps[p.comp]
		c.vals[p.idx] = unescape(c.vals[p.idx][:0], val, escaped)
		c.n++
	}
	set := s.sets[field]
	if set == nil {
		return
	}
	if escaped {
		s.scratch = unescape(s.scratch[:0], val, true)
		val = s.scratch
	}
	if set.Contains(val) {
		s.matched = true
		if s.x != nil {
			s.x.add(val)
		}
	}
}

// unescape appends val to dst with doubled quotes made single.
func unescape(dst, val []byte, escaped bool) []byte {
	if !escaped {
		return append(dst, val...)
	}
	for {
		k := bytes.Index(val, dq)
		if k < 0 {
			return append(dst, val...)
		}
		dst = append(dst, val[:k+1]...)
		val = val[k+2:]
	}
}

var dq = []byte(`""`)

// errAt builds a ParseError for offset off of the record starting at start.
// A byte that is not UTF-8 before off is reported instead: it is the first
// error in the input.
func (s *scanner) errAt(start, off int, err error) *ParseError {
	if s.bad >= start && s.bad < off {
		off, err = s.bad, ErrInvalidUTF8
	}
	rec := s.buf[start:off]
	line := s.line + bytes.Count(rec, nl)
	col := off - start + 1
	if k := bytes.LastIndexByte(rec, '\n'); k >= 0 {
		col = len(rec) - k
	}
	return &ParseError{StartLine: s.line, Line: line, Column: col, Err: err}
}

// flush writes the pending output up to off.
func (s *scanner) flush(off int) error {
	if s.dst != nil && off > s.mark {
		if _, err := s.dst.Write(s.buf[s.mark:off]); err != nil {
			return err
		}
	}
	s.mark = off
	return nil
}

// fill reads more input, first writing out and discarding everything before
// the current record. A record that does not fit in MaxRecord is an error.
func (s *scanner) fill() error {
	if s.eof {
		return nil
	}
	if err := s.flush(s.pos); err != nil {
		return err
	}
	if s.pos > 0 {
		n := copy(s.buf[:cap(s.buf)], s.buf[s.pos:s.end])
		s.buf = s.buf[:n]
		s.checked = max(s.checked-s.pos, 0)
		if s.bad >= 0 {
			s.bad -= s.pos
		}
		s.end, s.mark, s.pos = n, s.mark-s.pos, 0
	}
	if s.end == cap(s.buf) {
		// The record fills the buffer. A byte that is not UTF-8 in it comes
		// before any other error record would find, so report it now rather
		// than grow the buffer for a record that fails anyway.
		if s.bad >= 0 {
			return s.errAt(s.pos, s.bad, ErrInvalidUTF8)
		}
		if s.end > s.limit {
			return &ParseError{StartLine: s.line, Line: s.line, Column: 1, Err: ErrRecordTooBig,
				detail: fmt.Sprintf("over %d bytes", s.limit)}
		}
		nb := make([]byte, s.end, min(2*cap(s.buf), s.limit+1))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.src.Read(s.buf[s.end:cap(s.buf)])
		s.end += n
		s.buf = s.buf[:s.end]
		if err == io.EOF {
			s.eof = true
			s.validate()
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			s.validate()
			return nil
		}
	}
}

// validate checks the bytes read since the last call for UTF-8 and records
// the offset of the first invalid one in s.bad. It runs once per read, not
// per record: utf8.Valid takes 8 ASCII bytes at a time. A rune cut off by
// the end of the buffer waits for the next read.
func (s *scanner) validate() {
	if !s.checkUTF8 || s.bad >= 0 {
		return
	}
	b := s.buf[s.checked:s.end]
	n := len(b)
	if !s.eof {
		// Hold back the start of a rune that the next read completes.
		for k := 1; k < utf8.UTFMax && k <= n; k++ {
			if c := b[n-k]; c < utf8.RuneSelf {
				break
			} else if utf8.RuneStart(c) {
				if !utf8.FullRune(b[n-k:]) {
					n -= k
				}
				break
			}
		}
	}
	if utf8.Valid(b[:n]) {
		s.checked += n
		return
	}
	for i := 0; i < n; {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:n])
		if r == utf8.RuneError && size == 1 {
			s.bad = s.checked + i
			return
		}
		i += size
	}
}
