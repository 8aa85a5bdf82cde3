package filter

import (
	"bytes"
	"io"
)

// Extract reads src to the end like Filter and calls fn for every record
// that Filter would remove, once for each distinct listed ID it holds (a
// record whose ID columns name two listed IDs belongs to both): id is the
// unquoted value that matched, header the header record as it is in src,
// preceded by the byte order mark if src starts with one, and record the
// record's bytes exactly as in src, quoting and line ending included (the
// last record of a stream without a final line break has none). Blank
// lines are not records. fn must not retain its arguments; an error from
// fn stops the pass and is returned. Stats counts the records read and
// those passed to fn.
//
// The records are matched by the very scanner Filter uses, so an export
// finds exactly the rows an erasure with the same settings removes.
func (f *Filter) Extract(src io.Reader, fn func(id, header, record []byte) error) (Stats, error) {
	sn := &sniffer{r: src}
	s := f.newScanner(nil, sn, false)
	defer s.release()
	s.x = &extraction{fn: fn, sniff: sn}
	err := s.run()
	return s.stats, err
}

// extraction is the state of an Extract pass, kept by the scanner.
type extraction struct {
	fn     func(id, header, record []byte) error
	sniff  *sniffer
	header []byte
	ids    [][]byte // the distinct listed IDs of the record being parsed
}

// keepHeader copies the header record, which the scanner has just parsed:
// buf[:pos] is the header, preceded by what readHeader skipped (a byte
// order mark and blank lines, unless the buffer was refilled since).
func (x *extraction) keepHeader(s *scanner) {
	h := bytes.TrimPrefix(s.buf[:s.pos], bom)
	h = bytes.TrimLeft(h, "\r\n") // blank lines; a record never starts with CR or LF
	if x.sniff.n == len(bom) && x.sniff.head == [3]byte(bom) {
		x.header = append(x.header, bom...)
	}
	x.header = append(x.header, h...)
}

// add records a listed ID found in the record being parsed. A record
// parsed again after a refill finds the same values again, so duplicates
// are dropped.
func (x *extraction) add(val []byte) {
	for _, id := range x.ids {
		if bytes.Equal(id, val) {
			return
		}
	}
	if n := len(x.ids); n < cap(x.ids) {
		x.ids = x.ids[:n+1]
		x.ids[n] = append(x.ids[n][:0], val...)
		return
	}
	x.ids = append(x.ids, bytes.Clone(val))
}

// emit hands a matched record to fn, once per listed ID it holds.
func (x *extraction) emit(record []byte) error {
	ids := x.ids
	x.ids = x.ids[:0]
	for _, id := range ids {
		if err := x.fn(id, x.header, record); err != nil {
			return err
		}
	}
	return nil
}

// sniffer passes a reader through and keeps its first bytes, to tell
// whether the stream starts with a byte order mark.
type sniffer struct {
	r    io.Reader
	head [3]byte
	n    int
}

func (s *sniffer) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.n < len(s.head) {
		s.n += copy(s.head[s.n:], p[:n])
	}
	return n, err
}
