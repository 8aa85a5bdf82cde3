package chain

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Listing is what a log's directory holds, by name: its change files in
// name order, which of them have a signature beside them, and whether its
// identity file is there.
type Listing struct {
	Changes []string
	Signed  map[string]bool
	HasID   bool
}

// Classify sorts the names of a log's directory (files) into a Listing: the
// identity file idFile, change files (names that change matches) and their
// signatures. Other names are none of the log's.
func Classify(files []string, idFile string, change *regexp.Regexp) Listing {
	l := Listing{Signed: map[string]bool{}}
	for _, f := range files {
		if f == idFile {
			l.HasID = true
		} else if change.MatchString(f) {
			l.Changes = append(l.Changes, f)
		} else if c, ok := strings.CutSuffix(f, SigSuffix); ok && change.MatchString(c) {
			l.Signed[c] = true
		}
	}
	slices.Sort(l.Changes)
	return l
}

// loadJobs bounds the change files read at once (an S3 prefix answers
// each read in a round trip).
const loadJobs = 8

// LoadAll loads every change file of l with load, a few at once, and
// returns them in l's order. The first error stops it, wrapped as
// "WHAT LOC: NAME: error" (what is "blocklist" or "queue").
func LoadAll[T any](ctx context.Context, what string, loc fmt.Stringer, l Listing, load func(ctx context.Context, name string, signed bool) (*T, error)) ([]T, error) {
	all := make([]T, len(l.Changes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadJobs)
	for i, name := range l.Changes {
		g.Go(func() error {
			c, err := load(gctx, name, l.Signed[name])
			if err != nil {
				return fmt.Errorf("%s %s: %s: %w", what, loc, name, err)
			}
			all[i] = *c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return all, nil
}
