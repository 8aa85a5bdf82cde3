package main_test

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// BenchmarkLargeList1M erases with a list of a million UUID-like IDs
// (keys, audit log, ID tags) over one small CSV that holds two of them,
// and reports the process's wall time and peak RSS: the targets
// are 1 s and 100 MiB on a 2-CPU machine. The list is made once.
func BenchmarkLargeList1M(b *testing.B) { benchLargeList(b, 1_000_000, 100) }

// BenchmarkLargeList10M is BenchmarkLargeList1M with ten million IDs
// (targets: 10 s, 1 GB). It makes a 370 MB list, so it runs only when
// -bench names it (not for -bench .) or SCRUB_BENCH_10M is set.
func BenchmarkLargeList10M(b *testing.B) {
	if p := flag.Lookup("test.bench").Value.String(); !strings.Contains(p, "10M") && os.Getenv("SCRUB_BENCH_10M") == "" {
		b.Skip("ten million IDs: -bench LargeList10M or SCRUB_BENCH_10M=1")
	}
	benchLargeList(b, 10_000_000, 1000)
}

func benchLargeList(b *testing.B, n int, limitMiB float64) {
	dir := b.TempDir()
	list := filepath.Join(dir, "ids.txt")
	listed := writeUUIDs(b, list, n)
	orig := filepath.Join(dir, "orig.csv")
	csv := "Timestamp,Client ID\n2024-01-01 00:00:00,keep-1\n" +
		"2024-01-02 00:00:00," + listed[0] + "\n2024-01-02 00:00:00," + listed[1] + "\n2024-01-03 00:00:00,keep-2\n"
	if err := os.WriteFile(orig, []byte(csv), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(37 * n))
	var peak int64
	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		a := scrubtest.NewAudit(b)
		data := filepath.Join(b.TempDir(), "data")
		os.Mkdir(data, 0o755)
		if err := os.WriteFile(filepath.Join(data, "a.csv"), []byte(csv), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		cmd := exec.Command(bin, a.WithAudit([]string{"erase", "--ids", list, "--no-progress", data})...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		wall = max(wall, time.Since(start))
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	mib := float64(peak) / 1024
	b.ReportMetric(mib, "peak-RSS-MiB")
	b.ReportMetric(wall.Seconds(), "max-wall-s")
	if mib > limitMiB {
		b.Errorf("peak RSS %.0f MiB, over the %.0f MiB target", mib, limitMiB)
	}
}

// writeUUIDs writes n random UUID-like IDs, one per line, and returns the
// first two.
func writeUUIDs(b *testing.B, name string, n int) []string {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	var first []string
	for i := range n {
		id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
		if i < 2 {
			first = append(first, id)
		}
		w.WriteString(id + "\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return first
}
