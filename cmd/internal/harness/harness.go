// Package harness is what the programs that run throw-away S3 servers for
// tests share: free ports, a child command's signals and exit code, server
// processes and their logs.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Exit codes of the programs' own failures (as in env(1)).
const (
	ExitHarness  = 125
	ExitNoExec   = 126
	ExitNotFound = 127
)

// ErrInterrupted is returned for work cut short by SIGINT or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// Interrupts handles SIGINT and SIGTERM: before the command runs they
// cancel the start-up, then they are passed on to the command.
type Interrupts struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	sig    os.Signal   // the first signal before the command started
	proc   *os.Process // the command, once started
}

// Catch starts handling SIGINT and SIGTERM. The context is cancelled by
// the first of them that comes before the command has started, or by
// the cancel function.
func Catch() (context.Context, context.CancelFunc, *Interrupts) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &Interrupts{cancel: cancel}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go in.handle(sigc)
	return ctx, cancel, in
}

func (in *Interrupts) handle(sigc <-chan os.Signal) {
	for sig := range sigc {
		in.mu.Lock()
		if in.proc != nil {
			in.proc.Signal(sig)
		} else if in.sig == nil {
			in.sig = sig
			in.cancel()
		}
		in.mu.Unlock()
	}
}

// start starts cmd unless a signal came first.
func (in *Interrupts) start(cmd *exec.Cmd) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sig != nil {
		return ErrInterrupted
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	in.proc = cmd.Process
	return nil
}

// ExitCode is 128+signal after a signal, else code.
func (in *Interrupts) ExitCode(code int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return code
}

// Run starts cmd unless a signal came first, calls wait with a channel
// that is closed when cmd has exited, and returns cmd's exit code:
// 128+signal if a signal ended it; ExitNotFound or ExitNoExec if it
// could not be started. wait returns once the channel is closed.
func (in *Interrupts) Run(cmd *exec.Cmd, logf func(format string, args ...any), wait func(done <-chan struct{})) int {
	if err := in.start(cmd); err != nil {
		logf("%v", err)
		switch {
		case errors.Is(err, ErrInterrupted):
			return in.ExitCode(ExitHarness)
		case errors.Is(err, exec.ErrNotFound):
			return ExitNotFound
		}
		return ExitNoExec
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	wait(done)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// FreePorts returns n distinct free loopback ports. They are free now;
// the server binds them a moment later.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // keep it open until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WithoutVars returns env without the variables named in names; a name
// ending in "_" removes every variable with that prefix.
func WithoutVars(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if k == n || strings.HasSuffix(n, "_") && strings.HasPrefix(k, n) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Process is a server process whose output goes to a log file.
type Process struct {
	Name string                           // the server's name in messages
	Cmd  *exec.Cmd                        // the server's command, started by Start
	Log  string                           // the log file, created by Start
	Logf func(format string, args ...any) // the program's messages

	Exited chan struct{} // closed when the process has exited
	Err    error         // its Wait error, valid after Exited is closed
}

// Start creates the log file and starts p.Cmd in a process group of its
// own, its output going to the log and, if echo is not nil, to echo too.
func (p *Process) Start(echo io.Writer) error {
	logFile, err := os.Create(p.Log)
	if err != nil {
		return err
	}
	p.Cmd.Stdout = logFile
	if echo != nil {
		p.Cmd.Stdout = io.MultiWriter(logFile, echo)
	}
	p.Cmd.Stderr = p.Cmd.Stdout
	// Own process group: a terminal's Ctrl-C reaches the program, which
	// then stops the server in order, rather than the server directly.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	p.Exited = make(chan struct{})
	go func() {
		p.Err = p.Cmd.Wait()
		logFile.Close() // only now: with echo, Wait copies the output through it
		close(p.Exited)
	}()
	return nil
}

// WaitReady calls ready, each time with a context that ends after call,
// every interval until it succeeds, the process exits, timeout passes or
// ctx ends (ErrInterrupted).
func (p *Process) WaitReady(ctx context.Context, timeout, call, interval time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, call)
		lastErr := ready(callCtx)
		callCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.Exited:
			return fmt.Errorf("exited during start-up: %v", p.Err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not ready after %v; last error: %v", timeout, lastErr)
			}
			return ErrInterrupted
		case <-time.After(interval):
		}
	}
}

// Stop terminates the process (SIGTERM, SIGKILL after grace) and waits
// for it. With group, the signals go to its whole process group, which
// gets a last SIGKILL for anything the server left running.
func (p *Process) Stop(grace time.Duration, group bool) {
	signal := func(sig syscall.Signal) {
		if group {
			syscall.Kill(-p.Cmd.Process.Pid, sig)
		} else {
			p.Cmd.Process.Signal(sig)
		}
	}
	signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(grace):
		p.Logf("%s did not stop within %v; killing it", p.Name, grace)
		signal(syscall.SIGKILL)
		<-p.Exited
	}
	if group {
		signal(syscall.SIGKILL) // anything the server left running
	}
}

// ShowLog prints the last lines of the log to stderr. It returns the
// error of reading the log.
func (p *Process) ShowLog(lines int) error {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		p.Logf("%s's log is empty", p.Name)
		return nil
	}
	ls := bytes.Split(b, []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	p.Logf("last lines of %s's log:", p.Name)
	os.Stderr.Write(append(bytes.Join(ls, []byte("\n")), '\n'))
	return nil
}
