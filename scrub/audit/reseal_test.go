package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/local"
)

// TestResumeEndedLeavesLog: a seal interrupted after the log was linked to
// the journal (one file, two names) is taken up without writing to that
// file: the sealed log's bytes and time stay as they were, and the batch
// seals and verifies.
func TestResumeEndedLeavesLog(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st := Start{Command: "erase", Sources: []string{"exports"}, IDs: 1}
	w, err := Begin(local.Dir(dir), dir, key, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Archive(Archive{Key: "exports/a.csv", Status: StatusUnchanged, RowsScanned: 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.write("batch_end", &endEvent{Result: ResultComplete, Totals: w.Totals()}); err != nil {
		t.Fatal(err)
	}
	// The seal got as far as the log's name.
	logName := filepath.Join(dir, w.name+logSuffix)
	if err := os.Link(w.path, logName); err != nil {
		t.Fatal(err)
	}
	w.spool.Close()
	before, err := os.ReadFile(logName)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(logName, past, past); err != nil {
		t.Fatal(err)
	}

	js, err := Journals(context.Background(), local.Dir(dir))
	if err != nil || len(js) != 1 || !js[0].Ended {
		t.Fatalf("journals %v (%v), want the one ended batch", js, err)
	}
	w2, err := Resume(local.Dir(dir), dir, key, js[0], st)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(logName)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(past) {
		t.Errorf("the sealed log was written to on resume (modified %v, was %v)", fi.ModTime(), past)
	}
	if _, err := w2.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(logName)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the sealed log changed (%v)", err)
	}
	rep, err := Verify(context.Background(), local.Dir(dir), nil, nil)
	if err != nil || rep.Total != 1 || rep.Valid != 1 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
