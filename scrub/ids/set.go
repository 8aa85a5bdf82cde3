package ids

import (
	"encoding/hex"
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// Set is a set of IDs. The zero value is empty. A Set is safe for
// concurrent reads; Add and Grow must not run concurrently with anything
// else.
//
// It is built for lists of millions: the IDs lie one after another in one
// byte slice, and an open-addressing table (linear probing, at most 3/4
// full) of 32-bit indexes finds them, so that an ID costs its bytes and
// about 9 more, and neither adding nor looking up allocates per ID.
type Set struct {
	data []byte   // the IDs, one after another
	ends []uint32 // ID i is data[start(i):ends[i]]
	// index holds i+1 for ID i at the slot its hash picks (or the next
	// free one after it), 0 in a free slot; its length is a power of 2.
	index []uint32
	seed  maphash.Seed
	// touched keeps the slots addAll reads ahead from being left out
	// as unused.
	touched uint32
	// class is the union of the byteClass of every byte of every ID.
	class uint8
	// lens has bit n set if some ID is n bytes long (up to maxLine; a
	// longer one sets bit maxLine+1).
	lens [(maxLine + 2 + 63) / 64]uint64
	// digest, if not 0, is the size of the digests the set holds (a
	// [Transform]'s set): IDs are their hex.
	digest int
}

// ErrTooLarge is returned for a list whose IDs together take more than
// 4 GiB.
var ErrTooLarge = errors.New("ID list larger than 4 GiB")

// New returns a set holding ids, which must already be valid. It panics
// if they take more than 4 GiB together.
func New(ids ...string) *Set {
	s := &Set{}
	size := 0
	for _, id := range ids {
		size += len(id)
	}
	s.Grow(len(ids), size)
	for _, id := range ids {
		if err := s.Add([]byte(id)); err != nil {
			panic(err)
		}
	}
	return s
}

// Grow makes room for n more IDs of size bytes in all, so that a set of a
// known size is built without copying. It is only a hint.
func (s *Set) Grow(n, size int) {
	if n < 0 || size < 0 {
		return
	}
	s.data = slices.Grow(s.data, int(min(uint64(size), math.MaxUint32-uint64(len(s.data)))))
	s.ends = slices.Grow(s.ends, n)
	if want := slots(len(s.ends) + n); want > len(s.index) {
		s.rehash(want)
	}
}

// slots returns the table size for n IDs: a power of 2, at least 4n/3.
func slots(n int) int {
	k := 8
	for k*3 < n*4 {
		k *= 2
	}
	return k
}

// An index entry holds i+1 for ID i in its low bits (as many as the
// table's size has: the table is at most 3/4 full, so i+1 fits), and in
// the bits above them (as many as are left of 32) bits of the ID's hash,
// so that most slots another ID takes are passed over without reading
// that ID.

// entry returns the entry of ID i with hash h in a table of 1<<bits slots.
func entry(i int, h uint64, bits uint) uint32 {
	return uint32(i+1) | uint32(h>>32)<<bits
}

// bits returns log2 of the table's size.
func (s *Set) bits() uint { return uint(bits.TrailingZeros(uint(len(s.index)))) }

// find returns the slot that holds id as stored, or the free slot where
// it would go.
func (s *Set) find(id []byte, h uint64, bits uint) (slot uint64, found bool) {
	mask := uint64(len(s.index) - 1)
	low := uint32(1)<<bits - 1
	if bits >= 32 {
		low = ^uint32(0)
	}
	fp := entry(-1, h, bits) // the hash bits alone
	for p := h & mask; ; p = (p + 1) & mask {
		e := s.index[p]
		if e == 0 {
			return p, false
		}
		if e&^low == fp && string(s.at(int(e&low)-1)) == string(id) {
			return p, true
		}
	}
}

// Add adds a copy of id to the set (nothing if it holds id already). It
// fails only when the IDs would take more than 4 GiB.
func (s *Set) Add(id []byte) error {
	if len(s.index) == 0 {
		s.rehash(slots(1))
	}
	return s.addHashed(id, maphash.Bytes(s.seed, id))
}

// addHashed is Add of id whose hash is h.
func (s *Set) addHashed(id []byte, h uint64) error {
	bits := s.bits()
	p, found := s.find(id, h, bits)
	if found {
		return nil
	}
	if uint64(len(s.data))+uint64(len(id)) > math.MaxUint32 || uint64(len(s.ends)) >= math.MaxUint32-1 {
		return ErrTooLarge
	}
	s.data = append(s.data, id...)
	s.ends = append(s.ends, uint32(len(s.data)))
	s.index[p] = entry(len(s.ends)-1, h, bits)
	for _, c := range id {
		s.class |= byteClass[c]
	}
	n := min(len(id), maxLine+1)
	s.lens[n/64] |= 1 << (n % 64)
	if len(s.ends)*4 > len(s.index)*3 {
		s.rehash(2 * len(s.index))
	}
	return nil
}

// addAll adds the IDs data[ends[i-1]:ends[i]] (from 0), as Add does, a
// group at a time: the slots of a group are read first, all at once, so
// that the processor fetches them side by side rather than one after the
// other (an index of millions of slots is far larger than its caches).
// An error names the ID it is about by its index.
func (s *Set) addAll(data []byte, ends []int) (int, error) {
	const group = 16
	var hashes [group]uint64
	start := 0
	for lo := 0; lo < len(ends); lo += group {
		hi := min(lo+group, len(ends))
		if len(s.index) == 0 {
			s.rehash(slots(1))
		}
		mask := uint64(len(s.index) - 1)
		var touch uint32
		for i, from := lo, start; i < hi; i++ {
			h := maphash.Bytes(s.seed, data[from:ends[i]])
			hashes[i-lo] = h
			touch |= s.index[h&mask]
			from = ends[i]
		}
		s.touched |= touch
		for i := lo; i < hi; i++ {
			if err := s.addHashed(data[start:ends[i]], hashes[i-lo]); err != nil {
				return i, err
			}
			start = ends[i]
		}
	}
	return 0, nil
}

// rehash rebuilds the index with n slots, a power of 2.
func (s *Set) rehash(n int) {
	if len(s.index) == 0 {
		s.seed = maphash.MakeSeed()
	}
	s.index = make([]uint32, n)
	mask, bits := uint64(n-1), s.bits()
	for i := range s.ends {
		h := maphash.Bytes(s.seed, s.at(i))
		p := h & mask
		for s.index[p] != 0 {
			p = (p + 1) & mask
		}
		s.index[p] = entry(i, h, bits)
	}
}

// at returns ID i as stored (a digest set's digest itself).
func (s *Set) at(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.data[start:s.ends[i]:s.ends[i]]
}

// contains reports whether the set holds id as stored.
func (s *Set) contains(id []byte) bool {
	if len(s.index) == 0 {
		return false
	}
	_, found := s.find(id, maphash.Bytes(s.seed, id), s.bits())
	return found
}

// Contains reports whether id is in the set. It does not allocate.
func (s *Set) Contains(id []byte) bool {
	if s.digest != 0 {
		return s.containsHex(id)
	}
	return s.contains(id)
}

// Len returns the number of distinct IDs.
func (s *Set) Len() int { return len(s.ends) }

// ASCII reports whether every ID is ASCII.
func (s *Set) ASCII() bool { return s.class&nonASCII == 0 }

// Byte classes an ID may hold, for byteClass.
const (
	nonASCII = 1 << iota
	jsonEscaped
	comma // ','
)

// byteClass classifies bytes: nonASCII, and jsonEscaped for those JSON
// may spell otherwise (see jsonSpelt).
var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		if c >= utf8.RuneSelf {
			t[c] |= nonASCII
		}
		if jsonSpelt(string(rune(c))) || c >= utf8.RuneSelf {
			t[c] |= jsonEscaped
		}
		if c == ',' {
			t[c] |= comma
		}
	}
	return t
}()

// eachLen calls fn with every length of ID in the set (maxLine+1 for all
// longer ones, which a list never has).
func (s *Set) eachLen(fn func(n int)) {
	for w, bits := range s.lens {
		for b := 0; bits != 0; b, bits = b+1, bits>>1 {
			if bits&1 != 0 {
				fn(64*w + b)
			}
		}
	}
}

// Each calls fn for every ID, in the order they were first added; a
// digest as its lower-case hex. The strings share the set's memory
// (which is never written again), so Each does not allocate, but for the
// hex of a digest.
func (s *Set) Each(fn func(id string)) {
	for i := range s.ends {
		id := s.at(i)
		if s.digest != 0 {
			fn(hex.EncodeToString(id))
			continue
		}
		fn(unsafe.String(unsafe.SliceData(id), len(id)))
	}
}

// appendID appends ID i in its listed form (a digest's lower-case hex) to
// dst.
func (s *Set) appendID(dst []byte, i int) []byte {
	if s.digest != 0 {
		return hex.AppendEncode(dst, s.at(i))
	}
	return append(dst, s.at(i)...)
}
