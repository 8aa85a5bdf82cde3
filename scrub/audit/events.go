package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// noteEvent is an event of a command's own (a block-list change, a sweep's
// watermark, an export's file): its type names it, and data holds its
// fields.
type noteEvent struct {
	header
	Data any `json:"data"`
}

// Event logs an event of type typ whose fields are data (a struct or map
// that encodes to a JSON object). Like every event it is synced to the
// journal before Event returns, so a step taken after it is on record.
// The types the audit package writes itself (batch_start, ids, listed,
// read, written, verified, originals_deleted, archive, resume, batch_end)
// are reserved.
func (w *Writer) Event(typ string, data any) error {
	switch typ {
	case "batch_start", "ids", "listed", "archive", "resume", "batch_end",
		"read", "written", "verified", "originals_deleted":
		return fmt.Errorf("audit: event type %q is reserved", typ)
	}
	return w.write(typ, &noteEvent{Data: data})
}

// Logged is one event of a sealed log, as read back.
type Logged struct {
	Seq  int
	Type string
	Time time.Time
	// Line is the whole line, for fields the reader knows; Data is the
	// data of an event logged with Event.
	Line json.RawMessage
	Data json.RawMessage
}

// BatchLog is the log of one sealed batch, read without verifying it
// (scrub verify does that).
type BatchLog struct {
	Name    string
	Start   Start
	Started time.Time
	Result  string // of batch_end
	Events  []Logged
}

// logNames returns the names of the sealed batches in loc (those with a
// log), oldest first: batch names sort by start time. Unfinished batches
// (journals) are not included.
func logNames(ctx context.Context, loc Location) ([]string, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", loc, err)
	}
	var names []string
	for _, f := range files {
		if name, ok := strings.CutSuffix(f, logSuffix); ok && batchName.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// readLog reads and parses one batch's log.
func readLog(ctx context.Context, loc Location, name string) (*BatchLog, []byte, error) {
	data, err := loc.ReadFile(ctx, name+logSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("audit location %s: %w", loc, err)
	}
	b, err := parseLog(name, data)
	if err != nil {
		return nil, nil, fmt.Errorf("audit location %s: %s%s: %w", loc, name, logSuffix, err)
	}
	return b, data, nil
}

func parseLog(name string, data []byte) (*BatchLog, error) {
	b := &BatchLog{Name: name}
	for n := 1; len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data) - 1
		}
		line := data[:i+1]
		data = data[i+1:]
		var ev struct {
			header
			Data   json.RawMessage `json:"data"`
			Result string          `json:"result"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		t, _ := time.Parse(timeFormat, ev.Time)
		switch ev.Type {
		case "batch_start":
			var st startEvent
			if err := json.Unmarshal(line, &st); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			b.Start, b.Started = st.Start, t
		case "batch_end":
			b.Result = ev.Result
		}
		b.Events = append(b.Events, Logged{Seq: ev.Seq, Type: ev.Type, Time: t, Line: bytes.Clone(line), Data: ev.Data})
	}
	return b, nil
}
