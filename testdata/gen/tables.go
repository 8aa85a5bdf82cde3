package main

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// kind tells which of the two export tables a file holds.
type kind int

const (
	customEvents kind = iota
	exceptionReports
)

func (k kind) String() string {
	if k == customEvents {
		return "cust"
	}
	return "exc"
}

var (
	custHeader = []string{"Timestamp", "Client ID", "Edition", "Version", "Build", "Language",
		"License Type", "OS Type", "OS Architecture", "CPU Type", "CPU Cores", "RAM",
		"Screen Resolution", "Event Category", "Event Name", "Custom Values"}
	excHeader = []string{"Timestamp", "Client ID", "Edition", "Version", "Build", "Language",
		"OS Type", "Exception Type", "Message", "Stack Trace"}
)

func (k kind) header() []string {
	if k == customEvents {
		return custHeader
	}
	return excHeader
}

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
	kind      kind
	first     time.Time // first day covered
	last      time.Time // last day covered
	rows      int
	active    int     // how many regular clients are active in the period
	quoteRate float64 // share of regular rows whose Client ID is quoted (trap 4)
	specials  []special
	plainLast bool // the last row must be a regular row
}

// field is one CSV field; quoted forces quoting.
type field struct {
	value  string
	quoted bool
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
	records [][]field
	plan    []plannedRow
}

// buildTable draws the rows of spec from the pool.
func buildTable(r *rand.Rand, p *pool, spec tableSpec) table {
	plan := planRows(r, spec)
	active := activeClients(r, p, spec.active)
	stamps := timestamps(r, spec.first, spec.last, spec.rows)
	t := table{header: spec.kind.header(), plan: plan}
	for i, pr := range plan {
		c, ref := rowClient(r, p, active, pr)
		quoted := pr.quoted || (pr.role == regularRow && r.Float64() < spec.quoteRate)
		var rec []field
		if spec.kind == customEvents {
			rec = custRecord(r, stamps[i], c, pr.role == mentionRow, ref)
		} else {
			rec = excRecord(r, stamps[i], c, pr.role == mentionRow, ref)
		}
		rec[1].quoted = quoted
		t.records = append(t.records, rec)
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
func activeClients(r *rand.Rand, p *pool, n int) []client {
	idx := r.Perm(len(p.regular))[:n]
	slices.Sort(idx)
	active := make([]client, n)
	for i, j := range idx {
		active[i] = p.regular[j]
	}
	return active
}

// rowClient returns the client of a row and the installation ID the row may
// refer to in another column.
func rowClient(r *rand.Rand, p *pool, active []client, pr plannedRow) (client, string) {
	ref := pick(r, p.regular).id
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
func busyClient(r *rand.Rand, active []client) client {
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

const timeLayout = "2006-01-02 15:04:05"

// custRecord renders one custom-event row.
func custRecord(r *rand.Rand, ts time.Time, c client, isMention bool, ref string) []field {
	ev := inviteAccepted
	if !isMention {
		ev = events[weighted(r, len(events), func(i int) int { return events[i].weight })]
	}
	return fields(ts.Format(timeLayout), c.id, c.edition, c.release.version, c.release.build,
		c.language, c.license, c.os.name, c.os.arch, c.cpu.name, strconv.Itoa(c.cpu.cores),
		strconv.Itoa(c.ram), c.screen, ev.category, ev.name, ev.values(r, ref))
}

// excRecord renders one exception row.
func excRecord(r *rand.Rand, ts time.Time, c client, isMention bool, ref string) []field {
	ex := syncConflict
	if !isMention {
		ex = exceptions[weighted(r, len(exceptions), func(i int) int { return exceptions[i].weight })]
	}
	return fields(ts.Format(timeLayout), c.id, c.edition, c.release.version, c.release.build,
		c.language, c.os.name, ex.typ, ex.message(r, ref), stackTrace(r, ex.frames))
}

func fields(values ...string) []field {
	f := make([]field, len(values))
	for i, v := range values {
		f[i] = field{value: v}
	}
	return f
}
