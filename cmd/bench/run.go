package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// runEnv is what every tool run shares.
type runEnv struct {
	repo      string // repository root (the working directory)
	data      string // the data set (gen -out)
	scratch   string // where each tool's copy goes
	scrub     string // scrub binary
	minio     string // MinIO server binary
	self      string // this program, for its floor and s3child commands
	rusage    string // cmd/bench/rusage, built by the runner
	keys      string // scrub's signing and ID keys
	duckdbDir string // cmd/bench/duckdb, with node_modules
	jobs      int
	skipS3    bool
	m         *manifest
}

func (e *runEnv) ids() string { return filepath.Join(e.data, "ids.txt") }

// result is one row of the table.
type result struct {
	t        *tool
	skipped  string          // why the tool did not run
	runs     []measurement   // the successful runs
	other    []time.Duration // CPU time of the rest of the machine during each run
	err      error           // of the last failed run
	files    int
	csvBytes int64
	outBytes int64 // compressed bytes written, for the tools with output
	v        verdict
}

// median is the run with the median wall time (the faster of the middle
// two for an even count).
func (r *result) median() measurement {
	if len(r.runs) == 0 {
		return measurement{}
	}
	s := slices.Clone(r.runs)
	slices.SortFunc(s, func(a, b measurement) int { return cmp.Compare(a.Wall, b.Wall) })
	return s[(len(s)-1)/2]
}

func (r *result) mbps() float64 {
	m := r.median()
	if m.Wall <= 0 {
		return 0
	}
	return float64(r.csvBytes) / 1e6 / m.Wall.Seconds()
}

func runMain(args []string) error {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	e := &runEnv{}
	fl.StringVar(&e.data, "data", "build/bench/data-1GB", "the data set `DIR` (from gen)")
	fl.StringVar(&e.scratch, "scratch", "", "scratch `DIR` for the tools' copies (default: DATA-scratch)")
	fl.StringVar(&e.scrub, "scrub", "bin/scrub", "scrub `binary` (make build)")
	fl.StringVar(&e.minio, "minio", "bin/minio", "MinIO server `binary` (make bin/minio)")
	fl.StringVar(&e.keys, "keys", "build/bench/keys", "`DIR` of scrub's keys (made once with scrub keygen)")
	fl.StringVar(&e.duckdbDir, "duckdb", "cmd/bench/duckdb", "`DIR` of antijoin.mjs and its node_modules")
	fl.IntVar(&e.jobs, "jobs", runtime.NumCPU(), "parallelism of every tool")
	fl.BoolVar(&e.skipS3, "skip-s3", false, "skip the MinIO run")
	var slugs []string
	for _, t := range tools() {
		slugs = append(slugs, t.slug)
	}
	only := fl.String("only", "", "run only the tools whose slug matches `REGEXP` ("+strings.Join(slugs, ", ")+")")
	runs := fl.Int("runs", 3, "timed runs of each tool, interleaved; the table shows the median")
	keep := fl.Bool("keep", false, "keep each tool's scratch copy and output")
	profile := fl.Bool("profile", false, "also run scrub once under a CPU profile (not timed in the table) and show where its time goes")
	report := fl.String("report", "", "also write the report to `FILE`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var err error
	if e.repo, err = os.Getwd(); err != nil {
		return err
	}
	for _, p := range []*string{&e.data, &e.scrub, &e.minio, &e.keys, &e.duckdbDir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if e.scratch == "" {
		e.scratch = e.data + "-scratch"
	}
	if e.scratch, err = filepath.Abs(e.scratch); err != nil {
		return err
	}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	if e.m, err = readManifest(e.data); err != nil {
		return fmt.Errorf("no data set in %s (run: go run ./cmd/bench gen -out %s): %w", e.data, e.data, err)
	}
	if _, err := os.Stat(e.scrub); err != nil {
		return fmt.Errorf("%s: %w (make build)", e.scrub, err)
	}
	if err := ensureKeys(e); err != nil {
		return err
	}
	e.rusage = filepath.Join(filepath.Dir(e.scratch), "rusage")
	if out, err := exec.Command("go", "build", "-o", e.rusage, "./cmd/bench/rusage").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bench/rusage: %v: %s", err, out)
	}
	var filter *regexp.Regexp
	if *only != "" {
		if filter, err = regexp.Compile("^(" + *only + ")$"); err != nil {
			return err
		}
	}

	logf("computing the oracle (encoding/csv) over %d archives", len(e.m.Files))
	start := time.Now()
	chk, err := newChecker(e.data, e.m, e.jobs)
	if err != nil {
		return err
	}
	rows, listed := 0, 0
	for _, x := range chk.exp {
		rows += x.rows
		listed += x.listedRows
	}
	logf("oracle: %d rows, %d of them listed (%.2f%%), %.0fs", rows, listed, 100*float64(listed)/float64(rows), time.Since(start).Seconds())

	// The runs are interleaved (every tool once, then every tool again),
	// so that a slow spell of the machine does not fall on one tool only.
	var results []*result
	for _, t := range tools() {
		if filter != nil && !filter.MatchString(t.slug) {
			continue
		}
		r := &result{t: t}
		for _, f := range e.m.Files {
			if t.subset == allArchives || f.Format == "gzip" {
				r.files++
				r.csvBytes += f.CSVBytes
			}
		}
		if t.missing != nil {
			if r.skipped = t.missing(e); r.skipped != "" {
				logf("%s: %s", t.slug, r.skipped)
			}
		}
		results = append(results, r)
	}
	for run := 1; run <= *runs; run++ {
		for _, r := range results {
			if r.skipped == "" {
				runOnce(e, chk, r, run, *runs, *keep)
			}
		}
	}

	var prof string
	if *profile {
		if prof, err = profileScrub(e); err != nil {
			prof = "profile failed: " + err.Error()
		}
	}

	var buf bytes.Buffer
	writeReport(&buf, e, results, rows, listed, prof)
	os.Stdout.Write(buf.Bytes())
	if *report != "" {
		if err := os.WriteFile(*report, buf.Bytes(), 0o644); err != nil {
			return err
		}
		logf("report written to %s", *report)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// ensureKeys makes scrub's keys once.
func ensureKeys(e *runEnv) error {
	if _, err := os.Stat(filepath.Join(e.keys, "signer")); err == nil {
		return nil
	}
	if err := os.MkdirAll(e.keys, 0o700); err != nil {
		return err
	}
	out, err := exec.Command(e.scrub, "keygen", "--out", filepath.Join(e.keys, "signer"),
		"--id-key", filepath.Join(e.keys, "id.key"), "--principal", "bench@scrub").CombinedOutput()
	if err != nil {
		return fmt.Errorf("scrub keygen: %v: %s", err, out)
	}
	return nil
}

// prepare copies the tool's subset into a fresh scratch directory (not
// timed) and flushes it to disk, so that no tool pays for the copy's
// writeback.
func prepare(e *runEnv, t *tool) (*toolRun, []fileInfo, error) {
	tr := &toolRun{dir: filepath.Join(e.scratch, t.slug)}
	tr.in, tr.out, tr.audit = filepath.Join(tr.dir, "in"), filepath.Join(tr.dir, "out"), filepath.Join(tr.dir, "audit")
	if err := os.RemoveAll(tr.dir); err != nil {
		return nil, nil, err
	}
	for _, d := range []string{tr.in, tr.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	var files []fileInfo
	var list bytes.Buffer
	for _, f := range e.m.Files {
		if t.subset == gzipOnly && f.Format != "gzip" {
			continue
		}
		dst := filepath.Join(tr.in, f.Name)
		if err := copyFile(filepath.Join(e.data, "archives", f.Name), dst); err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		tr.files = append(tr.files, dst)
		list.WriteString(dst + "\x00")
	}
	tr.list = filepath.Join(tr.dir, "files.list")
	if err := os.WriteFile(tr.list, list.Bytes(), 0o644); err != nil {
		return nil, nil, err
	}
	syscall.Sync()
	return tr, files, nil
}

// runOnce runs t once on a fresh copy and adds the run to r; on the last
// run it also checks the output.
func runOnce(e *runEnv, chk *checker, r *result, run, runs int, keep bool) {
	t := r.t
	tr, files, err := prepare(e, t)
	if err != nil {
		r.err = err
		return
	}
	names := make([]string, len(files))
	r.csvBytes, r.files = 0, len(files)
	for i, f := range files {
		names[i] = f.Name
		r.csvBytes += f.CSVBytes
	}
	logf("%s: run %d/%d over %d archives (%s CSV)", t.slug, run, runs, r.files, mb(r.csvBytes))
	m, err := t.run(e, tr)
	other := max(0, m.Machine-m.CPU-m.OtherCPU)
	if err == nil && m.Exit != 0 {
		err = fmt.Errorf("exit status %d: %s", m.Exit, tail(m.Stderr, 5))
	}
	if err != nil {
		r.err = err
	} else {
		r.runs = append(r.runs, m)
		r.other = append(r.other, other)
	}
	logf("%s: %.1fs, %.1f MB/s, cpu %.1fs (other CPU on the machine meanwhile: %.1fs), peak RSS %s (largest process) / %s (sum)",
		t.slug, m.Wall.Seconds(), float64(r.csvBytes)/1e6/m.Wall.Seconds(), m.CPU.Seconds(), other.Seconds(), mib(m.MaxRSS), mib(m.SumRSS))
	if strings.HasPrefix(t.slug, "scrub") {
		logScrubTotals(t.slug, m.Stdout)
	}
	if t.output != noOutput && run == runs {
		dir := tr.in
		if t.output == outDir {
			dir = tr.out
		}
		r.v = chk.check(names, func(name string) string { return filepath.Join(dir, name) }, e.jobs)
		r.outBytes = 0
		for _, name := range names {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				r.outBytes += fi.Size()
			}
		}
		logf("%s: correct? %s", t.slug, r.v)
		if r.v.firstErr != "" {
			logf("%s: first error: %s", t.slug, r.v.firstErr)
		}
	}
	if !keep {
		os.RemoveAll(tr.dir)
	}
}

// machineBusy is the CPU time the whole machine has spent outside idle and
// iowait since boot (/proc/stat), steal included.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		var n int64
		fmt.Sscan(v, &n)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// logScrubTotals shows the totals of scrub's --json summary.
func logScrubTotals(slug, stdout string) {
	var sum struct {
		Totals map[string]any `json:"totals"`
	}
	if json.Unmarshal([]byte(stdout), &sum) == nil && sum.Totals != nil {
		b, _ := json.Marshal(sum.Totals)
		logf("%s: scrub's totals: %s", slug, b)
	}
}

// machine describes the machine and the tools' versions.
func machine(e *runEnv) []string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	lines := []string{
		fmt.Sprintf("Machine: %s, %d cores (runtime.NumCPU)%s, Linux %s, %s; LANG=%s",
			cpu, runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version(), os.Getenv("LANG")),
	}
	versions := []string{firstLine(e.scrub, "--version")}
	for _, v := range [][]string{{"gzip", "--version"}, {"grep", "--version"}, {"mawk", "-W", "version"},
		{"gawk", "--version"}, {"mlr", "--version"}, {"node", "--version"}} {
		versions = append(versions, firstLine(v[0], v[1:]...))
	}
	if b, err := os.ReadFile(filepath.Join(e.duckdbDir, "node_modules", "@duckdb", "node-api", "package.json")); err == nil {
		var p struct{ Version string }
		if json.Unmarshal(b, &p) == nil {
			versions = append(versions, "@duckdb/node-api "+p.Version)
		}
	}
	lines = append(lines, "Tools: "+strings.Join(slicesCompact(versions), "; "))
	return lines
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.Contains(line, name) && !strings.Contains(filepath.Base(name), "scrub") {
		line = name + " " + line
	}
	return line
}

func slicesCompact(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func writeReport(w io.Writer, e *runEnv, results []*result, rows, listed int, prof string) {
	var all, gz fileInfo
	nAll, nGz, nZip := 0, 0, 0
	for _, f := range e.m.Files {
		all.CSVBytes += f.CSVBytes
		all.Bytes += f.Bytes
		nAll++
		if f.Format == "gzip" {
			gz.CSVBytes += f.CSVBytes
			gz.Bytes += f.Bytes
			nGz++
		} else {
			nZip++
		}
		all.QuotedListed += f.QuotedListed
		all.MentionRows += f.MentionRows
		all.LookalikeRows += f.LookalikeRows
		all.Multiline += f.Multiline
	}
	fmt.Fprintf(w, "## scrub against the tools people use instead\n\n")
	for _, l := range machine(e) {
		fmt.Fprintf(w, "%s\n\n", l)
	}
	o := e.m.Options
	fmt.Fprintf(w, "Data (`go run ./cmd/bench gen -size %s -seed %d`): %d daily archives, %d `.csv.gz` + %d `.zip`, %s of CSV (%s compressed, level %d); "+
		"%s rows, %s of them (%.2f%%) belong to the %s listed IDs; %s listed rows have a quoted Client ID, %s other rows name a listed ID in another column, "+
		"%s rows have an ID that is a listed ID plus or minus a digit, %s rows span lines (exception stack traces). Every tool ran with parallelism %d "+
		"(scrub `--jobs`, `xargs -P`, DuckDB threads) on its own fresh copy; copying is not timed.\n\n",
		sizeLabel(o.Size), o.Seed, nAll, nGz, nZip, mb(all.CSVBytes), mb(all.Bytes), o.Level,
		commas(rows), commas(listed), 100*float64(listed)/float64(rows), commas(o.IDs), commas(all.QuotedListed), commas(all.MentionRows),
		commas(all.LookalikeRows), commas(all.Multiline), e.jobs)

	speed := map[string]float64{}
	for _, r := range results {
		speed[r.t.slug] = r.mbps()
	}
	fmt.Fprintf(w, "| tool | processed | wall | MB/s | CPU | peak RSS, largest process | peak RSS, sum | output | correct? | × scrub |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range results {
		processed := fmt.Sprintf("all %d archives (gz + zip), %s", r.files, mb(r.csvBytes))
		if r.t.subset == gzipOnly {
			processed = fmt.Sprintf("%d `.csv.gz` only, %s", r.files, mb(r.csvBytes))
		}
		if r.skipped != "" {
			fmt.Fprintf(w, "| %s | %s | – | – | – | – | – | – | %s | – |\n", r.t.name, processed, r.skipped)
			continue
		}
		correct := "n/a (filters nothing)"
		if r.t.output != noOutput {
			correct = r.v.String()
		}
		if r.err != nil {
			correct = "failed: " + strings.ReplaceAll(tail(r.err.Error(), 2), "\n", " ") + "; " + correct
		}
		ratio := "–"
		if base := speed[r.t.refSlug()]; base > 0 && r.mbps() > 0 {
			ratio = fmt.Sprintf("%.2f", r.mbps()/base)
		}
		med := r.median()
		wall := fmt.Sprintf("%.1f s", med.Wall.Seconds())
		var maxRSS, sumRSS, minioRSS int64
		lo, hi := med.Wall, med.Wall
		for _, m := range r.runs {
			maxRSS, sumRSS, minioRSS = max(maxRSS, m.MaxRSS), max(sumRSS, m.SumRSS), max(minioRSS, m.OtherRSS)
			lo, hi = min(lo, m.Wall), max(hi, m.Wall)
		}
		if len(r.runs) > 1 {
			wall += fmt.Sprintf(" (%.1f–%.1f)", lo.Seconds(), hi.Seconds())
		}
		rss := mib(sumRSS)
		if minioRSS > 0 {
			rss += fmt.Sprintf(" (+ MinIO %s)", mib(minioRSS))
		}
		cpu := fmt.Sprintf("%.1f s", med.CPU.Seconds())
		if med.OtherCPU > 0 {
			cpu += fmt.Sprintf(" (+ MinIO %.1f s)", med.OtherCPU.Seconds())
		}
		output := "–"
		if r.outBytes > 0 {
			output = mb(r.outBytes)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n",
			r.t.name, processed, wall, r.mbps(), cpu, mib(maxRSS), rss, output, correct, ratio)
	}
	fmt.Fprintf(w, "\n")
	var others []time.Duration
	worst, worstTool := time.Duration(0), ""
	runs := 0
	for _, r := range results {
		runs = max(runs, len(r.runs))
		for _, o := range r.other {
			others = append(others, o)
			if o > worst {
				worst, worstTool = o, r.t.slug
			}
		}
	}
	fmt.Fprintf(w, "- wall is the median of %d runs (min–max in brackets), interleaved: every tool once, then every tool again; MB/s, CPU and × scrub are of the median run. "+
		"MB/s is uncompressed CSV bytes of the archives processed per second of wall time. "+
		"CPU is user + system time of the command and all its descendants (wait4 rusage).\n", runs)
	if len(others) > 0 {
		slices.Sort(others)
		fmt.Fprintf(w, "- Other CPU time on the machine while a tool ran (from /proc/stat, less the tool's and MinIO's; the runner's own sampling included): median %.1f s per run, at most %.1f s (a %s run).\n",
			others[len(others)/2].Seconds(), worst.Seconds(), worstTool)
	}
	fmt.Fprintf(w, ""+
		"- Peak RSS, largest process: ru_maxrss from wait4, which for a pipeline or xargs is the largest single process, not the sum. "+
		"Each command runs under cmd/bench/rusage, so it starts from that wrapper's size (about 2.5 MiB), not the runner's. "+
		"Peak RSS, sum: the peak of the summed resident sets of the whole process tree, sampled from /proc every %v (can miss a short peak). "+
		"For MinIO the server's own peak memory and CPU time (from /proc) are shown apart.\n"+
		"- output: the compressed size of what the tool wrote (the input was compressed at level 6). "+
		"× scrub compares like with like: rows over all archives with `scrub erase, local disk`, rows over the `.csv.gz` subset with `scrub erase --include '*.csv.gz'` (level 1), "+
		"and the pipelines that end in a plain `gzip` (level 6, as they are usually written) with `scrub erase --include '*.csv.gz' --level 6`. "+
		"grep, awk, Miller and DuckDB cannot rewrite a zip in place, so they ran on the gzip subset only.\n"+
		"- correct?: each output is decoded and compared with the oracle: the input minus the records whose Client ID field (encoding/csv, unquoted) is listed, byte for byte. "+
		"When not byte-exact, output that encoding/csv reads is compared record by record (by values, then bytes); output that it cannot read "+
		"(a line filter cut a multi-line record apart) is compared line by line, a record counting as present when its first line (timestamp, Client ID, …) is. "+
		"The scrub runs are real erasures with keys and a signed audit bundle; scrub fsyncs and verifies each rewrite before it replaces the original, the others do neither.\n",
		sampleEvery)
	if prof != "" {
		fmt.Fprintf(w, "\n### Where scrub's CPU time goes\n\n```\n%s\n```\n", prof)
	}
}

func sizeLabel(n int64) string {
	switch {
	case n%1e9 == 0:
		return fmt.Sprintf("%dGB", n/1e9)
	case n%1e6 == 0:
		return fmt.Sprintf("%dMB", n/1e6)
	}
	return fmt.Sprint(n)
}

// profileScrub runs scrub in this process under a CPU profile over a fresh
// copy of all archives and returns the top of `go tool pprof -top`.
func profileScrub(e *runEnv) (string, error) {
	t := &tool{slug: "scrub-profile", subset: allArchives}
	tr, _, err := prepare(e, t)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tr.dir)
	pf := filepath.Join(filepath.Dir(e.scratch), "scrub-cpu.pprof")
	args := append([]string{"scrubprof", "-cpuprofile", pf, "--"}, e.scrubArgs(tr.audit)...)
	args = append(args, "--jobs", fmt.Sprint(e.jobs), tr.in)
	logf("profiling scrub into %s", pf)
	m, err := measure(e.rusage, exec.Command(e.self, args...))
	if err != nil {
		return "", err
	}
	if m.Exit != 0 {
		return "", errors.New(tail(m.Stderr, 5))
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", pf).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %v: %s", err, out)
	}
	cum, _ := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", pf).CombinedOutput()
	return fmt.Sprintf("profile of one run (%.1f s wall, %.1f s CPU): %s\n\n%s\n%s", m.Wall.Seconds(), m.CPU.Seconds(), pf, out, cum), nil
}
