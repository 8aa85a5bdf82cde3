// Command bench compares scrub with the tools people use instead to drop
// listed client IDs from CSV archives (grep, awk, Miller, DuckDB) and with
// the speed floor of decompression, on the same generated files, in one run,
// and prints a markdown table: wall time, MB/s of uncompressed CSV, CPU,
// peak RSS, and whether each tool's output is right.
//
//	go run ./cmd/bench gen -size 1GB -out build/bench/data-1GB    # once; reused if present
//	go run ./cmd/bench run -data build/bench/data-1GB             # the table
//
// or `make bench-peers BENCH_SIZE=1GB`, which also builds scrub and
// installs the peers. See cmd/bench/README.md.
//
// bench index (make bench) measures what the keyed index saves and costs;
// indexload is its helper that times the load of an index.
//
// bench scale (make bench) measures the scale rows: many small archives,
// memory against the number of archives, a million IDs, S3 behind 20 ms
// of latency, a big zip against the same as gzip; it rewrites their
// section of RESULTS.md.
//
// bench queue measures scrub queue run with 1 queued request against many
// (1,000 by default) on the same archives: the cost is one scan.
//
// The other commands are the runner's helpers: floor (the Go decompression
// floor), s3child (runs under cmd/withminio and times scrub against MinIO),
// s3latency (the same behind a latency proxy) and scrubprof (scrub with a
// CPU profile).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/scrubtool/scrub/scrub/cli"
)

func main() {
	cmd, args := "run", os.Args[1:]
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "gen":
		err = genMain(args)
	case "run":
		err = runMain(args)
	case "floor":
		err = floorMain(args)
	case "s3child":
		err = s3childMain(args)
	case "scrubprof":
		err = scrubprofMain(args)
	case "scale":
		err = scaleMain(args)
	case "s3latency":
		err = s3latencyMain(args)
	case "queue":
		err = queueMain(args)
	case "index":
		err = indexMain(args)
	case "indexload":
		err = indexLoadMain(args)
	default:
		err = fmt.Errorf("unknown command %q (want gen or run)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// scrubprofMain runs scrub (its cli package, in this process) under a CPU
// profile; the scrub binary has no profiling flag.
func scrubprofMain(args []string) error {
	fl := flag.NewFlagSet("scrubprof", flag.ContinueOnError)
	out := fl.String("cpuprofile", "scrub-cpu.pprof", "write the CPU profile to `FILE`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = cli.Run(ctx, fl.Args(), cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: "bench-profile"})
	pprof.StopCPUProfile()
	return errors.Join(err, f.Close())
}
