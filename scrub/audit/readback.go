package audit

import (
	"context"
	"slices"
)

// EachLogNewestFirst reads the logs of the sealed batches in loc, newest
// first, and calls fn with each until fn returns false: a command that
// looks for its own last batch reads only the logs after it, not the whole
// history .
func EachLogNewestFirst(ctx context.Context, loc Location, fn func(*BatchLog) bool) error {
	names, err := logNames(ctx, loc)
	if err != nil {
		return err
	}
	for _, name := range slices.Backward(names) {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, _, err := readLog(ctx, loc, name)
		if err != nil {
			return err
		}
		if !fn(b) {
			return nil
		}
	}
	return nil
}
