package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrubtool/scrub/scrub/store"
)

// The scale rows: what the issue on scale measures, each beside the floor
// or the goal it is held to, in one run (bench scale, make bench):
//
//   - many small .csv.gz archives (5% with a listed ID): scrub's rate
//     against zcat reading the same files on every core;
//   - peak RSS of an erasure over 1k, 4k, 20k and 100k such archives
//     (flat is the claim);
//   - a list of 1M (and, with -ids10m, 10M) IDs over one small archive,
//     with keys: load, HMAC tags, journal;
//   - S3 (MinIO) behind a proxy that adds 20 ms to every request: archives
//     per second, GET and HEAD requests per archive, connections opened;
//   - one zip holding a single big CSV against the same CSV as .csv.gz;
//   - with -rows s3mem, peak RSS at --jobs 128 against MinIO.

// scaleEnv is what the scale rows share.
type scaleEnv struct {
	dir, scrub, minio, rusage, self, repo, keys string
	jobs                                        int
}

// scaleRow is one line of the scale table.
type scaleRow struct {
	Case, What, Wall, Rate, RSS, Against, Goal string
}

func scaleMain(args []string) error {
	fl := flag.NewFlagSet("scale", flag.ContinueOnError)
	e := &scaleEnv{}
	fl.StringVar(&e.dir, "dir", "build/bench/scale", "scratch `DIR` for the generated archives")
	fl.StringVar(&e.scrub, "scrub", "bin/scrub", "scrub `binary` (make build)")
	fl.StringVar(&e.minio, "minio", "bin/minio", "MinIO server `binary`; \"\" skips the S3 row")
	report := fl.String("report", "cmd/bench/RESULTS.md", "rewrite the scale section of `FILE` (between its scale markers; appended if it has none)")
	small := fl.Int("small", 8000, "small archives in the rate row")
	ids10m := fl.Bool("ids10m", false, "also measure a list of 10M IDs (about a minute and 1 GB more)")
	zipSize := fl.Int64("zip-size", 165e6, "`BYTES` of CSV in the zip vs gzip row")
	s3n := fl.Int("s3", 2000, "small archives in the S3 row")
	only := fl.String("rows", "small,flat,ids,s3,s3mem,zip", "the rows to measure, a comma-separated `LIST` of small, flat (memory at 1k to 100k archives), ids, s3, s3mem (S3 memory at --jobs 128) and zip; a run of some rows prints them and rewrites no report")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var err error
	if e.repo, err = os.Getwd(); err != nil {
		return err
	}
	for _, p := range []*string{&e.dir, &e.scrub, &e.minio} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	e.jobs = runtime.NumCPU()
	e.keys = filepath.Join(e.dir, "keys")
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return err
	}
	if err := ensureKeys(&runEnv{scrub: e.scrub, keys: e.keys}); err != nil {
		return err
	}
	e.rusage = filepath.Join(e.dir, "rusage")
	if out, err := exec.Command("go", "build", "-o", e.rusage, "./cmd/bench/rusage").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bench/rusage: %v: %s", err, out)
	}

	want := map[string]bool{}
	for _, r := range strings.Split(*only, ",") {
		want[strings.TrimSpace(r)] = true
	}
	var rows []scaleRow
	add := func(name string, measure func() ([]scaleRow, error)) error {
		if !want[name] {
			return nil
		}
		r, err := measure()
		rows = append(rows, r...)
		return err
	}
	sizes := []int{1_000_000}
	if *ids10m {
		sizes = append(sizes, 10_000_000)
	}
	for _, row := range []struct {
		name    string
		measure func() ([]scaleRow, error)
	}{
		{"small", func() ([]scaleRow, error) { return e.smallRate(*small) }},
		{"flat", e.flatMemory},
		{"ids", func() ([]scaleRow, error) { return e.manyIDs(sizes) }},
		{"s3", func() ([]scaleRow, error) { return e.s3Latency(*s3n) }},
		{"s3mem", e.s3Memory},
		{"zip", func() ([]scaleRow, error) { return e.zipVsGzip(*zipSize) }},
	} {
		if (row.name == "s3" || row.name == "s3mem") && e.minio == "" {
			continue
		}
		if err := add(row.name, row.measure); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	writeScale(&buf, e, rows)
	os.Stdout.Write(buf.Bytes())
	if *report != "" && fl.Lookup("rows").Value.String() == fl.Lookup("rows").DefValue {
		return replaceSection(*report, buf.String())
	}
	return nil
}

// Markers around the scale section of RESULTS.md.
const (
	scaleBegin = "<!-- bench scale: begin (rewritten by `make bench`) -->"
	scaleEnd   = "<!-- bench scale: end -->"
)

// replaceSection puts section between the scale markers of file, or
// appends it.
func replaceSection(file, section string) error {
	return replaceMarked(file, scaleBegin, scaleEnd, section)
}

// replaceMarked puts section between the markers begin and end of file,
// or appends it with them.
func replaceMarked(file, begin, end, section string) error {
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	block := begin + "\n" + section + end + "\n"
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + block + s[j+len(end)+1:]
	} else {
		s += "\n" + block
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

func writeScale(w io.Writer, e *scaleEnv, rows []scaleRow) {
	fmt.Fprintf(w, "## Scale (`make bench`)\n\n")
	fmt.Fprintf(w, "Measured %s by `bench scale`. %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		strings.Join(machine(&runEnv{scrub: e.scrub}), ". "))
	fmt.Fprintf(w, "| case | run | wall | rate | peak RSS | beside it, same run | goal |\n|---|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Case, r.What, r.Wall, r.Rate, r.RSS, r.Against, r.Goal)
	}
	fmt.Fprintln(w)
}

// genSmall writes n small .csv.gz archives below dir, in directories of
// 1000 (d000, d001, ...): 20 rows each; every 20th archive holds one row
// of a listed ID. It returns the listed IDs' file.
func genSmall(dir string, n int, seed uint64) (string, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	clients := make([]string, 5000)
	for i := range clients {
		clients[i] = fmt.Sprintf("%016X", rng.Uint64())
	}
	listed := clients[:50]
	idsFile := filepath.Join(dir, "ids.txt")
	done := filepath.Join(dir, fmt.Sprintf(".generated-%d-%d", n, seed))
	if _, err := os.Stat(done); err == nil {
		return idsFile, nil // generated by an earlier run
	}
	os.RemoveAll(filepath.Join(dir, "data"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(idsFile, []byte(strings.Join(listed, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, 6)
	for i := range n {
		sub := filepath.Join(dir, "data", fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return "", err
			}
		}
		buf.Reset()
		zw.Reset(&buf)
		fmt.Fprintf(zw, "Timestamp,Client ID,Event,Value\n")
		for r := range 20 {
			id := clients[50+rng.IntN(len(clients)-50)]
			if i%20 == 0 && r == 7 {
				id = listed[rng.IntN(len(listed))]
			}
			fmt.Fprintf(zw, "2017-11-%02dT10:%02d:%02dZ,%s,click,%d\n", 1+i%28, r, rng.IntN(60), id, rng.IntN(1000))
		}
		zw.Close()
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("e%06d.csv.gz", i)), buf.Bytes(), 0o644); err != nil {
			return "", err
		}
	}
	return idsFile, os.WriteFile(done, nil, 0o644)
}

// copyTree copies src to dst (not timed).
func copyTree(src, dst string) error {
	os.RemoveAll(dst)
	out, err := exec.Command("cp", "-R", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -R %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}

// scrubRun measures scrub with args (audit and keys added).
func (e *scaleEnv) scrubRun(audit string, args ...string) (measurement, error) {
	os.RemoveAll(audit)
	full := append([]string{args[0], "--key", filepath.Join(e.keys, "signer"), "--id-key", filepath.Join(e.keys, "id.key"),
		"--audit", audit, "--no-progress"}, args[1:]...)
	m, err := measure(e.rusage, exec.Command(e.scrub, full...))
	if err == nil && m.Exit != 0 {
		err = fmt.Errorf("scrub %s: exit %d: %s", strings.Join(args, " "), m.Exit, tail(m.Stderr, 8))
	}
	return m, err
}

func perSec(n int, d time.Duration) string {
	return fmt.Sprintf("%.0f archives/s", float64(n)/d.Seconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// smallRate: n small archives, scrub's dry run and erase against zcat on
// every core.
func (e *scaleEnv) smallRate(n int) ([]scaleRow, error) {
	dir := filepath.Join(e.dir, fmt.Sprintf("small-%d", n))
	logf("scale: %d small archives in %s", n, dir)
	ids, err := genSmall(dir, n, 18)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	// The floor is the fastest of three runs: one alone swings by 5× here
	// (0.07 to 0.41 s for the same 8,000 files), with the page cache and
	// the other processes of the machine.
	var floor measurement
	for i := range 3 {
		m, err := measure(e.rusage, exec.Command("sh", "-c",
			fmt.Sprintf("find %s -name '*.gz' -print0 | xargs -0 -P %d -n 1000 zcat > /dev/null", data, e.jobs)))
		if err != nil {
			return nil, err
		}
		if i == 0 || m.Wall < floor.Wall {
			floor = m
		}
	}
	dry, err := e.scrubRun(filepath.Join(dir, "audit"), "erase", "--ids", ids, "--dry-run", data)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dir, "work")
	if err := copyTree(data, work); err != nil {
		return nil, err
	}
	erase, err := e.scrubRun(filepath.Join(dir, "audit"), "erase", "--ids", ids, work)
	if err != nil {
		return nil, err
	}
	against := fmt.Sprintf("`zcat` on %d processes, fastest of 3: %s, %s (scrub dry run at %.2f×, erase at %.2f× of it)", e.jobs,
		secs(floor.Wall), perSec(n, floor.Wall), floor.Wall.Seconds()/dry.Wall.Seconds(), floor.Wall.Seconds()/erase.Wall.Seconds())
	goal := "≥ 1/8 of the zcat rate"
	c := fmt.Sprintf("%d small .csv.gz, 5%% with matches, local", n)
	return []scaleRow{
		{c, "scrub erase --dry-run", secs(dry.Wall), perSec(n, dry.Wall), mib(dry.MaxRSS), against, goal},
		{c, "scrub erase", secs(erase.Wall), perSec(n, erase.Wall), mib(erase.MaxRSS), against, goal},
	}, nil
}

// flatMemory: peak RSS of an erasure over 1k, 4k, 20k and 100k small
// archives, each set its own directories of the generated tree.
func (e *scaleEnv) flatMemory() ([]scaleRow, error) {
	dir := filepath.Join(e.dir, "flat")
	ids, err := genSmall(dir, 100_000, 19)
	if err != nil {
		return nil, err
	}
	var rows []scaleRow
	var first measurement
	for _, k := range []int{1, 4, 20, 100} {
		work := filepath.Join(dir, "work")
		os.RemoveAll(work)
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		var srcs []string
		for d := range k {
			sub := fmt.Sprintf("d%03d", d)
			if err := copyTree(filepath.Join(dir, "data", sub), filepath.Join(work, sub)); err != nil {
				return nil, err
			}
			srcs = append(srcs, filepath.Join(work, sub))
		}
		m, err := e.scrubRun(filepath.Join(dir, "audit"), append([]string{"erase", "--ids", ids}, srcs...)...)
		if err != nil {
			return nil, err
		}
		against := "–"
		if k == 1 {
			first = m
		} else {
			against = fmt.Sprintf("%+.2f KiB per archive more than at 1k", float64(m.MaxRSS-first.MaxRSS)/1024/float64((k-1)*1000))
		}
		rows = append(rows, scaleRow{fmt.Sprintf("peak memory, %dk small archives (erase, 5%% with matches)", k), "scrub erase",
			secs(m.Wall), perSec(k*1000, m.Wall), mib(m.MaxRSS), against, "≤ 1 KiB per archive of growth; ≤ 250 MB at 20k and at 100k"})
	}
	return rows, nil
}

// manyIDs: a list of n IDs over one small archive, with keys.
func (e *scaleEnv) manyIDs(sizes []int) ([]scaleRow, error) {
	var rows []scaleRow
	for _, n := range sizes {
		dir := filepath.Join(e.dir, fmt.Sprintf("ids-%d", n))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			return nil, err
		}
		idsFile := filepath.Join(dir, "ids.txt")
		if _, err := os.Stat(idsFile); err != nil {
			rng := rand.New(rand.NewPCG(uint64(n), 2))
			var b bytes.Buffer
			for range n {
				fmt.Fprintf(&b, "%08x-%04x-%04x-%04x-%012x\n", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
			}
			if err := os.WriteFile(idsFile, b.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		first, _, _ := strings.Cut(readFirstLine(idsFile), "\n")
		csv := "Timestamp,Client ID\n2017-11-24T00:00:00Z," + first + "\n2017-11-24T00:00:01Z,KEEP\n"
		if err := os.WriteFile(filepath.Join(dir, "data", "a.csv"), []byte(csv), 0o644); err != nil {
			return nil, err
		}
		m, err := e.scrubRun(filepath.Join(dir, "audit"), "erase", "--ids", idsFile, "--dry-run", filepath.Join(dir, "data"))
		if err != nil {
			return nil, err
		}
		peer, err := measure(e.rusage, exec.Command("sort", "-u", "-o", os.DevNull, idsFile))
		if err != nil {
			return nil, err
		}
		goal := "≤ 1 s, ≤ 100 MiB"
		if n >= 10_000_000 {
			goal = "≤ 10 s, ≤ 1 GB"
		}
		rows = append(rows, scaleRow{fmt.Sprintf("%dM listed IDs, with keys, one small archive", n/1_000_000), "scrub erase --dry-run",
			secs(m.Wall), "–", mib(m.MaxRSS), fmt.Sprintf("`sort -u` of the list: %s, %s", secs(peer.Wall), mib(peer.MaxRSS)), goal})
	}
	return rows, nil
}

func readFirstLine(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 128)
	n, _ := f.Read(b)
	return string(b[:n])
}

// zipVsGzip: one zip of a single CSV member against the same CSV as
// .csv.gz, erased on fresh copies.
func (e *scaleEnv) zipVsGzip(size int64) ([]scaleRow, error) {
	dir := filepath.Join(e.dir, fmt.Sprintf("zip-%d", size))
	data := filepath.Join(dir, "data")
	ids := filepath.Join(dir, "ids.txt")
	if _, err := os.Stat(filepath.Join(data, "big.zip")); err != nil {
		if err := genBig(dir, size); err != nil {
			return nil, err
		}
	}
	var ms [2]measurement
	for i, name := range []string{"big.csv.gz", "big.zip"} {
		work := filepath.Join(dir, "work")
		os.RemoveAll(work)
		os.MkdirAll(work, 0o755)
		if out, err := exec.Command("cp", filepath.Join(data, name), work).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("cp: %v: %s", err, out)
		}
		m, err := e.scrubRun(filepath.Join(dir, "audit"), "erase", "--ids", ids, work)
		if err != nil {
			return nil, err
		}
		ms[i] = m
	}
	mb := float64(size) / 1e6
	return []scaleRow{{fmt.Sprintf("one zip of a single %.0f MB CSV vs the same as .csv.gz", mb), "scrub erase (zip)",
		secs(ms[1].Wall), fmt.Sprintf("%.0f MB/s", mb/ms[1].Wall.Seconds()), mib(ms[1].MaxRSS),
		fmt.Sprintf("the .csv.gz: %s, %.0f MB/s; zip at %.2f× its time", secs(ms[0].Wall), mb/ms[0].Wall.Seconds(), ms[1].Wall.Seconds()/ms[0].Wall.Seconds()),
		"≤ 1.2× the .csv.gz"}}, nil
}

// genBig writes size bytes of CSV as data/big.csv.gz and data/big.zip
// (one member, big.csv), 5% of rows of listed IDs, and ids.txt.
func genBig(dir string, size int64) error {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(20, 3))
	clients := make([]string, 200000)
	for i := range clients {
		clients[i] = fmt.Sprintf("%016X", rng.Uint64())
	}
	if err := os.WriteFile(filepath.Join(dir, "ids.txt"), []byte(strings.Join(clients[:10000], "\n")+"\n"), 0o644); err != nil {
		return err
	}
	csvPath := filepath.Join(dir, "big.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("Timestamp,Client ID,Event,Host,Value\n")
	var n int64
	for n < size {
		for range 1000 {
			id := clients[10000+rng.IntN(len(clients)-10000)]
			if rng.IntN(20) == 0 {
				id = clients[rng.IntN(10000)]
			}
			fmt.Fprintf(&b, "2017-11-%02dT%02d:%02d:%02dZ,%s,exception,host-%d.example,%d\n", 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), id, rng.IntN(500), rng.IntN(100000))
		}
		n += int64(b.Len())
		if _, err := f.Write(b.Bytes()); err != nil {
			return err
		}
		b.Reset()
	}
	if err := f.Close(); err != nil {
		return err
	}
	defer os.Remove(csvPath)
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("gzip -6 -c %s > %s", csvPath, filepath.Join(data, "big.csv.gz"))).CombinedOutput(); err != nil {
		return fmt.Errorf("gzip: %v: %s", err, out)
	}
	cmd := exec.Command("python3", "-c", `import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    z.write(sys.argv[1], "big.csv")`, csvPath, filepath.Join(data, "big.zip"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("zip: %v: %s", err, out)
	}
	return nil
}

// s3Latency: n small archives in MinIO, read through a proxy that adds
// 20 ms to every request.
func (e *scaleEnv) s3Latency(n int) ([]scaleRow, error) {
	dir := filepath.Join(e.dir, fmt.Sprintf("s3-%d", n))
	ids, err := genSmall(dir, n, 21)
	if err != nil {
		return nil, err
	}
	result := filepath.Join(dir, "result.json")
	os.Remove(result)
	args := []string{"run", "./cmd/withminio", "-bin", e.minio, "-drives", "1", "-load", filepath.Join(dir, "data") + "=" + s3Bucket + "/" + s3Prefix, "--",
		e.self, "s3latency", "-rusage", e.rusage, "-result", result, "-delay", "20ms", "--", e.scrub, "erase",
		"--key", filepath.Join(e.keys, "signer"), "--id-key", filepath.Join(e.keys, "id.key"),
		"--audit", filepath.Join(dir, "audit"), "--no-progress", "--ids", ids, "--endpoint", "PROXY", store.S3URL(s3Bucket, s3Prefix)}
	os.RemoveAll(filepath.Join(dir, "audit"))
	cmd := exec.Command("go", args...)
	cmd.Dir = e.repo
	out, err := cmd.CombinedOutput()
	var r s3LatencyResult
	b, rerr := os.ReadFile(result)
	if rerr != nil {
		return nil, fmt.Errorf("withminio: %v\n%s", err, tail(string(out), 15))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.M.Exit != 0 {
		return nil, fmt.Errorf("scrub against MinIO: exit %d: %s", r.M.Exit, tail(r.M.Stderr, 8))
	}
	per := func(k int64) float64 { return float64(k) / float64(n) }
	return []scaleRow{{fmt.Sprintf("S3 (MinIO, 1 drive) behind a proxy adding 20 ms per request, %d small archives, default flags", n), "scrub erase",
		secs(r.M.Wall), perSec(n, r.M.Wall), mib(r.M.MaxRSS),
		fmt.Sprintf("%.2f GET+HEAD per archive (%.2f requests of all kinds), %d connections opened", per(r.Gets+r.Heads), per(r.Requests), r.Conns),
		"≥ 500 archives/s; ≤ 1.15 GET+HEAD per archive"}}, nil
}

// s3Memory: peak RSS of an erasure with --jobs 128 of n archives of a few
// MB each (every one with a listed row) in MinIO, on loopback.
func (e *scaleEnv) s3Memory() ([]scaleRow, error) {
	const n, jobs = 128, 128
	dir := filepath.Join(e.dir, "s3mem")
	ids, err := genMB(dir, n, 3<<20)
	if err != nil {
		return nil, err
	}
	result := filepath.Join(dir, "result.json")
	os.Remove(result)
	args := []string{"run", "./cmd/withminio", "-bin", e.minio, "-drives", "1", "-load", filepath.Join(dir, "data") + "=" + s3Bucket + "/" + s3Prefix, "--",
		e.self, "s3latency", "-rusage", e.rusage, "-result", result, "-delay", "0", "--", e.scrub, "erase",
		"--key", filepath.Join(e.keys, "signer"), "--id-key", filepath.Join(e.keys, "id.key"),
		"--audit", filepath.Join(dir, "audit"), "--no-progress", "--ids", ids, "--jobs", fmt.Sprint(jobs), "--endpoint", "PROXY", store.S3URL(s3Bucket, s3Prefix)}
	os.RemoveAll(filepath.Join(dir, "audit"))
	cmd := exec.Command("go", args...)
	cmd.Dir = e.repo
	out, err := cmd.CombinedOutput()
	var r s3LatencyResult
	b, rerr := os.ReadFile(result)
	if rerr != nil {
		return nil, fmt.Errorf("withminio: %v\n%s", err, tail(string(out), 15))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.M.Exit != 0 {
		return nil, fmt.Errorf("scrub against MinIO: exit %d: %s", r.M.Exit, tail(r.M.Stderr, 8))
	}
	return []scaleRow{{fmt.Sprintf("S3 (MinIO, 1 drive, loopback) memory at --jobs %d, %d archives of 3 MiB (.csv.gz), each with a listed row", jobs, n), "scrub erase",
		secs(r.M.Wall), perSec(n, r.M.Wall), mib(r.M.MaxRSS), fmt.Sprintf("%d GET, %d PUT/POST requests", r.Gets, r.PutRequests), "≤ 400 MB"}}, nil
}

// genMB writes n .csv.gz archives of about size bytes each below
// dir/data (random hex columns, which gzip does not shrink much), each
// with one row of a listed ID, and the listed IDs' file.
func genMB(dir string, n int, size int) (string, error) {
	idsFile := filepath.Join(dir, "ids.txt")
	done := filepath.Join(dir, fmt.Sprintf(".generated-%d-%d", n, size))
	if _, err := os.Stat(done); err == nil {
		return idsFile, nil
	}
	data := filepath.Join(dir, "data")
	os.RemoveAll(data)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(22, 4))
	var listed []string
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, 1)
	for i := range n {
		id := fmt.Sprintf("%016X", rng.Uint64())
		listed = append(listed, id)
		buf.Reset()
		zw.Reset(&buf)
		fmt.Fprintf(zw, "Timestamp,Client ID,Payload\n2017-11-24T00:00:00Z,%s,x\n", id)
		for r := 0; buf.Len() < size; r++ {
			fmt.Fprintf(zw, "2017-11-24T00:%02d:%02dZ,%016X,%016x%016x%016x%016x\n", r/60%60, r%60, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
		}
		zw.Close()
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("m%04d.csv.gz", i)), buf.Bytes(), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(idsFile, []byte(strings.Join(listed, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	return idsFile, os.WriteFile(done, nil, 0o644)
}

// s3LatencyResult is what s3latency reports.
type s3LatencyResult struct {
	M                         measurement
	Requests, Gets, Heads     int64
	Conns                     int64
	ListRequests, PutRequests int64
}

// s3latencyMain runs under withminio: it starts a proxy to MinIO that
// delays every request by -delay and counts them and the connections
// made to it, then measures the command after "--" with its "PROXY"
// argument replaced by the proxy's URL.
func s3latencyMain(args []string) error {
	fl := flag.NewFlagSet("s3latency", flag.ContinueOnError)
	result := fl.String("result", "", "write the result to `FILE` (JSON)")
	wrapper := fl.String("rusage", "", "the cmd/bench/rusage `binary`")
	delay := fl.Duration("delay", 20*time.Millisecond, "added to every request")
	if err := fl.Parse(args); err != nil {
		return err
	}
	target, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL"))
	if err != nil || target.Host == "" {
		return fmt.Errorf("s3latency: no MinIO in $AWS_ENDPOINT_URL")
	}
	var r s3LatencyResult
	var mu sync.Mutex
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(*delay)
		mu.Lock()
		r.Requests++
		switch {
		case req.Method == http.MethodGet && req.URL.Query().Has("list-type"), req.Method == http.MethodGet && req.URL.Query().Has("versions"):
			r.ListRequests++
		case req.Method == http.MethodGet:
			r.Gets++
		case req.Method == http.MethodHead:
			r.Heads++
		case req.Method == http.MethodPut, req.Method == http.MethodPost:
			r.PutRequests++
		}
		mu.Unlock()
		rp.ServeHTTP(w, req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var conns atomic.Int64
	srv := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	defer srv.Close()
	command := fl.Args()
	if len(command) == 0 {
		return fmt.Errorf("s3latency: no command")
	}
	for i, a := range command {
		if a == "PROXY" {
			command[i] = "http://" + ln.Addr().String()
		}
	}
	m, err := measure(*wrapper, exec.Command(command[0], command[1:]...), siblings()...)
	if err != nil {
		return err
	}
	r.M, r.Conns = m, conns.Load()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(*result, b, 0o644)
}
