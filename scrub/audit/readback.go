package audit

import (
	"context"
	"encoding/json"
	"fmt"
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

// ReadArchives returns the archive outcomes of a batch Verify found valid
// (st.Valid(), with its manifest): for each archive its last archive event
// (an archive retried after a resume is logged again, and the last one
// counts, as in the totals), in the order of those events. The log is read
// again, and must still be the one verified.
func ReadArchives(ctx context.Context, loc Location, st *BatchStatus) ([]Archive, error) {
	if !st.Valid() || st.Manifest == nil {
		return nil, fmt.Errorf("%s: not a valid batch: %s", st.Batch, st.Status())
	}
	b, data, err := readLog(ctx, loc, st.Batch)
	if err != nil {
		return nil, err
	}
	if sha256Hex(data) != st.Manifest.LogSHA256 {
		return nil, fmt.Errorf("%s%s changed after it was verified", st.Batch, logSuffix)
	}
	var all []Archive
	last := map[string]int{}
	for _, e := range b.Events {
		if e.Type != "archive" {
			continue
		}
		var ev archiveEvent
		if err := json.Unmarshal(e.Line, &ev); err != nil {
			return nil, fmt.Errorf("%s%s: archive event %d: %w", st.Batch, logSuffix, e.Seq, err)
		}
		last[ev.Key] = len(all)
		all = append(all, ev.Archive)
	}
	out := make([]Archive, 0, len(last))
	for i, a := range all {
		if last[a.Key] == i {
			out = append(out, a)
		}
	}
	return out, nil
}
