// Package audit writes and verifies scrub's audit bundles: the signed,
// hash-chained record of what each batch erased, which an auditor can check
// with scrub verify or with stock tools (ssh-keygen -Y verify and
// sha256sum -c).
//
// A batch NAME (batch-<UTC start time>-<batch id>) is four files:
//
//	NAME.jsonl              the log: JSON Lines, one event per line
//	NAME-manifest.json      the log's SHA-256, line count and chain head,
//	                        the totals, the signing key's fingerprint and
//	                        the SHA-256 of the previous batch's SHA256SUMS
//	NAME-SHA256SUMS         sha256sum format, over the log and manifest
//	NAME-SHA256SUMS.sig     SSHSIG signature of SHA256SUMS, namespace
//	                        "scrub-audit" (what ssh-keygen -Y sign makes)
//
// Every line of the log carries seq (1, 2, ...) and prev, the SHA-256 of
// the previous line's bytes including its newline (64 zeros for the first
// line), so an edit, deletion or reordering of lines breaks the chain at a
// known line. Batches chain through their manifests; the newest batch's
// SHA256SUMS hash, the head, is what an auditor keeps to detect the loss of
// the newest batches, which no chain can detect on its own.
//
// Client IDs never appear in a bundle: an ID is named by its HMAC-SHA256
// tag under a secret key (IDKey) kept apart from the log.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Namespace is the SSHSIG namespace of audit signatures.
const Namespace = "scrub-audit"

// FormatVersion names the bundle format in every manifest.
const FormatVersion = "scrub-audit/1"

// File name suffixes of a batch's files.
const (
	journalSuffix  = ".journal"
	logSuffix      = ".jsonl"
	manifestSuffix = "-manifest.json"
	sumsSuffix     = "-SHA256SUMS"
	sigSuffix      = "-SHA256SUMS.sig"
)

// idsPerLine is how many ID tags one "ids" event holds.
const idsPerLine = 1000

var zeroHash = strings.Repeat("0", 64)

// Tool identifies the program that wrote a log.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
}

// Start describes a batch, for its first event.
type Start struct {
	Command  string   `json:"command"`
	DryRun   bool     `json:"dry_run"`
	Tool     Tool     `json:"tool"`
	Operator string   `json:"operator"`
	Host     string   `json:"host"`
	Ticket   string   `json:"ticket,omitempty"`
	Sources  []string `json:"sources"`
	// Options are the settings that shape what is erased, as given: a
	// JSON object whose fields depend on the command (its writer, package
	// batch, owns their type).
	Options json.RawMessage `json:"options"`
	// IDs counts the listed IDs; their tags follow in "ids" events.
	IDs int `json:"ids"`
	// IDKey names the key of the tags (IDKey.ID); empty when the run
	// had none, and then the log names no ID at all.
	IDKey string `json:"id_key,omitempty"`
	// Request identifies what was asked (IDs, sources, columns,
	// selection) without revealing it (IDKey.Request): a re-run of the
	// same request resumes an unfinished batch.
	Request string `json:"request,omitempty"`
	// Shard is set when the batch is one share of a request split
	// across workers (--shard I/N): Request is then the same for all
	// shares, and scrub verify reports the request complete only when
	// every share has a complete, valid batch.
	Shard *Shard `json:"shard,omitempty"`
}

// Shard is the share of a request a batch covers: worker Index of Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// resumeEvent marks a batch taken up again after an interruption.
type resumeEvent struct {
	header
	Operator string `json:"operator"`
	Host     string `json:"host"`
	Tool     Tool   `json:"tool"`
	// Done counts the archives finished before; Rolledback the ones
	// that were midway and are processed again from what storage holds.
	Done    int `json:"archives_done"`
	Midway  int `json:"archives_midway"`
	Dropped int `json:"bytes_dropped,omitempty"` // a torn last line, never synced
}

// listedEvent records the archives a batch (or a resumed attempt) will
// process, up to 1000 per line.
type listedEvent struct {
	header
	Keys []string `json:"keys"`
}

// stepEvent is one archive's progress through the destructive sequence.
type stepEvent struct {
	header
	Key             string   `json:"key"`
	VersionID       string   `json:"version_id,omitempty"`
	Size            *int64   `json:"size,omitempty"`
	SHA256          string   `json:"sha256,omitempty"`
	Staged          string   `json:"staged,omitempty"`
	NewVersionID    string   `json:"new_version_id,omitempty"`
	VersionsDeleted []string `json:"versions_deleted,omitempty"`
	// What the rewrite removed (written), so that a resumed batch that
	// finds the rewrite in place records the archive as this attempt
	// left it.
	RowsScanned *int64   `json:"rows_scanned,omitempty"`
	RowsRemoved *int64   `json:"rows_removed,omitempty"`
	RowsExpired int64    `json:"rows_expired,omitempty"`
	Tags        []string `json:"id_hmacs,omitempty"`
}

// The steps of an archive's destructive sequence, as the log names their
// events: read (rows found; the rewrite is staged at Staged), written (the
// rewrite is complete and checked), verified (it replaced the original in
// storage and the store confirmed it), originals_deleted (the old versions
// that held the rows are gone). The archive event that follows says the
// archive is done.
const (
	StepRead             = "read"
	StepWritten          = "written"
	StepVerified         = "verified"
	StepOriginalsDeleted = "originals_deleted"
)

// Step is one archive's progress through the destructive sequence.
// VersionID and Size (read): what was read. Staged (read): the local file
// the rewrite goes to. Size and SHA256 (written): the rewrite.
// NewVersionID (verified): the version that replaced it. VersionsDeleted
// (originals_deleted).
type Step struct {
	Key, State                              string
	VersionID, Staged, SHA256, NewVersionID string
	Size                                    int64
	VersionsDeleted                         []string
	// RowsScanned, RowsRemoved, RowsExpired and Tags (written): what the
	// rewrite removed.
	RowsScanned, RowsRemoved, RowsExpired int64
	Tags                                  []string
	// Deferred logs the step without a sync of its own: it becomes
	// durable with the next event that is synced (at the latest the
	// batch's end). For a step that protects nothing: no destructive
	// action waits on it. It changes nothing in the log.
	Deferred bool
}

// header is the part every event shares, first on its line.
type header struct {
	Seq  int    `json:"seq"`
	Prev string `json:"prev"`
	Type string `json:"type"`
	Time string `json:"time"`
}

type startEvent struct {
	header
	Batch string `json:"batch"`
	Start
}

type idsEvent struct {
	header
	Tags []string `json:"id_hmacs"`
}

// archiveEvent is one archive's outcome.
type archiveEvent struct {
	header
	Archive
}

// The statuses of an archive event, as the log spells them.
const (
	StatusErased     = "erased"      // rewritten without the listed IDs' rows
	StatusUnchanged  = "unchanged"   // no listed ID: not rewritten, not touched
	StatusWouldErase = "would-erase" // dry run: rows would be removed
	StatusFailed     = "failed"      // error; the archive is left as it was
	StatusConflict   = "conflict"    // changed by someone else meanwhile
	StatusSkipped    = "skipped"     // not processed: the batch stopped first
	StatusHeld       = "held"        // object lock, archive storage class, other hard links
	// StatusNotScanned: not read, for the reason given (not a regular
	// file, no table with an ID column).
	StatusNotScanned = "not-scanned"
	// StatusReplacedIncomplete: replaced by its rewrite, but a later
	// step (verification, deleting old versions) failed.
	StatusReplacedIncomplete = "replaced-incomplete"
	// StatusAbsentByIndex: not read, because the archive's index entry,
	// made for the identity the batch listed, rules out every listed ID
	// (IndexEntry and Identity say which).
	StatusAbsentByIndex = "absent-by-index"
)

// Archive is one archive's outcome, as an archive event records it.
type Archive struct {
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	Format    string `json:"format,omitempty"`
	Status    string `json:"status"`
	// Dataset is the data map's dataset the archive belongs to
	// (absent without a map, and in logs of earlier releases).
	Dataset        string `json:"dataset,omitempty"`
	SizeBefore     int64  `json:"size_before"`
	SHA256Before   string `json:"sha256_before,omitempty"`
	SizeAfter      *int64 `json:"size_after"`
	SHA256After    string `json:"sha256_after,omitempty"`
	RowsScanned    int64  `json:"rows_scanned"`
	RowsRemoved    int64  `json:"rows_removed"`
	RowsExpired    int64  `json:"rows_expired,omitempty"`
	MembersCarried int    `json:"members_carried,omitempty"`
	// MembersNotScanned names the members not read as CSV, with why.
	MembersNotScanned []MemberNote `json:"members_not_scanned,omitempty"`
	VersionsDeleted   []string     `json:"versions_deleted,omitempty"`
	Tags              []string     `json:"id_hmacs,omitempty"`
	// Reason says why an archive is not-scanned.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// IndexEntry (absent-by-index) is the hex SHA-256 of the index entry
	// that ruled every listed ID out, and Identity the archive's identity
	// as the batch listed it, which that entry names.
	IndexEntry string `json:"index_entry,omitempty"`
	Identity   string `json:"identity,omitempty"`
}

// MemberNote names a member of an archive that was not read as CSV, and
// why.
type MemberNote struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type endEvent struct {
	header
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	Totals Totals `json:"totals"`
}

// Totals sums the archive events of a batch (for an archive logged more
// than once, its last), as its batch_end event and manifest record them.
type Totals struct {
	Archives   int `json:"archives"`
	Erased     int `json:"erased"`
	Unchanged  int `json:"unchanged"`
	WouldErase int `json:"would_erase"`
	Failed     int `json:"failed"`
	Conflict   int `json:"conflict"`
	Skipped    int `json:"skipped"`
	Held       int `json:"held"`
	// ReplacedIncomplete counts the archives replaced whose later steps
	// failed.
	ReplacedIncomplete int `json:"replaced_incomplete,omitempty"`
	// NotScanned counts the entries not read, each for its reason.
	NotScanned int `json:"not_scanned,omitempty"`
	// AbsentByIndex counts the archives not read because their index
	// entry rules out every listed ID.
	AbsentByIndex int   `json:"absent_by_index,omitempty"`
	RowsScanned   int64 `json:"rows_scanned"`
	RowsRemoved   int64 `json:"rows_removed"`
	RowsExpired   int64 `json:"rows_expired,omitempty"`
	BytesBefore   int64 `json:"bytes_before"`
	BytesAfter    int64 `json:"bytes_after"`
}

// add counts one archive's outcome.
func (t *Totals) add(a Archive) {
	t.Archives++
	switch a.Status {
	case StatusErased:
		t.Erased++
	case StatusUnchanged:
		t.Unchanged++
	case StatusWouldErase:
		t.WouldErase++
	case StatusFailed:
		t.Failed++
	case StatusConflict:
		t.Conflict++
	case StatusSkipped:
		t.Skipped++
	case StatusHeld:
		t.Held++
	case StatusReplacedIncomplete:
		t.ReplacedIncomplete++
	case StatusNotScanned:
		t.NotScanned++
	case StatusAbsentByIndex:
		t.AbsentByIndex++
	}
	t.RowsScanned += a.RowsScanned
	t.RowsRemoved += a.RowsRemoved
	t.RowsExpired += a.RowsExpired
	t.BytesBefore += a.SizeBefore
	if a.SizeAfter != nil {
		t.BytesAfter += *a.SizeAfter
	}
}

// Result is the batch result these totals make: complete when every
// archive is done, partial when some are not, failed when none is or
// the batch stopped with runErr.
func (t Totals) Result(runErr error) string {
	bad := t.Failed + t.Conflict + t.Skipped + t.Held + t.ReplacedIncomplete
	switch {
	case runErr != nil, t.Archives > 0 && bad == t.Archives-t.NotScanned:
		return ResultFailed
	case bad > 0:
		return ResultPartial
	}
	return ResultComplete
}

// Manifest is a batch's NAME-manifest.json.
type Manifest struct {
	Format         string `json:"format"`
	Batch          string `json:"batch"`
	Log            string `json:"log"`
	LogSHA256      string `json:"log_sha256"`
	Lines          int    `json:"lines"`
	ChainHead      string `json:"chain_head"`
	DryRun         bool   `json:"dry_run"`
	Signed         bool   `json:"signed"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	IDKey          string `json:"id_key,omitempty"`
	Started        string `json:"started"`
	Finished       string `json:"finished"`
	Result         string `json:"result"`
	Totals         Totals `json:"totals"`
	// PrevBatch and PrevSHA256SUMS link to the newest signed batch that
	// was in the location when this one was sealed; empty for the first.
	PrevBatch      string `json:"prev_batch,omitempty"`
	PrevSHA256SUMS string `json:"prev_sha256sums,omitempty"`
	// Retention is how long the batch's files are locked against
	// deletion (S3 Object Lock), nil if they are not.
	Retention *Retention `json:"retention,omitempty"`
	// Witness is the location the batch's head was added to (scrub
	// erase --witness), as the operator spelt it: verify --witness
	// checks it.
	Witness string `json:"witness,omitempty"`
	// Chain says how the batch was linked: ChainSealOrder, to the batch
	// sealed before it (so no two batches so linked follow the same one);
	// empty for batches of earlier releases, linked to the newest batch
	// by name.
	Chain string `json:"chain,omitempty"`
}

// Sealed describes a finished bundle.
type Sealed struct {
	Batch    string   `json:"batch"`
	Location string   `json:"location"`
	Files    []string `json:"files"` // in the order written
	// Head is the SHA-256 of the batch's SHA256SUMS: what an auditor
	// pins with scrub verify --expect-head.
	Head string `json:"head"`
}

// Result values of a batch's last event and manifest.
const (
	ResultComplete = "complete" // every archive done
	ResultPartial  = "partial"  // some archives failed or were not reached
	ResultFailed   = "failed"   // the batch could not run or stopped
)

// ChainSealOrder is Manifest.Chain of a batch linked to the batch sealed
// before it.
const ChainSealOrder = "seal-order"

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
