package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// measurement is what one timed command cost.
type measurement struct {
	Wall time.Duration `json:"wall"`
	// CPU is user + system time of the command and every descendant it
	// waited for (rusage from wait4).
	CPU time.Duration `json:"cpu"`
	// MaxRSS is ru_maxrss from wait4: the peak of the largest single
	// process of the tree (the kernel keeps the maximum over waited-for
	// descendants, not their sum).
	MaxRSS int64 `json:"max_rss"`
	// SumRSS is the peak of the sum of the resident sets of the command and
	// all its descendants, sampled from /proc every sampleEvery. For a
	// pipeline or xargs -P it is the memory actually in use at once; it can
	// miss a short peak between samples.
	SumRSS int64 `json:"sum_rss"`
	// OtherRSS is the sampled peak of processes watched but not part of
	// the command (the MinIO server).
	OtherRSS int64 `json:"other_rss,omitempty"`
	// OtherCPU is the CPU time those processes spent during the run.
	OtherCPU time.Duration `json:"other_cpu,omitempty"`
	// Machine is the CPU time the whole machine spent during the run.
	Machine time.Duration `json:"machine"`
	Exit    int           `json:"exit"`
	Stdout  string        `json:"stdout,omitempty"`
	Stderr  string        `json:"stderr,omitempty"`
}

const sampleEvery = 50 * time.Millisecond

// measure runs cmd to its end under the wrapper cmd/bench/rusage (built at
// wrapper) and measures it; see cmd/bench/rusage for why a wrapper. others are
// further process IDs whose trees are sampled into OtherRSS.
func measure(wrapper string, cmd *exec.Cmd, others ...int) (measurement, error) {
	ru, err := os.CreateTemp("", "bench-rusage-*.json")
	if err != nil {
		return measurement{}, err
	}
	ru.Close()
	defer os.Remove(ru.Name())
	wrapped := exec.Command(wrapper, append([]string{"-out", ru.Name(), "--", cmd.Path}, cmd.Args[1:]...)...)
	wrapped.Env, wrapped.Dir, wrapped.Stdin = cmd.Env, cmd.Dir, cmd.Stdin
	var stdout, stderr bytes.Buffer
	wrapped.Stdout, wrapped.Stderr = cmd.Stdout, cmd.Stderr
	if wrapped.Stdout == nil {
		wrapped.Stdout = &stdout
	}
	if wrapped.Stderr == nil {
		wrapped.Stderr = &stderr
	}
	otherCPU := func() time.Duration {
		procs := readProcs()
		var d time.Duration
		for _, pid := range others {
			d += treeCPU(procs, pid)
		}
		return d
	}
	otherStart, machineStart := otherCPU(), machineBusy()
	start := time.Now()
	if err := wrapped.Start(); err != nil {
		return measurement{}, err
	}
	done := make(chan struct{})
	var sum, other int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			procs := readProcs()
			root := wrapped.Process.Pid
			sum = max(sum, treeRSS(procs, root)-procs[root].rss)
			var o int64
			for _, pid := range others {
				o += treeRSS(procs, pid)
			}
			other = max(other, o)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	err = wrapped.Wait()
	m := measurement{Wall: time.Since(start)}
	close(done)
	wg.Wait()
	m.SumRSS, m.OtherRSS = sum, other
	m.OtherCPU, m.Machine = otherCPU()-otherStart, machineBusy()-machineStart
	m.Stdout, m.Stderr = stdout.String(), stderr.String()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		return m, err
	}
	var r childUsage
	b, rerr := os.ReadFile(ru.Name())
	if rerr == nil {
		rerr = json.Unmarshal(b, &r)
	}
	if rerr != nil {
		return m, fmt.Errorf("rusage of %s: %v (%v)", cmd.Path, rerr, err)
	}
	m.MaxRSS, m.CPU, m.Exit = r.MaxRSS, r.CPU, r.Exit
	m.SumRSS = max(m.SumRSS, m.MaxRSS)
	return m, nil
}

// childUsage is what cmd/bench/rusage reports.
type childUsage struct {
	MaxRSS int64         `json:"max_rss"` // bytes
	CPU    time.Duration `json:"cpu"`     // user + system
	Exit   int           `json:"exit"`
}

type proc struct {
	ppid int
	rss  int64         // bytes
	cpu  time.Duration // user + system
}

var pageSize = int64(os.Getpagesize())

// readProcs reads the parent and resident set size of every process.
func readProcs() map[int]proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := make(map[int]proc, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state ppid ... with rss the 22nd of them.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, rss: rss * pageSize, cpu: time.Duration(utime+stime) * time.Second / 100} // USER_HZ
	}
	return procs
}

// treeRSS sums the resident sets of root and its descendants.
func treeRSS(procs map[int]proc, root int) int64 {
	var sum int64
	walkTree(procs, root, func(p proc) { sum += p.rss })
	return sum
}

// treeCPU sums the CPU time of root and its live descendants.
func treeCPU(procs map[int]proc, root int) time.Duration {
	var sum time.Duration
	walkTree(procs, root, func(p proc) { sum += p.cpu })
	return sum
}

func walkTree(procs map[int]proc, root int, fn func(proc)) {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		fn(procs[pid])
		stack = append(stack, children[pid]...)
	}
}

func mib(n int64) string {
	if n <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// tail returns the last lines of s, for error messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
