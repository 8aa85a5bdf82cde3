package scrub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
