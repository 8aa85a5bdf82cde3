// Package index is scrub's keyed index of what archives hold: for each
// archive, a small filter of the keyed hashes of the values of its ID
// columns, bound to the archive's exact identity, so that a request reads
// only the archives that can hold one of its IDs.
//
// A value is hashed with SipHash-2-4 (Aumasson and Bernstein, a keyed
// pseudo-random function) under a key derived from the ID key: without
// that key the index tells nothing of the values, and with it only whether
// a given value may be in an archive. The hashes of an archive are kept in
// a binary fuse filter of 8-bit fingerprints (Graf and Lemire, "Binary Fuse
// Filters: Fast and Smaller Than Xor Filters", 2022; about 9 bits a value,
// false positives 1 in 256, never a false negative), or, for an archive of
// few values, where that filter would be larger, as the sorted hashes
// themselves.
//
// Entries are stored in shard files in a flat directory (Files: a local
// directory or an S3 prefix), each named for the shard and authenticated
// by an HMAC-SHA256 under a key derived from the same ID key; a shard whose
// MAC does not verify is ignored, as if empty. An entry is used only for
// the archive identity and matching settings it names: anything else means
// the archive is read.
package index

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/FastFilter/xorfilter"
	"github.com/dchest/siphash"
	"golang.org/x/sync/errgroup"
)

// Key is the index's secret: the SipHash key its values are hashed under
// and the HMAC key its shards are authenticated under, both derived from
// one secret.
type Key struct {
	k0, k1 uint64
	mac    []byte
	name   []byte // names archives by a keyed tag
}

// DeriveLabel is the label under which the index's secret is derived from
// the ID key (audit.IDKey.Derive), apart from every other use of that key.
const DeriveLabel = "scrub index v1"

// NewKey returns the key derived from secret (at least 32 bytes: the ID
// key's derivation for DeriveLabel).
func NewKey(secret []byte) Key {
	sub := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	prf := sub("siphash-2-4 key")
	return Key{
		k0:   binary.LittleEndian.Uint64(prf[0:8]),
		k1:   binary.LittleEndian.Uint64(prf[8:16]),
		mac:  sub("shard mac key"),
		name: sub("archive name key"),
	}
}

// tag names an archive in the index: the hex of the first 16 bytes of
// the HMAC-SHA256 of its name, so that the index does not show archive
// names (which may hold an ID) to whoever lacks the key.
func (k Key) tag(archive string) string {
	m := hmac.New(sha256.New, k.name)
	m.Write([]byte(archive))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// IdentityHash is how an entry records an archive identity: the hex of
// the first 16 bytes of its SHA-256. An audit log records the identity
// itself; scrub verify compares the two by this hash.
func IdentityHash(identity string) string {
	h := sha256.Sum256([]byte(identity))
	return hex.EncodeToString(h[:16])
}

// Hash returns the keyed hash of one value of an ID column. ASCII hex
// digits of a value made only of them are lower-cased first: the filter
// matches a digest's hex in either case, so its two spellings must hash
// alike (clear values that differ only so share a hash, which costs at
// most a read more, never a missed row).
func (k Key) Hash(value []byte) uint64 {
	if len(value) == 0 || len(value) > maxLowered || hexClass[value[0]] == 0 {
		return siphash.Hash(k.k0, k.k1, value)
	}
	// The buffer comes from a pool: one on the stack would escape to the
	// heap through the assembly of siphash, at every call.
	buf := lowered.Get().(*[maxLowered]byte)
	b := buf[:len(value)]
	for i, c := range value {
		t := hexClass[c]
		if t == 0 {
			lowered.Put(buf)
			return siphash.Hash(k.k0, k.k1, value)
		}
		b[i] = c | (t>>1)<<5 // 'A'..'F' | 0x20 = 'a'..'f'
	}
	h := siphash.Hash(k.k0, k.k1, b)
	lowered.Put(buf)
	return h
}

// hexClass is 1 for the bytes 0-9 and a-f, 2 for A-F, 0 for the others.
var hexClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = 1
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = 2
	}
	return t
}()

// maxLowered is the longest hex value Hash lower-cases (a SHA-512 digest's
// hex is 128); a longer one is hashed as it is, which only a filter that
// matches hex of that length in either case could mind, and none does.
const maxLowered = 128

var lowered = sync.Pool{New: func() any { return new([maxLowered]byte) }}

// Entry is what one archive held when it was last read in full.
type Entry struct {
	// Archive names the archive across runs: the keyed tag (Key.tag, in
	// hex) of its absolute path, or of its s3:// URL.
	Archive string
	// Identity is the IdentityHash of what the store's listing said of
	// the archive's exact content (locally device, inode, size, mtime and
	// ctime; in S3 the ETag and size): the entry holds only while the
	// listing says the same.
	Identity string
	// SHA256 is the hex SHA-256 of the archive's content, as read.
	SHA256 string
	// Match is the settings that shape which values are compared (ID
	// columns, delimiter, limits): the entry answers only a request with
	// the same.
	Match string
	// Values is the number of distinct hashes the entry holds.
	Values int
	keys   []uint64 // sorted, for a small entry
	fuse   *xorfilter.BinaryFuse8
}

// newEntry returns an entry of the hashes keys (which it sorts, and may
// reorder and shorten), for the archive of tag archive and the identity
// of IdentityHash identity.
func newEntry(archive, identity, sha string, match string, keys []uint64) (*Entry, error) {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	e := &Entry{Archive: archive, Identity: identity, SHA256: sha, Match: match, Values: len(keys)}
	// A binary fuse filter of n values takes a little over n bytes (more,
	// relatively, for small n); below that the hashes themselves are
	// smaller, and exact.
	if len(keys) <= 16 {
		e.keys = slices.Clone(keys)
		return e, nil
	}
	b := builders.Get().(*xorfilter.BinaryFuseBuilder)
	f, err := xorfilter.BuildBinaryFuse[uint8](b, keys)
	if err == nil {
		// The fingerprints lie in the builder's buffer, which the
		// next build (in any goroutine, once it is back in the pool)
		// writes over: they are copied before it goes back.
		f.Fingerprints = slices.Clone(f.Fingerprints)
	}
	builders.Put(b)
	if err != nil {
		return nil, fmt.Errorf("index entry %s: %w", archive, err)
	}
	if len(f.Fingerprints) >= 8*len(keys) {
		e.keys = slices.Clone(keys)
		return e, nil
	}
	e.fuse = (*xorfilter.BinaryFuse8)(&f)
	return e, nil
}

// builders hold the scratch space of filter builds, used again (a batch
// of small archives builds one filter each).
var builders = sync.Pool{New: func() any { return new(xorfilter.BinaryFuseBuilder) }}

// Has reports whether the entry may hold the value of hash h: false means
// it certainly does not.
func (e *Entry) Has(h uint64) bool {
	if e.fuse != nil {
		return e.fuse.Contains(h)
	}
	_, ok := slices.BinarySearch(e.keys, h)
	return ok
}

// Size returns the size of the entry's filter in bytes.
func (e *Entry) Size() int {
	if e.fuse != nil {
		return len(e.fuse.Fingerprints) + 24
	}
	return 8 * len(e.keys)
}

// Hash returns the hex SHA-256 of the entry's encoding: what the audit
// log names it by.
func (e *Entry) Hash() string {
	h := sha256.Sum256(e.append(nil))
	return hex.EncodeToString(h[:])
}

// The kinds of an entry's filter, as encoded.
const (
	kindKeys = 0
	kindFuse = 1
)

// append appends the entry's canonical encoding to b: what its hash is
// taken over. In a shard file, match is written as its index in the
// shard's table of matching settings instead (appendTo).
func (e *Entry) append(b []byte) []byte { return e.appendTo(b, -1) }

// appendTo appends the entry's encoding to b, with its matching settings
// as the index spec in the shard's table, or in full if spec < 0.
func (e *Entry) appendTo(b []byte, spec int) []byte {
	// Tags, hashes and sums go as the bytes their hex spells.
	for _, s := range []string{e.Archive, e.Identity, e.SHA256} {
		raw, err := hex.DecodeString(s)
		if err != nil {
			raw = []byte(s) // not hex: as it is (decoded as hex if 16 or 32 bytes long)
		}
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	if spec < 0 {
		b = binary.AppendUvarint(b, uint64(len(e.Match)))
		b = append(b, e.Match...)
	} else {
		b = binary.AppendUvarint(b, uint64(spec))
	}
	b = binary.AppendUvarint(b, uint64(e.Values))
	if e.fuse == nil {
		b = append(b, kindKeys)
		b = binary.AppendUvarint(b, uint64(len(e.keys)))
		for _, k := range e.keys {
			b = binary.LittleEndian.AppendUint64(b, k)
		}
		return b
	}
	f := e.fuse
	b = append(b, kindFuse)
	b = binary.LittleEndian.AppendUint64(b, f.Seed)
	for _, v := range []uint32{f.SegmentLength, f.SegmentLengthMask, f.SegmentCount, f.SegmentCountLength} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Fingerprints)))
	return append(b, f.Fingerprints...)
}

// errCorrupt is wrapped by the errors of a malformed encoding.
var errCorrupt = errors.New("malformed index entry")

// decoder reads an encoding.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// entry decodes one entry, its matching settings the specs' indexed
// one, checking that its filter's parameters address only its
// fingerprints.
func (d *decoder) entry(specs []string) (*Entry, error) {
	e := &Entry{}
	for _, s := range []*string{&e.Archive, &e.Identity, &e.SHA256} {
		raw := d.bytes(d.uvarint())
		if len(raw) == 16 || len(raw) == sha256.Size {
			*s = hex.EncodeToString(raw)
		} else {
			*s = string(raw)
		}
	}
	if len(e.Archive) < 2 {
		d.err = errCorrupt
	}
	if i := d.uvarint(); i < uint64(len(specs)) {
		e.Match = specs[i]
	} else {
		d.err = errCorrupt
	}
	e.Values = int(d.uvarint())
	kind := d.bytes(1)
	if d.err != nil {
		return nil, d.err
	}
	switch kind[0] {
	case kindKeys:
		n := d.uvarint()
		if n > uint64(len(d.b))/8 {
			return nil, errCorrupt
		}
		e.keys = make([]uint64, n)
		for i := range e.keys {
			e.keys[i] = d.u64()
		}
		if !slices.IsSorted(e.keys) {
			return nil, errCorrupt
		}
	case kindFuse:
		f := &xorfilter.BinaryFuse8{Seed: d.u64(), SegmentLength: d.u32(), SegmentLengthMask: d.u32(),
			SegmentCount: d.u32(), SegmentCountLength: d.u32()}
		f.Fingerprints = slices.Clone(d.bytes(d.uvarint()))
		l := uint64(f.SegmentLength)
		if d.err != nil || l == 0 || l&(l-1) != 0 || f.SegmentLengthMask != f.SegmentLength-1 ||
			uint64(f.SegmentCountLength) != uint64(f.SegmentCount)*l || uint64(len(f.Fingerprints)) != (uint64(f.SegmentCount)+2)*l {
			return nil, errCorrupt
		}
		e.fuse = f
	default:
		return nil, errCorrupt
	}
	return e, d.err
}

// Files is where the index is kept: a flat directory of files (a local
// directory or an S3 prefix, as package store opens them).
type Files interface {
	List(ctx context.Context) ([]string, error)
	// ReadFile fails with an error wrapping fs.ErrNotExist for a missing
	// file.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Put stores a file atomically, replacing one of the same name.
	Put(ctx context.Context, name string, r io.Reader) error
	String() string
}

// Shards is the number of shard files an index is spread over: an archive
// belongs to the shard the first byte of its tag picks, modulo Shards.
const Shards = 64

// shardName is the file name of shard i.
func shardName(i int) string { return fmt.Sprintf("scrub-index-v1-%02x.bin", i) }

// shardOf returns the shard of the archive of tag (hex): its first byte
// modulo Shards.
func shardOf(tag string) int {
	var b [1]byte
	if len(tag) < 2 {
		return 0
	}
	hex.Decode(b[:], []byte(tag[:2]))
	return int(b[0]) % Shards
}

// magic starts every shard file.
const magic = "scrub index v1\n"

// encodeShard returns the file of shard i holding entries, authenticated
// under key.
func encodeShard(key Key, i int, entries []*Entry) []byte {
	slices.SortFunc(entries, func(a, b *Entry) int { return strings.Compare(a.Archive, b.Archive) })
	// The matching settings, the same for most entries, are written once.
	var specs []string
	idx := map[string]int{}
	for _, e := range entries {
		if _, ok := idx[e.Match]; !ok {
			idx[e.Match] = len(specs)
			specs = append(specs, e.Match)
		}
	}
	b := append([]byte(magic), byte(i))
	b = binary.AppendUvarint(b, uint64(len(specs)))
	for _, m := range specs {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = e.appendTo(b, idx[e.Match])
	}
	m := hmac.New(sha256.New, key.mac)
	m.Write([]byte(shardName(i)))
	m.Write(b)
	return m.Sum(b)
}

// errMAC reports a shard whose MAC does not verify.
var errMAC = errors.New("MAC does not verify (not written under this ID key, or changed since)")

// decodeShard reads the file of shard i. With a nil key, the MAC is not
// checked (for scrub verify, which names entries by their hash).
func decodeShard(key *Key, i int, data []byte) ([]*Entry, error) {
	if len(data) < len(magic)+1+sha256.Size || string(data[:len(magic)]) != magic || data[len(magic)] != byte(i) {
		return nil, errCorrupt
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if key != nil {
		m := hmac.New(sha256.New, key.mac)
		m.Write([]byte(shardName(i)))
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), sum) {
			return nil, errMAC
		}
	}
	d := &decoder{b: body[len(magic)+1:]}
	ns := d.uvarint()
	if ns > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	specs := make([]string, ns)
	for k := range specs {
		specs[k] = string(d.bytes(d.uvarint()))
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	entries := make([]*Entry, 0, n)
	for range n {
		e, err := d.entry(specs)
		if err != nil {
			return nil, err
		}
		if shardOf(e.Archive) != i {
			return nil, errCorrupt
		}
		entries = append(entries, e)
	}
	if len(d.b) != 0 {
		return nil, errCorrupt
	}
	return entries, nil
}

// Index is an opened index, for one request: the hashes of its listed IDs
// and its matching settings. Its methods are safe for concurrent use.
type Index struct {
	files Files
	key   Key
	match string

	mu      sync.Mutex
	entries map[string]*Entry // by archive
	dirty   [Shards]bool
	listed  []uint64 // hashes of the listed IDs
	// Warnings are the shards that could not be used, each with why; their
	// archives are read in full.
	Warnings []string
}

// Open loads the index kept in files, for requests whose matching settings
// are match (see Entry.Match). A shard that cannot be read (bad MAC,
// malformed) is left out, with a warning, and rewritten when an entry of it
// changes; an error is for files that cannot be listed or read.
func Open(ctx context.Context, files Files, key Key, match string) (*Index, error) {
	ix := &Index{files: files, key: key, match: match, entries: map[string]*Entry{}}
	names, err := files.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", files, err)
	}
	var shards [Shards][]*Entry
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range Shards {
		if _, found := slices.BinarySearch(names, shardName(i)); !found {
			continue
		}
		g.Go(func() error {
			data, err := files.ReadFile(gctx, shardName(i))
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("index %s: %w", shardName(i), err)
			}
			es, err := decodeShard(&key, i, data)
			if err != nil {
				ix.mu.Lock()
				ix.Warnings = append(ix.Warnings, fmt.Sprintf("index shard %s: %v; its archives are read in full", shardName(i), err))
				ix.dirty[i] = true // rewritten, with what this run learns
				ix.mu.Unlock()
				return nil
			}
			shards[i] = es
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, es := range shards {
		for _, e := range es {
			ix.entries[e.Archive] = e
		}
	}
	slices.Sort(ix.Warnings)
	return ix, nil
}

// Len returns the number of entries.
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.entries)
}

// Hash returns the keyed hash of a value (Key.Hash).
func (ix *Index) Hash(value []byte) uint64 { return ix.key.Hash(value) }

// SetListed sets the hashes of the request's listed IDs, in the form the
// row filter compares them (a digest's hex).
func (ix *Index) SetListed(hashes []uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.listed = hashes
}

// Lookup returns the entry of archive if it was made for identity and the
// index's matching settings.
func (ix *Index) Lookup(archive, identity string) (*Entry, bool) {
	ix.mu.Lock()
	e, ok := ix.entries[ix.key.tag(archive)]
	ix.mu.Unlock()
	if !ok || identity == "" || e.Identity != IdentityHash(identity) || e.Match != ix.match {
		return nil, false
	}
	return e, true
}

// Absent reports whether the entry of archive, made for identity and the
// index's matching settings, rules out every listed ID; entry is its hash.
func (ix *Index) Absent(archive, identity string) (entry string, ok bool) {
	e, found := ix.Lookup(archive, identity)
	if !found {
		return "", false
	}
	ix.mu.Lock()
	listed := ix.listed
	ix.mu.Unlock()
	for _, h := range listed {
		if e.Has(h) {
			return "", false
		}
	}
	return e.Hash(), true
}

// Put records what archive, as identity, holds: the hashes keys of the
// values of its ID columns. sha is its content's SHA-256.
func (ix *Index) Put(archive, identity, sha string, keys []uint64) error {
	if identity == "" {
		return nil
	}
	e, err := newEntry(ix.key.tag(archive), IdentityHash(identity), sha, ix.match, keys)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.entries[e.Archive] = e
	ix.dirty[shardOf(e.Archive)] = true
	return nil
}

// Flush writes the shards that changed, each atomically.
func (ix *Index) Flush(ctx context.Context) error {
	ix.mu.Lock()
	var shards [Shards][]*Entry
	for _, e := range ix.entries {
		i := shardOf(e.Archive)
		shards[i] = append(shards[i], e)
	}
	dirty := ix.dirty
	ix.dirty = [Shards]bool{}
	ix.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range Shards {
		if !dirty[i] {
			continue
		}
		g.Go(func() error {
			data := encodeShard(ix.key, i, shards[i])
			if err := ix.files.Put(gctx, shardName(i), bytes.NewReader(data)); err != nil {
				return fmt.Errorf("write index shard %s: %w", shardName(i), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Stats is the size of an index.
type Stats struct {
	Entries int `json:"entries"`
	Values  int `json:"values"` // distinct values, summed over the entries
	Bytes   int `json:"bytes"`  // of the entries' filters
}

// Stats returns the index's size.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var s Stats
	for _, e := range ix.entries {
		s.Entries++
		s.Values += e.Values
		s.Bytes += e.Size()
	}
	return s
}

// All returns every entry of the shards in files, by hash, without
// checking their MAC: no key is needed, since a hash taken from a signed
// log names an entry's exact bytes (scrub verify --index).
func All(ctx context.Context, files Files) (map[string]*Entry, error) {
	entries, err := all(ctx, files)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*Entry, len(entries))
	for _, e := range entries {
		m[e.Hash()] = e
	}
	return m, nil
}

func all(ctx context.Context, files Files) ([]*Entry, error) {
	names, err := files.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", files, err)
	}
	var out []*Entry
	for i := range Shards {
		if _, found := slices.BinarySearch(names, shardName(i)); !found {
			continue
		}
		data, err := files.ReadFile(ctx, shardName(i))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", shardName(i), err)
		}
		es, err := decodeShard(nil, i, data)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", shardName(i), err)
		}
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b *Entry) int { return cmp.Compare(a.Archive, b.Archive) })
	return out, nil
}
