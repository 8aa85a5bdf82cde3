package scrub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"

	"github.com/scrubtool/scrub/scrub/filter"
)

// prefixHash is an io.ReaderAt that hashes what is read through it, as long
// as the reads extend a prefix of the data: the scans and rewrites read an
// archive mostly from front to back, so its SHA-256 costs no extra read of
// what they covered. sum reads the rest.
type prefixHash struct {
	r  io.ReaderAt
	mu sync.Mutex
	h  hash.Hash
	n  int64 // bytes hashed: the prefix [0, n)
	// meter, if set, is told of the prefix's growth (Progress).
	meter *meter
}

func newPrefixHash(r io.ReaderAt) *prefixHash { return &prefixHash{r: r, h: sha256.New()} }

func (p *prefixHash) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.r.ReadAt(b, off)
	p.mu.Lock()
	if off <= p.n && off+int64(n) > p.n {
		p.h.Write(b[p.n-off : n])
		p.meter.add(off + int64(n) - p.n)
		p.n = off + int64(n)
	}
	p.mu.Unlock()
	return n, err
}

// sum reads what was not hashed yet and returns the SHA-256 of the first
// size bytes, in hex.
func (p *prefixHash) sum(size int64) (string, error) {
	var buf []byte
	for {
		p.mu.Lock()
		n := p.n
		p.mu.Unlock()
		if n >= size {
			break
		}
		if buf == nil {
			buf = make([]byte, 256<<10)
		}
		k, err := p.ReadAt(buf[:min(int64(len(buf)), size-n)], n)
		if k == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("hash: %w", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n != size {
		return "", fmt.Errorf("hash: read %d bytes of %d", p.n, size)
	}
	return hex.EncodeToString(p.h.Sum(nil)), nil
}

// tagSet wraps the ID sets of an archive's filter and remembers which
// listed IDs matched, to name them in the result by their tags.
type tagSet struct {
	filter *filter.Filter // base, its sets wrapped
	base   *filter.Filter
	tag    func([]byte) string
	mu     sync.Mutex
	// seen are the IDs matched, in the form their set names them
	// (canonicaler).
	seen map[string]bool
	// index, if set, hashes every value the IDs set compares that is not
	// listed into hashes, for the archive's index entry.
	index  Index
	hashes []uint64
}

// seenSet is one ID set of a tagSet's filter.
type seenSet struct {
	t   *tagSet
	set filter.Set
	// indexed: the values this set compares go into the index entry.
	indexed bool
}

// tagSet returns a filter for one archive, based on f, that records the
// listed IDs it matches, or f itself for a purge by age alone.
func (o *engine) tagSet(f *filter.Filter) *tagSet {
	t := &tagSet{filter: f, base: f}
	if f.IDs == nil && len(f.ByColumn) == 0 && len(f.Composites) == 0 { // a purge by age alone lists no ID
		return t
	}
	w := *f
	t.tag, t.seen = o.Tag, map[string]bool{}
	if f.IDs != nil {
		w.IDs = seenSet{t: t, set: f.IDs, indexed: true}
	}
	// Only the filter of the flags (one set, its columns in MatchSpec)
	// is indexed; a data map's per-dataset filters are read in full.
	if o.indexed() && f == o.Filter {
		t.index = o.Index
	}
	w.ByColumn = slices.Clone(f.ByColumn)
	for i := range w.ByColumn {
		w.ByColumn[i].IDs = seenSet{t: t, set: w.ByColumn[i].IDs}
	}
	w.Composites = slices.Clone(f.Composites)
	for i := range w.Composites {
		w.Composites[i].IDs = seenSet{t: t, set: w.Composites[i].IDs}
	}
	t.filter = &w
	return t
}

// compactAt is the number of hashes from which a tagSet drops the
// duplicates it holds (an archive names the same IDs on many rows).
const compactAt = 1 << 16

func (s seenSet) Contains(id []byte) bool {
	if !s.set.Contains(id) {
		if t := s.t; s.indexed && t.index != nil {
			h := t.index.Hash(id)
			t.mu.Lock()
			if t.hashes == nil {
				t.hashes = make([]uint64, 0, 256) // one allocation for a small archive
			}
			t.hashes = append(t.hashes, h)
			if len(t.hashes) >= compactAt && len(t.hashes) == cap(t.hashes) {
				slices.Sort(t.hashes)
				t.hashes = slices.Compact(t.hashes)
			}
			t.mu.Unlock()
		}
		return false
	}
	if c, ok := s.set.(canonicaler); ok {
		id = c.Canonical(id)
	}
	t := s.t
	t.mu.Lock()
	if !t.seen[string(id)] {
		t.seen[string(id)] = true
	}
	t.mu.Unlock()
	return true
}

// values returns the distinct hashes of the values compared that are not
// listed: what the archive holds once the rows of listed IDs are gone.
func (t *tagSet) values() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.Sort(t.hashes)
	return slices.Compact(t.hashes)
}

// list returns the sorted tags of the IDs seen (none without Options.Tag).
func (t *tagSet) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tag == nil {
		return nil
	}
	var tags []string
	for id := range t.seen {
		tags = append(tags, t.tag([]byte(id)))
	}
	slices.Sort(tags)
	return slices.Compact(tags) // one ID may be spelt several ways (hex in either case)
}

// mergeTags returns the sorted union of two sorted lists of tags.
func mergeTags(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// canonicaler is implemented by ID sets that match an ID in several
// spellings (a digest's hex in either case) and list it by one.
type canonicaler interface {
	Canonical(id []byte) []byte
}

// matched is the listed IDs a batch found in some row, in the form the
// set lists them.
type matched struct {
	mu  sync.Mutex
	ids map[string]struct{}
	// tags are those of the IDs an interrupted attempt's rewrite, found
	// in place, removed (the IDs themselves are not on record).
	tags map[string]bool
}

// addTags records the tags of IDs found by an interrupted attempt.
func (m *matched) addTags(tags []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tags == nil {
		m.tags = map[string]bool{}
	}
	for _, t := range tags {
		m.tags[t] = true
	}
}

// add records the IDs t saw.
func (m *matched) add(t *tagSet) {
	if t.seen == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids = map[string]struct{}{}
	}
	for id := range t.seen {
		m.ids[id] = struct{}{}
	}
}
