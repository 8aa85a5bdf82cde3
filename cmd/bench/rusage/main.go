// Command rusage runs a command and writes its rusage from wait4 (peak RSS
// of the largest process of its tree, user + system CPU of the tree) as
// JSON to -out. It exits with the command's exit code.
//
// The bench runner starts every measured command through it. Started
// straight from the runner, a command's ru_maxrss would begin at the
// runner's own peak: Linux carries the high-water mark of the address space
// a process leaves into the new one at exec (exec_mmap), and Go starts
// children with vfork, in the parent's address space. This program is
// small, so the floor it passes on is a few MiB.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	out := flag.String("out", "", "write the rusage to `FILE` (JSON)")
	flag.Parse()
	if flag.NArg() == 0 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: rusage -out FILE -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			fmt.Fprintln(os.Stderr, "rusage:", err)
			os.Exit(127)
		}
	}
	var u struct {
		MaxRSS int64 `json:"max_rss"` // bytes
		CPU    int64 `json:"cpu"`     // nanoseconds, user + system
		Exit   int   `json:"exit"`
	}
	u.Exit = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		u.CPU = ru.Utime.Nano() + ru.Stime.Nano()
	}
	b, _ := json.Marshal(u)
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(125)
	}
	os.Exit(u.Exit)
}
