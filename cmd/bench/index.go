package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/local"
)

// The index rows (bench index, make bench): what the keyed index (issue
// 21) saves and costs, with the engine and the index in this process, on
// the local store:
//
//   - many small .csv.gz archives, one request of 10 IDs present in 50 of
//     them: wall time and bytes read (rchar of /proc/self/io, every read
//     of the process: archives, listing, index shards) of an erasure by
//     full reads and of one with the index; rows erased compared;
//   - the cost of building the index during a full erasure: the same
//     erasure without and with --index, on two copies of the estate;
//   - the index's size on disk per distinct ID of each archive;
//   - the time and heap to load the index of 100k archives.

func indexMain(args []string) error {
	fl := flag.NewFlagSet("index", flag.ContinueOnError)
	dir := fl.String("dir", "build/bench/index", "scratch `DIR`")
	n := fl.Int("archives", 20000, "small archives in the estate")
	load := fl.Int("load", 100000, "archives in the index whose load is timed")
	rows := fl.Int("rows", 200, "rows of each small archive (and distinct IDs of each entry of the loaded index)")
	report := fl.String("report", "cmd/bench/RESULTS.md", "rewrite the index section of `FILE` (between its markers; appended if it has none)")
	runs := fl.Int("runs", 2, "runs of each timed erasure; the fastest is reported")
	prof := fl.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	ctx := context.Background()
	key := index.NewKey(bytes.Repeat([]byte{0x5a}, 32))
	var table []scaleRow

	// The build cost: the same full erasure (request 1) on two copies,
	// without and with the index; the fastest of runs, each on fresh
	// copies.
	var plain, build, plainCPU, buildCPU time.Duration
	var built string
	for r := range *runs {
		a, b := filepath.Join(*dir, fmt.Sprintf("a%d", r)), filepath.Join(*dir, fmt.Sprintf("b%d", r))
		for _, d := range []string{a, b} {
			if err := genIndexEstate(d, *n, *rows); err != nil {
				return err
			}
		}
		t0, _, sum0, err := timedErase(ctx, a, request(1), nil)
		if err != nil {
			return err
		}
		c0 := lastCPU
		ixDir := filepath.Join(*dir, fmt.Sprintf("index%d", r))
		t1, _, sum1, err := timedErase(ctx, b, request(1), &indexRun{files: local.Dir(ixDir), key: key, skip: false})
		if err != nil {
			return err
		}
		c1 := lastCPU
		if r == 0 || c0 < plainCPU {
			plainCPU = c0
		}
		if r == 0 || c1 < buildCPU {
			buildCPU = c1
		}
		if sum0.Totals.RowsRemoved != sum1.Totals.RowsRemoved {
			return fmt.Errorf("building the index changed the rows erased: %d, %d", sum0.Totals.RowsRemoved, sum1.Totals.RowsRemoved)
		}
		if r == 0 || t0 < plain {
			plain = t0
		}
		if r == 0 || t1 < build {
			build = t1
		}
		built = b
		if r < *runs-1 {
			os.RemoveAll(a)
		}
	}
	last := *runs - 1
	a, b := filepath.Join(*dir, fmt.Sprintf("a%d", last)), built
	ixFiles := local.Dir(filepath.Join(*dir, fmt.Sprintf("index%d", last)))
	table = append(table, scaleRow{
		Case: fmt.Sprintf("%d small .csv.gz (%d rows each), request of 10 IDs in 50 archives, local", *n, *rows), What: "erase, building the index (--index)",
		Wall: secs(build), Rate: secs(buildCPU) + " CPU",
		Against: fmt.Sprintf("the same erase without --index: %s, %s CPU; building costs %+.0f%% wall, %+.0f%% CPU", secs(plain), secs(plainCPU),
			100*(build.Seconds()/plain.Seconds()-1), 100*(buildCPU.Seconds()/plainCPU.Seconds()-1)),
		Goal: "≤ +15%",
	})

	// Request 2 (other IDs, in 50 other archives): full reads of copy a
	// against the index on copy b. Both copies hold the same bytes.
	tFull, readFull, sumFull, err := timedErase(ctx, a, request(2), nil)
	if err != nil {
		return err
	}
	cFull := lastCPU
	tIx, readIx, sumIx, err := timedErase(ctx, b, request(2), &indexRun{files: ixFiles, key: key, skip: true})
	if err != nil {
		return err
	}
	cIx := lastCPU
	same := sumFull.Totals.RowsRemoved == sumIx.Totals.RowsRemoved && sumFull.Totals.Erased == sumIx.Totals.Erased && sameTrees(a, b)
	table = append(table, scaleRow{
		Case: fmt.Sprintf("%d small .csv.gz (%d rows each), another request of 10 IDs in 50 archives, local", *n, *rows), What: "erase --index",
		Wall: secs(tIx), Rate: fmt.Sprintf("%s read, %s CPU", size(readIx), secs(cIx)),
		Against: fmt.Sprintf("full reads: %s, %s read, %s CPU; %.1f× faster (%.1f× less CPU), %.1f× fewer bytes; %d archives read, %d absent-by-index; rows erased %d and %d, archives after %s",
			secs(tFull), size(readFull), secs(cFull), tFull.Seconds()/tIx.Seconds(), cFull.Seconds()/cIx.Seconds(), float64(readFull)/float64(max(readIx, 1)),
			sumIx.Totals.Archives-sumIx.Totals.AbsentByIndex, sumIx.Totals.AbsentByIndex, sumFull.Totals.RowsRemoved, sumIx.Totals.RowsRemoved,
			map[bool]string{true: "byte for byte the same", false: "DIFFERENT"}[same]),
		Goal: "≥ 20× faster, ≥ 50× fewer bytes, same rows",
	})
	if !same {
		return fmt.Errorf("the index changed what was erased")
	}

	// Size on disk per distinct ID of each archive.
	ix, err := index.Open(ctx, ixFiles, key, "")
	if err != nil {
		return err
	}
	st := ix.Stats()
	disk := dirSize(string(ixFiles))
	table = append(table, scaleRow{
		Case: fmt.Sprintf("index of %d small archives (%d entries, %d distinct IDs summed over the archives)", *n, st.Entries, st.Values), What: "size on disk",
		Rate: fmt.Sprintf("%.2f bytes per ID", float64(disk)/float64(st.Values)), RSS: "–",
		Against: fmt.Sprintf("%s in %d shard files; filters alone %.2f bytes per ID", size(disk), index.Shards, float64(st.Bytes)/float64(st.Values)),
		Goal:    "≤ 2 bytes per distinct ID per archive",
	})

	// The load of an index of many archives, in a child process so that
	// its heap is its own.
	loadDir := filepath.Join(*dir, "load")
	if err := fillIndex(ctx, loadDir, key, *load, *rows); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out, err := exec.Command(self, "indexload", loadDir).Output()
	if err != nil {
		return fmt.Errorf("indexload: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return fmt.Errorf("indexload said %q", out)
	}
	ms, _ := strconv.ParseFloat(f[0], 64)
	heap, _ := strconv.ParseInt(f[1], 10, 64)
	table = append(table, scaleRow{
		Case: fmt.Sprintf("load the index of %d archives (%s entries of %d IDs each)", *load, f[2], *rows), What: "index.Open",
		Wall: fmt.Sprintf("%.2f s", ms/1000), RSS: size(heap) + " heap", Against: fmt.Sprintf("%s on disk", size(dirSize(loadDir))),
		Goal: "≤ 2 s, ≤ 300 MB",
	})

	var buf bytes.Buffer
	writeIndex(&buf, table)
	os.Stdout.Write(buf.Bytes())
	if *report == "" {
		return nil
	}
	return replaceMarked(*report, "<!-- bench index: begin (rewritten by `make bench`) -->", "<!-- bench index: end -->", buf.String())
}

// indexLoadMain opens the index in args[0] and prints the milliseconds it
// took, the heap it holds and its entries.
func indexLoadMain(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: indexload DIR")
	}
	key := index.NewKey(bytes.Repeat([]byte{0x5a}, 32))
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t := time.Now()
	ix, err := index.Open(context.Background(), local.Dir(args[0]), key, "")
	if err != nil {
		return err
	}
	took := time.Since(t)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	fmt.Printf("%.1f %d %d\n", float64(took.Microseconds())/1000, m1.HeapAlloc-m0.HeapAlloc, ix.Len())
	runtime.KeepAlive(ix)
	return nil
}

// indexRun is how an erasure uses the index.
type indexRun struct {
	files local.Dir
	key   index.Key
	skip  bool
}

// request returns the IDs of request k (1 or 2): 10 IDs, each in 5
// archives of the estate.
func request(k int) []string {
	out := make([]string, 10)
	for i := range out {
		out[i] = fmt.Sprintf("R%dID%02d-%s", k, i, strings.Repeat("X", 8))
	}
	return out
}

// genIndexEstate writes n small .csv.gz archives below dir, in
// directories of 1000: rows rows as wide as a custom-event export's, of
// IDs drawn from 1M clients; the IDs of
// request 1 are in archives 0, 400, 800, ... (50 of them), those of
// request 2 in archives 200, 600, ... (50 others). The same n gives the
// same bytes.
func genIndexEstate(dir string, n, rows int) error {
	rng := rand.New(rand.NewPCG(21, 21))
	clients := make([]string, 1_000_000)
	for i := range clients {
		clients[i] = fmt.Sprintf("%016X", rng.Uint64())
	}
	every := max(n/50, 1)
	var buf bytes.Buffer
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		buf.Reset()
		zw, _ := gzip.NewWriterLevel(&buf, 1)
		fmt.Fprintf(zw, "Timestamp,Client ID,Edition,Version,Build,Language,License Type,OS Type,OS Architecture,OS Language,CPU Type,CPU Cores,RAM,Number of Monitors,Screen Resolution,GPU,Form Factor,Event Category,Event Name,Custom Values\n")
		for r := range rows {
			id := clients[rng.IntN(len(clients))]
			switch {
			case r == 7 && i%every == 0:
				id = request(1)[(i/every)%10]
			case r == 7 && i%every == every/2:
				id = request(2)[(i/every)%10]
			}
			// A row as wide as a custom-event export's (FACTS.md): about
			// 270 bytes, the ID column one of 20.
			fmt.Fprintf(zw, "2026-01-%02d 12:%02d:%02d,%s,Professional,4.%d.%d,%d,en-US,Subscription,Windows,x64,en-US,Intel(R) Core(TM) i7-%dK CPU @ 3.60GHz,%d,%d,%d,1920x1080,NVIDIA GeForce RTX %d,Desktop,Usage,Feature Opened,\"(Feature,Export %d)&&(Duration,%d)\"\n",
				1+i%28, r/60, r%60, id, rng.IntN(10), rng.IntN(20), 1000+rng.IntN(9000), 4000+rng.IntN(9000), 2+2*rng.IntN(8), 4096*(1+rng.IntN(16)), 1+rng.IntN(3), 2000+10*rng.IntN(100), rng.IntN(50), rng.IntN(100000))
		}
		zw.Close()
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("a%05d.csv.gz", i)), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// timedErase erases ids from the archives below dir, with the index if ix
// is set, and returns the wall time, the bytes the process read meanwhile,
// and the summary.
func timedErase(ctx context.Context, dir string, list []string, ixr *indexRun) (took time.Duration, read int64, sum *scrub.Summary, err error) {
	c0 := cpuTime()
	defer func() { lastCPU = cpuTime() - c0 }()
	set := ids.New(list...)
	opt := scrub.Options{Filter: &filter.Filter{IDs: set}}
	runtime.GC()
	r0 := rchar()
	t := time.Now()
	var ix *index.Index
	if ixr != nil {
		var err error
		if ix, err = index.Open(ctx, ixr.files, ixr.key, opt.MatchSpec()); err != nil {
			return 0, 0, nil, err
		}
		opt.Index = ix
		if ixr.skip {
			hashes := make([]uint64, 0, set.Len())
			set.Each(func(id string) { hashes = append(hashes, ix.Hash([]byte(id))) })
			ix.SetListed(hashes)
			opt.IndexSkip = true
		}
	}
	sum, err = scrub.Run(ctx, opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err == nil && ix != nil {
		err = ix.Flush(ctx)
	}
	took = time.Since(t)
	if err == nil {
		err = sum.Err()
	}
	return took, rchar() - r0, sum, err
}

// lastCPU is the CPU time (user and system) of the last timedErase.
var lastCPU time.Duration

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rchar returns the bytes this process has read by system calls
// (/proc/self/io), or 0 where that is not known.
func rchar() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// fillIndex writes an index of n archives of ids distinct IDs each.
func fillIndex(ctx context.Context, dir string, key index.Key, n, ids int) error {
	ix, err := index.Open(ctx, local.Dir(dir), key, "")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	hashes := make([]uint64, ids)
	for i := range n {
		for j := range hashes {
			hashes[j] = rng.Uint64()
		}
		name := fmt.Sprintf("/data/exports/2376158762/d%03d/2376158762_cust_%06d.csv.gz", i/1000, i)
		id := fmt.Sprintf("local dev=2049 ino=%d size=%d mtime=1764800000000000000 ctime=1764800000000000000", 1e6+i, 900+i%300)
		if err := ix.Put(name, id, fmt.Sprintf("%064x", i), hashes); err != nil {
			return err
		}
	}
	return ix.Flush(ctx)
}

// sameTrees reports whether two directory trees hold the same files with
// the same bytes.
func sameTrees(a, b string) bool {
	same := true
	filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(x, y) {
			same = false
		}
		return nil
	})
	return same
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// size formats a byte count with a decimal: KiB below 1 MiB.
func size(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func writeIndex(w io.Writer, rows []scaleRow) {
	fmt.Fprintf(w, "## Index (`make bench`)\n\n")
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	fmt.Fprintf(w, "Measured %s by `bench index` (engine and index in one process, local store, %d cores; load average at the end of the run %s: noisy on a shared machine). Bytes read are the process's `rchar` (every read system call: archives, listing, index shards).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), load)
	fmt.Fprintf(w, "| case | run | wall | rate or size | memory | beside it, same run | goal |\n|---|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Case, r.What, r.Wall, r.Rate, r.RSS, r.Against, r.Goal)
	}
	fmt.Fprint(w, `
Why the request with the index misses its goals of 20× and 50×: an entry's
binary fuse filter has 8-bit fingerprints, 1 false positive in 256 for each
listed ID, so a request of 10 IDs also reads about 1 − (255/256)¹⁰ = 3.8% of
the archives that hold none of them (the "archives read" above: 50 that hold
one, the rest false positives), and it reads the index itself (its shards
are a large part of the bytes read with it). That bounds the gain to about 25× in
archives read however large the estate, less the index's own bytes. Filters
with 16-bit fingerprints (1 in 65,536) would read about 53 archives here, at
about 2.25 bytes per ID (above the 2-byte goal); the entry format has a kind
byte for such a filter.

`)
}
