package scrub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

// resultSpool keeps the results of a batch's archives until its summary is
// rendered, in a temporary file rather than in memory: a batch of a
// hundred thousand archives would otherwise hold every Result until the
// end. Results are appended as archives finish, in any order; what stays
// in memory per archive is where its result is in the file (8 bytes), by
// its place in the plan, so that they are read back in key order.
//
// The file is unlinked as soon as it is created: nothing is left behind
// when the process ends, however it ends. Results go to it in a compact
// binary form (appendResult) that keeps every string as it was, bytes
// that are not UTF-8 included (a JSON round trip would not: the summary
// quotes such a key as it is).
type resultSpool struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte // appended, not yet written
	rec []byte // the record put encodes, reused
	off int64  // how much of the file is written; buf goes after it
	// at is, for each archive of the plan, 1 + where its result starts
	// in the file; 0 for none yet.
	at  []int64
	err error // sticky
}

// resultSpoolFlush is how much the resultSpool buffers before it writes.
const resultSpoolFlush = 64 << 10

// newResultSpool returns a resultSpool for the results of n archives.
func newResultSpool(n int) (*resultSpool, error) {
	f, err := os.CreateTemp("", "scrub-results-*")
	if err != nil {
		return nil, fmt.Errorf("resultSpool of results: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("resultSpool of results: %w", err)
	}
	return &resultSpool{f: f, at: make([]int64, n)}, nil
}

// put spools the result of archive i of the plan.
func (s *resultSpool) put(i int, r *Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.rec = appendResult(s.rec[:0], r)
	start := len(s.buf)
	s.buf = binary.AppendUvarint(s.buf, uint64(len(s.rec)))
	s.buf = append(s.buf, s.rec...)
	s.at[i] = s.off + int64(start) + 1
	if len(s.buf) >= resultSpoolFlush {
		return s.flush()
	}
	return nil
}

// flush writes what is buffered. The caller holds s.mu.
func (s *resultSpool) flush() error {
	if len(s.buf) == 0 || s.err != nil {
		return s.err
	}
	if _, err := s.f.WriteAt(s.buf, s.off); err != nil {
		s.err = fmt.Errorf("resultSpool of results: %w", err)
		return s.err
	}
	s.off += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

// each calls fn with every spooled result, in the plan's order.
func (s *resultSpool) each(fn func(Result) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(); err != nil {
		return err
	}
	buf := make([]byte, 4<<10)
	for _, at := range s.at {
		if at == 0 {
			continue
		}
		off := at - 1
		n := int(min(int64(len(buf)), s.off-off))
		if _, err := s.f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("resultSpool of results: %w", err)
		}
		size, k := binary.Uvarint(buf[:n])
		if k <= 0 || size > uint64(s.off-off) {
			return errors.New("resultSpool of results: a record is cut short")
		}
		if need := k + int(size); need > n {
			buf = make([]byte, need)
			if _, err := s.f.ReadAt(buf, off); err != nil {
				return fmt.Errorf("resultSpool of results: %w", err)
			}
		}
		r, err := readResult(buf[k : k+int(size)])
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// close releases the file.
func (s *resultSpool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf, s.at = nil, nil
	if s.err == nil {
		s.err = errors.New("resultSpool of results: closed")
	}
	return s.f.Close()
}

// appendResult appends r's spooled form to dst: every field but IDTags
// (for the record only, see Result) and resumedTags. A field added to
// Result must be added here and to readResult (TestSpoolEveryField).
func appendResult(dst []byte, r *Result) []byte {
	dst = appendString(dst, r.Key)
	dst = appendString(dst, string(r.Status))
	dst = appendString(dst, r.Format)
	dst = appendString(dst, r.VersionID)
	dst = binary.AppendVarint(dst, r.RowsScanned)
	dst = binary.AppendVarint(dst, r.RowsRemoved)
	dst = binary.AppendVarint(dst, r.RowsExpired)
	dst = binary.AppendVarint(dst, r.BytesBefore)
	if r.BytesAfter == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, *r.BytesAfter)
	}
	dst = appendString(dst, r.SHA256Before)
	dst = appendString(dst, r.SHA256After)
	dst = binary.AppendVarint(dst, int64(r.MembersCarried))
	dst = binary.AppendUvarint(dst, uint64(len(r.MembersNotScanned)))
	for _, m := range r.MembersNotScanned {
		dst = appendString(dst, m.Name)
		dst = appendString(dst, m.Reason)
	}
	dst = binary.AppendVarint(dst, int64(r.VersionsDeleted))
	dst = binary.AppendUvarint(dst, uint64(len(r.DeletedVersions)))
	for _, v := range r.DeletedVersions {
		dst = appendString(dst, v)
	}
	dst = appendString(dst, r.Reason)
	dst = appendString(dst, r.Error)
	dst = appendString(dst, r.Dataset)
	dst = appendString(dst, r.IndexEntry)
	dst = appendString(dst, r.Identity)
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// readResult decodes what appendResult wrote.
func readResult(b []byte) (Result, error) {
	d := decoder{b: b}
	var r Result
	r.Key = d.string()
	r.Status = Status(d.string())
	r.Format = d.string()
	r.VersionID = d.string()
	r.RowsScanned = d.varint()
	r.RowsRemoved = d.varint()
	r.RowsExpired = d.varint()
	r.BytesBefore = d.varint()
	if d.byte() == 1 {
		r.BytesAfter = sizeOf(d.varint())
	}
	r.SHA256Before = d.string()
	r.SHA256After = d.string()
	r.MembersCarried = int(d.varint())
	if n := d.count(); n > 0 {
		r.MembersNotScanned = make([]MemberNote, n)
		for i := range r.MembersNotScanned {
			r.MembersNotScanned[i] = MemberNote{Name: d.string(), Reason: d.string()}
		}
	}
	r.VersionsDeleted = int(d.varint())
	if n := d.count(); n > 0 {
		r.DeletedVersions = make([]string, n)
		for i := range r.DeletedVersions {
			r.DeletedVersions[i] = d.string()
		}
	}
	r.Reason = d.string()
	r.Error = d.string()
	r.Dataset = d.string()
	r.IndexEntry = d.string()
	r.Identity = d.string()
	if d.bad || len(d.b) != 0 {
		return Result{}, errors.New("resultSpool of results: a record does not decode")
	}
	return r, nil
}

// decoder reads appendResult's fields; bad is set by the first that does
// not fit what is left.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a number of elements, each of which takes at least a byte.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
