package main_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// BenchmarkMemory erases a 2 GB (uncompressed) gzip archive and a 2 GB zip
// with --jobs 2 and reports the process's peak RSS: memory must not grow
// with archive size (target: under 200 MB). SCRUB_BENCH_BIG sets the size
// in MB.
func BenchmarkMemory(b *testing.B) {
	size := int64(2000)
	if s := os.Getenv("SCRUB_BENCH_BIG"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	size <<= 20
	orig := b.TempDir()
	writeBig(b, filepath.Join(orig, "big.csv.gz"), size)
	a := scrubtest.NewAudit(b)
	b.SetBytes(size)
	var peak int64
	for b.Loop() {
		b.StopTimer()
		data := filepath.Join(b.TempDir(), "data")
		if err := os.CopyFS(data, os.DirFS(orig)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cmd := exec.Command(bin, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "2", data})...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	mb := float64(peak) / 1024
	b.ReportMetric(mb, "peak-RSS-MB")
	if mb > 200 {
		b.Errorf("peak RSS %.0f MB, over the 200 MB target", mb)
	}
}

// writeBig writes a gzip CSV archive of about size bytes uncompressed, 2%
// of its rows of listed IDs.
func writeBig(b *testing.B, name string, size int64) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	z, _ := gzip.NewWriterLevel(f, 1)
	w := bufio.NewWriterSize(z, 1<<20)
	w.WriteString("Timestamp,Client ID,Edition,Version,Event Name,Custom Values\r\n")
	var n int64
	for j := 0; n < size; j++ {
		id := fmt.Sprintf("%016X", uint64(j)*0x9E3779B97F4A7C15)
		if j%50 == 0 {
			id = scrubtest.Victims[j%3]
		}
		k, _ := fmt.Fprintf(w, "2017-11-22 10:%02d:%02d,%s,Professional,4.2.%d,Save,\"(Key1,%d)&&(Key2,Value \"\"%d\"\")\"\r\n", j%60, j%59, id, j%10, j, j%97)
		n += int64(k)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := z.Close(); err != nil {
		b.Fatal(err)
	}
}
