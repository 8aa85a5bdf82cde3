// Command scrub removes the rows of listed client IDs from exported CSV
// archives. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/cli"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second Ctrl-C kills at once
	err := cli.Run(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version})
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
	default:
		fmt.Fprintf(os.Stderr, "scrub: %v\n", err)
		os.Exit(1)
	}
}
