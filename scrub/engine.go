// Package scrub is the batch engine of the scrub erasure tool: it lists the
// archives of one or more stores, streams each through the row filter and
// replaces those that held rows of listed IDs, with a bounded pool of
// workers.
//
// Every rewrite goes through one gate, in this order: rewrite to a staged
// file, verify the staged file by reading it back (rows kept = rows read -
// rows removed, no listed ID left, other members unchanged; a zip member
// read back as it was written is confirmed by its bytes in the staged file
// instead of being inflated again, see archive.Reread), then replace the
// original atomically, only if it did not change meanwhile. A dry run stops
// before the gate. An archive without any listed ID is never rewritten.
package scrub

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
)

// Source is a store to process.
type Source struct {
	Name  string // as the user gave it, for messages
	Label string // a short name, for the paths of an export's members
	Store Store
	// Dataset, Include, Exclude and Filter, if set, are those of the
	// dataset of a data map the source's archives belong to: its
	// archives are those its own globs select too (besides the
	// options'), their filter is Filter rather than Options.Filter, and
	// their results name Dataset. An archive two sources of different
	// datasets select stops the batch before any is processed
	// (ErrOverlap).
	Dataset          string
	Include, Exclude []string
	Filter           *filter.Filter
}

// filterOf returns the filter of src's archives.
func (o *Options) filterOf(src Source) *filter.Filter {
	if src.Filter != nil {
		return src.Filter
	}
	return o.Filter
}

// Progress is told about the batch as it goes. Implementations must be safe
// for concurrent use.
type Progress interface {
	// Listing tells how many archives the listing has found so far.
	Listing(found int)
	// Start tells the archives to process and their total size.
	Start(archives int, bytes int64)
	// Read tells that n more bytes of the archives were read. Over an
	// archive, the calls add up to its size by the time it is Done.
	Read(n int64)
	Done(obj Object)
}

// meter counts what is read of one archive for Progress.
type meter struct {
	p Progress
	n atomic.Int64
}

type meterKey struct{}

// withMeter returns ctx carrying a meter of one archive's reads.
func withMeter(ctx context.Context, p Progress) (context.Context, *meter) {
	if p == nil {
		return ctx, nil
	}
	m := &meter{p: p}
	return context.WithValue(ctx, meterKey{}, m), m
}

// meterOf returns ctx's meter, or nil.
func meterOf(ctx context.Context) *meter {
	m, _ := ctx.Value(meterKey{}).(*meter)
	return m
}

// add tells of n bytes read.
func (m *meter) add(n int64) {
	if m != nil && n > 0 {
		m.n.Add(n)
		m.p.Read(n)
	}
}

// done tells of what was not read of the archive's size bytes, so that
// the reads add up to it.
func (m *meter) done(size int64) {
	if m != nil {
		m.add(size - m.n.Load())
	}
}

// Options configure a batch.
type Options struct {
	Filter  *filter.Filter
	Archive archive.Options
	// Include and Exclude are glob patterns (path.Match syntax, plus **
	// for any number of directories and {a,b} for either: doublestar's).
	// A pattern with a '/' matches the path below the source root, one
	// without matches the base name. An archive is processed when it matches some
	// Include pattern (or there are none) and no Exclude pattern.
	Include, Exclude []string
	// Select, if set, is asked about every archive Include and Exclude
	// let through; one it rejects is not part of the batch (a sweep's
	// archives newer than the last sweep).
	Select func(Object) bool
	// Shard, if set, keeps the archives of one share of the request.
	Shard *Shard
	// MaxShare, if above 0, stops the batch before it replaces an
	// archive once the rows of listed IDs are more than this share of
	// the rows read so far (counted once MassMinRows rows are read):
	// most likely a placeholder ID or a wrong ID column. Rows that go
	// only for their age (a retention purge) do not count.
	MaxShare float64
	// Jobs is the number of archives processed at once; 0 means
	// LocalJobsPerCPU times the number of CPUs, DefaultRemoteJobs with a
	// Remote source. Of them, at most the number of CPUs (twice that with
	// a Remote source) are scanned or rewritten at once; the others wait
	// on the store, the disk or for their turn.
	Jobs   int
	DryRun bool // read and report only
	// VerifyFull re-reads each replaced archive from the store and checks
	// its rows before any old version is deleted. Without it the store
	// checks what it received by size and checksum.
	VerifyFull bool
	Progress   Progress
	// Tag, if set, names a listed ID in the results: each archive's
	// result lists the tags of the IDs whose rows it removed (IDTags).
	// The clear IDs never leave the engine.
	Tag func(id []byte) string
	// Record, if set, is called with each archive's result as soon as the
	// archive is finished, from the worker that processed it. An error
	// stops the batch: a run whose record cannot be kept must not go on.
	Record func(Result) error
	// Listed, if set, is told the keys of the archives the batch will process,
	// before any is; Journal each step of an archive's destructive
	// sequence before the engine goes on (an error fails the archive
	// before its next step).
	Listed  func(keys []string) error
	Journal func(Step) error
	// Resume takes up an interrupted batch: archives in Done are not
	// processed again; for archives in Midway (key to staged file) a
	// staged file left behind is removed, and a store that can
	// (Recoverer) cleans up after the interrupted run since ResumeSince,
	// before they are processed again from what storage holds. A store
	// that stages beside the archives (StagedCleaner) removes the staged
	// files of the interrupted run since ResumeSince.
	Done        map[string]bool
	Midway      map[string]string
	ResumeSince time.Time
	// Recorded, if set, returns an archive's key as the record names it
	// (with listed IDs in its path replaced): the keys of Done, Midway
	// and Rewritten are in that form.
	Recorded func(key string) string
	// Rewritten are the archives of Midway whose rewrite the interrupted
	// run completed: one found replaced by it (same SHA-256) is recorded
	// erased with what that rewrite removed, not unchanged.
	Rewritten map[string]Rewritten

	// staged, if set (by tests), is called with each staged file once
	// the rewrite is written to it, before it is verified.
	staged func(f *os.File)
	// spooled, if set (by tests), is called with the summary's spool
	// before the first archive is processed.
	spooled func(s *resultSpool)

	// Index, if set, learns what each archive read in full holds (the
	// keyed hashes of the values of its ID columns), bound to the
	// archive's identity: an archive left unchanged as it was read, or
	// the rewrite that replaced it. With IndexSkip, an archive whose
	// entry rules out every listed ID is not read, and ends
	// absent-by-index. Only a batch that removes rows by ID alone
	// (Filter.IDs set, no Filter.Before) uses or builds it.
	Index     Index
	IndexSkip bool
}

// Index is a keyed index of what archives hold (package index), as the
// engine uses it. Archives are named by Object.ID, or Key without one.
type Index interface {
	// Absent reports whether the entry of archive, made for identity,
	// rules out every listed ID, and names that entry by its hash.
	Absent(archive, identity string) (entry string, ok bool)
	// Hash returns the keyed hash of one value of an ID column.
	Hash(value []byte) uint64
	// Put records what archive, as identity, holds: the hashes of the
	// values of its ID columns; sha is the hex SHA-256 of its content.
	Put(archive, identity, sha string, hashes []uint64) error
}

// indexed reports whether the batch uses or builds the index.
func (o *Options) indexed() bool {
	return o.Index != nil && o.Filter != nil && o.Filter.IDs != nil && o.Filter.Before.IsZero()
}

// MatchSpec names the settings that shape which values of an archive the
// filter compares with the listed IDs, and which archives it reads at
// all: an index entry made under other settings must not rule an archive
// out. (The listed IDs' transform is not among them: the index hashes
// the values as stored, which is what the filter compares.)
func (o *Options) MatchSpec() string {
	cols := slices.Clone(o.Filter.Columns)
	if len(cols) == 0 {
		cols = slices.Clone(filter.DefaultColumns)
	}
	for i, c := range cols {
		cols[i] = strings.ToLower(strings.TrimSpace(c))
	}
	slices.Sort(cols)
	return fmt.Sprintf("v1 columns=%q delimiter=%d max-record=%d invalid-utf8=%t max-member=%d max-ratio=%d",
		slices.Compact(cols), o.Filter.Delimiter, o.Filter.MaxRecord, o.Filter.AllowInvalidUTF8,
		o.Archive.MaxMemberSize, o.Archive.MaxRatio)
}

// Rewritten is a rewrite an interrupted run completed (its written step).
type Rewritten struct {
	BytesBefore                           int64
	Size                                  int64
	SHA256                                string
	RowsScanned, RowsRemoved, RowsExpired int64
	IDTags                                []string
}

// engine is one run of a batch: its options, and the load of its pool.
type engine struct {
	Options
	load load
	// work bounds the archives scanned or rewritten at once.
	work slots
	// read and listed count the rows read so far and those of them that
	// hold a listed ID (for MaxShare).
	read, listed atomic.Int64
	// matched is the listed IDs found in some row.
	matched matched
}

// MassMinRows is how many rows a batch reads before Options.MaxShare
// applies: a share of fewer says little.
const MassMinRows = 10000

// ErrMassErasure stops a batch whose listed IDs match too many rows.
var ErrMassErasure = errors.New("the listed IDs match too many rows")

// count adds an archive's rows to the batch's: those read, and those of
// them that hold a listed ID (not those that go only for their age).
func (o *engine) count(rep *archive.Report) (read, listed int64) {
	return o.read.Add(rep.Rows()), o.listed.Add(rep.Removed() - rep.Expired())
}

// checkShare counts the archive about to be replaced, and fails with
// ErrMassErasure when the listed IDs' share of the rows read is then over
// MaxShare.
func (o *engine) checkShare(rep *archive.Report, key string) error {
	read, listed := o.count(rep)
	if o.MaxShare <= 0 || read < MassMinRows || float64(listed) <= o.MaxShare*float64(read) {
		return nil
	}
	return fmt.Errorf("%w: stopped before replacing %s: %d of the %d rows read so far (%.0f%%) hold a listed ID, more than --max-share %.0f%%; "+
		"a placeholder ID or a wrong ID column? Check with --dry-run, or raise --max-share if this is meant", ErrMassErasure, key, listed, read,
		100*float64(listed)/float64(read), 100*o.MaxShare)
}

// recorded returns key as the record names it (Recorded).
func (o *Options) recorded(key string) string {
	if o.Recorded == nil {
		return key
	}
	return o.Recorded(key)
}

// selection is the archives the options choose.
func (o *Options) selection() selection {
	return selection{include: o.Include, exclude: o.Exclude, selects: o.Select, shard: o.Shard, skip: o.Done, recorded: o.recorded}
}

// load counts the archives of a batch not started yet (pending): when none
// is pending and cores are idle (no other archive holds a work slot), a
// large gzip or zip rewrite compresses on several.
type load struct{ pending atomic.Int64 }

// parallelMin is the size from which a gzip or zip archive is worth compressing
// on several cores.
const parallelMin = 8 << 20

// archiveOptions returns the rewrite options for an archive of the given
// size: with Threads for the cores no other archive will use.
func (o *engine) archiveOptions(size int64) archive.Options {
	ao := o.Archive
	if size < parallelMin || o.load.pending.Load() > 0 {
		return ao
	}
	if idle := runtime.NumCPU() - o.work.busy(); idle > 0 {
		ao.Threads = idle + 1 // its own slot is busy
	}
	return ao
}

// The states of an archive in the destructive sequence, as journaled.
const (
	StepRead             StepState = "read"              // rows found; the rewrite is staged
	StepWritten          StepState = "written"           // the rewrite is complete and checked
	StepVerified         StepState = "verified"          // it replaced the original, confirmed by the store
	StepOriginalsDeleted StepState = "originals_deleted" // old versions holding the rows are gone
)

// StepState names a Step.
type StepState string

// Step is one archive's progress, for Options.Journal.
type Step struct {
	Key   string
	State StepState
	// VersionID and Size (read): what was read. Staged (read): the
	// local file the rewrite goes to. Size and SHA256 (written): the
	// rewrite. NewVersionID (verified): the version that replaced it.
	// VersionsDeleted (originals_deleted).
	VersionID, Staged, SHA256, NewVersionID string
	Size                                    int64
	VersionsDeleted                         []string
	// RowsScanned, RowsRemoved, RowsExpired and IDTags (written): what
	// the rewrite removed.
	RowsScanned, RowsRemoved, RowsExpired int64
	IDTags                                []string
	// Deferred: the step need not be durable before the engine goes
	// on, as no destructive action waits on it; the next step journaled
	// without it makes it durable. The read step of a store that finds
	// the staged files an interrupted run left without the journal
	// (StagedCleaner): nothing is replaced before the written step, which
	// is synced. The verified step of a store without old versions to
	// purge: nothing destructive follows it, and an interrupted run that
	// lost it finds the rewrite in place (Rewritten).
	Deferred bool
}

// Recoverer is implemented by stores that can clean up what an interrupted
// run may have left of an archive's replacement: unfinished uploads, and a
// store whose view of the archive is not yet settled.
type Recoverer interface {
	Recover(ctx context.Context, obj Object, since time.Time) error
}

// NewVersioner is implemented by the Content of stores that give each
// replacement a version ID.
type NewVersioner interface {
	NewVersionID() string
}

func (o *engine) journal(s Step) error {
	if o.Journal == nil {
		return nil
	}
	if err := o.Journal(s); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Run processes every selected archive of the sources. Per-archive failures
// are recorded in the summary (see Summary.Err); the error is for a batch
// that could not run or had to stop: a source that cannot be listed, or
// whose store refuses the batch's writes (Preparer), cancellation, a full
// disk. Archives not reached are then reported as
// skipped.
func Run(ctx context.Context, opt Options, sources []Source) (*Summary, error) {
	// The staged files an interrupted run left go before the listing,
	// which would warn about them.
	for _, staged := range opt.Midway {
		if err := removeStaged(staged); err != nil {
			return nil, err
		}
	}
	var only func(rel string) bool
	if opt.Shard != nil {
		// Other workers' runs may be staging files in the same tree.
		sh := *opt.Shard
		only = func(rel string) bool { return sh.Has(Object{Rel: rel}) }
	}
	for _, src := range sources {
		if c, ok := src.Store.(StagedCleaner); ok {
			c.CleanStaged(opt.ResumeSince, only)
		}
	}
	p, err := list(ctx, sources, opt.selection(), opt.Progress)
	if err != nil {
		return nil, err
	}
	if len(p.jobs) == 0 && len(opt.Done) == 0 {
		return &Summary{DryRun: opt.DryRun, Outside: p.outside}, ErrNoArchives
	}
	if !opt.DryRun {
		if err := prepare(ctx, sources, p); err != nil {
			return nil, err
		}
	}
	if opt.Listed != nil {
		if err := opt.Listed(p.keys()); err != nil {
			return nil, err
		}
	}
	if opt.Progress != nil {
		opt.Progress.Start(len(p.jobs), p.bytes)
	}
	results, err := newResultSpool(len(p.jobs))
	if err != nil {
		return nil, err
	}
	if opt.spooled != nil {
		opt.spooled(results)
	}
	sum := &Summary{DryRun: opt.DryRun, Outside: p.outside, results: results}
	// recorded[i] is set once archive i's result went to the record (and
	// the totals): the archives the batch stopped before are the others,
	// whether or not the spool took the result.
	recorded := make([]bool, len(p.jobs))
	jobs := cmp.Or(opt.Jobs, eraseJobs(sources))
	e := &engine{Options: opt, work: make(slots, workSlots(sources, jobs))}
	e.load.pending.Store(int64(len(p.jobs)))
	err = p.run(ctx, jobs, sources, func(ctx context.Context, i int, j job) error {
		e.load.pending.Add(-1)
		mctx, m := withMeter(ctx, opt.Progress)
		src := sources[j.source]
		res, err := e.processResumed(mctx, j.store, j.obj, opt.filterOf(src))
		res.Dataset = src.Dataset
		if opt.Progress != nil {
			m.done(j.obj.Size)
			opt.Progress.Done(j.obj)
		}
		// Each result goes on record and to the summary's spool as
		// its archive finishes: what stays in memory until the end
		// is where it is in the spool.
		var rerr error
		if opt.Record != nil {
			rerr = opt.Record(res)
			if rerr != nil {
				rerr = fmt.Errorf("audit record of %s: %w", j.obj.Key, rerr)
			}
		}
		recorded[i] = true
		if serr := sum.add(i, res); serr != nil {
			return errors.Join(rerr, serr)
		}
		p.jobs[i] = job{} // done
		if rerr != nil {
			return rerr
		}
		if err != nil && fatal(err) {
			return fmt.Errorf("%s: %w", j.obj.Key, err)
		}
		return nil
	})
	// The archives the batch stopped before are on the record too, and
	// in the summary.
	for i, j := range p.jobs {
		if recorded[i] {
			continue
		}
		res := Result{Key: j.obj.Key, Status: Skipped, BytesBefore: j.obj.Size, Dataset: sources[j.source].Dataset}
		if opt.Record != nil {
			if rerr := opt.Record(res); rerr != nil && err == nil {
				err = fmt.Errorf("audit record of %s: %w", res.Key, rerr)
			}
		}
		if serr := sum.add(i, res); serr != nil && err == nil {
			err = serr
		}
	}
	sum.matched, sum.matchedTags = e.matched.ids, e.matched.tags
	return sum, err
}

// prepare lets each source with archives to process check its store
// before the first write (Preparer).
func prepare(ctx context.Context, sources []Source, p *plan) error {
	used := make([]bool, len(sources))
	for _, j := range p.jobs {
		used[j.source] = true
	}
	for i, src := range sources {
		if pr, ok := src.Store.(Preparer); ok && used[i] {
			if err := pr.Prepare(ctx); err != nil {
				return fmt.Errorf("%s: %w", src.Name, err)
			}
		}
	}
	return nil
}

// processResumed is process, for an archive an interrupted run left midway
// retried after a conflict: the interrupted run's own upload, sent just
// before it died, may be committed by the store only now. Its retries wait
// 0.5, 1 and 2 s.
func (o *engine) processResumed(ctx context.Context, st Store, obj Object, f *filter.Filter) (Result, error) {
	res, err := o.process(ctx, st, obj, f)
	if _, midway := o.Midway[o.recorded(obj.Key)]; !midway {
		return res, err
	}
	for wait := 500 * time.Millisecond; errors.Is(err, ErrConflict) && wait <= 2*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
		res, err = o.process(ctx, st, obj, f)
	}
	return res, err
}

// process handles one archive with the filter f and returns its result,
// and the error behind a failed result.
func (o *engine) process(ctx context.Context, st Store, obj Object, f *filter.Filter) (Result, error) {
	res := Result{Key: obj.Key, BytesBefore: obj.Size}
	if obj.NotScanned != "" {
		res.Status, res.Reason = NotScanned, obj.NotScanned
		return res, nil
	}
	if entry, ok := o.absent(obj, f); ok {
		res.Status, res.IndexEntry, res.Identity, res.BytesAfter = AbsentByIndex, entry, obj.Identity, sizeOf(obj.Size)
		res.Reason = "not read: its index entry " + entry[:min(16, len(entry))] + " rules out every listed ID"
		return res, nil
	}
	tags := o.tagSet(f)
	defer o.matched.add(tags)
	// learned is the identity and SHA-256 of the content the index
	// learns, once the archive was read in full: as it was, or its
	// rewrite.
	var learned struct{ identity, sha string }
	if err := o.rollback(ctx, st, obj); err != nil {
		res.Status, res.Error = status(err), err.Error()
		return res, err
	}
	err := st.Open(ctx, obj, func(c Content) error {
		// The scan, and the rewrite, take a work slot; the store's
		// writes and the purge of old versions give it back.
		release, err := o.work.take(ctx)
		defer release()
		if err != nil {
			return err
		}
		res.BytesBefore = c.Size()
		vc, versioned := c.(Versioned)
		if versioned {
			res.VersionID = vc.VersionID()
		}
		if d, ok := c.(Deleted); ok && d.Deleted() && versioned {
			// Deleted, but older versions remain: nothing current to
			// read; those of them that hold listed rows go.
			res.Status, res.BytesAfter = Unchanged, sizeOf(res.BytesBefore)
			release()
			return o.purgeOlder(ctx, vc, tags.filter, &res)
		}
		src := newPrefixHash(c)
		src.meter = meterOf(ctx)
		// Outside a dry run, the first matching row is enough to decide.
		rep, err := archive.ScanWith(src, c.Size(), tags.filter, !o.DryRun, o.Archive)
		if rep != nil {
			res.Format, res.MembersCarried = rep.Format.String(), rep.Carried()
			res.RowsScanned, res.RowsRemoved, res.RowsExpired = rep.Rows(), rep.Removed(), rep.Expired()
			res.MembersNotScanned = memberNotes(rep)
		}
		switch {
		case err != nil:
			return err
		case rep.Removed() == 0:
			o.count(rep) // all of it read, none listed
			res.Status = Unchanged
			if !rep.Scanned() && len(res.MembersNotScanned) > 0 {
				// Nothing in it was read as CSV: not an export.
				res.Status, res.Reason = NotScanned, notScannedReason(rep)
			}
			res.BytesAfter = sizeOf(res.BytesBefore)
			if res.SHA256Before, err = src.sum(c.Size()); err != nil {
				return err
			}
			res.SHA256After = res.SHA256Before
			if rw, ok := o.Rewritten[o.recorded(obj.Key)]; ok && rw.SHA256 == res.SHA256After {
				o.takeOver(&res, rw)
			}
			// Every value of its ID columns went through the filter,
			// unless a member was not read as CSV. In a versioned
			// store, the older versions go through it too (purgeOlder):
			// one without a listed row is read to its end, one with
			// one is deleted, or in a dry run makes the archive
			// would-erase, which the index does not learn.
			if len(res.MembersNotScanned) == 0 && res.Status == Unchanged {
				learned.identity, learned.sha = identityOf(c), res.SHA256Before
			}
			if versioned {
				release()
				return o.purgeOlder(ctx, vc, tags.filter, &res)
			}
			return nil
		case o.DryRun:
			if rc, ok := c.(ReplaceChecker); ok {
				if err := rc.CheckReplace(); err != nil {
					return err
				}
			}
			res.Status = WouldErase
			res.SHA256Before, err = src.sum(c.Size())
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, size, after, err := o.replace(ctx, st, c, src, tags, obj.Key, res.VersionID, release)
		if rep != nil {
			res.RowsScanned, res.RowsRemoved, res.MembersCarried = rep.Rows(), rep.Removed(), rep.Carried()
			res.RowsExpired, res.MembersNotScanned = rep.Expired(), memberNotes(rep)
		}
		if errors.As(err, new(*ReplacedError)) {
			res.BytesAfter, res.SHA256After = &size, after // what was sent
			res.SHA256Before, _ = src.sum(c.Size())
		}
		if err != nil {
			return err
		}
		res.Status, res.BytesAfter, res.SHA256After = Erased, &size, after
		// The source was read to its end by the rewrite, or is read
		// from the store's cache now; a failure here is no reason to
		// leave the replaced archive unsettled.
		res.SHA256Before, _ = src.sum(c.Size())
		o.settle(ctx, c, rep, tags.base, &res)
		// The rewrite passed every kept row's values through the
		// filter (a zip member without a listed row is read to its end
		// before it is copied).
		if res.Status == Erased && len(res.MembersNotScanned) == 0 {
			learned.identity, learned.sha = identityOf(c), after
		}
		return nil
	})
	if err == nil && tags.index != nil && learned.identity != "" && (res.Status == Unchanged || res.Status == Erased) {
		// An entry that cannot be made (a filter that does not build)
		// is only a full read more next time.
		_ = o.Index.Put(cmp.Or(obj.ID, obj.Key), learned.identity, learned.sha, tags.values())
	}
	if err != nil {
		res.Status, res.Error = status(err), err.Error()
		if res.Status == ReplacedIncomplete {
			// The rows are gone from the archive: on the record.
			res.IDTags = tags.list()
			return res, err
		}
		res.RowsRemoved, res.RowsExpired, res.BytesAfter, res.SHA256After = 0, 0, nil, "" // nothing was removed
		res.IDTags, res.DeletedVersions, res.VersionsDeleted = nil, nil, 0
		return res, err
	}
	if res.RowsRemoved > 0 || len(res.DeletedVersions) > 0 || res.Status == WouldErase || res.Status == ReplacedIncomplete {
		res.IDTags = tags.list()
	}
	if res.resumedTags != nil {
		// Those the interrupted attempt's rewrite removed, and those
		// of older versions purged now.
		res.IDTags = mergeTags(res.IDTags, res.resumedTags)
	}
	return res, nil
}

// absent reports whether the index rules out every listed ID for obj,
// as listed, and names the entry that does. An archive an interrupted
// attempt left midway is always read.
func (o *engine) absent(obj Object, f *filter.Filter) (string, bool) {
	// A data map's per-dataset filter (f not the flags') is never indexed.
	if !o.IndexSkip || !o.indexed() || f != o.Filter || obj.Identity == "" {
		return "", false
	}
	if _, midway := o.Midway[o.recorded(obj.Key)]; midway {
		return "", false
	}
	return o.Index.Absent(cmp.Or(obj.ID, obj.Key), obj.Identity)
}

// identityOf returns the identity of c's content (Identifier), or "".
func identityOf(c Content) string {
	if id, ok := c.(Identifier); ok {
		return id.Identity()
	}
	return ""
}

// takeOver records an archive that an interrupted attempt of the batch
// replaced by its rewrite (found in place) as that attempt left it:
// erased, with the rows it removed and the tags of their IDs.
func (o *engine) takeOver(res *Result, rw Rewritten) {
	res.Status = Erased
	after := rw.Size
	res.BytesAfter = &after                                // not &res.BytesBefore, which changes here
	res.BytesBefore, res.SHA256Before = rw.BytesBefore, "" // the original is gone; the read step has its size
	res.RowsScanned, res.RowsRemoved, res.RowsExpired = rw.RowsScanned, rw.RowsRemoved, rw.RowsExpired
	res.resumedTags = rw.IDTags
	o.matched.addTags(rw.IDTags)
}

// sizeOf returns a pointer to a copy of n: a result's BytesAfter must not
// point into the result, which would keep the closure's copy of it alive
// in the summary beside the summary's own (the summary keeps every
// archive's result until the end).
func sizeOf(n int64) *int64 { return &n }

// memberNotes returns the members of rep not read as CSV, with the reason.
func memberNotes(rep *archive.Report) []MemberNote {
	var notes []MemberNote
	for _, m := range rep.NotScanned() {
		notes = append(notes, MemberNote{Name: m.Name, Reason: m.Reason})
	}
	return notes
}

// notScannedReason says why an archive none of whose streams was read as
// CSV is not-scanned.
func notScannedReason(rep *archive.Report) string {
	ms := rep.NotScanned()
	if rep.Format != archive.Zip && len(ms) == 1 {
		return ms[0].Reason
	}
	return fmt.Sprintf("no member read as CSV (%d not read; see members_not_scanned)", len(ms))
}

// settle finishes a replaced archive, whatever happens to the batch
// meanwhile: with VerifyFull it reads the stored archive back, then, in a
// versioned store and only if all is well, it purges the old versions that
// still hold the rows. A failure here leaves the new archive in place and
// the old versions kept (they may be needed to recover), and fails the
// archive's result.
func (o *engine) settle(ctx context.Context, c Content, rep *archive.Report, f *filter.Filter, res *Result) {
	ctx = context.WithoutCancel(ctx)
	if rb, ok := c.(ReadBacker); ok && o.VerifyFull {
		err := rb.ReadBack(ctx, func(r io.ReaderAt, size int64) error {
			release, err := o.work.take(ctx)
			defer release()
			if err != nil {
				return err
			}
			stored, err := archive.ScanWith(r, size, f, false, o.Archive.WithoutLimits())
			if err != nil {
				return err
			}
			return archive.Verify(rep, stored)
		})
		if err != nil {
			res.Status, res.Error = ReplacedIncomplete, fmt.Sprintf("replaced, but the stored archive failed verification: %v", err)
			return
		}
	}
	vc, versioned := c.(Versioned)
	step := Step{Key: res.Key, State: StepVerified, Deferred: !versioned}
	if nv, ok := c.(NewVersioner); ok {
		step.NewVersionID = nv.NewVersionID()
	}
	if err := o.journal(step); err != nil {
		res.Status, res.Error = ReplacedIncomplete, fmt.Sprintf("replaced, but old versions are kept: %v", err)
		return
	}
	if versioned {
		deleted, err := vc.Purge(ctx)
		res.DeletedVersions, res.VersionsDeleted = deleted, len(deleted)
		if len(deleted) > 0 {
			if jerr := o.journal(Step{Key: res.Key, State: StepOriginalsDeleted, VersionsDeleted: deleted}); jerr != nil && err == nil {
				err = jerr
			}
		}
		if err != nil {
			res.Status, res.Error = ReplacedIncomplete, fmt.Sprintf("rewritten and verified, but older versions still hold the rows: %v", err)
		}
	}
}

// purgeOlder deletes the older versions of an archive that still hold a
// listed ID, or in a dry run counts them.
func (o *engine) purgeOlder(ctx context.Context, vc Versioned, f archive.Filter, res *Result) error {
	found := 0
	deleted, err := vc.PurgeOlder(ctx, func(r io.ReaderAt, size int64) (bool, error) {
		release, err := o.work.take(ctx)
		defer release()
		if err != nil {
			return false, err
		}
		rep, err := archive.ScanWith(r, size, f, true, o.Archive)
		if err != nil {
			return false, fmt.Errorf("older version: %w", err)
		}
		if rep.Removed() > 0 {
			found++
		}
		return rep.Removed() > 0 && !o.DryRun, nil
	})
	res.DeletedVersions, res.VersionsDeleted = deleted, len(deleted)
	if o.DryRun {
		res.VersionsDeleted = found
	}
	switch {
	case err != nil:
		return err
	case found > 0 && o.DryRun:
		res.Status = WouldErase
	case len(deleted) > 0:
		res.Status = Erased
	}
	return nil
}

// replace is the gate every destructive step goes through: rewrite src (the
// content of c) into a staged file, verify it by reading it back, then let
// the store replace the original. It returns the rewrite's report, and the
// new archive's size and SHA-256. release gives back the archive's work
// slot, which the replacement, waiting on the store, does not need.
func (o *engine) replace(ctx context.Context, st Store, c Content, src io.ReaderAt, tags *tagSet, key, version string, release func()) (*archive.Report, int64, string, error) {
	f := tags.filter
	staged, err := c.Stage()
	if err != nil {
		if errors.As(err, new(*HeldError)) {
			return nil, 0, "", err // says itself why
		}
		return nil, 0, "", fmt.Errorf("stage: %w", err)
	}
	_, cleans := st.(StagedCleaner)
	if err := o.journal(Step{Key: key, State: StepRead, VersionID: version, Size: c.Size(), Staged: staged.Name(), Deferred: cleans}); err != nil {
		staged.Close()
		os.Remove(staged.Name())
		return nil, 0, "", err
	}
	handed := false
	defer func() {
		if !handed {
			staged.Close()
			os.Remove(staged.Name())
		}
	}()
	h := sha256.New()
	w := stagedWriters.Get().(*bufio.Writer)
	w.Reset(io.MultiWriter(staged, h))
	defer func() {
		w.Reset(nil)
		stagedWriters.Put(w)
	}()
	// Zip members are read back as they are written, beside the rewrite;
	// Reread then reads their bytes from the staged file and confirms
	// them against what was read back, and reads the rest.
	ao := o.archiveOptions(c.Size())
	ao.Reread = tags.base
	rep, err := archive.Rewrite(w, src, c.Size(), f, ao)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return rep, 0, "", fmt.Errorf("rewrite: %w", err)
	}
	size, err := staged.Seek(0, io.SeekCurrent)
	if err != nil {
		return rep, 0, "", err
	}
	if o.staged != nil {
		o.staged(staged)
	}
	after, err := archive.Reread(staged, size, rep, tags.base, o.Archive.WithoutLimits())
	if err != nil {
		return rep, 0, "", fmt.Errorf("verify rewritten archive: %w", err)
	}
	if err := archive.Verify(rep, after); err != nil {
		return rep, 0, "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := sameFile(staged, size, sum); err != nil {
		return rep, 0, "", fmt.Errorf("verify rewritten archive: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return rep, 0, "", err
	}
	if err := o.checkShare(rep, key); err != nil {
		return rep, 0, "", err
	}
	written := Step{Key: key, State: StepWritten, Size: size, SHA256: sum,
		RowsScanned: rep.Rows(), RowsRemoved: rep.Removed(), RowsExpired: rep.Expired(), IDTags: tags.list()}
	release() // the rest waits on the journal's sync and the store
	if err := o.journal(written); err != nil {
		return rep, 0, "", err
	}
	handed = true
	if err := c.Replace(ctx, staged); err != nil {
		return rep, size, sum, err
	}
	return rep, size, sum, nil
}

// stagedWriters keeps the buffers (256 KiB) that rewrites are written to
// their staged files through, between rewrites.
var stagedWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// sameFile checks that f holds the size bytes whose SHA-256 (hex) is sum
// and no more: that the staged file verified, replaced and recorded by its
// SHA-256 is what the rewrite wrote to it. A file changed in a way the
// format does not notice (a gzip header's time, a kept row's value) is
// caught here.
func sameFile(f *os.File, size int64, sum string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: the staged file has %d bytes, %d were written to it", archive.ErrVerify, fi.Size(), size)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), make([]byte, max(min(size, 32<<10), 1))); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%w: the staged file's SHA-256 is %s, not that of what was written to it (%s)", archive.ErrVerify, got, sum)
	}
	return nil
}

// removeStaged removes the staged file of an interrupted run's rewrite. Only
// a file named as scrub names its staged files is removed, whatever the
// journal says.
func removeStaged(staged string) error {
	if b := filepath.Base(staged); staged == "" || !strings.Contains(b, "scrub-") || !strings.HasSuffix(b, ".tmp") {
		return nil
	}
	if err := os.Remove(staged); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the staged file %s of an interrupted run: %w", staged, err)
	}
	return nil
}

// rollback undoes what an interrupted run left of an archive's unfinished
// rewrite in its store: its unfinished uploads.
func (o *engine) rollback(ctx context.Context, st Store, obj Object) error {
	if _, midway := o.Midway[o.recorded(obj.Key)]; !midway {
		return nil
	}
	if r, ok := st.(Recoverer); ok {
		if err := r.Recover(ctx, obj, o.ResumeSince); err != nil {
			return fmt.Errorf("recover from the interrupted run: %w", err)
		}
	}
	return nil
}
