package audit

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"iter"
	"strings"
	"sync"
)

// IDKey is the secret under which client IDs are named in an audit log:
// each ID appears only as its HMAC-SHA256 tag. IDs are low-entropy (an
// installation ID can be guessed by enumeration), so an unkeyed hash would
// be no protection; the tag answers "was this client erased?" only for
// whoever holds the key, which is kept apart from the log.
type IDKey struct {
	key  []byte
	macs sync.Pool // of *macState
}

// macState is a keyed HMAC state (Reset keeps the key) and a buffer for
// its sum, which would escape to the heap if it were the caller's.
type macState struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// minIDKey is the shortest accepted key, in bytes.
const minIDKey = 32

// NewIDKey returns a random key in the form ReadIDKey reads: hex and a
// newline.
func NewIDKey() []byte {
	k := make([]byte, minIDKey)
	rand.Read(k)
	return []byte(hex.EncodeToString(k) + "\n")
}

// ParseIDKey reads a key: at least 32 bytes, hex encoded, surrounding
// white space ignored (as `openssl rand -hex 32` or `scrub keygen
// --id-key` write it). name is used in errors, which never quote the key.
func ParseIDKey(data []byte, name string) (*IDKey, error) {
	s := strings.TrimSpace(string(data))
	k, err := hex.DecodeString(s)
	switch {
	case s == "":
		return nil, fmt.Errorf("ID key %s is empty", name)
	case err != nil:
		return nil, fmt.Errorf("ID key %s: not hex (make one with scrub keygen --id-key FILE)", name)
	case len(k) < minIDKey:
		return nil, fmt.Errorf("ID key %s: %d bytes, need at least %d", name, len(k), minIDKey)
	}
	return &IDKey{key: k}, nil
}

// Tag returns the hex HMAC-SHA256 of id under the key.
func (k *IDKey) Tag(id []byte) string {
	var sum [sha256.Size]byte
	k.Sum(id, &sum)
	return hex.EncodeToString(sum[:])
}

// Sum sets sum to the HMAC-SHA256 of id under the key: Tag without the
// hex, for callers that compare many raw tags. It takes a keyed state from
// a pool, so it does not allocate, and is safe for concurrent use.
func (k *IDKey) Sum(id []byte, sum *[sha256.Size]byte) {
	st, _ := k.macs.Get().(*macState)
	if st == nil {
		st = &macState{mac: hmac.New(sha256.New, k.key)}
	}
	st.mac.Reset()
	st.mac.Write(id)
	st.mac.Sum(st.sum[:0])
	*sum = st.sum
	k.macs.Put(st)
}

// Summer returns Sum with a keyed state of its own, which it resets for
// each ID: for one goroutine that tags many IDs (it is not safe for
// concurrent use), without the pool's cost per ID.
func (k *IDKey) Summer() func(id []byte, sum *[sha256.Size]byte) {
	mac := hmac.New(sha256.New, k.key)
	return func(id []byte, sum *[sha256.Size]byte) {
		mac.Reset()
		mac.Write(id)
		mac.Sum(sum[:0])
	}
}

// Derive returns a secret derived from the key for another use, named by
// label (HMAC-SHA256 of the label under the key): the keyed index of
// archives takes its keys from it. Different labels give unrelated
// secrets, and none reveals the key or a tag.
func (k *IDKey) Derive(label string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("scrub id key: derive\n" + label))
	return m.Sum(nil)
}

// ID names the key without revealing it, so that a log records which key
// its tags are under: the first 8 bytes of a tag of a fixed label, which
// no client ID can have (it contains a space and a colon).
func (k *IDKey) ID() string { return "hmac-sha256:" + k.Tag([]byte("scrub id key: key id"))[:16] }

// Request fingerprints a request: the same IDs and settings under the same
// key give the same value, which reveals neither.
// ids must be sorted (and the same IDs give the same value only in the
// same order).
func (k *IDKey) Request(ids []string, settings string) string {
	return k.RequestSeq(func(yield func([]byte) bool) {
		for _, id := range ids {
			if !yield([]byte(id)) {
				return
			}
		}
	}, settings)
}

// RequestSeq is Request over the IDs ids yields, in order: the same value
// as Request of the same IDs.
func (k *IDKey) RequestSeq(ids iter.Seq[[]byte], settings string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("scrub request v1\n" + settings + "\n"))
	// One write per ID and its newline: the buffer is what a
	// hash.Hash would copy them into anyway.
	w := bufio.NewWriterSize(m, 32<<10)
	for id := range ids {
		w.Write(id)
		w.WriteByte('\n')
	}
	w.Flush()
	return hex.EncodeToString(m.Sum(nil))
}
