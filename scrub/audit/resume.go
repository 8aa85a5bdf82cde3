package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Journal is an unfinished batch found in an audit location: its journal
// is there, its signature is not.
type Journal struct {
	Batch   string
	Start   Start
	Started time.Time
	// Ended reports that the batch logged its end: only sealing is left.
	Ended bool
	// Done are the archives that have their final event; Midway the
	// archives that started the destructive sequence without finishing
	// it, with the staged file of their rewrite (which may still exist).
	Done   map[string]bool
	Midway map[string]string
	// Written are the archives left midway whose rewrite was complete
	// (a written step): what it was, and what it removed.
	Written map[string]Written
	// Matched is the tags of the listed IDs that the archive events of
	// the interrupted attempts found in some row.
	Matched map[string]bool
	// Dropped counts the bytes after the last whole, correctly chained
	// line: a line torn by the crash, never synced.
	Dropped int

	lines    [][]byte
	outcomes outcomes
}

// Written is a rewrite an interrupted batch completed, as its written
// step records it; the archive it was for may or may not have been
// replaced by it.
type Written struct {
	SizeBefore                            int64 // of the archive that was read
	VersionID                             string
	Size                                  int64 // of the rewrite
	SHA256                                string
	RowsScanned, RowsRemoved, RowsExpired int64
	Tags                                  []string
}

// Log returns the journal's whole, chained lines as a log (without a
// batch_end): a command reads its own events of an unfinished batch with
// it, such as the requests a queue run was working.
func (j *Journal) Log() (*BatchLog, error) {
	return parseLog(j.Batch, bytes.Join(j.lines, nil))
}

// sameBytes reports whether f holds exactly data.
func sameBytes(f *os.File, data []byte) bool {
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(data)) {
		return false
	}
	got := make([]byte, len(data))
	n, err := f.ReadAt(got, 0)
	return n == len(data) && (err == nil || errors.Is(err, io.EOF)) && bytes.Equal(got, data)
}

// Journals returns the unfinished batches in loc, oldest first. A journal
// without a whole first line is removed.
func Journals(ctx context.Context, loc Location) ([]*Journal, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", loc, err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	var out []*Journal
	for _, f := range files {
		name, ok := strings.CutSuffix(f, journalSuffix)
		if !ok || !batchName.MatchString(name) {
			continue
		}
		if have[name+sigSuffix] {
			// Sealed, then killed before its journal went: the log is
			// its copy.
			if err := loc.Remove(ctx, f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("audit location %s: %w", loc, err)
			}
			continue
		}
		data, err := loc.ReadFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("audit location %s: %w", loc, err)
		}
		j, err := parseJournal(name, data)
		if errors.Is(err, errNoStart) {
			// Killed before its first line was written: the run did
			// nothing, and its journal has nothing to say. A young
			// one may be a run that is starting right now (another
			// shard's, or a concurrent batch's): it is left alone.
			if started, ok := batchTime(name); !ok || time.Since(started) < youngJournal {
				continue
			}
			if err := loc.Remove(ctx, f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("audit location %s: %w", loc, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit location %s: journal %s: %w", loc, f, err)
		}
		out = append(out, j)
	}
	return out, nil
}

var errNoStart = errors.New("no whole first line")

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// youngJournal is how long after its batch started a journal without a
// first line may belong to a run still starting; a run writes its first
// line within milliseconds of creating the journal.
const youngJournal = 10 * time.Minute

// batchTime is the start time in a batch name.
func batchTime(name string) (time.Time, bool) {
	t, err := time.Parse("20060102T150405.000Z", strings.TrimPrefix(name, "batch-")[:len("20060102T150405.000Z")])
	return t, err == nil
}

// parseJournal reads a journal up to its last whole, chained line.
func parseJournal(name string, data []byte) (*Journal, error) {
	j := &Journal{Batch: name, Done: map[string]bool{}, Midway: map[string]string{}, Written: map[string]Written{}, Matched: map[string]bool{}, outcomes: outcomes{}}
	read := map[string]stepEvent{}
	prev := zeroHash
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i+1]
		var ev struct {
			header
			Batch  string `json:"batch"`
			Key    string `json:"key"`
			Staged string `json:"staged"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Seq != len(j.lines)+1 || ev.Prev != prev {
			break
		}
		switch ev.Type {
		case "batch_start":
			var st startEvent
			if err := json.Unmarshal(line, &st); err != nil || len(j.lines) != 0 || st.Batch != name {
				return nil, errors.New("does not start with its batch_start event")
			}
			j.Start = st.Start
			j.Started, _ = time.Parse(timeFormat, st.Time)
		case StepRead:
			j.Midway[ev.Key] = ev.Staged
			var st stepEvent
			json.Unmarshal(line, &st)
			read[ev.Key] = st
			delete(j.Written, ev.Key)
		case StepWritten:
			var st stepEvent
			if json.Unmarshal(line, &st) == nil && st.Size != nil && st.RowsScanned != nil && st.RowsRemoved != nil {
				r := read[ev.Key]
				j.Written[ev.Key] = Written{SizeBefore: deref(r.Size), VersionID: r.VersionID, Size: *st.Size, SHA256: st.SHA256,
					RowsScanned: *st.RowsScanned, RowsRemoved: *st.RowsRemoved, RowsExpired: st.RowsExpired, Tags: st.Tags}
			}
		case "archive":
			var a archiveEvent
			json.Unmarshal(line, &a)
			delete(j.Midway, a.Key)
			delete(j.Written, a.Key)
			for _, t := range a.Tags {
				j.Matched[t] = true
			}
			// Only a finished archive is done; one that failed, conflicted
			// or was skipped is tried again.
			j.Done[a.Key] = a.Status == StatusErased || a.Status == StatusUnchanged || a.Status == StatusNotScanned || a.Status == StatusAbsentByIndex
			j.outcomes.set(a.Key, a.Archive)
		case "batch_end":
			j.Ended = true
		}
		j.lines = append(j.lines, line)
		prev = sha256Hex(line)
		rest = rest[i+1:]
		if j.Ended {
			break
		}
	}
	if len(j.lines) == 0 {
		return nil, errNoStart
	}
	j.Dropped = len(data) - len(bytes.Join(j.lines, nil))
	return j, nil
}

// Resume takes up an unfinished batch: its journal is cut back to its last
// whole line and continued by the returned Writer, so that the batch stays
// one chain. Unless the batch had already ended, a resume event records who
// resumed it, with which tool, and what was found. key signs the bundle.
func Resume(loc Location, spoolDir string, key ed25519.PrivateKey, j *Journal, st Start, opts ...Option) (*Writer, error) {
	if key == nil {
		return nil, errors.New("resuming a batch needs its signing key")
	}
	w := &Writer{loc: loc, name: j.Batch, key: key, now: func() time.Time { return time.Now().UTC() },
		started: j.Started, start: j.Start, log: sha256.New(), outcomes: j.outcomes}
	for _, o := range opts {
		o(w)
	}
	if err := w.openSpool(spoolDir, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if err != nil {
		if err := w.openSpool(spoolDir, os.O_CREATE); err != nil {
			return nil, err
		}
	}
	// The valid lines are written first, then the rest cut off: a kill
	// in between leaves them followed by what the next parse drops. (Cut
	// first, the journal would be empty for a moment, and a kill then
	// would lose the batch's record.) In a local audit directory the
	// lines are already there and this only drops a torn last line.
	// A journal that already holds exactly those lines is not written at
	// all: once a batch has ended, a seal may have linked its sealed log
	// to this very file (one inode), which must not be touched.
	valid := bytes.Join(j.lines, nil)
	if !sameBytes(w.spool, valid) {
		if _, err := w.spool.WriteAt(valid, 0); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		if err := w.spool.Truncate(int64(len(valid))); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
	}
	if _, err := w.spool.Seek(int64(len(valid)), 0); err != nil {
		return nil, err
	}
	if err := w.spool.Sync(); err != nil {
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	w.log.Write(valid)
	w.seq, w.prev = len(j.lines), sha256Hex(j.lines[len(j.lines)-1])
	if j.Ended {
		return w, nil
	}
	err := w.write("resume", &resumeEvent{Operator: st.Operator, Host: st.Host, Tool: st.Tool,
		Done: j.DoneCount(), Midway: len(j.Midway), Dropped: j.Dropped})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Seal seals a batch whose end is already logged (a Journal with Ended).
func (w *Writer) Seal(ctx context.Context) (*Sealed, error) { return w.seal(ctx) }

// DoneCount returns how many archives the batch has finished.
func (j *Journal) DoneCount() int {
	n := 0
	for _, done := range j.Done {
		if done {
			n++
		}
	}
	return n
}
