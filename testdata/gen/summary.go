package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// fileStats counts the rows of one export file by role.
type fileStats struct {
	path          string
	rows          int
	victimRows    []int // per entry of victimIDs
	quotedVictims int   // victim rows whose Client ID is quoted
	quotedIDs     int   // all rows whose Client ID is quoted
	lookalikes    int
	mentions      int
	note          string
}

// totalVictims is the number of rows an erasure must remove.
func (s fileStats) totalVictims() int {
	n := 0
	for _, v := range s.victimRows {
		n += v
	}
	return n
}

func newStats(spec exportSpec, t table) fileStats {
	st := fileStats{path: spec.path, rows: len(t.records), victimRows: make([]int, len(victimIDs)), note: spec.note}
	for i, pr := range t.plan {
		quoted := t.records[i].quotedID
		if quoted {
			st.quotedIDs++
		}
		switch pr.role {
		case victimRow:
			st.victimRows[slices.Index(victimIDs, pr.id)]++
			if quoted {
				st.quotedVictims++
			}
		case lookalikeRow:
			st.lookalikes++
		case mentionRow:
			st.mentions++
		}
	}
	if spec.container == multiGzipContainer {
		st.note += fmt.Sprintf("; member 1: header + %d rows (%d victim), member 2: %d rows (%d victim)",
			spec.splitAfter, countVictims(t.plan[:spec.splitAfter]),
			len(t.plan)-spec.splitAfter, countVictims(t.plan[spec.splitAfter:]))
	}
	return st
}

func countVictims(plan []plannedRow) int {
	n := 0
	for _, pr := range plan {
		if pr.role == victimRow {
			n++
		}
	}
	return n
}

// printSummary writes one line per generated file.
func printSummary(w io.Writer, files []outputFile, stats []fileStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file\tbytes\trows\tvictim rows\tper victim\tquoted victim IDs\tquoted IDs\tlook-alike rows\tmention rows\tnotes\n")
	for _, f := range files {
		i := slices.IndexFunc(stats, func(s fileStats) bool { return s.path == f.path })
		if i < 0 {
			fmt.Fprintf(tw, "%s\t%d\t\t\t\t\t\t\t\t\n", f.path, len(f.data))
			continue
		}
		s := stats[i]
		per := strings.Trim(fmt.Sprint(s.victimRows), "[]")
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", f.path, len(f.data), s.rows,
			s.totalVictims(), per, s.quotedVictims, s.quotedIDs, s.lookalikes, s.mentions, s.note)
	}
	tw.Flush()
}
