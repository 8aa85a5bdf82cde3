package cli

import (
	"flag"
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30}, {"512MiB", 512 << 20}, {"2G", 2e9}, {"800m", 800e6}, {"1.5GiB", 3 << 29},
		{"65536KiB", 64 << 20}, {"1000000000", 1e9}, {" 2 GiB ", 2 << 30}, {"1TiB", 1 << 40},
	} {
		if got, err := ParseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "GiB", "1 furlong", "-1GiB", "1e30", "1.2.3M", "0x10"} {
		if n, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, n)
		}
	}
}

// TestMemoryFlag: --memory sets the runtime's limit and turns the
// proportional collector off; without it nothing changes; too small a
// budget is refused.
func TestMemoryFlag(t *testing.T) {
	limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(percent) })

	parse := func(args ...string) (*memoryFlag, error) {
		var m memoryFlag
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		m.register(fs)
		return &m, fs.Parse(args)
	}
	m, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	m.apply()
	if debug.SetMemoryLimit(-1) != limit {
		t.Error("no --memory changed the memory limit")
	}
	m, err = parse("--memory", "768MiB")
	if err != nil {
		t.Fatal(err)
	}
	m.apply()
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Errorf("limit %d, want %d", got, 768<<20)
	}
	if got := debug.SetGCPercent(percent); got != -1 {
		t.Errorf("GOGC %d, want off", got)
	}
	if _, err := parse("--memory", "10MiB"); err == nil || !strings.Contains(err.Error(), "64MiB") {
		t.Errorf("--memory 10MiB: %v, want refused naming the least budget", err)
	}
}
