package cli

import (
	"flag"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryFlag is --memory: the memory budget of the process. Given, it is
// the Go runtime's soft memory limit (as GOMEMLIMIT sets it) with the
// proportional collector off (GOGC=off): the heap may grow up to the
// budget before it is collected, which spares the collector's work on a
// batch of many small archives, and is collected harder as it nears the
// budget. Not given, GOMEMLIMIT and GOGC from the environment (or Go's
// defaults) apply.
type memoryFlag struct {
	bytes int64 // 0: not given
}

// minMemory is the smallest budget taken: below it the collector would
// run all the time.
const minMemory = 64 << 20

func (m *memoryFlag) register(fs *flag.FlagSet) {
	fs.Func("memory", "memory `SIZE` the process may use, such as 512MiB or 2GiB (at least 64MiB): the Go runtime's soft limit (GOMEMLIMIT), collecting only as it is neared (GOGC=off); default: $GOMEMLIMIT and $GOGC, or Go's defaults", func(s string) error {
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		if n < minMemory {
			return fmt.Errorf("%s is below the least budget, 64MiB", s)
		}
		m.bytes = n
		return nil
	})
}

// apply sets the runtime's limit, if the flag was given.
func (m *memoryFlag) apply() {
	if m.bytes == 0 {
		return
	}
	debug.SetMemoryLimit(m.bytes)
	debug.SetGCPercent(-1)
}

// ParseSize parses a size in bytes with an optional unit: B, K/KB (1000),
// KiB (1024), M/MB, MiB, G/GB, GiB, T/TB, TiB; the letter case of the unit
// does not matter. GOMEMLIMIT's own form (1GiB) is one of them. (The bench
// program reads its sizes with it too.)
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult := map[string]float64{"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "kib": 1 << 10, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
		"g": 1e9, "gb": 1e9, "gib": 1 << 30, "t": 1e12, "tb": 1e12, "tib": 1 << 40}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size such as 512MiB, 2GiB or 1500000000", s)
	}
	return int64(v * mult), nil
}
