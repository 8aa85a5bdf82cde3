package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestJSONStreamed: --json streams the results from the summary's spool
// and writes, byte for byte, what json.Encoder writes of the whole summary
// held in memory (as --json was written before the spool): erased,
// unchanged and not-scanned archives, a name that is not UTF-8 and one
// that JSON escapes, with and without ids_unmatched and the audit bundle,
// and a batch without archives.
func TestJSONStreamed(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	victim := "Timestamp,Client ID\n2017-11-24,KEEP\n2017-11-24," + scrubtest.Victims[0] + "\n"
	for name, body := range map[string]string{
		"odd-\xff-<&>\u2028.csv": victim,
		"notes.txt":              "no table here\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("notes.txt", filepath.Join(dir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	if sum.Totals.Erased == 0 || sum.Totals.Unchanged == 0 || sum.Totals.NotScanned == 0 {
		t.Fatalf("totals %+v: want erased, unchanged and not-scanned archives", sum.Totals)
	}
	unmatched := 3
	sealed := &audit.Sealed{Batch: "batch-x", Location: "/audit", Head: "abc", Files: []string{"a", "b"}}
	for _, tc := range []struct {
		name      string
		sum       *scrub.Summary
		unmatched *int
		sealed    *audit.Sealed
		datasets  []datasetNote
		queue     *queueOutcome
	}{
		{"archives", sum, nil, sealed, nil, nil},
		{"unmatched, no bundle", sum, &unmatched, nil, nil, nil},
		{"none", &scrub.Summary{DryRun: true}, nil, sealed, nil, nil},
		{"datasets and queue", sum, nil, sealed,
			[]datasetNote{{Name: "events", Location: "/x", Read: true, Types: []string{"client_id"}}, {Name: "licences", Location: "/y", Reason: "holds none of the requested types"}},
			&queueOutcome{Queue: "/q", Done: []string{"T-1"}, Change: "queue-1.json", Pending: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.sum.IDsUnmatched = tc.unmatched
			var got, want bytes.Buffer
			if err := writeJSON(&got, summaryJSON{Datasets: tc.datasets, Audit: tc.sealed, Queue: tc.queue}, tc.sum); err != nil {
				t.Fatal(err)
			}
			full, err := tc.sum.Full()
			if err != nil {
				t.Fatal(err)
			}
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(summaryJSON{FullSummary: *full, Datasets: tc.datasets, Audit: tc.sealed, Queue: tc.queue}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("streamed:\n%s\nwhole:\n%s", got.Bytes(), want.Bytes())
			}
		})
	}
}

// TestSummaryUnreadable: a summary whose spool cannot be read back is an
// error that says the bundle records every archive, after the totals and
// where the bundle went; --json writes nothing rather than a part.
func TestSummaryUnreadable(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, DryRun: true}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	sum.Close() // as a spool whose disk failed
	var stdout, stderr bytes.Buffer
	o := &eraseOptions{json: true}
	sealed := &audit.Sealed{Batch: "batch-x", Head: "abc"}
	err = o.report(Env{Stdout: &stdout, Stderr: &stderr}, sum, nil, sealed, local.Dir(dir), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "the audit bundle records every archive") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(stderr.String(), "archives:") || !strings.Contains(stderr.String(), "audit bundle batch-x") {
		t.Errorf("stderr lacks the totals or the bundle:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("--json wrote %q", stdout.String())
	}
}
