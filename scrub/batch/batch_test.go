package batch_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/local"
)

func keys(t *testing.T) (ed25519.PrivateKey, *audit.IDKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idKey, err := audit.ParseIDKey(audit.NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return key, idKey
}

func listed(list ...string) batch.IDs {
	return batch.IDs{N: len(list), Each: func(k *audit.IDKey, fn func(id, tag string)) {
		for _, id := range list {
			fn(id, k.Tag([]byte(id)))
		}
	}}
}

// TestLifecycle: a batch interrupted before it was sealed is taken up by
// the next Begin of the same request (and only of the same request), which
// skips its finished archives; Seal then seals one chain that verifies,
// with the totals of both attempts.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	loc := local.Dir(t.TempDir())
	key, idKey := keys(t)
	req := func() *batch.Request {
		return &batch.Request{Command: batch.Erase, Sources: []string{"data"}, Verify: "size", Level: 1}
	}
	var stderr bytes.Buffer
	cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: "test", Stderr: &stderr}

	// The first run finishes one archive of two, then dies.
	b, err := batch.Begin(ctx, req(), listed("A1", "B2"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var opt scrub.Options
	b.Erase(&opt)
	if err := opt.Listed([]string{"data/a.csv", "data/b.csv"}); err != nil {
		t.Fatal(err)
	}
	after := int64(5)
	if err := opt.Record(scrub.Result{Key: "data/a.csv", Status: scrub.Erased, RowsScanned: 10, RowsRemoved: 2, BytesBefore: 9, BytesAfter: &after}); err != nil {
		t.Fatal(err)
	}
	if err := opt.Journal(scrub.Step{Key: "data/b.csv", State: scrub.StepRead, Size: 7, Staged: "data/.b.csv.scrub-1.tmp"}); err != nil {
		t.Fatal(err)
	}
	first := b.Name()
	batch.Abandon(b) // killed here

	// Another request's run starts a batch of its own and names the
	// unfinished one.
	other := req()
	other.Sources = []string{"elsewhere"}
	ob, err := batch.Begin(ctx, other, listed("A1", "B2"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ob.Name() == first || !strings.Contains(stderr.String(), first+" in") {
		t.Errorf("another request took up %s (%s); stderr %q", first, ob.Name(), stderr.String())
	}
	if _, err := ob.Seal(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// The same request resumes it: a is done, b was midway.
	b, err = batch.Begin(ctx, req(), listed("B2", "A1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != first {
		t.Fatalf("resumed %s, want %s", b.Name(), first)
	}
	opt = scrub.Options{}
	b.Erase(&opt)
	if !opt.Done["data/a.csv"] || opt.Done["data/b.csv"] || opt.Midway["data/b.csv"] != "data/.b.csv.scrub-1.tmp" || opt.ResumeSince.IsZero() {
		t.Errorf("resume: done %v, midway %v, since %v", opt.Done, opt.Midway, opt.ResumeSince)
	}
	if err := opt.Record(scrub.Result{Key: "data/b.csv", Status: scrub.Failed, Error: "bad"}); err != nil {
		t.Fatal(err)
	}
	tot := b.Totals()
	if tot.Archives != 2 || tot.Erased != 1 || tot.Failed != 1 || tot.RowsRemoved != 2 {
		t.Errorf("totals %+v", tot)
	}
	sealed, err := b.Seal(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, loc, &audit.Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, []string{sealed.Head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 2 || rep.Valid != 2 {
		t.Fatalf("verify: %d of %d valid", rep.Valid, rep.Total)
	}
	for _, bt := range rep.Batches {
		if bt.Batch == first && (bt.Manifest == nil || bt.Manifest.Result != audit.ResultPartial || bt.Manifest.Totals.Archives != 2) {
			t.Errorf("%s: manifest %+v, want partial over 2 archives", first, bt.Manifest)
		}
	}
	if err := b.Totals().Err(); err == nil {
		t.Error("a batch with a failed archive reports no error")
	}
}

// TestExportRestarts: an export is never resumed: its unfinished batch is
// sealed as failed and a new one begins.
func TestExportRestarts(t *testing.T) {
	ctx := context.Background()
	loc := local.Dir(t.TempDir())
	key, idKey := keys(t)
	req := &batch.Request{Command: batch.Export, Sources: []string{"data"}, Out: "out"}
	cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: "test"}
	b, err := batch.Begin(ctx, req, listed("A1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := b.Name()
	batch.Abandon(b) // killed here
	b2, err := batch.Begin(ctx, req, listed("A1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b2.Name() == first {
		t.Fatal("an export was resumed")
	}
	if _, err := b2.Seal(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, loc, &audit.Trust{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, bt := range rep.Batches {
		if bt.Manifest != nil {
			results[bt.Batch] = bt.Manifest.Result
		}
	}
	if results[first] != audit.ResultFailed || results[b2.Name()] != audit.ResultComplete {
		t.Errorf("results %v: want %s failed, %s complete", results, first, b2.Name())
	}
}

// TestResultByArchives: every command that reads archives (erase, sweep,
// queue run) seals its batch partial when an archive failed, and failed
// when every archive did: never complete.
func TestResultByArchives(t *testing.T) {
	ctx := context.Background()
	key, idKey := keys(t)
	for _, command := range []string{batch.Erase, batch.Sweep, batch.QueueRun} {
		t.Run(command, func(t *testing.T) {
			loc := local.Dir(t.TempDir())
			cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: "test"}
			b, err := batch.Begin(ctx, &batch.Request{Command: command, Sources: []string{"data"}, Queue: "queue"}, listed("A1"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var opt scrub.Options
			b.Erase(&opt)
			after := int64(5)
			for _, r := range []scrub.Result{
				{Key: "data/a.csv", Status: scrub.Erased, RowsScanned: 10, RowsRemoved: 2, BytesBefore: 9, BytesAfter: &after},
				{Key: "data/b.csv", Status: scrub.Failed, Error: "bad"},
			} {
				if err := opt.Record(r); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Seal(ctx, nil); err != nil {
				t.Fatal(err)
			}
			rep, err := audit.Verify(ctx, loc, &audit.Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m := rep.Batches[0].Manifest; m == nil || m.Result != audit.ResultPartial {
				t.Errorf("a %s batch with a failed archive sealed %+v, want partial", command, m)
			}
		})
	}
}
