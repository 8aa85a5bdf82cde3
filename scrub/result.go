package scrub

import (
	"errors"
	"fmt"
	"sync"
)

// Status is the outcome for one archive.
type Status string

// The statuses an archive can end in.
const (
	Erased     Status = "erased"      // rewritten without the listed IDs' rows
	Unchanged  Status = "unchanged"   // no listed ID: not rewritten, not touched
	WouldErase Status = "would-erase" // dry run: rows would be removed
	Failed     Status = "failed"      // error; the archive is left as it was
	Conflict   Status = "conflict"    // changed by someone else meanwhile; left as it is
	Skipped    Status = "skipped"     // not processed: the batch stopped first
	Held       Status = "held"        // must not or cannot be changed safely (object lock, archive storage class, other hard links); not touched
	// NotScanned: not read, not touched, for the reason the result gives:
	// an entry that is not a regular file (a symbolic link, a device), or
	// a file that holds no table with an ID column (a JSON manifest, a
	// checksum list). It does not make the batch fail.
	NotScanned Status = "not-scanned"
	// ReplacedIncomplete: the archive was replaced by its rewrite, but a
	// later step failed (the store's copy did not verify, or old versions
	// that hold the rows could not be deleted); Error says what remains.
	// Not done: a re-run finishes it.
	ReplacedIncomplete Status = "replaced-incomplete"
	// AbsentByIndex: not read, because the archive's index entry, made
	// for the identity the listing gave, rules out every listed ID
	// (Options.Index). Done, like unchanged.
	AbsentByIndex Status = "absent-by-index"
)

// Result is what happened to one archive.
type Result struct {
	Key    string `json:"key"`
	Status Status `json:"status"`
	// Dataset is the data map's dataset the archive belongs to (its
	// Source's), "" without a map.
	Dataset string `json:"dataset,omitempty"`
	Format  string `json:"format,omitempty"`
	// VersionID is the version that was read, in a versioned store.
	VersionID   string `json:"version_id,omitempty"`
	RowsScanned int64  `json:"rows_scanned"`
	RowsRemoved int64  `json:"rows_removed"`
	// RowsExpired counts the removed rows that were older than the
	// cutoff of a retention purge, their ID listed or not.
	RowsExpired int64 `json:"rows_expired,omitempty"`
	BytesBefore int64 `json:"bytes_before"`
	// BytesAfter is the size of the archive after the run; null in a dry
	// run for archives that would be rewritten.
	BytesAfter *int64 `json:"bytes_after"`
	// SHA256Before and SHA256After are the hex SHA-256 of the archive
	// before and after the run (after: empty in a dry run for archives
	// that would be rewritten, and for failures).
	SHA256Before string `json:"sha256_before,omitempty"`
	SHA256After  string `json:"sha256_after,omitempty"`
	// MembersCarried counts zip members that are not CSV and were carried
	// over unfiltered.
	MembersCarried int `json:"members_carried,omitempty"`
	// MembersNotScanned names the zip members (or, for a gzip or plain
	// file, the stream) that were not read as CSV, each with the reason;
	// they are carried over as they are.
	MembersNotScanned []MemberNote `json:"members_not_scanned,omitempty"`
	// VersionsDeleted counts the old versions permanently deleted after
	// the rewrite was verified.
	VersionsDeleted int `json:"versions_deleted,omitempty"`
	// DeletedVersions are the IDs of those versions.
	DeletedVersions []string `json:"deleted_versions,omitempty"`
	// IDTags are the tags (Options.Tag) of the listed IDs whose rows
	// were removed, or in a dry run would be; for the audit log only:
	// Options.Record gets them, the Summary does not keep them.
	IDTags []string `json:"-"`
	// resumedTags are the IDTags of an interrupted attempt's rewrite
	// found in place.
	resumedTags []string
	// Reason says why an archive is not-scanned.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// IndexEntry is the hex SHA-256 of the index entry that ruled the
	// archive out (absent-by-index), and Identity the archive's identity
	// as listed, which the entry names.
	IndexEntry string `json:"index_entry,omitempty"`
	Identity   string `json:"identity,omitempty"`
}

// MemberNote names a member of an archive that was not read as CSV, and
// why.
type MemberNote struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Totals sums the results of a batch.
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

// Summary is the result of a batch. The archives' results are kept in a
// spool, not in memory (a batch may have hundreds of thousands): Each reads
// them back, in the order of their keys.
type Summary struct {
	DryRun bool   `json:"dry_run"`
	Totals Totals `json:"totals"`
	// Outside counts the archives the selection let through that fall
	// to other shares (Options.Shard).
	Outside int `json:"-"`
	// IDsUnmatched, set by the caller, counts the listed IDs that match
	// no row of the archives read (see Matched).
	IDsUnmatched *int `json:"ids_unmatched,omitempty"`

	// results are the archives' results; nil when there are none. mu
	// guards the counts that add keeps as workers add results.
	results *resultSpool
	mu      sync.Mutex
	// membersNotScanned counts the archives with members not read.
	membersNotScanned int

	// matched is the listed IDs found in some row; matchedTags the tags
	// of those an interrupted attempt's rewrite removed.
	matched     map[string]struct{}
	matchedTags map[string]bool
}

// add counts archive i's result and spools it.
func (s *Summary) add(i int, r Result) error {
	s.mu.Lock()
	s.Totals.Add(r)
	if len(r.MembersNotScanned) > 0 {
		s.membersNotScanned++
	}
	s.mu.Unlock()
	return s.results.put(i, &r)
}

// Each calls fn with each archive's result, in the order of their keys,
// read back from the spool one at a time. An error from fn stops it and
// is returned.
func (s *Summary) Each(fn func(Result) error) error {
	if s.results == nil {
		return nil
	}
	return s.results.each(fn)
}

// Results returns every archive's result, in the order of their keys: all
// of them in memory at once, for a batch known to be small (tests). Each
// reads them one at a time.
func (s *Summary) Results() ([]Result, error) {
	out := []Result{}
	err := s.Each(func(r Result) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// FullSummary is a Summary with every archive's result in memory, in the
// order of their keys: the form of the summary in scrub erase --json (whose
// writer streams the results into it one at a time), and what its readers
// decode.
type FullSummary struct {
	DryRun       bool     `json:"dry_run"`
	Archives     []Result `json:"archives"`
	Totals       Totals   `json:"totals"`
	IDsUnmatched *int     `json:"ids_unmatched,omitempty"`
}

// Full returns the summary with every result read back (see Results).
func (s *Summary) Full() (*FullSummary, error) {
	rs, err := s.Results()
	if err != nil {
		return nil, err
	}
	return &FullSummary{DryRun: s.DryRun, Archives: rs, Totals: s.Totals, IDsUnmatched: s.IDsUnmatched}, nil
}

// MembersNotScanned reports whether some archive has members that were
// not read (Result.MembersNotScanned).
func (s *Summary) MembersNotScanned() bool { return s.membersNotScanned > 0 }

// Close releases the spool of results; Each reads nothing after it.
func (s *Summary) Close() error {
	if s.results == nil {
		return nil
	}
	return s.results.close()
}

// Matched reports whether the listed ID id (as the ID set lists it: a
// digest's lower-case hex) was found in some row the batch read, in an
// archive or an older version of one, whatever became of the archive.
func (s *Summary) Matched(id string) bool {
	_, ok := s.matched[id]
	return ok
}

// EachMatched calls fn for every listed ID found in some row (in the form
// Matched takes), in no particular order.
func (s *Summary) EachMatched(fn func(id string)) {
	for id := range s.matched {
		fn(id)
	}
}

// MatchedTag reports whether the ID of tag (Options.Tag) was found by an
// interrupted attempt of the batch whose rewrite this run found in place.
func (s *Summary) MatchedTag(tag string) bool { return s.matchedTags[tag] }

// TakenOver reports whether the batch found the rewrites of an interrupted
// attempt in place (see MatchedTag).
func (s *Summary) TakenOver() bool { return len(s.matchedTags) > 0 }

// Add counts one archive's result.
func (t *Totals) Add(r Result) {
	t.Archives++
	switch r.Status {
	case Erased:
		t.Erased++
	case Unchanged:
		t.Unchanged++
	case WouldErase:
		t.WouldErase++
	case Failed:
		t.Failed++
	case Conflict:
		t.Conflict++
	case Skipped:
		t.Skipped++
	case Held:
		t.Held++
	case ReplacedIncomplete:
		t.ReplacedIncomplete++
	case NotScanned:
		t.NotScanned++
	case AbsentByIndex:
		t.AbsentByIndex++
	}
	t.RowsScanned += r.RowsScanned
	t.RowsRemoved += r.RowsRemoved
	t.RowsExpired += r.RowsExpired
	t.BytesBefore += r.BytesBefore
	if r.BytesAfter != nil {
		t.BytesAfter += *r.BytesAfter
	}
}

// Errors returned by Summary.Err.
var (
	ErrPartial = errors.New("some archives failed")
	ErrFailed  = errors.New("no archive could be processed")
	// ErrNoArchives is returned by Run when the sources hold no archive
	// to process: more often a wrong path or pattern than an empty store.
	ErrNoArchives = errors.New("no archives found (check the sources and --include/--exclude)")
)

// Err reports whether the batch left work undone: nil when every archive is
// done, ErrPartial when some failed and others were done, ErrFailed when
// none could be done. Entries not scanned for their reason are not work
// left undone, unless no entry at all was scanned (ErrFailed).
func (s *Summary) Err() error { return s.Totals.Err() }

// Err is Summary.Err for totals.
func (t Totals) Err() error {
	bad := t.Failed + t.Conflict + t.Skipped + t.Held + t.ReplacedIncomplete
	switch {
	case t.Archives > 0 && t.NotScanned == t.Archives:
		// Like finding no archive at all: more often a wrong --column
		// or source than a tree without exports.
		return fmt.Errorf("%w: none of the %d entries holds a table with an ID column (check --column and the sources)", ErrFailed, t.Archives)
	case bad == 0:
		return nil
	case bad == t.Archives-t.NotScanned:
		return fmt.Errorf("%w: %d of %d archives failed", ErrFailed, bad, t.Archives)
	}
	return fmt.Errorf("%w: %d of %d archives failed", ErrPartial, bad, t.Archives)
}
