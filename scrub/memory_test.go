package scrub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
)

// TestTagsNotKept: each archive's ID tags go to the record as the archive
// finishes, and the summary does not keep them until the end (with many
// archives and matched IDs they were most of the memory).
func TestTagsNotKept(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		body := "Client ID,v\n"
		for j := range 20 {
			body += fmt.Sprintf("ID%03d,%d\n", j, i)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.csv", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	for j := range 20 {
		listed = append(listed, fmt.Sprintf("ID%03d", j))
	}
	var mu sync.Mutex
	recorded := 0
	opt := scrub.Options{
		Filter: &filter.Filter{IDs: ids.New(listed...)}, DryRun: true,
		Tag: func(id []byte) string { return "tag-" + string(id) },
		Record: func(r scrub.Result) error {
			mu.Lock()
			defer mu.Unlock()
			recorded += len(r.IDTags)
			return nil
		},
	}
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	if recorded != 20*20 {
		t.Errorf("the record got %d tags, want %d", recorded, 20*20)
	}
	for _, r := range sum.Archives {
		if r.Status != scrub.WouldErase || len(r.IDTags) != 0 {
			t.Errorf("%s: %s, %d tags kept in the summary", r.Key, r.Status, len(r.IDTags))
		}
	}
}
