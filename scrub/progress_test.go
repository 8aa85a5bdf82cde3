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

// recorder is a Progress that keeps what it was told.
type recorder struct {
	mu        sync.Mutex
	found     []int
	archives  int
	total     int64
	read      int64
	readCalls int
	// readBefore is what was read when each archive was Done.
	readBefore []int64
	started    bool
	afterStart bool // Listing after Start
}

func (r *recorder) Listing(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.found = append(r.found, n)
	r.afterStart = r.afterStart || r.started
}

func (r *recorder) Start(n int, b int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started, r.archives, r.total = true, n, b
}

func (r *recorder) Read(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= 0 {
		panic(fmt.Sprintf("Read(%d)", n))
	}
	r.read += n
	r.readCalls++
}

func (r *recorder) Done(scrub.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readBefore = append(r.readBefore, r.read)
}

// TestProgressByBytes: the listing tells how many archives it found as it
// goes; the bytes read move the progress within an archive, and add up to
// the archives' size, whatever became of each (read, failed, not a table).
func TestProgressByBytes(t *testing.T) {
	dir := t.TempDir()
	var big strings.Builder
	big.WriteString("Timestamp,Client ID\n")
	for i := 0; big.Len() < 3<<20; i++ {
		fmt.Fprintf(&big, "2017-11-24T00:00:00Z,KEEP%07d\n", i)
	}
	files := map[string]string{"big.csv": big.String(), "bad.csv": "Timestamp,Client ID\n\"open,\n", "notes.txt": "just prose\n"}
	for i := range 600 {
		files[fmt.Sprintf("d/%03d.csv", i)] = "Timestamp,Client ID\n2017-11-24,VICTIM\n"
	}
	var size int64
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		size += int64(len(body))
	}
	rec := &recorder{}
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, DryRun: true, Jobs: 1, Progress: rec}
	if _, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}}); err != nil {
		t.Fatal(err)
	}
	n := len(files)
	if len(rec.found) < 2 || rec.found[len(rec.found)-1] != n || rec.afterStart {
		t.Errorf("Listing told %v (after Start: %v), want counts growing to %d before Start", rec.found, rec.afterStart, n)
	}
	if rec.archives != n || rec.total != size || rec.read != size {
		t.Errorf("Start(%d, %d), %d bytes read; want %d archives, %d bytes, all read", rec.archives, rec.total, rec.read, n, size)
	}
	if rec.readCalls < n+5 {
		t.Errorf("%d Read calls for %d archives: the bar does not move within the big one", rec.readCalls, n)
	}
	if len(rec.readBefore) != n {
		t.Errorf("%d Done, want %d", len(rec.readBefore), n)
	}
}
