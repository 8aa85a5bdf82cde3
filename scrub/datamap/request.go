package datamap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// Request is an erasure request's identifiers, in clear, by type.
type Request struct {
	// IDs are the identifiers of single-column types.
	IDs map[string]*ids.Set
	// Tuples are those of composite types: each tuple holds one value
	// per part type, in the order Map.Composite returns them (sorted).
	Tuples map[string][][]string
}

// Types returns the request's types, sorted.
func (r *Request) Types() []string {
	out := slices.Collect(maps.Keys(r.IDs))
	out = append(out, slices.Collect(maps.Keys(r.Tuples))...)
	slices.Sort(out)
	return out
}

// StoredSet is a set of IDs in their stored form: what a filter matches,
// and what the audit log names by tags.
type StoredSet interface {
	filter.Set
	Len() int
	Each(fn func(id string))
}

// Stored is the IDs of one type in one stored form.
type Stored struct {
	Type   string
	Stored string // the stored form, without key material ("clear", "lower,sha256")
	Set    StoredSet
}

// Plan is what a request reads of one dataset.
type Plan struct {
	Dataset *Dataset
	// Types are the request's types the dataset holds, sorted; Filter
	// is its filter, nil when it holds none of them (it is not read).
	Types  []string
	Filter *filter.Filter
}

// Plan returns, for each dataset in map order, what req reads of it, and
// the distinct stored sets the filters match (for the audit log). base
// gives the filters' other settings (MaxRecord, AllowInvalidUTF8); its
// ID settings are replaced. Types the map does not know are an error.
func (m *Map) Plan(req *Request, base filter.Filter) ([]Plan, []Stored, error) {
	known := m.Types()
	for _, t := range req.Types() {
		if !slices.Contains(known, t) {
			return nil, nil, fmt.Errorf("%s: the map holds no identifier of type %q (it knows %s)", m.Path, t, strings.Join(known, ", "))
		}
	}
	cache := map[string]*Stored{}
	var stored []Stored
	keep := func(key string, s Stored) StoredSet {
		if c, ok := cache[key]; ok {
			return c.Set
		}
		cache[key] = &s
		stored = append(stored, s)
		return s.Set
	}
	column := func(c *Column) filter.Set {
		set, ok := req.IDs[c.Type]
		if !ok {
			return nil
		}
		if c.Transform == nil {
			return keep(c.Type+"\x00clear", Stored{c.Type, "clear", set})
		}
		key := c.Type + "\x00" + c.Transform.String() + "\x00" + c.Transform.KeyID()
		if s, ok := cache[key]; ok {
			return s.Set
		}
		return keep(key, Stored{c.Type, c.Transform.String(), c.Transform.Set(set)})
	}
	composite := func(co *Composite) filter.Set {
		tuples, ok := req.Tuples[co.Type]
		if !ok {
			return nil
		}
		key := co.Type
		for _, p := range co.Parts {
			key += "\x00" + p.Name + "\x00" + p.Stored
		}
		if s, ok := cache[key]; ok {
			return s.Set
		}
		return keep(key, Stored{co.Type, co.stored(), newTupleSet(m, co, tuples)})
	}
	var plans []Plan
	for _, d := range m.Datasets {
		p := Plan{Dataset: d}
		for _, t := range req.Types() {
			if d.Holds(t) {
				p.Types = append(p.Types, t)
			}
		}
		p.Filter = d.Filter(base, column, composite)
		plans = append(plans, p)
	}
	return plans, stored, nil
}

// stored names the composite's stored form: its parts' joined by "+".
func (co *Composite) stored() string {
	var s []string
	for _, p := range co.Parts {
		f := "clear"
		if p.Transform != nil {
			f = p.Transform.String()
		}
		s = append(s, f)
	}
	return strings.Join(s, "+")
}

// Filter returns the dataset's filter, based on base, with the IDs column
// and composite return for each column and composite (nil: not
// requested), or nil when none is requested. The dataset's delimiter and,
// when base has a cutoff, its time column are set. A request queue that
// matches by HMAC tag gives sets of its own here.
func (d *Dataset) Filter(base filter.Filter, column func(*Column) filter.Set, composite func(*Composite) filter.Set) *filter.Filter {
	f := base
	f.IDs, f.Columns, f.ByColumn, f.Composites = nil, nil, nil, nil
	for _, c := range d.Columns {
		if set := column(c); set != nil {
			f.ByColumn = append(f.ByColumn, filter.Column{Name: c.Name, IDs: set})
		}
	}
	for _, co := range d.Composites {
		if set := composite(co); set != nil {
			fc := filter.Composite{IDs: set}
			for _, p := range co.Parts {
				fc.Columns = append(fc.Columns, p.Name)
			}
			f.Composites = append(f.Composites, fc)
		}
	}
	if len(f.ByColumn) == 0 && len(f.Composites) == 0 {
		return nil
	}
	if d.Delimiter != 0 {
		f.Delimiter = d.Delimiter
	}
	if d.TimeColumn != "" && !f.Before.IsZero() {
		f.TimeColumn = d.TimeColumn
	}
	return &f
}

// tupleSet is the set of a composite identifier's tuples in their stored
// form: each part's stored value, in the composite's column order, joined
// by filter.CompositeSep. A digest part matches its hex in either case.
type tupleSet struct {
	keys map[string]struct{}
	fold []bool // per part: a digest, whose hex is matched in either case
}

func newTupleSet(m *Map, co *Composite, tuples [][]string) *tupleSet {
	order, _ := m.Composite(co.Type)
	t := &tupleSet{keys: make(map[string]struct{}, len(tuples))}
	idx := make([]int, len(co.Parts))
	for i, p := range co.Parts {
		idx[i] = slices.Index(order, p.Type)
		t.fold = append(t.fold, p.Transform != nil && p.Transform.Digest())
	}
	var b strings.Builder
	for _, tu := range tuples {
		b.Reset()
		for i, p := range co.Parts {
			if i > 0 {
				b.WriteByte(filter.CompositeSep)
			}
			v := tu[idx[i]]
			if p.Transform != nil {
				v = p.Transform.Apply(v)
			}
			b.WriteString(v)
		}
		t.keys[b.String()] = struct{}{}
	}
	return t
}

func (t *tupleSet) Contains(id []byte) bool {
	_, ok := t.keys[string(t.Canonical(id))]
	return ok
}

// Canonical returns id with its digest parts' hex in lower case (id
// itself when there is nothing to fold).
func (t *tupleSet) Canonical(id []byte) []byte {
	var out []byte
	part := 0
	for i, c := range id {
		if c == filter.CompositeSep {
			part++
			continue
		}
		if part < len(t.fold) && t.fold[part] && 'A' <= c && c <= 'F' {
			if out == nil {
				out = slices.Clone(id)
			}
			out[i] = c + 'a' - 'A'
		}
	}
	if out == nil {
		return id
	}
	return out
}

func (t *tupleSet) Len() int { return len(t.keys) }

func (t *tupleSet) Each(fn func(id string)) {
	for _, k := range slices.Sorted(maps.Keys(t.keys)) {
		fn(k)
	}
}

// ErrTuples is wrapped by the errors of ReadTuples.
var ErrTuples = errors.New("bad tuple list")

// ReadTuples reads the tuples of a composite identifier: a header line
// naming the part types (parts, in any order), then one tuple per line,
// its values separated by commas in the header's order. Blank lines and
// lines starting with '#' are ignored, spaces around values trimmed. A
// value may not be empty or hold a double quote or a control character.
// The tuples are returned with their values in the order of parts.
// Errors name the line (name:line), never its content.
func ReadTuples(r io.Reader, name string, parts []string) ([][]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var order []int // header position -> index in parts
	var out [][]string
	line := 0
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s:%d: %s", ErrTuples, name, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if order == nil {
			for _, f := range fields {
				i := slices.Index(parts, strings.TrimSpace(f))
				if i < 0 || slices.Contains(order, i) {
					return nil, fail("want a header naming each part type once: %s", strings.Join(parts, ","))
				}
				order = append(order, i)
			}
			if len(order) != len(parts) {
				return nil, fail("want a header naming each part type once: %s", strings.Join(parts, ","))
			}
			continue
		}
		if len(fields) != len(parts) {
			return nil, fail("%d values, want %d (%s)", len(fields), len(parts), strings.Join(parts, ","))
		}
		tu := make([]string, len(parts))
		for i, f := range fields {
			v := strings.TrimSpace(f)
			if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r == '"' || r < 0x20 || r == 0x7f }) {
				return nil, fail("value %d is empty or holds a quote or a control character", i+1)
			}
			tu[order[i]] = v
		}
		out = append(out, tu)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %v", ErrTuples, name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no tuples", ErrTuples, name)
	}
	return out, nil
}
