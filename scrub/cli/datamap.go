package cli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/datamap"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/store"
)

// idsFlag is --ids: the ID file (the last one given, as a string flag
// keeps it), and with --map every one given, as TYPE=FILE.
type idsFlag struct{ o *eraseOptions }

func (f idsFlag) String() string {
	if f.o == nil {
		return ""
	}
	return f.o.ids
}

func (f idsFlag) Set(v string) error {
	f.o.ids = v
	f.o.idsTyped = append(f.o.idsTyped, v)
	return nil
}

// mapRun is an erasure routed by a data map: what parseEraseLike found.
type mapRun struct {
	m     *datamap.Map
	files []batch.TypedFile
	// types are the identifier types the request names, in the order
	// given (a queue run's: those of the pending requests it routes).
	types []string
	// read are the datasets that hold a requested type (or, with
	// --retention, have a retention), in map order, with their locations
	// resolved (o.sources, in the same order); unread the others.
	read, unread []*datamap.Dataset
	// retention is --retention: each dataset's rows older than its
	// retention go too; cutoffs are the batch's, once it has begun.
	retention bool
	cutoffs   []batch.DatasetCutoff
}

// parseMap loads --map and checks the flags that go with it: --ids
// TYPE=FILE for types the map knows, no SOURCE, none of the flags the map
// sets per dataset. It sets o.sources to the locations of the datasets
// read.
func (o *eraseOptions) parseMap() error {
	if err := o.checkMapFlags(); err != nil {
		return err
	}
	if len(o.idsTyped) == 0 && !o.mapRetention {
		return usagef("--map needs --ids TYPE=FILE, one for each identifier type of the request, or --retention")
	}
	m, err := loadMap(o.mapFile)
	if err != nil {
		return err
	}
	r := &mapRun{m: m, retention: o.mapRetention}
	known := m.Types()
	for _, v := range o.idsTyped {
		typ, file, ok := strings.Cut(v, "=")
		switch {
		case !ok || file == "":
			return usagef("--ids %s: with --map give TYPE=FILE (types of %s: %s)", v, o.mapFile, strings.Join(known, ", "))
		case !slices.Contains(known, typ):
			return usagef("--ids %s: %s holds no identifier of type %q (it knows %s)", v, o.mapFile, typ, strings.Join(known, ", "))
		case slices.ContainsFunc(r.files, func(f batch.TypedFile) bool { return f.Type == typ }):
			return usagef("--ids: type %q given twice; put its IDs in one file", typ)
		}
		r.files = append(r.files, batch.TypedFile{Type: typ, File: file})
		r.types = append(r.types, typ)
	}
	o.sources, o.ids = nil, ""
	for _, d := range m.Datasets {
		if !slices.ContainsFunc(r.files, func(f batch.TypedFile) bool { return d.Holds(f.Type) }) && !(r.retention && d.Retention != "") {
			r.unread = append(r.unread, d)
			continue
		}
		r.read = append(r.read, d)
		o.sources = append(o.sources, mapLocation(m, d))
	}
	if r.retention && !slices.ContainsFunc(m.Datasets, func(d *datamap.Dataset) bool { return d.Retention != "" }) {
		return usagef("--retention: no dataset of %s has a retention", o.mapFile)
	}
	o.dmap = r
	return nil
}

// checkMapFlags refuses, with --map, the flags the map sets per dataset,
// and a SOURCE.
func (o *eraseOptions) checkMapFlags() error {
	switch {
	case len(o.sources) > 0:
		return usagef("with --map the sources are the map's datasets: give no SOURCE")
	case len(o.columns) > 0:
		return usagef("--column goes without --map: the map names each dataset's columns")
	case o.idTransform != "":
		return usagef("--id-transform goes without --map: the map gives each column's stored form (stored = ...)")
	case o.delimiter != "":
		return usagef("--delimiter goes without --map: the map gives each dataset's (delimiter = ...)")
	case o.olderThan != "":
		return usagef("--older-than goes without --map: with a map, --retention purges each dataset by its own retention")
	}
	return nil
}

// resolveMapCutoffs fixes each retention's cutoff, once, as the batch
// starts (a resumed batch then takes its own: applyCutoffs). A fixed
// cutoff in the future is refused: it would purge rows not yet old.
func (o *eraseOptions) resolveMapCutoffs(now time.Time) error {
	if o.dmap == nil || !o.dmap.retention {
		return nil
	}
	for _, d := range o.dmap.read {
		if d.Retention == "" {
			continue
		}
		a, err := parseAge(d.Retention)
		if err != nil {
			return err // checked when the map was loaded
		}
		c := a.cutoff(now)
		if c.After(now) {
			return usagef("%s:%d: the retention %s of dataset %s is in the future: every row would go", o.mapFile, d.RetentionLine, d.Retention, d.Name)
		}
		o.dmap.cutoffs = append(o.dmap.cutoffs, batch.DatasetCutoff{Dataset: d.Name, OlderThan: d.Retention,
			TimeColumn: cmp.Or(d.TimeColumn, filter.DefaultTimeColumn), Cutoff: c})
	}
	return nil
}

// applyCutoffs gives the sources of the datasets with a retention their
// cutoff: those of the batch (its request's, which a resumed batch took
// from the one it resumed).
func (o *eraseOptions) applyCutoffs(sources []scrub.Source, req *batch.Request) {
	if o.dmap == nil || req.Map == nil || len(req.Map.Retention) == 0 {
		return
	}
	o.dmap.cutoffs = req.Map.Retention
	for i := range sources {
		for _, c := range o.dmap.cutoffs {
			if sources[i].Dataset != c.Dataset {
				continue
			}
			f := *sources[i].Filter
			f.Before, f.TimeColumn = c.Cutoff, c.TimeColumn
			sources[i].Filter = &f
		}
	}
}

// printMapCutoffs tells the user what goes by age, per dataset.
func (o *eraseOptions) printMapCutoffs(w io.Writer) {
	if o.dmap == nil {
		return
	}
	for _, c := range o.dmap.cutoffs {
		fmt.Fprintf(w, "scrub: dataset %s: rows whose %s is before %s go (retention %s)\n", c.Dataset, c.TimeColumn, c.Cutoff.Format(time.RFC3339Nano), c.OlderThan)
	}
}

// idFiles returns the ID files of the request.
func (o *eraseOptions) idFiles() []string {
	if o.dmap == nil {
		return []string{o.ids}
	}
	var out []string
	for _, f := range o.dmap.files {
		out = append(out, f.File)
	}
	return out
}

// loadMap loads a data map, its retentions checked by the --older-than
// parser.
func loadMap(file string) (*datamap.Map, error) {
	m, err := datamap.Load(file, datamap.Options{Retention: func(s string) error {
		_, err := parseAge(s)
		var u *UsageError
		if errors.As(err, &u) {
			return errors.New(strings.TrimPrefix(u.Err.Error(), "--older-than "))
		}
		return err
	}})
	if err != nil {
		return nil, &UsageError{err}
	}
	return m, nil
}

// mapLocation is a dataset's location: a relative local path is below the
// map's directory.
func mapLocation(m *datamap.Map, d *datamap.Dataset) string {
	loc, err := store.Parse(d.Location)
	if err != nil || loc.Remote() || filepath.IsAbs(d.Location) {
		return d.Location // a bad one is reported when it is opened
	}
	return filepath.Join(m.Dir, d.Location)
}

// mapSpec loads the request's IDs by type and builds the batch: each read
// dataset's filter, the IDs the audit log names (every stored form the
// filters match), and the clear IDs not to be printed.
func (o *eraseOptions) mapSpec(env Env, spec *batchSpec) error {
	r := o.dmap
	req := &datamap.Request{IDs: map[string]*ids.Set{}, Tuples: map[string][][]string{}}
	plain := &ids.Set{}
	for _, f := range r.files {
		if parts, ok := r.m.Composite(f.Type); ok {
			tuples, err := readTuples(f.File, env.Stdin, parts)
			if err != nil {
				return err
			}
			req.Tuples[f.Type] = tuples
			for _, tu := range tuples {
				for _, v := range tu {
					_ = plain.Add([]byte(v)) // a value that is no ID is not one to hide
				}
			}
			continue
		}
		set, err := loadIDs(f.File, env.Stdin, o.allowPlaceholders)
		if err != nil {
			return err
		}
		req.IDs[f.Type] = set
		set.Each(func(id string) { _ = plain.Add([]byte(id)) })
	}
	plans, stored, err := r.m.Plan(req, filter.Filter{MaxRecord: o.maxRecord, AllowInvalidUTF8: o.allowUTF8})
	if err != nil {
		return &UsageError{err}
	}
	spec.filters = map[string]*filter.Filter{}
	for _, p := range plans {
		switch {
		case p.Filter != nil:
			spec.filters[p.Dataset.Name] = p.Filter
		case r.retention && p.Dataset.Retention != "":
			// By age alone; its cutoff is set once the batch begins.
			spec.filters[p.Dataset.Name] = &filter.Filter{MaxRecord: o.maxRecord, AllowInvalidUTF8: o.allowUTF8, Delimiter: p.Dataset.Delimiter}
		}
	}
	n := 0
	for _, s := range stored {
		n += s.Set.Len()
	}
	spec.plain, spec.stored = plain, stored
	spec.ids = batch.IDs{N: n, Each: func(k *audit.IDKey, fn func(id, tag string)) {
		for _, s := range stored {
			s.Set.Each(func(id string) { fn(id, k.Tag([]byte(id))) })
		}
	}}
	return nil
}

// mapUnmatched counts the stored forms of the request's identifiers that
// matched no row of the datasets read (those of an interrupted attempt
// included) into sum.IDsUnmatched, logs their tags, and returns what to
// tell the operator: per type and stored form, never an identifier.
func mapUnmatched(sum *scrub.Summary, b *batch.Batch, idKey *audit.IDKey, stored []datamap.Stored, shard *scrub.Shard) ([]string, error) {
	var tags, per []string
	n, total := 0, 0
	for _, s := range stored {
		k := 0
		s.Set.Each(func(id string) {
			total++
			if sum.Matched(id) {
				return
			}
			if idKey != nil {
				tag := idKey.Tag([]byte(id))
				if b.MatchedBefore(tag) || sum.MatchedTag(tag) {
					return
				}
				tags = append(tags, tag)
			}
			k++
		})
		if k > 0 {
			per = append(per, fmt.Sprintf("%s (%s): %d of %d", s.Type, s.Stored, k, s.Set.Len()))
		}
		n += k
	}
	sum.IDsUnmatched = &n
	if n == 0 {
		return nil, nil
	}
	if idKey != nil {
		slices.Sort(tags)
		if n == total {
			tags = nil // all of them: the ids events name them
		}
		if err := b.Unmatched(n, tags); err != nil {
			return nil, err
		}
	}
	where, advice := "the datasets read", "check the lists for typos and stray characters, and the map's stored forms"
	if shard != nil {
		where, advice = "the archives of share "+shard.String()+" read", "other shares may hold them"
	}
	msg := fmt.Sprintf("%d of the %d stored forms of the listed identifiers matched no row of %s (%s); %s", n, total, where, strings.Join(per, ", "), advice)
	if idKey != nil {
		msg += " (the audit log names them by their HMAC tags)"
	}
	return []string{msg}, nil
}

// readTuples reads a composite type's tuple file (- for standard input).
func readTuples(name string, stdin io.Reader, parts []string) ([][]string, error) {
	r := stdin
	if r == nil {
		r = strings.NewReader("")
	}
	label := "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, &UsageError{fmt.Errorf("--ids: %w", err)}
		}
		defer f.Close()
		r, label = f, name
	}
	tuples, err := datamap.ReadTuples(r, label, parts)
	if err != nil {
		return nil, &UsageError{err}
	}
	return tuples, nil
}

// mapSources gives the opened sources of the datasets read their
// dataset's name, globs and filter.
func (o *eraseOptions) mapSources(sources []scrub.Source, spec batchSpec) {
	for i, d := range o.dmap.read {
		sources[i].Dataset, sources[i].Include, sources[i].Exclude = d.Name, d.Include, d.Exclude
		sources[i].Filter = spec.filters[d.Name]
	}
}

// mapRef is the request's record of its map.
func (o *eraseOptions) mapRef() *batch.MapRef {
	if o.dmap == nil {
		return nil
	}
	ref := &batch.MapRef{File: o.mapFile, SHA256: o.dmap.m.SHA256, IDsFiles: o.dmap.files, Retention: o.dmap.cutoffs}
	for _, d := range o.dmap.read {
		ref.Datasets = append(ref.Datasets, d.Name)
	}
	return ref
}

// datasetNote is a dataset of the map in the --json summary: whether the
// request read it, and for which of its types.
type datasetNote struct {
	Name     string   `json:"name"`
	Location string   `json:"location"`
	Read     bool     `json:"read"`
	Types    []string `json:"types,omitempty"`
	// Cutoff is the dataset's with --retention: its rows older go.
	Cutoff string `json:"cutoff,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// mapNotes tells which datasets the request reads, and why not the others.
func (o *eraseOptions) mapNotes() []datasetNote {
	if o.dmap == nil {
		return nil
	}
	var notes []datasetNote
	for _, d := range o.dmap.m.Datasets {
		n := datasetNote{Name: d.Name, Location: mapLocation(o.dmap.m, d), Read: slices.Contains(o.dmap.read, d)}
		for _, t := range o.dmap.types {
			if d.Holds(t) {
				n.Types = append(n.Types, t)
			}
		}
		for _, c := range o.dmap.cutoffs {
			if c.Dataset == d.Name {
				n.Cutoff = c.Cutoff.Format(time.RFC3339Nano)
			}
		}
		if !n.Read {
			n.Reason = "holds none of the requested identifier types"
			if o.queue != "" {
				n.Reason = "holds none of the identifier types of the pending requests routed"
			}
			if o.dmap.retention {
				n.Reason += ", and has no retention"
			}
		}
		notes = append(notes, n)
	}
	return notes
}

// printMapNotes says on w which datasets are read for which types.
func (o *eraseOptions) printMapNotes(w io.Writer) {
	for _, n := range o.mapNotes() {
		if n.Read {
			what := strings.Join(n.Types, ", ")
			if n.Cutoff != "" {
				what = strings.TrimPrefix(what+", and its retention", ", and ")
			}
			fmt.Fprintf(w, "scrub: dataset %s (%s): read for %s\n", n.Name, quoteName(n.Location), what)
		} else {
			fmt.Fprintf(w, "scrub: dataset %s (%s): not read: it %s\n", n.Name, quoteName(n.Location), n.Reason)
		}
	}
}

// registerMap adds --map to erase's flags.
func (o *eraseOptions) registerMap(fs *flag.FlagSet) {
	fs.StringVar(&o.mapFile, "map", "", "data map `FILE` (TOML): the datasets, their locations and identifier columns; the sources come from it, and each --ids is TYPE=FILE")
	fs.BoolVar(&o.mapRetention, "retention", false, "with --map: also remove each dataset's rows older than its retention (the map's retention and time_column); --ids is then optional")
}
