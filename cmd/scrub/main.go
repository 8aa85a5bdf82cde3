// Command scrub removes the rows of listed client IDs from exported CSV
// archives. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/cli"
)

// version and commit are set at build time:
// -ldflags "-X main.version=... -X main.commit=...".
var version, commit = "dev", ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second Ctrl-C kills at once
	err := cli.Run(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version, Commit: vcsCommit()})
	var usage *cli.UsageError
	switch {
	case err == nil, errors.Is(err, cli.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(2)
	case errors.Is(err, scrub.ErrPartial):
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(3)
	case errors.Is(err, cli.ErrConsistencyOnly):
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(4)
	case errors.Is(err, cli.ErrOverdue):
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(5)
	default:
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(1)
	}
}

// vcsCommit returns the commit the binary was built from: as set at build
// time, or as the go command recorded it.
func vcsCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}
