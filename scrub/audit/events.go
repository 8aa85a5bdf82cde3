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

// Decode decodes the data of an event logged with Event into v.
func (e Logged) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("%s event %d: %w", e.Type, e.Seq, err)
	}
	return nil
}

// IDTags returns the tags of an ids event.
func (e Logged) IDTags() ([]string, error) {
	var ev idsEvent
	if err := json.Unmarshal(e.Line, &ev); err != nil {
		return nil, fmt.Errorf("ids event %d: %w", e.Seq, err)
	}
	return ev.Tags, nil
}

// The types of the commands' own events (logged with Event), and their
// data below.
const (
	EventBlocklistAdd      = "blocklist_add"       // BlocklistChange
	EventBlocklistRemove   = "blocklist_remove"    // BlocklistChange
	EventBlocklistAdopt    = "blocklist_adopt"     // an unsigned list brought under signatures (scrub unblock --adopt-unsigned)
	EventSweep             = "sweep"               // Sweep
	EventExportArchive     = "export_archive"      // ExportArchive
	EventExportFile        = "export_file"         // ExportFile
	EventExportFileRemoved = "export_file_removed" // ExportFileRemoved
	EventIDsUnmatched      = "ids_unmatched"       // IDsUnmatched
	EventQueueRun          = "queue_run"           // QueueRun
)

// QueueRun is the data of a queue run's queue_run event, logged before
// the archives are listed: which state of the request queue the batch
// works, and the requests it covers. The queue marks them done (its done
// change names this batch and its head) only once the batch is complete.
type QueueRun struct {
	Queue string `json:"queue"` // the queue's location, as given
	// QueueHeads are the SHA-256 of the queue's head changes when the
	// batch began (package queue).
	QueueHeads []string          `json:"queue_heads"`
	Requests   []QueueRunRequest `json:"requests"`
	// Routing says which columns were checked for which identifier
	// types: "all-columns" (without a data map, every ID column for
	// every request's tags, whatever its type) or "data-map" (each
	// dataset's columns of type T for the tags of the requests of type T
	// only, as the map whose SHA-256 is Map says).
	Routing string `json:"routing"`
	Map     string `json:"map_sha256,omitempty"`
	// NotRouted are the pending requests a data-map run left out, and
	// why (a type the map holds in no dataset, or only as a composite's
	// part; a stored form of its type the request holds no tags of):
	// they stay pending.
	NotRouted []QueueRunNotRouted `json:"not_routed,omitempty"`
}

// QueueRunNotRouted is a pending request a queue run did not work.
type QueueRunNotRouted struct {
	ID     string `json:"id"`
	Ticket string `json:"ticket"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// QueueRunRequest is one request a queue run covers.
type QueueRunRequest struct {
	ID     string   `json:"id"` // the request's add change, without .json
	Ticket string   `json:"ticket"`
	Type   string   `json:"type"`
	Due    string   `json:"due"`
	Tags   []string `json:"id_hmacs"`
	// Datasets are, with routing "data-map", the datasets whose columns
	// were checked for the request's tags (those holding its type): the
	// request is done once none of their archives is left unfinished.
	Datasets []string `json:"datasets,omitempty"`
	// Forms are, with routing "data-map", the tags of the request's
	// identifiers in each stored form other than clear that a column
	// checked for it holds its type in (recorded by scrub queue add
	// --map): such a column was checked for these tags, computed on its
	// values (a digest's hex in lower case). Absent when every column of
	// its type is clear.
	Forms []QueueRunForm `json:"forms,omitempty"`
}

// QueueRunForm is the tags of a request's identifiers in one stored form.
type QueueRunForm struct {
	Form string   `json:"form"`             // "lower,sha256", "hmac-sha256"...
	Key  string   `json:"key_id,omitempty"` // an hmac-sha256 form's key, by its ID
	Tags []string `json:"id_hmacs"`
}

// IDsUnmatched is the data of ids_unmatched: the listed IDs of an erasure
// that matched no row of the archives it read (in a sharded request, of
// its share), by their tags, sorted, up to 1000 per event; Count is how
// many in all.
type IDsUnmatched struct {
	Count int `json:"count"`
	// All says that no listed ID matched: the batch's ids events name
	// them, and Tags is empty.
	All  bool     `json:"all,omitempty"`
	Tags []string `json:"id_hmacs,omitempty"`
}

// BlocklistChange is the data of blocklist_add and blocklist_remove.
type BlocklistChange struct {
	Blocklist string `json:"blocklist"`
	// Change is the change file and SHA256 its content; both are empty
	// when nothing changed (every ID was on the list already, or none
	// was on it).
	Change string `json:"change,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Tags are those of the request's IDs: for an add all of them, for
	// a remove those that were on the list.
	Tags []string `json:"id_hmacs"`
	// AlreadyListed (add) and NotListed (remove) count the IDs the
	// change did not concern.
	AlreadyListed *int `json:"already_listed,omitempty"`
	NotListed     *int `json:"not_listed,omitempty"`
	// ListTags counts the tags on the list after the change.
	ListTags int `json:"list_tags"`
	// Scope (add) is that of the erase batch: its time is when its
	// archives were clean of the tags, for sweep.
	Scope string `json:"scope,omitempty"`
}

// Sweep is the data of a sweep's sweep event, logged before the archives
// are listed.
type Sweep struct {
	Blocklist string `json:"blocklist"`
	// ListState is the state of the swept tags (blocklist.State),
	// ListTags their number.
	ListState string `json:"list_state"`
	ListTags  int    `json:"list_tags"`
	// Mode is full (every archive), incremental (archives written
	// since Since) or empty (the list is empty: no archive is read);
	// Reason says why.
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
	// After is the batch whose coverage Since starts from, less
	// Overlap.
	After   string `json:"after,omitempty"`
	Overlap string `json:"overlap"`
	// Watermark is when this sweep began listing, by this machine's
	// clock: the archives written before it are clean of the list's
	// tags once the batch is complete.
	Watermark string `json:"watermark"`
	Scope     string `json:"scope"`
}

// EventTime is the layout of the times in Sweep.
const EventTime = timeFormat

// ExportArchive is the data of export_archive: what an export read of
// one archive.
type ExportArchive struct {
	Source    string `json:"source"` // the SOURCE it was listed under, as given
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	Format    string `json:"format,omitempty"`
	Size      int64  `json:"size"`
	// SHA256 is the SHA-256 of the archive as it was read.
	SHA256 string `json:"sha256,omitempty"`
	// Streams counts the CSV streams read; Rows their data records, and
	// Exported those that hold a listed ID.
	Streams  int      `json:"csv_streams"`
	Rows     int64    `json:"rows_scanned"`
	Exported int64    `json:"rows_exported"`
	Tags     []string `json:"id_hmacs,omitempty"`
	// MembersNotScanned names the streams not read as CSV, with why.
	MembersNotScanned []MemberNote `json:"members_not_scanned,omitempty"`
	Error             string       `json:"error,omitempty"`
}

// ExportFile is the data of export_file: one subject's archive written.
type ExportFile struct {
	Tag      string   `json:"id_hmac"`
	File     string   `json:"file"`
	Location string   `json:"location"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	Rows     int64    `json:"rows"`
	Members  []string `json:"members"`
}

// ExportFileRemoved is the data of export_file_removed: a subject's
// archive removed again because a later one of the export failed.
type ExportFileRemoved struct {
	File     string `json:"file"`
	Tag      string `json:"id_hmac"`
	Location string `json:"location"`
	Reason   string `json:"reason"`
}
