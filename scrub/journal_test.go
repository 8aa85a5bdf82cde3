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
