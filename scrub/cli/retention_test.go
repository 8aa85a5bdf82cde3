package cli_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// event is what the retention and transform tests read of an audit log
// line.
type event struct {
	Type        string         `json:"type"`
	Key         string         `json:"key"`
	Status      string         `json:"status"`
	RowsRemoved int64          `json:"rows_removed"`
	RowsExpired int64          `json:"rows_expired"`
	Tags        []string       `json:"id_hmacs"` // of "ids" and "archive"
	Options     map[string]any `json:"options"`
	Totals      scrub.Totals   `json:"totals"`
}

// readBatchEvents reads the log of the one batch in dir.
func readBatchEvents(t *testing.T, dir string) []event {
	t.Helper()
	batches := scrubtest.Batches(t, dir)
	if len(batches) != 1 {
		t.Fatalf("%d batches in %s, want 1", len(batches), dir)
	}
	f, err := os.Open(filepath.Join(dir, batches[0]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// checkErased checks every archive of the test data in dir against the
// original with the rows drop chooses removed, and returns the total.
func checkErased(t *testing.T, dir string, drop scrubtest.Drop) int {
	t.Helper()
	total := 0
	err := filepath.WalkDir(scrubtest.ExportDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		before, _ := os.ReadFile(p)
		after, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		total += scrubtest.CheckArchiveFunc(t, rel, before, after, drop)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func TestRetentionErase(t *testing.T) {
	t.Parallel()
	cut := time.Date(2017, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		args []string
		drop scrubtest.Drop
	}{
		{"by age alone", []string{"--older-than", "2017-11-22T12:00:00Z"}, scrubtest.OlderThan(cut, nil)},
		{"by age, in another zone", []string{"--older-than", "2017-11-22T14:00:00+02:00", "--time-column", "timestamp"}, scrubtest.OlderThan(cut, nil)},
		{"by age or ID", []string{"--older-than", "2017-11-22 12:00:00", "--ids", scrubtest.IDsFile}, scrubtest.OlderThan(cut, scrubtest.Victim)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := scrubtest.NewAudit(t)
			dir := scrubtest.CopyExport(t)
			out := runPlain(t, nil, a.WithAudit(append([]string{"erase", "--json", "--no-progress", dir}, tt.args...))...)
			if out.err != nil {
				t.Fatalf("erase: %v\n%s", out.err, out.stderr)
			}
			sum := summary(t, out.stdout)
			removed := checkErased(t, dir, tt.drop)
			if int64(removed) != sum.Totals.RowsRemoved {
				t.Errorf("%d rows removed, the oracle says %d", sum.Totals.RowsRemoved, removed)
			}
			// Some days go wholly, some stay at least in part.
			var gone, stay int
			for _, r := range sum.Archives {
				switch {
				case r.RowsRemoved == r.RowsScanned:
					gone++
				case r.RowsRemoved < r.RowsScanned:
					stay++
				}
			}
			if gone == 0 || stay == 0 || sum.Totals.RowsExpired == 0 || sum.Totals.RowsExpired > sum.Totals.RowsRemoved {
				t.Errorf("%d archives emptied, %d kept rows, %d rows expired of %d removed: degenerate", gone, stay, sum.Totals.RowsExpired, sum.Totals.RowsRemoved)
			}
			if !strings.Contains(out.stderr, "scrub: rows whose ") || !strings.Contains(out.stderr, " is before 2017-11-22T12:00:00Z go (--older-than ") {
				t.Errorf("stderr does not name the cutoff:\n%s", out.stderr)
			}
			if !strings.Contains(out.stderr, fmt.Sprintf("scrub: %d of those rows were older than the cutoff", sum.Totals.RowsExpired)) {
				t.Errorf("stderr does not count the expired rows:\n%s", out.stderr)
			}
			// The log records the cutoff and, per archive, the rows gone
			// for their age; the batch verifies.
			var archives int64
			for _, e := range readBatchEvents(t, a.Dir) {
				switch e.Type {
				case "batch_start":
					if e.Options["cutoff"] != "2017-11-22T12:00:00Z" || e.Options["older_than"] != tt.args[1] {
						t.Errorf("options %v, want the cutoff and older_than %q", e.Options, tt.args[1])
					}
				case "archive":
					archives += e.RowsExpired
				case "batch_end":
					if e.Totals.RowsExpired != sum.Totals.RowsExpired {
						t.Errorf("batch_end totals %+v, summary %+v", e.Totals, sum.Totals)
					}
				}
			}
			if archives != sum.Totals.RowsExpired {
				t.Errorf("archive events count %d expired rows, the summary %d", archives, sum.Totals.RowsExpired)
			}
			if out := runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir); out.err != nil {
				t.Errorf("verify: %v\n%s", out.err, out.stdout)
			}
			// A second run finds nothing more to remove.
			before := scrubtest.Snapshot(t, dir)
			if out := runPlain(t, nil, a.WithAudit(append([]string{"erase", "--no-progress", dir}, tt.args...))...); out.err != nil {
				t.Fatalf("second run: %v\n%s", out.err, out.stderr)
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
		})
	}
}

// TestRetentionComposition checks that a row goes when its ID is listed
// OR it is old, and that rows_expired counts the old ones, listed or not.
func TestRetentionComposition(t *testing.T) {
	t.Parallel()
	cut := time.Date(2017, 11, 21, 0, 0, 0, 0, time.UTC)
	byID, byAge, both := scrubtest.CopyExport(t), scrubtest.CopyExport(t), scrubtest.CopyExport(t)
	totals := map[string]scrub.Totals{}
	for _, c := range []struct {
		dir  string
		args []string
		drop scrubtest.Drop
	}{
		{byID, []string{"--ids", scrubtest.IDsFile}, scrubtest.Victim},
		{byAge, []string{"--older-than", "2017-11-21"}, scrubtest.OlderThan(cut, nil)},
		{both, []string{"--ids", scrubtest.IDsFile, "--older-than", "2017-11-21"}, scrubtest.OlderThan(cut, scrubtest.Victim)},
	} {
		out := run(t, nil, append([]string{"erase", "--json", "--no-progress", c.dir}, c.args...)...)
		if out.err != nil {
			t.Fatalf("%q: %v\n%s", c.args, out.err, out.stderr)
		}
		sum := summary(t, out.stdout)
		if n := checkErased(t, c.dir, c.drop); int64(n) != sum.Totals.RowsRemoved {
			t.Errorf("%q: %d rows removed, the oracle says %d", c.args, sum.Totals.RowsRemoved, n)
		}
		totals[c.dir] = sum.Totals
	}
	id, age, all := totals[byID], totals[byAge], totals[both]
	switch {
	case id.RowsExpired != 0 || age.RowsExpired != age.RowsRemoved:
		t.Errorf("expired rows: by ID %+v, by age %+v", id, age)
	case all.RowsExpired != age.RowsRemoved:
		t.Errorf("by both: %d rows expired, want the %d old rows, listed or not", all.RowsExpired, age.RowsRemoved)
	case all.RowsRemoved <= age.RowsRemoved || all.RowsRemoved >= age.RowsRemoved+id.RowsRemoved:
		t.Errorf("by both: %d rows removed, want more than by age (%d) and fewer than by age plus by ID (%d): the union", all.RowsRemoved, age.RowsRemoved, id.RowsRemoved)
	}
}

// writeGzip writes a gzip archive of csv to dir/name.
func writeGzip(t *testing.T, dir, name, csv string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(csv))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRetentionBadTimestamp checks that a time that does not parse fails
// its archive, which is left as it was, with an error naming it and the
// line; with only such archives, nothing changes at all.
func TestRetentionBadTimestamp(t *testing.T) {
	t.Parallel()
	const csv = "Timestamp,Client ID,Edition\n" +
		"2017-11-01 10:00:00,AAAA,Pro\n" + // would go
		"\"2017-11-02 10:00:00\",BBBB,Pro\n" +
		"2017-11-31 10:00:00,CCCC,Pro\n" + // line 4: no such day
		"2017-11-03 10:00:00,DDDD,Pro\n"
	tests := []struct {
		name, csv, want string
	}{
		{"no such day", csv, "line 4, column 1: not a valid time"},
		{"empty", strings.Replace(csv, "2017-11-31 10:00:00", "", 1), "line 4, column 1: not a valid time (column \"Timestamp\": empty"},
		{"other layout", strings.Replace(csv, "2017-11-31 10:00:00", "11/30/2017 10:00", 1), "line 4, column 1: not a valid time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Alone: every archive stays as it was.
			alone := t.TempDir()
			writeGzip(t, alone, "bad.csv.gz", tt.csv)
			if err := os.WriteFile(filepath.Join(alone, "bad2.csv"), []byte(tt.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			before := scrubtest.Snapshot(t, alone)
			out := run(t, nil, "erase", "--older-than", "2017-11-10", "--no-progress", "--json", alone)
			if !errors.Is(out.err, scrub.ErrFailed) {
				t.Fatalf("err = %v, want every archive failed\n%s", out.err, out.stderr)
			}
			// (The directory itself held a staged rewrite for a while.)
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, alone), func(rel string) bool { return rel != "." })
			for _, name := range []string{"bad.csv.gz", "bad2.csv"} {
				if !strings.Contains(out.stderr, filepath.Join(alone, name)+": ") || !strings.Contains(out.stderr, tt.want) {
					t.Errorf("stderr does not name %s and %q:\n%s", name, tt.want, out.stderr)
				}
			}
			// Among good archives: the bad one stays, the rest are done.
			dir := scrubtest.CopyExport(t)
			orig := writeGzip(t, dir, "bad.csv.gz", tt.csv)
			out = run(t, nil, "erase", "--older-than", "2017-11-22T12:00:00Z", "--no-progress", "--json", dir)
			if !errors.Is(out.err, scrub.ErrPartial) {
				t.Fatalf("err = %v, want partial\n%s", out.err, out.stderr)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, "bad.csv.gz")); !bytes.Equal(now, orig) {
				t.Error("bad.csv.gz changed")
			}
			r := result(t, summary(t, out.stdout), "bad.csv.gz")
			if r.Status != scrub.Failed || !strings.Contains(r.Error, tt.want) || r.RowsRemoved != 0 || r.RowsExpired != 0 {
				t.Errorf("bad.csv.gz: %+v, want failed with %q", r, tt.want)
			}
			os.Remove(filepath.Join(dir, "bad.csv.gz"))
			checkErased(t, dir, scrubtest.OlderThan(time.Date(2017, 11, 22, 12, 0, 0, 0, time.UTC), nil))
		})
	}
}

// TestRetentionMissingColumn checks that archives without the time column
// fail, naming the column, and stay as they were.
func TestRetentionMissingColumn(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	out := run(t, nil, "erase", "--older-than", "30d", "--time-column", "Session End", "--ids", scrubtest.IDsFile, "--no-progress", dir)
	if !errors.Is(out.err, scrub.ErrFailed) || !strings.Contains(out.stderr, `no time column (looked for "Session End")`) {
		t.Fatalf("err = %v, want every archive failed naming the column\n%s", out.err, out.stderr)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
}

func TestRetentionUsage(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--older-than", "soon"}, "not a duration or a date"},
		{[]string{"--older-than", "0d"}, "not a positive duration"},
		{[]string{"--older-than", "-5h"}, "not a positive duration"},
		{[]string{"--older-than", "1.5d"}, "not a duration or a date"},
		{[]string{"--older-than", "99999999999999999999d"}, "not a whole number"},
		{[]string{"--older-than", "2017-11-31"}, "not a duration or a date"},
		{[]string{"--older-than", "2999-01-01"}, "is in the future"},
		{[]string{"--older-than", "365d", "--time-column", " "}, "--time-column needs a name"},
		{[]string{"--ids", scrubtest.IDsFile, "--time-column", "When"}, "--time-column goes with --older-than"},
		{[]string{"--time-column", "When"}, "--ids FILE is required (or --older-than AGE"},
	}
	for _, tt := range tests {
		out := run(t, nil, append([]string{"erase", "--no-progress", src}, tt.args...)...)
		if !isUsage(out.err) || !strings.Contains(out.err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error with %q", tt.args, out.err, tt.want)
		}
	}
	if _, err := os.ReadDir(src); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionRelative checks a cutoff back from now: resolved once, to
// the second, recorded as RFC 3339 and printed.
func TestRetentionRelative(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	dir := scrubtest.CopyExport(t)
	start := time.Now().UTC().Truncate(time.Second)
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--older-than", "2w", "--no-progress", "--json", dir})...)
	end := time.Now().UTC()
	if out.err != nil {
		t.Fatalf("erase: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.Totals.RowsRemoved != 4625 || sum.Totals.RowsExpired != 4625 {
		t.Errorf("totals %+v, want every row of 2017 gone", sum.Totals)
	}
	s, _ := readBatchEvents(t, a.Dir)[0].Options["cutoff"].(string)
	cut, err := time.Parse(time.RFC3339, s)
	if err != nil || cut.Before(start.Add(-14*24*time.Hour)) || cut.After(end.Add(-14*24*time.Hour)) || cut.Nanosecond() != 0 {
		t.Errorf("cutoff %q (%v), want two weeks before the run, to the second", s, err)
	}
	if !strings.Contains(out.stderr, "is before "+s+" go (--older-than 2w)") {
		t.Errorf("stderr does not print the cutoff %s:\n%s", s, out.stderr)
	}
}
