package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/ids"
)

// The commands that write a batch.
const (
	Erase   = "erase"   // erase, and erase --older-than (a retention purge)
	Sweep   = "sweep"   // erase the blocklist's IDs
	Export  = "export"  // copy the listed IDs' rows out (read only)
	Unblock = "unblock" // take IDs off the blocklist (no archive)
	// QueueRun erases the pending requests of a request queue.
	QueueRun = "queue-run"
)

// Request is what a batch is asked to do, as the command line gave it: what
// its audit log records (Options), what the request identity hashes
// (Identity, with the IDs) and what resume compares. Its wire forms are
// the private structs below, whose JSON is that of every earlier release:
// a batch they wrote is recognised and resumed.
type Request struct {
	Command string
	// Sources are the SOURCE arguments, as given.
	Sources []string
	// IDsFile is the --ids file, as given ("" for a sweep).
	IDsFile string
	// Columns, Include, Exclude and Delimiter (0: detected) choose the
	// rows and archives read.
	Columns, Include, Exclude []string
	Delimiter                 byte
	// Shard is the share of the request this batch covers (nil: all).
	Shard *scrub.Shard
	// Transform is the stored form of the listed IDs (--id-transform).
	Transform *ids.Transform
	// OlderThan (as typed), TimeColumn and Cutoff (resolved at the
	// start of the batch, or taken from the batch being resumed) are a
	// retention purge's.
	OlderThan  string
	TimeColumn string
	Cutoff     time.Time

	// The options that shape how, not what: recorded, not compared.
	DryRun           bool
	Jobs             int
	Level            int
	MaxRecord        int
	MaxMemberSize    int64
	MaxRatio         int
	AllowInvalidUTF8 bool
	Verify           string // size or full
	PartSize         int64
	Endpoint         string
	// AcceptUnconditionalWrites: archives are replaced in stores that
	// ignore conditional writes (--accept-unconditional-writes).
	AcceptUnconditionalWrites bool
	// AllowPlaceholderIDs: IDs that look like placeholders (unknown,
	// null, 0, -) were listed on purpose.
	AllowPlaceholderIDs bool
	// MaxShare is --max-share: the share of the rows read that the
	// listed IDs' rows may reach before the batch stops.
	MaxShare float64

	// Map is the data map the request was routed by (nil without one):
	// then Sources are its datasets' locations that were read, and
	// IDsFile is "".
	Map *MapRef

	// Out is an export's output location; Blocklist an unblock's list;
	// Queue a queue run's request queue.
	Out       string
	Blocklist string
	Queue     string
}

// MapRef is the data map of a request: the file as given, the SHA-256 of
// its bytes, the ID files by type, and the datasets read.
type MapRef struct {
	File     string
	SHA256   string
	IDsFiles []TypedFile
	Datasets []string
	// Retention, if set, are the datasets whose rows older than their
	// retention go too (erase --map --retention), each with its cutoff,
	// resolved at the start of the batch or taken from the batch being
	// resumed.
	Retention []DatasetCutoff
}

// DatasetCutoff is a dataset's retention in a batch.
type DatasetCutoff struct {
	Dataset    string
	OlderThan  string // the map's retention, as written
	TimeColumn string
	Cutoff     time.Time
}

// recordedDatasetCutoff is a DatasetCutoff as batch_start's options
// record it.
type recordedDatasetCutoff struct {
	Cutoff     string `json:"cutoff"`
	Dataset    string `json:"dataset"`
	OlderThan  string `json:"older_than"`
	TimeColumn string `json:"time_column"`
}

// TypedFile is an ID file of one identifier type (--ids TYPE=FILE).
type TypedFile struct {
	Type string `json:"type"`
	File string `json:"file"`
}

// types returns the identifier types of the request's ID files.
func (m *MapRef) types() []string {
	var out []string
	for _, f := range m.IDsFiles {
		out = append(out, f.Type)
	}
	return out
}

// Shards is the number of shares the request is split into (1 when it is
// not): the shares of one request are the same request.
func (r *Request) Shards() int {
	if r.Shard == nil {
		return 1
	}
	return r.Shard.Count
}

// eraseIdentity is what makes two erasures (or sweeps) the same request,
// besides their IDs. Its fields are in the order of their JSON names:
// earlier releases marshalled a map.
type eraseIdentity struct {
	Columns        []string `json:"columns"`
	Command        string   `json:"command"`
	Delimiter      string   `json:"delimiter"`
	Exclude        []string `json:"exclude"`
	IDTransform    string   `json:"id_transform,omitempty"`
	IDTransformKey string   `json:"id_transform_key,omitempty"`
	IDTypes        []string `json:"id_types,omitempty"`
	Include        []string `json:"include"`
	MapRetention   bool     `json:"map_retention,omitempty"`
	MapSHA256      string   `json:"map_sha256,omitempty"`
	OlderThan      string   `json:"older_than,omitempty"`
	Queue          string   `json:"queue,omitempty"`
	Shards         int      `json:"shards"`
	Sources        []string `json:"sources"`
	TimeColumn     string   `json:"time_column,omitempty"`
}

// exportIdentity is what makes two exports the same request.
type exportIdentity struct {
	Columns   []string `json:"columns"`
	Command   string   `json:"command"`
	Delimiter string   `json:"delimiter"`
	Exclude   []string `json:"exclude"`
	Include   []string `json:"include"`
	Out       string   `json:"out"`
	Sources   []string `json:"sources"`
}

// unblockIdentity is what makes two unblocks the same request.
type unblockIdentity struct {
	Blocklist string `json:"blocklist"`
	Command   string `json:"command"`
}

// identity returns the settings the request identity hashes with the IDs.
func (r *Request) identity(command string) string {
	var v any
	switch r.Command {
	case Export:
		v = exportIdentity{Columns: r.Columns, Command: command, Delimiter: string(rune(r.Delimiter)),
			Exclude: r.Exclude, Include: r.Include, Out: r.Out, Sources: r.Sources}
	case Unblock:
		v = unblockIdentity{Blocklist: r.Blocklist, Command: command}
	default:
		id := eraseIdentity{Columns: r.Columns, Command: command, Delimiter: string(rune(r.Delimiter)),
			Exclude: r.Exclude, Include: r.Include, Queue: r.Queue, Shards: r.Shards(), Sources: r.Sources}
		if r.Transform != nil {
			id.IDTransform, id.IDTransformKey = r.Transform.String(), r.Transform.KeyID()
		}
		if r.OlderThan != "" {
			id.OlderThan, id.TimeColumn = strings.TrimSpace(r.OlderThan), r.TimeColumn
		}
		if r.Map != nil {
			id.MapSHA256, id.IDTypes, id.MapRetention = r.Map.SHA256, r.Map.types(), len(r.Map.Retention) > 0
		}
		v = id
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings, slices and ints only
	}
	return string(b)
}

// Scope fingerprints what a batch covers: its sources and selection (the
// settings that make two erasures the same request, whatever the IDs),
// with its share, and the blocklist. A sweep takes only batches of the
// same scope as having cleaned archives before it.
func (r *Request) Scope(blocklist string) string {
	settings := r.identity("scope")
	if r.Shard != nil {
		// A share covers only its own archives.
		settings += "\nshard " + r.Shard.String()
	}
	sum := sha256.Sum256([]byte(settings + "\n" + blocklist))
	return hex.EncodeToString(sum[:])
}

// eraseOptions are the options of an erase or sweep batch, as its
// batch_start event records them (in the order of their JSON names).
type eraseOptions struct {
	AcceptUnconditionalWrites bool                    `json:"accept_unconditional_writes,omitempty"`
	AllowInvalidUTF8          bool                    `json:"allow_invalid_utf8"`
	AllowPlaceholderIDs       bool                    `json:"allow_placeholder_ids,omitempty"`
	Columns                   []string                `json:"columns"`
	Cutoff                    string                  `json:"cutoff,omitempty"`
	Datasets                  []string                `json:"datasets,omitempty"`
	Delimiter                 string                  `json:"delimiter,omitempty"`
	DryRun                    bool                    `json:"dry_run"`
	Endpoint                  string                  `json:"endpoint,omitempty"`
	Exclude                   []string                `json:"exclude"`
	IDTransform               string                  `json:"id_transform,omitempty"`
	IDTransformKey            string                  `json:"id_transform_key,omitempty"`
	IDsFile                   string                  `json:"ids_file"`
	IDsFiles                  []TypedFile             `json:"ids_files,omitempty"`
	Include                   []string                `json:"include"`
	Jobs                      int                     `json:"jobs"`
	Level                     int                     `json:"level"`
	Map                       string                  `json:"map,omitempty"`
	MapSHA256                 string                  `json:"map_sha256,omitempty"`
	MaxMemberSize             int64                   `json:"max_member_size"`
	MaxRatio                  int                     `json:"max_ratio"`
	MaxRecord                 int                     `json:"max_record"`
	MaxShare                  float64                 `json:"max_share,omitempty"`
	OlderThan                 string                  `json:"older_than,omitempty"`
	PartSize                  int64                   `json:"part_size"`
	Queue                     string                  `json:"queue,omitempty"`
	Retention                 []recordedDatasetCutoff `json:"retention,omitempty"`
	Shard                     string                  `json:"shard,omitempty"`
	TimeColumn                string                  `json:"time_column,omitempty"`
	Verify                    string                  `json:"verify"`
}

// exportOptions are the options of an export batch.
type exportOptions struct {
	AllowInvalidUTF8 bool     `json:"allow_invalid_utf8"`
	Columns          []string `json:"columns"`
	Delimiter        string   `json:"delimiter,omitempty"`
	Endpoint         string   `json:"endpoint,omitempty"`
	Exclude          []string `json:"exclude"`
	IDsFile          string   `json:"ids_file"`
	Include          []string `json:"include"`
	Jobs             int      `json:"jobs"`
	MaxMemberSize    int64    `json:"max_member_size"`
	MaxRatio         int      `json:"max_ratio"`
	MaxRecord        int      `json:"max_record"`
	Out              string   `json:"out"`
}

// unblockOptions are the options of an unblock batch.
type unblockOptions struct {
	Blocklist string `json:"blocklist"`
	IDsFile   string `json:"ids_file"`
}

// cutoffFormat is how a retention purge's cutoff is recorded.
const cutoffFormat = time.RFC3339Nano

// options returns the options the batch_start event records.
func (r *Request) options() json.RawMessage {
	delim := ""
	if r.Delimiter != 0 {
		delim = string(rune(r.Delimiter))
	}
	var v any
	switch r.Command {
	case Export:
		v = exportOptions{AllowInvalidUTF8: r.AllowInvalidUTF8, Columns: r.Columns, Delimiter: delim, Endpoint: r.Endpoint,
			Exclude: r.Exclude, IDsFile: r.IDsFile, Include: r.Include, Jobs: r.Jobs, MaxMemberSize: r.MaxMemberSize,
			MaxRatio: r.MaxRatio, MaxRecord: r.MaxRecord, Out: r.Out}
	case Unblock:
		v = unblockOptions{Blocklist: r.Blocklist, IDsFile: r.IDsFile}
	default:
		o := eraseOptions{AcceptUnconditionalWrites: r.AcceptUnconditionalWrites, AllowInvalidUTF8: r.AllowInvalidUTF8, AllowPlaceholderIDs: r.AllowPlaceholderIDs, Columns: r.Columns, Delimiter: delim, DryRun: r.DryRun,
			Endpoint: r.Endpoint, Exclude: r.Exclude, IDsFile: r.IDsFile, Include: r.Include, Jobs: r.Jobs, Level: r.Level,
			MaxMemberSize: r.MaxMemberSize, MaxRatio: r.MaxRatio, MaxRecord: r.MaxRecord, MaxShare: r.MaxShare, PartSize: r.PartSize, Queue: r.Queue, Verify: r.Verify}
		if r.Shard != nil {
			o.Shard = r.Shard.String()
		}
		if r.Transform != nil {
			o.IDTransform, o.IDTransformKey = r.Transform.String(), r.Transform.KeyID()
		}
		if r.OlderThan != "" {
			o.OlderThan, o.Cutoff, o.TimeColumn = strings.TrimSpace(r.OlderThan), r.Cutoff.Format(cutoffFormat), r.TimeColumn
		}
		if r.Map != nil {
			o.Map, o.MapSHA256, o.IDsFiles, o.Datasets = r.Map.File, r.Map.SHA256, r.Map.IDsFiles, r.Map.Datasets
			for _, c := range r.Map.Retention {
				o.Retention = append(o.Retention, recordedDatasetCutoff{Cutoff: c.Cutoff.Format(cutoffFormat),
					Dataset: c.Dataset, OlderThan: c.OlderThan, TimeColumn: c.TimeColumn})
			}
		}
		v = o
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// recordedRetention sets the cutoff of each dataset of ret from those a
// batch's recorded options hold: a batch has one cutoff per dataset,
// whenever its archives are done.
func recordedRetention(options json.RawMessage, ret []DatasetCutoff) error {
	var o eraseOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return err
	}
	for i, c := range ret {
		k := slices.IndexFunc(o.Retention, func(r recordedDatasetCutoff) bool { return r.Dataset == c.Dataset })
		if k < 0 {
			return fmt.Errorf("no cutoff of dataset %q", c.Dataset)
		}
		t, err := time.Parse(cutoffFormat, o.Retention[k].Cutoff)
		if err != nil {
			return fmt.Errorf("no valid cutoff of dataset %q (%q)", c.Dataset, o.Retention[k].Cutoff)
		}
		ret[i].Cutoff = t.UTC()
	}
	return nil
}

// recordedCutoff returns the cutoff a batch's recorded options hold.
func recordedCutoff(options json.RawMessage) (time.Time, error) {
	var o eraseOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(cutoffFormat, o.Cutoff)
	if err != nil {
		return time.Time{}, fmt.Errorf("no valid cutoff (%q)", o.Cutoff)
	}
	return t.UTC(), nil
}
