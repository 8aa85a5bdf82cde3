package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// EachLogNewestFirst reads the logs of the sealed batches in loc, newest
// first, and calls fn with each until fn returns false: a command that
// looks for its own last batch reads only the logs after it, not the whole
// history (compare ReadLogs).
func EachLogNewestFirst(ctx context.Context, loc Location, fn func(*BatchLog) bool) error {
	files, err := loc.List(ctx)
	if err != nil {
		return fmt.Errorf("audit location %s: %w", loc, err)
	}
	var names []string
	for _, f := range files {
		if name, ok := strings.CutSuffix(f, logSuffix); ok && batchName.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range slices.Backward(names) {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := loc.ReadFile(ctx, name+logSuffix)
		if err != nil {
			return fmt.Errorf("audit location %s: %w", loc, err)
		}
		b, err := parseLog(name, data)
		if err != nil {
			return fmt.Errorf("audit location %s: %s%s: %w", loc, name, logSuffix, err)
		}
		if !fn(b) {
			return nil
		}
	}
	return nil
}
