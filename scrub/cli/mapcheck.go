package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/datamap"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/store"
)

const mapCheckUse = "scrub map check [--sample N] [--endpoint URL] FILE"

var printMapCheckHelp = printFlags("Usage: "+mapCheckUse+"\n\n"+
	"Checks the data map FILE against the archives it names, reading only:\n"+
	"  - every dataset's location is listed, and its globs select some archive;\n"+
	"  - no archive is selected by two datasets;\n"+
	"  - no archive below a dataset's location is in no dataset, unless a dataset\n"+
	"    of that location excludes it (exclude = [...]);\n"+
	"  - the first N archives of each dataset (by key) hold every identifier\n"+
	"    column of the dataset (and its time column, whose values must parse).\n"+
	"Then it prints a table of the datasets: location, archives, the columns\n"+
	"and their types. Each problem is named on standard error, and the exit\n"+
	"code is 1 if there is one (2 if the map itself does not parse).\n",
	"",
	"scrub map check --sample 5 ops/datamap.toml")

// runMap runs scrub map SUBCOMMAND.
func runMap(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef("usage:\n  %s", mapCheckUse)
	}
	fs := flag.NewFlagSet("scrub map check", flag.ContinueOnError)
	sample := fs.Int("sample", 3, "read the first `N` archives of each dataset for its columns (0: none)")
	endpoint := fs.String("endpoint", "", "S3 endpoint `URL` for s3:// locations")
	rest, err := parseArgs(fs, args[1:], env.Stderr, printMapCheckHelp)
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return usagef("map check takes one FILE (see scrub map check --help)")
	case *sample < 0:
		return usagef("--sample must be 0 or more")
	}
	m, err := loadMap(rest[0])
	if err != nil {
		return err
	}
	op := store.New(store.Options{Endpoint: *endpoint, ReadOnly: true,
		Warn: func(msg string) { fmt.Fprintf(env.Stderr, "scrub: warning: %s\n", msg) }})
	rows, problems, err := checkMap(ctx, op, m, *sample)
	if err != nil {
		return err
	}
	printMapTable(env.Stdout, rows)
	for _, p := range problems {
		fmt.Fprintf(env.Stderr, "scrub: map check: %s\n", oneLine(p))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %d problems", m.Path, len(problems))
	}
	fmt.Fprintf(env.Stderr, "scrub: map check: %s is consistent with the %d datasets' archives\n", m.Path, len(m.Datasets))
	return nil
}

// mapRow is a dataset's line of the map check's table.
type mapRow struct {
	d                 *datamap.Dataset
	location          string
	archives, sampled int
}

// checkMap lists every dataset's archives and samples their columns. It
// returns the table's rows and the problems found; an error is one that
// stops the check (a context canceled).
func checkMap(ctx context.Context, op *store.Opener, m *datamap.Map, sample int) ([]mapRow, []string, error) {
	var rows []mapRow
	var problems []string
	// Each location once, with the datasets below it.
	type place struct {
		src      scrub.Source
		datasets []int
	}
	var places []*place
	byLoc := map[string]*place{}
	for i, d := range m.Datasets {
		loc := mapLocation(m, d)
		rows = append(rows, mapRow{d: d, location: loc})
		if p, ok := byLoc[loc]; ok {
			p.datasets = append(p.datasets, i)
			continue
		}
		l, err := op.Open(ctx, loc)
		if err == nil {
			var src scrub.Source
			if src, err = l.Archives(ctx); err == nil {
				p := &place{src: src, datasets: []int{i}}
				places, byLoc[loc] = append(places, p), p
				continue
			}
		}
		problems = append(problems, fmt.Sprintf("dataset %s (line %d): location %s: %v", d.Name, d.Line, loc, err))
	}
	samples := make([][]sampled, len(m.Datasets))
	for _, p := range places {
		err := p.src.Store.List(ctx, func(obj scrub.Object) error {
			var in []int
			excluded := false
			for _, i := range p.datasets {
				d := m.Datasets[i]
				src := scrub.Source{Include: d.Include, Exclude: d.Exclude}
				if src.Selects(obj) {
					in = append(in, i)
				} else if (scrub.Source{Include: d.Exclude}).Selects(obj) && len(d.Exclude) > 0 {
					excluded = true
				}
			}
			switch {
			case len(in) > 1:
				problems = append(problems, fmt.Sprintf("%s is in the datasets %s and %s: their locations and globs overlap",
					quoteName(obj.Key), m.Datasets[in[0]].Name, m.Datasets[in[1]].Name))
			case len(in) == 0 && !excluded:
				problems = append(problems, fmt.Sprintf("%s is in no dataset: add it to one's globs, or to an exclude of a dataset at %s", quoteName(obj.Key), p.src.Name))
			}
			for _, i := range in {
				rows[i].archives++
				samples[i] = append(samples[i], sampled{p.src.Store, obj})
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			problems = append(problems, fmt.Sprintf("list %s: %v", p.src.Name, err))
		}
	}
	for i, d := range m.Datasets {
		if rows[i].archives == 0 && byLoc[rows[i].location] != nil {
			problems = append(problems, fmt.Sprintf("dataset %s (line %d): no archive at %s matches its globs", d.Name, d.Line, rows[i].location))
		}
		objs := samples[i]
		// The first archives by key, as a batch takes them.
		slices.SortFunc(objs, func(a, b sampled) int { return strings.Compare(a.obj.Key, b.obj.Key) })
		for _, s := range objs[:min(sample, len(objs))] {
			rows[i].sampled++
			if err := sampleColumns(ctx, s.st, s.obj, d); err != nil {
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				problems = append(problems, fmt.Sprintf("dataset %s (line %d): %s: %v", d.Name, d.Line, quoteName(s.obj.Key), err))
			}
		}
	}
	return rows, problems, nil
}

// sampled is an archive of a dataset, to sample.
type sampled struct {
	st  scrub.Store
	obj scrub.Object
}

// emptySet matches nothing: a sample is read for its columns only.
type emptySet struct{}

func (emptySet) Contains([]byte) bool { return false }

// sampleColumns reads an archive with the dataset's filter (matching no
// ID): a missing column, or a time that does not parse, is an error; an
// archive none of whose streams has the dataset's columns is one too.
func sampleColumns(ctx context.Context, st scrub.Store, obj scrub.Object, d *datamap.Dataset) error {
	if obj.NotScanned != "" {
		return errors.New(obj.NotScanned)
	}
	f := d.Filter(filter.Filter{}, func(*datamap.Column) filter.Set { return emptySet{} },
		func(*datamap.Composite) filter.Set { return emptySet{} })
	if d.TimeColumn != "" || d.Retention != "" {
		// Every row's time is read (none is this old).
		f.Before, f.TimeColumn = time.Unix(0, 0).UTC(), d.TimeColumn
	}
	return st.Open(ctx, obj, func(c scrub.Content) error {
		rep, err := archive.ScanWith(c, c.Size(), f, false, archive.Options{})
		if err != nil {
			return err
		}
		if !rep.Scanned() {
			var why []string
			for _, m := range rep.NotScanned() {
				why = append(why, m.Reason)
			}
			return fmt.Errorf("no table with the dataset's columns (%s)", strings.Join(why, "; "))
		}
		return nil
	})
}

// storedForm names a column's stored form without its key file (as the
// log names a transform), for the table.
func storedForm(c *datamap.Column) string {
	if c.Transform == nil {
		return "clear"
	}
	return c.Transform.String()
}

// printMapTable writes the table of datasets.
func printMapTable(w io.Writer, rows []mapRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tLOCATION\tARCHIVES\tSAMPLED\tCOLUMNS (TYPE, STORED)")
	for _, r := range rows {
		var cols []string
		for _, c := range r.d.Columns {
			cols = append(cols, fmt.Sprintf("%s (%s, %s)", c.Name, c.Type, storedForm(c)))
		}
		for _, co := range r.d.Composites {
			var parts []string
			for _, p := range co.Parts {
				parts = append(parts, fmt.Sprintf("%s (%s, %s)", p.Name, p.Type, storedForm(p)))
			}
			cols = append(cols, co.Type+" = "+strings.Join(parts, " + "))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", r.d.Name, quoteName(r.location), r.archives, r.sampled, strings.Join(cols, "; "))
	}
	tw.Flush()
}
