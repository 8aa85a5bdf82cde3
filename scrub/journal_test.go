package scrub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
)

// TestStepsSynced: of an archive's steps in a local directory, only the
// written step, which the replacement waits on, is synced on its own; the
// read step (the directory's staged files are found without the journal)
// and the verified step (nothing destructive follows it) are deferred to
// the next sync. Two fsyncs of the journal fewer per archive erased.
func TestStepsSynced(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		body := "Timestamp,Client ID\n2017-11-24,KEEP\n2017-11-24,VICTIM\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.csv", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	steps := map[string][]string{}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, Journal: func(s scrub.Step) error {
		mu.Lock()
		defer mu.Unlock()
		steps[filepath.Base(s.Key)] = append(steps[filepath.Base(s.Key)], fmt.Sprintf("%s deferred=%v", s.State, s.Deferred))
		return nil
	}}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil || sum.Totals.Erased != 3 {
		t.Fatalf("%v, totals %+v", err, sum.Totals)
	}
	want := "read deferred=true, written deferred=false, verified deferred=true"
	for i := range 3 {
		if got := strings.Join(steps[fmt.Sprintf("%d.csv", i)], ", "); got != want {
			t.Errorf("%d.csv: %s, want %s", i, got, want)
		}
	}
}

// TestEraseJobs: an erasure of local sources has, by default, four archives
// in flight per CPU (one per CPU scanned or rewritten, the others waiting
// on the disk's syncs); one with an S3 source, DefaultRemoteJobs.
func TestEraseJobs(t *testing.T) {
	dir := t.TempDir()
	locals := []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}}
	if got, want := scrub.EraseJobs(locals), scrub.LocalJobsPerCPU*runtime.NumCPU(); got != want || want < 2*runtime.NumCPU() {
		t.Errorf("%d jobs by default for a local source, want %d", got, want)
	}
	remote := append(locals, scrub.Source{Name: "s3://b", Store: remoteStore{}})
	if got := scrub.EraseJobs(remote); got != scrub.DefaultRemoteJobs {
		t.Errorf("%d jobs by default with an S3 source, want %d", got, scrub.DefaultRemoteJobs)
	}
}

// remoteStore is a Store that says it is Remote, and holds nothing.
type remoteStore struct{}

func (remoteStore) List(context.Context, func(scrub.Object) error) error { return nil }
func (remoteStore) Open(context.Context, scrub.Object, func(scrub.Content) error) error {
	return nil
}
func (remoteStore) Remote() bool { return true }

// TestSpoolFailsRecordedOnce: a result the spool cannot take is on the
// record already; the batch stops, and the archives it stopped before are
// recorded skipped, but never one recorded before (a second, skipped
// event for it would be the one the log keeps, and the totals would count
// it twice).
func TestSpoolFailsRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 {
		body := "Timestamp,Client ID\n2017-11-24,KEEP\n2017-11-24,VICTIM\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.csv", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	recorded := map[string][]scrub.Status{}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, Jobs: 1, Record: func(r scrub.Result) error {
		mu.Lock()
		defer mu.Unlock()
		recorded[filepath.Base(r.Key)] = append(recorded[filepath.Base(r.Key)], r.Status)
		return nil
	}}
	scrub.FailSpool(&opt)
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v, want the spool's", err)
	}
	if len(recorded) != 6 {
		t.Errorf("%d archives on record, want 6: %v", len(recorded), recorded)
	}
	processed := 0
	for key, sts := range recorded {
		if len(sts) != 1 {
			t.Errorf("%s recorded %d times: %v", key, len(sts), sts)
		}
		if sts[0] != scrub.Skipped {
			processed++
		}
	}
	if processed == 0 {
		t.Error("no archive was processed before the spool failed")
	}
	if sum != nil && sum.Totals.Archives != 6 {
		t.Errorf("totals count %d archives, want 6", sum.Totals.Archives)
	}
}
