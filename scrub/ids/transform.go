package ids

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"slices"
	"strings"
)

// A Transform turns a clear ID, as a data subject names it, into the form a
// product stores: an optional case normalisation, then an optional digest.
//
// Its spec is written as steps joined by commas:
//
//	lower | upper                 normalise the case (Unicode, as strings.ToLower/ToUpper)
//	sha256 | sha1 | md5           the digest of the (normalised) ID, in hex
//	hmac-sha256:KEYFILE           HMAC-SHA256 under the key in KEYFILE (hex), in hex
//
// with at most one normalisation, first, and at most one digest, last:
// "sha256", "lower,sha256", "upper,hmac-sha256:/etc/scrub/product.key",
// "lower". The key file's path is everything after "hmac-sha256:", commas
// included.
//
// A digest is stored as hex; products write it in lower or upper case, so
// the [Set] a Transform makes matches either (and mixed case), and names
// each ID by its lower-case hex.
type Transform struct {
	norm  string // "", "lower" or "upper"
	alg   string // "", "sha256", "sha1", "md5" or "hmac-sha256"
	key   []byte // of hmac-sha256
	keyID string // names the key without revealing it
}

// ErrTransform is wrapped by the errors of [ParseTransform] for a malformed
// spec.
var ErrTransform = errors.New("bad ID transform")

// ParseTransform parses a transform spec (see [Transform]), reading the key
// file of hmac-sha256. Errors name the key file, never its content.
func ParseTransform(spec string) (*Transform, error) {
	t := &Transform{}
	rest := strings.TrimSpace(spec)
	if rest == "" {
		return nil, fmt.Errorf("%w: empty (want e.g. sha256, lower,sha256 or hmac-sha256:KEYFILE)", ErrTransform)
	}
	if first, r, comma := strings.Cut(rest, ","); strings.TrimSpace(first) == "lower" || strings.TrimSpace(first) == "upper" {
		t.norm, rest = strings.TrimSpace(first), strings.TrimSpace(r)
		if !comma {
			return t, nil
		}
	}
	switch alg, arg, hasArg := strings.Cut(rest, ":"); {
	case alg == "sha256" || alg == "sha1" || alg == "md5":
		if hasArg {
			return nil, fmt.Errorf("%w: %s takes no key", ErrTransform, alg)
		}
		t.alg = alg
	case alg == "hmac-sha256":
		if !hasArg || arg == "" {
			return nil, fmt.Errorf("%w: hmac-sha256 needs a key file: hmac-sha256:KEYFILE", ErrTransform)
		}
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("%w: hmac-sha256 key: %w", ErrTransform, err)
		}
		if t.key, err = parseKey(data); err != nil {
			return nil, fmt.Errorf("%w: hmac-sha256 key %s: %w", ErrTransform, arg, err)
		}
		t.alg = "hmac-sha256"
		t.keyID = KeyID(t.key)
	case strings.HasPrefix(rest, "lower") || strings.HasPrefix(rest, "upper"):
		return nil, fmt.Errorf("%w: %q: the case (lower or upper) comes once, before the digest", ErrTransform, spec)
	case strings.Contains(alg, ","):
		return nil, fmt.Errorf("%w: %q: the digest is the last step", ErrTransform, spec)
	default:
		return nil, fmt.Errorf("%w: unknown step %q (want lower, upper, sha256, sha1, md5 or hmac-sha256:KEYFILE)", ErrTransform, alg)
	}
	return t, nil
}

// parseKey reads a key file: hex, surrounding white space ignored, like the
// audit log's ID key. Errors never quote it.
func parseKey(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	k, err := hex.DecodeString(s)
	switch {
	case s == "":
		return nil, errors.New("empty")
	case err != nil:
		return nil, errors.New("not hex")
	}
	return k, nil
}

// KeyID names an HMAC key without revealing it: "sha256:" and the first 16
// hex digits of the SHA-256 of a fixed label and the key. The label keeps
// the value apart from any digest the product itself may store.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("scrub id-transform key id\n"))
	h.Write(key)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// String returns the spec without key material: the key file is left out
// ("lower,hmac-sha256"); [Transform.KeyID] names the key.
func (t *Transform) String() string {
	switch {
	case t.norm == "":
		return t.alg
	case t.alg == "":
		return t.norm
	}
	return t.norm + "," + t.alg
}

// KeyID names the HMAC key (see [KeyID]), or is "" without one.
func (t *Transform) KeyID() string { return t.keyID }

// digestSize is the size in bytes of the digest, or 0 without one.
func (t *Transform) digestSize() int {
	switch t.alg {
	case "sha256", "hmac-sha256":
		return sha256.Size
	case "sha1":
		return sha1.Size
	case "md5":
		return md5.Size
	}
	return 0
}

// normalise applies the case step.
func (t *Transform) normalise(id string) string {
	switch t.norm {
	case "lower":
		return strings.ToLower(id)
	case "upper":
		return strings.ToUpper(id)
	}
	return id
}

// sum returns the digest of id (normalised), or nil without a digest step.
func (t *Transform) sum(id string) []byte {
	var h hash.Hash
	switch t.alg {
	case "sha256":
		h = sha256.New()
	case "sha1":
		h = sha1.New()
	case "md5":
		h = md5.New()
	case "hmac-sha256":
		h = hmac.New(sha256.New, t.key)
	default:
		return nil
	}
	h.Write([]byte(t.normalise(id)))
	return h.Sum(nil)
}

// Apply returns the stored form of a clear ID: with a digest step, its
// lower-case hex.
func (t *Transform) Apply(id string) string {
	if d := t.sum(id); d != nil {
		return hex.EncodeToString(d)
	}
	return t.normalise(id)
}

// Set returns the set of the stored forms of the IDs in s. With a digest
// step it holds the digests themselves and matches their hex in any case
// (see [Set.Contains]).
func (t *Transform) Set(s *Set) *Set {
	out := &Set{digest: t.digestSize()}
	size := len(s.data)
	if out.digest != 0 {
		size = s.Len() * out.digest
	}
	out.Grow(s.Len(), size)
	s.Each(func(id string) {
		var err error
		if d := t.sum(id); d != nil {
			err = out.Add(d)
		} else {
			err = out.Add([]byte(t.normalise(id)))
		}
		if err != nil {
			// Only a case change can make an ID longer (a few
			// characters have longer lower- or upper-case forms).
			panic(err)
		}
	})
	return out
}

// maxDigest is the largest digest size a Set holds.
const maxDigest = sha256.Size

// containsHex is Contains for a set of digests: id must be the hex of one,
// in either case. It does not allocate.
func (s *Set) containsHex(id []byte) bool {
	if len(id) != 2*s.digest {
		return false
	}
	var d [maxDigest]byte
	if _, err := hex.Decode(d[:s.digest], id); err != nil {
		return false
	}
	return s.contains(d[:s.digest])
}

// Canonical returns the form under which an ID the set contains is named
// (in the audit log): its lower-case hex in a set of digests; otherwise id
// itself, not a copy.
func (s *Set) Canonical(id []byte) []byte {
	if s.digest == 0 {
		return id
	}
	out := make([]byte, len(id))
	for i, c := range id {
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// Digest reports whether the stored form is a digest (stored as hex).
func (t *Transform) Digest() bool { return t.alg != "" }

// Canonical returns a stored value as the Set t makes names it: with a
// digest step, a value that is the hex of a digest of its size, in either
// case, as lower-case hex (what [Transform.Apply] gives); any other value
// is returned as it is, not a copy. Whatever keys its IDs by their stored
// form (a tag of Apply's value) looks a stored value up by this.
func (t *Transform) Canonical(id []byte) []byte {
	if t.alg == "" || len(id) != 2*t.digestSize() {
		return id
	}
	var out []byte
	for i, c := range id {
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			if out == nil {
				out = slices.Clone(id)
			}
			out[i] = c + 'a' - 'A'
		default:
			return id
		}
	}
	if out == nil {
		return id
	}
	return out
}
