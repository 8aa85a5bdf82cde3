package cli

import (
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// parseTransform parses an --id-transform spec, reading its key file.
func parseTransform(spec string) (*ids.Transform, error) {
	if spec == "" {
		return nil, nil
	}
	t, err := ids.ParseTransform(spec)
	if err != nil {
		return nil, usagef("--id-transform: %v", err)
	}
	return t, nil
}

// canonicaler is implemented by ID sets that match an ID in several
// spellings (a digest's hex in either case) and name it by one.
type canonicaler interface {
	Canonical(id []byte) []byte
}

// tagger returns the tag function for the IDs set matches: a value found in
// the data is tagged in the form the set lists it, so that an archive's
// tags are those of the batch's IDs whatever the case of the hex.
func tagger(k *audit.IDKey, set filter.Set) func([]byte) string {
	if c, ok := set.(canonicaler); ok {
		return func(id []byte) string { return k.Tag(c.Canonical(id)) }
	}
	return k.Tag
}
