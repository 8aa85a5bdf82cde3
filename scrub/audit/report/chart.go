package report

import (
	"fmt"
	"time"
)

// Chart is the timeline as an inline SVG bar chart: one row per batch,
// oldest first, with the rows it removed and the archives it erased, each
// bar scaled to the largest of its column.
type Chart struct {
	Width, Height int
	RowsX, ArchX  int // where each column's bars begin
	Bars          []Bar
}

// Bar is one batch's row of the chart. A batch that is not valid has no
// figures (nothing in it can be trusted), only its status in Note.
type Bar struct {
	N        int
	Name     string
	Y, TextY int
	// Where each column's bar and figure go.
	RowsX, RowsTextX, ArchX, ArchTextX int
	Label                              string
	Class                              string // valid, invalid, unsigned
	Note                               string
	Rows                               int64
	RowsW                              int
	Archives                           int
	ArchW                              int
	ArchivesWhat                       string // erased, or would erase in a dry run
}

const (
	chartLabelW = 340
	chartBarW   = 260
	chartRowH   = 26
	chartTop    = 34
)

func chart(batches []*Batch) Chart {
	c := Chart{RowsX: chartLabelW + 10, ArchX: chartLabelW + chartBarW + 110}
	c.Width = c.ArchX + chartBarW + 150
	c.Height = chartTop + chartRowH*len(batches) + 6
	var maxRows int64
	maxArch := 0
	for _, b := range batches {
		if b.Valid && b.Totals != nil {
			maxRows = max(maxRows, b.Totals.RowsRemoved)
			maxArch = max(maxArch, archives(b))
		}
	}
	for i, b := range batches {
		y := chartTop + i*chartRowH
		bar := Bar{N: b.N, Name: b.Name, Y: y, TextY: y + 14, RowsX: c.RowsX, ArchX: c.ArchX, Label: fmt.Sprintf("#%d %s", b.N, when(b))}
		if b.Command != "" {
			bar.Label += " " + b.Command
		}
		switch {
		case b.Valid && b.Totals != nil:
			bar.Class = "valid"
			bar.Rows, bar.Archives = b.Totals.RowsRemoved, archives(b)
			bar.RowsW = scale(bar.Rows, maxRows)
			bar.ArchW = scale(int64(bar.Archives), int64(maxArch))
			bar.RowsTextX, bar.ArchTextX = c.RowsX+bar.RowsW+6, c.ArchX+bar.ArchW+6
			bar.ArchivesWhat = "erased"
			if b.Totals.WouldErase > 0 && b.Totals.Erased == 0 {
				bar.ArchivesWhat = "would erase"
			}
		case b.Unsigned:
			bar.Class, bar.Note = "unsigned", b.Status
		default:
			bar.Class, bar.Note = "invalid", b.Status
		}
		c.Bars = append(c.Bars, bar)
	}
	return c
}

// archives is what a batch's bar of archives counts: erased, or in a dry
// run, would be.
func archives(b *Batch) int {
	if b.Totals.Erased == 0 {
		return b.Totals.WouldErase
	}
	return b.Totals.Erased
}

func scale(v, top int64) int {
	if v <= 0 || top <= 0 {
		return 0
	}
	return max(1, int(v*chartBarW/top))
}

// when is the batch's start, from its manifest or its name.
func when(b *Batch) string {
	for _, s := range []string{b.Started, b.Name} {
		if len(s) >= 26 && s[:6] == "batch-" {
			s = s[6:26]
		}
		for _, layout := range []string{"2006-01-02T15:04:05.000Z", "20060102T150405.000Z"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format("2006-01-02 15:04:05Z")
			}
		}
	}
	return "time unknown"
}
