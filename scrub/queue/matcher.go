package queue

import (
	"maps"
	"slices"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/blocklist"
)

// Matcher matches identifiers by the tags of requests, grouped by
// identifier type. It reuses the sweep's matcher (blocklist.Matcher: the
// HMAC of each ID field under the ID key, compared as raw digests), one
// per type and one of every type.
//
// A batch without a data map checks every ID column for every request's
// tags, whatever their type: it filters with All. A data map, which says
// which columns hold which type, filters a column with Type(its type),
// or, for a column that stores it in another form than clear, Form(its
// type and form), which matches the tags of the stored values (scrub queue
// run --map).
type Matcher struct {
	all    *blocklist.Matcher
	byType map[string]*blocklist.Matcher
	byForm map[FormKey]*blocklist.Matcher
}

// NewMatcher returns a Matcher of tags grouped by type (ByType's form)
// and of tags in stored forms (ByForm's; may be nil) under key.
func NewMatcher(key *audit.IDKey, byType map[string][]string, byForm map[FormKey][]string) (*Matcher, error) {
	m := &Matcher{byType: make(map[string]*blocklist.Matcher, len(byType)), byForm: make(map[FormKey]*blocklist.Matcher, len(byForm))}
	for k, tags := range byForm {
		mf, err := blocklist.NewMatcher(key, tags)
		if err != nil {
			return nil, err
		}
		m.byForm[k] = mf
	}
	var all []string
	for t, tags := range byType {
		mt, err := blocklist.NewMatcher(key, tags)
		if err != nil {
			return nil, err
		}
		m.byType[t] = mt
		all = append(all, tags...)
	}
	slices.Sort(all)
	var err error
	if m.all, err = blocklist.NewMatcher(key, slices.Compact(all)); err != nil {
		return nil, err
	}
	return m, nil
}

// All matches the clear tags of every type.
func (m *Matcher) All() *blocklist.Matcher { return m.all }

// Type matches the tags of type t only; a type no request names matches
// nothing.
func (m *Matcher) Type(t string) *blocklist.Matcher {
	if mt, ok := m.byType[t]; ok {
		return mt
	}
	empty, _ := blocklist.NewMatcher(nil, nil)
	return empty
}

// Form matches the tags of type t's identifiers in stored form k (their
// stored values' tags): a form no request holds matches nothing. The
// caller gives it each stored value in the form the tags were made of (a
// digest's hex in lower case).
func (m *Matcher) Form(k FormKey) *blocklist.Matcher {
	if mf, ok := m.byForm[k]; ok {
		return mf
	}
	empty, _ := blocklist.NewMatcher(nil, nil)
	return empty
}

// Types returns the types with tags, sorted.
func (m *Matcher) Types() []string { return slices.Sorted(maps.Keys(m.byType)) }
