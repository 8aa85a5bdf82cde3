package blocklist_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/local"
)

// logBatch seals one batch of command with the given ids tags and own
// events.
func logBatch(t *testing.T, loc audit.Location, key ed25519.PrivateKey, k *audit.IDKey, command string, dryRun bool, result string, tags []string, events map[string]any) string {
	t.Helper()
	sign := key
	if dryRun {
		sign = nil
	}
	w, err := audit.Begin(loc, "", sign, audit.Start{Command: command, DryRun: dryRun, IDKey: k.ID(), Sources: []string{"data"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.IDs(tags); err != nil {
		t.Fatal(err)
	}
	for typ, data := range events {
		if err := w.Event(typ, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(context.Background(), result, nil); err != nil {
		t.Fatal(err)
	}
	return w.Name()
}

// TestCoverage: a sweep reads only the archives written since the batches
// of its scope had them clean of every tag: a complete sweep of the tags
// (as of its watermark) or a complete erase --block that added them (as of
// its blocklist_add event). Dry runs, partial batches, other scopes and
// other ID keys do not count.
func TestCoverage(t *testing.T) {
	ctx := context.Background()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	ab, c := tags(k, "A1", "B2"), tags(k, "C3")
	all := append(append([]string{}, ab...), c...)
	loc := local.Dir(t.TempDir())

	cov, err := blocklist.Coverage(ctx, loc, k.ID(), "S", all)
	if err != nil || cov.Uncovered != 3 || cov.Batch != "" {
		t.Fatalf("empty location: %+v, %v", cov, err)
	}

	wm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sweep := func(scope string) map[string]any {
		return map[string]any{audit.EventSweep: audit.Sweep{Scope: scope, Watermark: wm.Format(audit.EventTime), Mode: "full"}}
	}
	swept := logBatch(t, loc, key, k, "sweep", false, audit.ResultComplete, ab, sweep("S"))
	logBatch(t, loc, key, k, "sweep", true, audit.ResultComplete, c, sweep("S"))      // a dry run
	logBatch(t, loc, key, k, "sweep", false, audit.ResultPartial, c, sweep("S"))      // not complete
	logBatch(t, loc, key, k, "sweep", false, audit.ResultComplete, c, sweep("other")) // another scope
	cov, err = blocklist.Coverage(ctx, loc, k.ID(), "S", all)
	if err != nil || cov.Uncovered != 1 || cov.Batch != swept || !cov.Since.Equal(wm) {
		t.Fatalf("after the sweep: %+v, %v (want %s since %v, 1 uncovered)", cov, err, swept, wm)
	}
	if cov, err := blocklist.Coverage(ctx, loc, "other key", "S", ab); err != nil || cov.Uncovered != 2 {
		t.Errorf("another ID key: %+v, %v", cov, err)
	}

	// An erase --block of C3 covers it from its blocklist_add event,
	// which is later than the sweep's watermark: since stays the oldest.
	added := logBatch(t, loc, key, k, "erase", false, audit.ResultComplete, c,
		map[string]any{audit.EventBlocklistAdd: audit.BlocklistChange{Tags: c, Scope: "S"}})
	cov, err = blocklist.Coverage(ctx, loc, k.ID(), "S", all)
	if err != nil || cov.Uncovered != 0 || cov.Batch != swept || !cov.Since.Equal(wm) {
		t.Fatalf("after the erase --block %s: %+v, %v", added, cov, err)
	}
	cov, err = blocklist.Coverage(ctx, loc, k.ID(), "S", c)
	if err != nil || cov.Uncovered != 0 || cov.Batch != added || !cov.Since.After(wm) {
		t.Fatalf("C3 alone: %+v, %v (want %s)", cov, err, added)
	}
}
