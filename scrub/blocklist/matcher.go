package blocklist

import (
	"encoding/hex"
	"fmt"

	"github.com/scrubtool/scrub/scrub/audit"
)

// Matcher is a filter.Set of the IDs whose tags are blocked: it matches a
// field when the HMAC-SHA256 of the field under the ID key is one of the
// tags. The filter asks it about every ID field of every row, so it
// compares raw 32-byte digests (no hex encoding, no string), computed with
// the key's pooled HMAC states: a lookup does not allocate. It is safe for
// concurrent use.
type Matcher struct {
	tags map[[32]byte]struct{}
	key  *audit.IDKey
}

// NewMatcher returns a Matcher of tags (hex, as Tag and the list hold
// them) under key.
func NewMatcher(key *audit.IDKey, tags []string) (*Matcher, error) {
	m := &Matcher{tags: make(map[[32]byte]struct{}, len(tags)), key: key}
	for i, t := range tags {
		var d [32]byte
		if len(t) != hex.EncodedLen(len(d)) {
			return nil, fmt.Errorf("blocklist: tag %d is not a hex HMAC-SHA256", i+1)
		}
		if _, err := hex.Decode(d[:], []byte(t)); err != nil {
			return nil, fmt.Errorf("blocklist: tag %d is not a hex HMAC-SHA256", i+1)
		}
		m.tags[d] = struct{}{}
	}
	return m, nil
}

// Contains implements filter.Set. It does not retain id.
func (m *Matcher) Contains(id []byte) bool {
	if len(m.tags) == 0 {
		return false
	}
	var sum [32]byte
	m.key.Sum(id, &sum)
	_, ok := m.tags[sum]
	return ok
}

// Len returns the number of tags.
func (m *Matcher) Len() int { return len(m.tags) }
