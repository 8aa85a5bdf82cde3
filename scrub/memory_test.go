package scrub_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
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
	for _, r := range scrubtest.Results(t, sum) {
		if r.Status != scrub.WouldErase || len(r.IDTags) != 0 {
			t.Errorf("%s: %s, %d tags kept in the summary", r.Key, r.Status, len(r.IDTags))
		}
	}
}

// TestSummaryBytesPerArchive: what a batch keeps of each archive until the
// end, with the summary that lists them all held, is a few bytes (where its
// result is in the summary's spool), not the result itself (issue on scale:
// memory flat in the number of archives). Measured as the growth of the live
// heap between a batch of n archives and one of 4n, so that what does not
// grow with the archives (buffers, pools) does not count. Keeping every
// archive's Result until the end cost 560 bytes an archive.
func TestSummaryBytesPerArchive(t *testing.T) {
	const n = 600
	small, large := retainedByRun(t, n), retainedByRun(t, 4*n)
	per := (large - small) / (3 * n)
	if per > 64 {
		t.Errorf("%d bytes kept per archive until the end (%d at %d archives, %d at %d), want at most 64", per, small, n, large, 4*n)
	}
	t.Logf("%d bytes kept per archive (%d at %d archives, %d at %d)", per, small, n, large, 4*n)
}

// retainedByRun erases n small archives (one in 20 with a listed row) and
// returns how much the live heap grew from before the run to after it,
// with the run's summary held.
func retainedByRun(t *testing.T, n int) int64 {
	dir := t.TempDir()
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
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, Jobs: 2,
		Tag: func(id []byte) string { return "tag-" + string(id) }, Record: func(scrub.Result) error { return nil }}
	before := liveHeap()
	sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	after := liveHeap()
	if sum.Totals.Archives != n || sum.Totals.Erased != (n+19)/20 {
		t.Fatalf("totals %+v", sum.Totals)
	}
	runtime.KeepAlive(sum)
	return after - before
}

// liveHeap returns the bytes of live heap objects, after a collection
// (two: what a sync.Pool held goes with the second).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestSmallArchiveAllocs: a batch of small .csv.gz archives allocates a
// few KiB per archive, not the 97 KiB it did when each got a fresh gzip
// reader (its 32 KiB window, cleared) and a 32 KiB copy buffer to hash a
// file's last bytes; and a rewrite of a small one a few dozen KiB more, not
// the 1.3 MB it did when each got a fresh gzip compressor (700 KiB at level
// 1), a 256 KiB buffer to its staged file and 64 KiB buffers to read it
// back and hash it. With thousands of small archives the collector's work
// was most of the run (issue on scale).
func TestSmallArchiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled readers")
	}
	const n = 400
	for _, tc := range []struct {
		name   string
		victim bool
		max    uint64
	}{
		{"scanned", false, 40 << 10},
		{"rewritten", true, 100 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warm, dir := smallGzips(t, n, tc.victim), smallGzips(t, n, tc.victim)
			run := func(dir string) {
				opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}, DryRun: !tc.victim, Jobs: 2, Record: func(scrub.Result) error { return nil }}
				sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
				if err != nil || sum.Totals.Unchanged+sum.Totals.Erased != n {
					t.Fatalf("%v; totals %+v", err, sum.Totals)
				}
				sum.Close()
			}
			run(warm) // the pools fill
			s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
			metrics.Read(s)
			before := s[0].Value.Uint64()
			run(dir)
			metrics.Read(s)
			per := (s[0].Value.Uint64() - before) / n
			if per > tc.max {
				t.Errorf("%d bytes allocated per small archive %s, want at most %d", per, tc.name, tc.max)
			}
			t.Logf("%d bytes allocated per small archive %s", per, tc.name)
		})
	}
}

// smallGzips writes n small .csv.gz archives, each with a row of VICTIM
// if victim, to a new directory.
func smallGzips(t *testing.T, n int, victim bool) string {
	dir := t.TempDir()
	for i := range n {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		fmt.Fprintf(zw, "Timestamp,Client ID,v\n")
		for r := range 20 {
			id := fmt.Sprintf("C%06d", i*20+r)
			if victim && r == 7 {
				id = "VICTIM"
			}
			fmt.Fprintf(zw, "2017-11-24T00:00:%02dZ,%s,%d\n", r, id, r)
		}
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("e%04d.csv.gz", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
