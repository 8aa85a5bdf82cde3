package scrub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// TestSummaryBytesPerArchive: what a batch keeps of each archive until the
// end is its result, a few hundred bytes (issue on scale: memory flat in the
// number of archives but for the summary line). A result that pointed into
// the closure's copy of itself kept both (850 bytes an archive).
func TestSummaryBytesPerArchive(t *testing.T) {
	dir := t.TempDir()
	const n = 4000
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i/100))
		os.MkdirAll(sub, 0o755)
		body := "Timestamp,Client ID,v\n2017-11-24,KEEP,1\n"
		if i%20 == 0 {
			body += "2017-11-24,VICTIM,2\n"
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("export-2017-11-24-%05d.csv", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, DryRun: true,
		Tag: func(id []byte) string { return "tag-" + string(id) }, Record: func(scrub.Result) error { return nil }}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	if per > 700 {
		t.Errorf("%d bytes kept per archive until the end, want at most 700", per)
	}
	t.Logf("%d bytes kept per archive (%d archives)", per, len(sum.Archives))
	runtime.KeepAlive(sum)
}
