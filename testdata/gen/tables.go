package main

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest/exportgen"
)

// role says why a row is in a table.
type role int

const (
	regularRow   role = iota // an ordinary client
	victimRow                // a listed client: erase
	lookalikeRow             // trap 2: unlisted ID resembling a listed one
	mentionRow               // trap 3: ordinary client, victim ID in another column
)

// special asks for count rows of a role; id is the Client ID (victim and
// look-alike rows) or the ID mentioned in another column (mention rows).
type special struct {
	role   role
	id     string
	count  int
	quoted bool // trap 4: quote the Client ID field although not needed
}

func victim(id string, n int) special { return special{role: victimRow, id: id, count: n} }
func quotedVictim(id string, n int) special {
	return special{role: victimRow, id: id, count: n, quoted: true}
}
func lookalike(id string, n int) special { return special{role: lookalikeRow, id: id, count: n} }
func mention(id string, n int) special   { return special{role: mentionRow, id: id, count: n} }

// tableSpec describes the rows of one CSV file.
type tableSpec struct {
	kind      exportgen.Kind
	first     time.Time // first day covered
	last      time.Time // last day covered
	rows      int
	active    int     // how many regular clients are active in the period
	quoteRate float64 // share of regular rows whose Client ID is quoted (trap 4)
	specials  []special
	plainLast bool // the last row must be a regular row
}

// record is one data row; quotedID forces quoting of its Client ID field.
type record struct {
	fields   []string
	quotedID bool
}

// plannedRow is a row's role before its content is drawn.
type plannedRow struct {
	role   role
	id     string
	quoted bool
}

// table is the generated content of one CSV file, without encoding.
type table struct {
	header  []string
	records []record
	plan    []plannedRow
}

// buildTable draws the rows of spec from the pool.
func buildTable(r *rand.Rand, p *pool, spec tableSpec) table {
	plan := planRows(r, spec)
	active := activeClients(r, p, spec.active)
	stamps := timestamps(r, spec.first, spec.last, spec.rows)
	t := table{header: spec.kind.Header(), plan: plan}
	for i, pr := range plan {
		c, ref := rowClient(r, p, active, pr)
		quoted := pr.quoted || (pr.role == regularRow && r.Float64() < spec.quoteRate)
		var fields []string
		if pr.role == mentionRow {
			fields = spec.kind.MentionRecord(r, stamps[i], &c, ref)
		} else {
			fields = spec.kind.Record(r, stamps[i], &c, ref)
		}
		t.records = append(t.records, record{fields: fields, quotedID: quoted})
	}
	return t
}

// planRows places the special rows at random positions; all other rows are
// regular.
func planRows(r *rand.Rand, spec tableSpec) []plannedRow {
	plan := make([]plannedRow, spec.rows)
	free := spec.rows
	if spec.plainLast {
		free--
	}
	positions := r.Perm(free)
	for _, s := range spec.specials {
		for range s.count {
			if len(positions) == 0 {
				panic("too many special rows for table")
			}
			plan[positions[0]] = plannedRow{role: s.role, id: s.id, quoted: s.quoted}
			positions = positions[1:]
		}
	}
	return plan
}

// activeClients returns the regular clients active in a period.
func activeClients(r *rand.Rand, p *pool, n int) []exportgen.Client {
	idx := r.Perm(len(p.regular))[:n]
	slices.Sort(idx)
	active := make([]exportgen.Client, n)
	for i, j := range idx {
		active[i] = p.regular[j]
	}
	return active
}

// rowClient returns the client of a row and the installation ID the row may
// refer to in another column.
func rowClient(r *rand.Rand, p *pool, active []exportgen.Client, pr plannedRow) (exportgen.Client, string) {
	ref := pick(r, p.regular).ID
	switch pr.role {
	case victimRow, lookalikeRow:
		return p.byID(pr.id), ref
	case mentionRow:
		return busyClient(r, active), pr.id
	}
	return busyClient(r, active), ref
}

// busyClient favours the first active clients, so that some installations
// produce many more rows than others.
func busyClient(r *rand.Rand, active []exportgen.Client) exportgen.Client {
	u := r.Float64()
	return active[int(u*u*float64(len(active)))]
}

// timestamps returns n sorted second-resolution times within the days
// first..last.
func timestamps(r *rand.Rand, first, last time.Time, n int) []time.Time {
	span := int(last.Sub(first)/time.Second) + 24*60*60
	stamps := make([]time.Time, n)
	for i := range stamps {
		stamps[i] = first.Add(time.Duration(r.IntN(span)) * time.Second)
	}
	slices.SortFunc(stamps, time.Time.Compare)
	return stamps
}
