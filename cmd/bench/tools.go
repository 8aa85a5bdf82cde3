package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// subsets of the data set a tool runs over.
const (
	allArchives = "all" // every archive, gzip and zip
	gzipOnly    = "gzip"
)

// Where a tool's output is.
const (
	noOutput = iota // nothing to check (a decompression floor)
	inPlace         // the archives in the scratch copy, rewritten
	outDir          // the scratch out/ directory, one file per input, same name
)

// tool is one row of the table.
type tool struct {
	slug   string // for -only and the scratch directory
	name   string // the row's label
	subset string
	output int
	// ref is the slug of the scrub row that × scrub compares with: by
	// default scrub over the same subset, at the same output level.
	ref string
	// missing says why the tool cannot run here ("" when it can).
	missing func(e *runEnv) string
	// run runs the tool over tr and measures it.
	run func(e *runEnv, tr *toolRun) (measurement, error)
}

// toolRun is one tool's scratch space.
type toolRun struct {
	dir   string   // scratch/<slug>
	in    string   // copies of the subset's archives
	out   string   // outputs (outDir tools, and MinIO downloads)
	audit string   // scrub's audit bundle
	files []string // the archives in in/
	list  string   // the same, NUL-separated, for xargs -0 -a and DuckDB
}

// The line filters people write. Each runs as `sh -c PIPELINE sh FILE`,
// one archive per process, xargs -P running as many at once as there are
// CPUs. IDS is ids.txt; AWKPROG finds the Client ID column in the header
// and drops rows whose field there, split on commas, is listed.
const (
	zcatNull = `gzip -dc -- "$1" > /dev/null`
	zcatGzip = `gzip -dc -- "$1" | gzip -1 > "$OUT/${1##*/}"`
	grepPipe = `gzip -dc -- "$1" | grep -v -F -f "$IDS" | gzip -1 > "$OUT/${1##*/}"`
	awkPipe  = `gzip -dc -- "$1" | "$AWK" -F, "$AWKPROG" "$IDS" - | gzip -1 > "$OUT/${1##*/}"`
	// As the pipelines are usually written, and as ../shared/FACTS.md
	// measured them: gzip at its default level, 6.
	grepPipe6  = `gzip -dc -- "$1" | grep -v -F -f "$IDS" | gzip > "$OUT/${1##*/}"`
	awkPipe6   = `gzip -dc -- "$1" | "$AWK" -F, "$AWKPROG" "$IDS" - | gzip > "$OUT/${1##*/}"`
	millerPipe = `gzip -dc -- "$1" | mlr --csv join --np --ur -j "Client ID" -f "$IDSCSV" | gzip -1 > "$OUT/${1##*/}"`
	awkProg    = `NR == FNR { drop[$0]; next } FNR == 1 { for (i = 1; i <= NF; i++) if ($i == "Client ID") c = i } !($c in drop)`
)

func tools() []*tool {
	return []*tool{
		{slug: "scrub", name: "scrub erase, local disk", subset: allArchives, output: inPlace, run: runScrub(false, 0)},
		{slug: "scrub-minio", name: "scrub erase, MinIO on loopback (s3://), 1 drive", subset: allArchives, output: outDir, missing: needMinIO, run: runScrubS3(1)},
		{slug: "scrub-minio4", name: "scrub erase, MinIO on loopback (s3://), 4 drives (erasure-coded)", subset: allArchives, output: outDir, missing: needMinIO, run: runScrubS3(4)},
		{slug: "floor-go", name: "floor: Go decompress only (klauspost)", subset: allArchives, run: runFloor(false)},
		{slug: "floor-go-l1", name: "floor: Go decompress + recompress level 1 (klauspost)", subset: allArchives, run: runFloor(true)},

		{slug: "scrub-gz", name: "scrub erase --include '*.csv.gz'", subset: gzipOnly, output: inPlace, run: runScrub(true, 0)},
		{slug: "gzip-dc", name: "floor: `gzip -dc > /dev/null`", subset: gzipOnly, missing: need("gzip", "xargs"), run: runPipe(zcatNull)},
		{slug: "gzip-gzip", name: "floor: `gzip -dc \\| gzip -1`", subset: gzipOnly, missing: need("gzip", "xargs"), run: runPipe(zcatGzip)},
		{slug: "grep", name: "`gzip -dc \\| grep -v -F -f ids \\| gzip -1`", subset: gzipOnly, output: outDir, missing: need("gzip", "grep", "xargs"), run: runPipe(grepPipe)},
		{slug: "mawk", name: "`gzip -dc \\| mawk -F, … \\| gzip -1`", subset: gzipOnly, output: outDir, missing: need("gzip", "mawk", "xargs"), run: runPipe(awkPipe, "AWK=mawk")},
		{slug: "gawk", name: "`gzip -dc \\| gawk -F, … \\| gzip -1`", subset: gzipOnly, output: outDir, missing: need("gzip", "gawk", "xargs"), run: runPipe(awkPipe, "AWK=gawk")},
		{slug: "miller", name: "`gzip -dc \\| mlr --csv join --np --ur … \\| gzip -1`", subset: gzipOnly, output: outDir, missing: need("gzip", "mlr", "xargs"), run: runPipe(millerPipe)},
		{slug: "duckdb", name: "DuckDB anti-join, gz → gz (node @duckdb/node-api)", subset: gzipOnly, output: outDir, missing: needDuckDB, run: runDuckDB},

		{slug: "scrub-gz-l6", name: "scrub erase --include '*.csv.gz' --level 6", subset: gzipOnly, output: inPlace, ref: "scrub-gz-l6", run: runScrub(true, 6)},
		{slug: "grep-l6", name: "`gzip -dc \\| grep -v -F -f ids \\| gzip` (level 6)", subset: gzipOnly, output: outDir, ref: "scrub-gz-l6", missing: need("gzip", "grep", "xargs"), run: runPipe(grepPipe6)},
		{slug: "mawk-l6", name: "`gzip -dc \\| mawk -F, … \\| gzip` (level 6)", subset: gzipOnly, output: outDir, ref: "scrub-gz-l6", missing: need("gzip", "mawk", "xargs"), run: runPipe(awkPipe6, "AWK=mawk")},
		{slug: "mawk-l6-serial", name: "the same, one archive after the other (a shell `for` loop)", subset: gzipOnly, output: outDir, ref: "scrub-gz-l6", missing: need("gzip", "mawk", "xargs"), run: runPipe(awkPipe6, "AWK=mawk", "JOBS=1")},
	}
}

// refSlug is the scrub row t is compared with.
func (t *tool) refSlug() string {
	switch {
	case t.ref != "":
		return t.ref
	case t.subset == gzipOnly:
		return "scrub-gz"
	}
	return "scrub"
}

func need(programs ...string) func(*runEnv) string {
	return func(*runEnv) string {
		var missing []string
		for _, p := range programs {
			if _, err := exec.LookPath(p); err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return "not installed: " + strings.Join(missing, ", ") + " not in PATH"
		}
		return ""
	}
}

func needMinIO(e *runEnv) string {
	if e.skipS3 {
		return "skipped (-skip-s3)"
	}
	if _, err := os.Stat(e.minio); err != nil {
		return fmt.Sprintf("not installed: %s missing (make bin/minio)", e.minio)
	}
	return ""
}

func needDuckDB(e *runEnv) string {
	if r := need("node")(e); r != "" {
		return r
	}
	if _, err := os.Stat(filepath.Join(e.duckdbDir, "node_modules", "@duckdb", "node-api")); err != nil {
		return "not installed: @duckdb/node-api missing in " + e.duckdbDir + "/node_modules (npm install there; make bench-peers does)"
	}
	return ""
}

// scrubArgs is a real erasure with keys and a signed audit bundle.
func (e *runEnv) scrubArgs(audit string) []string {
	return []string{"erase", "--ids", e.ids(), "--key", filepath.Join(e.keys, "signer"),
		"--id-key", filepath.Join(e.keys, "id.key"), "--audit", audit, "--no-progress", "--json"}
}

// runScrub runs scrub over the local copy; level 0 is scrub's default.
func runScrub(gzOnly bool, level int) func(*runEnv, *toolRun) (measurement, error) {
	return func(e *runEnv, tr *toolRun) (measurement, error) {
		args := append(e.scrubArgs(tr.audit), "--jobs", fmt.Sprint(e.jobs))
		if gzOnly {
			args = append(args, "--include", "*.csv.gz")
		}
		if level != 0 {
			args = append(args, "--level", fmt.Sprint(level))
		}
		return measure(e.rusage, exec.Command(e.scrub, append(args, tr.in)...))
	}
}

func runFloor(recompress bool) func(*runEnv, *toolRun) (measurement, error) {
	return func(e *runEnv, tr *toolRun) (measurement, error) {
		args := []string{"floor", "-jobs", fmt.Sprint(e.jobs)}
		if recompress {
			args = append(args, "-out", tr.out)
		}
		return measure(e.rusage, exec.Command(e.self, append(args, tr.files...)...))
	}
}

func runPipe(pipeline string, env ...string) func(*runEnv, *toolRun) (measurement, error) {
	return func(e *runEnv, tr *toolRun) (measurement, error) {
		script := `exec xargs -0 -P "$JOBS" -n 1 -a "$LIST" sh -c '` + pipeline + `' sh`
		cmd := exec.Command("sh", "-c", script)
		// The tool's own env comes last, so that it can set JOBS: of
		// duplicate keys, exec uses the last.
		cmd.Env = append(os.Environ(), "JOBS="+fmt.Sprint(e.jobs), "LIST="+tr.list, "OUT="+tr.out,
			"IDS="+e.ids(), "IDSCSV="+filepath.Join(e.data, "ids.csv"), "AWKPROG="+awkProg)
		cmd.Env = append(cmd.Env, env...)
		return measure(e.rusage, cmd)
	}
}

func runDuckDB(e *runEnv, tr *toolRun) (measurement, error) {
	cmd := exec.Command("node", filepath.Join(e.duckdbDir, "antijoin.mjs"),
		fmt.Sprint(e.jobs), filepath.Join(e.data, "ids.csv"), tr.out, tr.list)
	return measure(e.rusage, cmd)
}
