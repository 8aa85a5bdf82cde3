// Package batch is the lifecycle of an audited batch, the same for every
// command that writes one (erase, a retention purge, sweep, export,
// unblock): the typed Request that the audit log records, that resume
// compares and that the request identity hashes; Begin, which starts the
// batch's audit log or takes up the unfinished batch of the same request;
// the hooks that put the engine's steps and outcomes on record in the
// audit format; and Seal.
//
// It wires the engine (package scrub) to the audit format (package audit),
// which know nothing of each other.
package batch

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/user"
	"runtime"
	"slices"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/ids"
)

// Config is what a batch needs besides its request.
type Config struct {
	// Location is where the audit bundle goes.
	Location audit.Location
	// Key signs the bundle; nil makes an unsigned one, for a dry run.
	Key ed25519.PrivateKey
	// IDKey names the IDs in the log; nil for a dry run without one,
	// whose log then names no ID and which cannot be resumed.
	IDKey *audit.IDKey
	// Version and Commit identify the build, for the log.
	Version, Commit string
	// Ticket is the request reference (--ticket).
	Ticket string
	// NoResume starts a new batch even when an unfinished one of the
	// same request is there (erase --resume=false).
	NoResume bool
	// Stderr is told what Begin found: batches resumed, sealed or left.
	Stderr io.Writer
	// TakeOverLock takes over a stale lock object (--take-over-lock):
	// one whose run stopped renewing its lease, on another host.
	TakeOverLock bool
	// Redact, if set, rewrites each line of the log before it is
	// written: it replaces the listed IDs that occur in paths, the
	// ticket or the ID file's name (see ids.Redactor).
	Redact func([]byte) []byte
	// RedactKeepsTags says that Redact leaves a list of tags as it is
	// (ids.Redactor.KeepsTags): see audit.WithRedactKeepsTags.
	RedactKeepsTags bool
	// Witness, if set, is a second location, apart from the audit
	// location, to which each signed batch adds its head when it is
	// sealed (--witness): see audit.WithWitness.
	Witness audit.Location
	// Retain is how long the sealed files are locked against deletion
	// when the audit location locks objects (--audit-retain,
	// --audit-retain-mode); zero values take the bucket's default
	// retention. See audit.PlanRetention.
	Retain audit.RetentionRequest

	// retention is what Begin planned of Retain.
	retention *audit.Retention
}

// writerOptions returns the options of the batch's audit writer.
func (c *Config) writerOptions() []audit.Option {
	var opts []audit.Option
	if c.Redact != nil {
		opts = append(opts, audit.WithRedact(c.Redact))
		if c.RedactKeepsTags {
			opts = append(opts, audit.WithRedactKeepsTags())
		}
	}
	if c.Witness != nil {
		opts = append(opts, audit.WithWitness(c.Witness))
	}
	if c.retention != nil {
		opts = append(opts, audit.WithRetention(c.retention))
	}
	return opts
}

// sealWait is how long Seal waits for another batch's seal to end; a lock
// object of a run that died while sealing goes stale before.
const sealWait = 3 * audit.DefaultLease

// IDs lists a request's IDs: fn is called with each ID as the request
// identity is computed from and its tag under the ID key, in any order. A
// sweep, which has no clear ID, lists its tags as both.
type IDs struct {
	N    int // how many IDs
	Each func(k *audit.IDKey, fn func(id, tag string))
	// Set, if set, is the IDs instead of Each, for a list of millions:
	// their tags are worked out once, over every CPU, and kept for
	// UnmatchedSums.
	Set *ids.Set
}

// Batch is a running batch.
type Batch struct {
	req *Request
	cfg Config
	w   *audit.Writer
	// resumed is the unfinished batch taken up, if any.
	resumed *audit.Journal
	// lock is the request's lock, held from Begin to Seal; cfg.Location
	// is then seen through it, and loc is the location itself.
	lock *audit.Lock
	loc  audit.Location
	// sums are the tags of IDs.Set, sorted.
	sums []ids.Sum
}

// operator is who runs the command, for the audit log and blocklist
// changes.
func operator() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// Operator returns who runs the command.
func Operator() string { return operator() }

// Begin starts the batch of req, with the tags of its IDs first, or takes
// up the unfinished batch of the same request that an interrupted run left
// in the audit location:
//   - an erase or sweep resumes it (unless NoResume) and first seals one
//     that had logged its end; unfinished batches of other requests are
//     named on Stderr and left for their own command;
//   - an export is never resumed: an unfinished one is sealed as failed,
//     and the export runs again whole;
//   - an unblock resumes it, whatever it was doing.
//
// A resumed erase takes its cutoff from the batch it resumes.
//
// A batch that has a request identity (any but a dry run) holds the lock
// of its request and shard in the audit location until Seal: while one
// run holds it, Begin of the same request and shard fails at once with an
// *audit.LockedError, having read and written nothing. Seal takes the
// location's seal lock for as long as sealing lasts.
func Begin(ctx context.Context, req *Request, list IDs, cfg Config) (*Batch, error) {
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	host, _ := os.Hostname()
	st := audit.Start{
		Command: req.Command, DryRun: req.DryRun,
		Tool:     audit.Tool{Name: "scrub", Version: cfg.Version, Commit: cfg.Commit, Go: runtime.Version()},
		Operator: operator(), Host: host, Ticket: cfg.Ticket, Sources: req.Sources,
		Options: req.options(), IDs: list.N,
	}
	if st.Sources == nil {
		st.Sources = []string{}
	}
	if req.Shard != nil {
		st.Shard = &audit.Shard{Index: req.Shard.Index, Count: req.Shard.Count}
	}
	var tags []string
	var sums []ids.Sum
	switch {
	case cfg.IDKey != nil && list.Set != nil:
		st.IDKey = cfg.IDKey.ID()
		var request func(iter.Seq[[]byte])
		if !req.DryRun {
			request = func(sorted iter.Seq[[]byte]) {
				st.Request = cfg.IDKey.RequestSeq(sorted, req.identity(req.Command))
			}
		}
		sums = list.Set.SortedSums(runtime.GOMAXPROCS(0), request, cfg.IDKey.Summer)
	case cfg.IDKey != nil:
		st.IDKey = cfg.IDKey.ID()
		var listed []string
		if list.Each != nil {
			list.Each(cfg.IDKey, func(id, tag string) {
				listed = append(listed, id)
				tags = append(tags, tag)
			})
		}
		slices.Sort(listed)
		slices.Sort(tags)
		if !req.DryRun {
			st.Request = cfg.IDKey.Request(listed, req.identity(req.Command))
		}
	}
	if cfg.Witness != nil && cfg.Witness.String() == cfg.Location.String() {
		return nil, fmt.Errorf("--witness %s is the audit location: a witness must be out of reach of whoever can write the audit location", cfg.Witness)
	}
	retention, warning, err := audit.PlanRetention(ctx, cfg.Location, cfg.Retain)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		fmt.Fprintf(cfg.Stderr, "scrub: warning: %s\n", warning)
	}
	cfg.retention = retention
	b := &Batch{req: req, cfg: cfg, loc: cfg.Location, sums: sums}
	if st.Request != "" {
		// One run at a time per request and shard: a second one is
		// refused before it reads or writes anything.
		lock, err := audit.AcquireLock(ctx, cfg.Location, audit.RequestLock(st.Request, st.Shard), audit.LockOptions{
			Holder: audit.Holder{Command: req.Command, Shard: st.Shard}, TakeOver: cfg.TakeOverLock, Stderr: cfg.Stderr})
		if err != nil {
			return nil, err
		}
		b.lock, b.cfg.Location = lock, lock.Guard(cfg.Location)
		resumed, err := b.takeUp(ctx, st)
		if err != nil {
			b.release(ctx)
			return nil, err
		}
		if resumed {
			b.lock.SetBatch(ctx, b.w.Name())
			return b, nil
		}
	}
	w, err := audit.Begin(b.cfg.Location, "", cfg.Key, st, b.cfg.writerOptions()...)
	if err != nil {
		b.release(ctx)
		return nil, fmt.Errorf("audit location %s: %w", cfg.Location, err)
	}
	if req.Command != Unblock {
		var err error
		if sums != nil {
			err = w.IDSums(sums)
		} else {
			err = w.IDs(tags)
		}
		if err != nil {
			w.Abort()
			b.release(ctx)
			return nil, err
		}
	}
	b.w = w
	if b.lock != nil {
		b.lock.SetBatch(ctx, w.Name())
	}
	return b, nil
}

// release gives up the request's lock.
func (b *Batch) release(ctx context.Context) error {
	err := b.lock.Release(context.WithoutCancel(ctx))
	b.lock = nil
	return err
}

// sealing runs seal, which seals batch, under the audit location's seal
// lock: one batch is sealed at a time, each linked to the one sealed
// before it (see audit.SealLock).
func (b *Batch) sealing(ctx context.Context, batch string, seal func() error) error {
	ctx = context.WithoutCancel(ctx)
	lock, err := audit.AcquireLock(ctx, b.loc, audit.SealLock, audit.LockOptions{
		Holder: audit.Holder{Command: b.req.Command, Batch: batch}, Wait: sealWait, TakeOver: b.cfg.TakeOverLock, Stderr: b.cfg.Stderr})
	if err != nil {
		return err
	}
	err = seal()
	return errors.Join(err, lock.Release(ctx))
}

// takeUp finds the unfinished batches in the audit location and deals
// with those of the request as Begin says. It reports whether one was
// resumed (b.w is then its writer).
func (b *Batch) takeUp(ctx context.Context, st audit.Start) (bool, error) {
	loc, stderr := b.cfg.Location, b.cfg.Stderr
	journals, err := audit.Journals(ctx, loc)
	if err != nil {
		return false, err
	}
	for _, j := range journals {
		switch b.req.Command {
		case Export:
			if j.Start.Request != st.Request || j.Start.Command != Export {
				continue
			}
			w, err := audit.Resume(loc, "", b.cfg.Key, j, st, b.cfg.writerOptions()...)
			if err == nil {
				err = b.sealing(ctx, j.Batch, func() error {
					if !j.Ended {
						_, err := w.Finish(ctx, audit.ResultFailed, errors.New("interrupted; the export was run again"))
						return err
					}
					_, err := w.Seal(ctx)
					return err
				})
			}
			if err != nil {
				return false, fmt.Errorf("seal the interrupted export %s: %w", j.Batch, err)
			}
			fmt.Fprintf(stderr, "scrub: sealed %s, an interrupted run of this export, as failed\n", j.Batch)
			continue
		case Unblock:
			if j.Start.Request != st.Request {
				continue
			}
			w, err := audit.Resume(loc, "", b.cfg.Key, j, st, b.cfg.writerOptions()...)
			if err != nil {
				return false, fmt.Errorf("resume %s: %w", j.Batch, err)
			}
			if j.Ended {
				// Interrupted while sealing: seal it, then start anew.
				if err := b.sealing(ctx, j.Batch, func() error { _, err := w.Seal(ctx); return err }); err != nil {
					return false, fmt.Errorf("seal the interrupted batch %s: %w", j.Batch, err)
				}
				fmt.Fprintf(stderr, "scrub: sealed %s, which an interrupted run had finished\n", j.Batch)
				continue
			}
			fmt.Fprintf(stderr, "scrub: resuming %s, an unblock of the same IDs that was interrupted\n", j.Batch)
			b.w, b.resumed = w, j
			return true, nil
		}
		switch {
		case j.Start.Request != st.Request || j.Start.DryRun:
			fmt.Fprintf(stderr, "scrub: warning: %s in %s is unfinished and was for another request; run its command again to finish it\n", j.Batch, loc)
			continue
		case !sameShard(j.Start.Shard, st.Shard):
			// Another worker's share of the same request: its own
			// worker resumes it.
			continue
		case j.Ended:
			// Interrupted while sealing: seal it, then start anew.
			w, err := audit.Resume(loc, "", b.cfg.Key, j, st, b.cfg.writerOptions()...)
			if err == nil {
				err = b.sealing(ctx, j.Batch, func() error { _, err := w.Seal(ctx); return err })
			}
			if err != nil {
				return false, fmt.Errorf("seal the interrupted batch %s: %w", j.Batch, err)
			}
			fmt.Fprintf(stderr, "scrub: sealed %s, which an interrupted run had finished\n", j.Batch)
			continue
		case b.cfg.NoResume:
			fmt.Fprintf(stderr, "scrub: warning: not resuming the unfinished %s of this request (--resume=false); it stays unsealed\n", j.Batch)
			continue
		}
		if b.req.OlderThan != "" {
			// A batch has one cutoff, whenever its archives are done.
			cutoff, err := recordedCutoff(j.Start.Options)
			if err != nil {
				return false, fmt.Errorf("resume %s: its journal records %v; start a new batch with --resume=false", j.Batch, err)
			}
			b.req.Cutoff = cutoff
		}
		if b.req.Map != nil && len(b.req.Map.Retention) > 0 {
			if err := recordedRetention(j.Start.Options, b.req.Map.Retention); err != nil {
				return false, fmt.Errorf("resume %s: its journal records %v; start a new batch with --resume=false", j.Batch, err)
			}
		}
		w, err := audit.Resume(loc, "", b.cfg.Key, j, st, b.cfg.writerOptions()...)
		if err != nil {
			return false, fmt.Errorf("resume %s: %w", j.Batch, err)
		}
		fmt.Fprintf(stderr, "scrub: resuming %s: %d archives done before, %d to finish from what storage holds\n", j.Batch, j.DoneCount(), len(j.Midway))
		b.w, b.resumed = w, j
		return true, nil
	}
	return false, nil
}

func sameShard(a, b *audit.Shard) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// Name returns the batch's name.
func (b *Batch) Name() string { return b.w.Name() }

// Request returns the batch's request; a resumed retention purge's Cutoff
// is that of the batch it resumed.
func (b *Batch) Request() *Request { return b.req }

// Event logs an event of the command's own (see audit.Writer.Event).
func (b *Batch) Event(typ string, data any) error { return b.w.Event(typ, data) }

// Erase sets the engine's hooks for an erase or sweep: each archive's
// steps and outcome go on record as they happen, and a resumed batch skips
// the archives it finished and cleans up after those it left midway.
func (b *Batch) Erase(opt *scrub.Options) {
	opt.Record, opt.Listed, opt.Journal = b.archive, b.listed, b.step
	opt.Shard = b.req.Shard
	if j := b.resumed; j != nil {
		opt.Done, opt.Midway, opt.ResumeSince = j.Done, j.Midway, j.Started
		opt.Rewritten = map[string]scrub.Rewritten{}
		for key, w := range j.Written {
			opt.Rewritten[key] = scrub.Rewritten{BytesBefore: w.SizeBefore, Size: w.Size, SHA256: w.SHA256,
				RowsScanned: w.RowsScanned, RowsRemoved: w.RowsRemoved, RowsExpired: w.RowsExpired, IDTags: w.Tags}
		}
	}
}

// Export sets the engine's hooks for an export: the archives it will
// read, then what it read of each, go on record.
func (b *Batch) Export(opt *scrub.ExportOptions) {
	opt.Listed = b.listed
	opt.Scanned = func(a scrub.ScannedArchive) error {
		return b.w.Event(audit.EventExportArchive, audit.ExportArchive{
			Source: a.Source, Key: a.Key, VersionID: a.VersionID, Format: a.Format, Size: a.Size, SHA256: a.SHA256,
			Streams: a.Streams, Rows: a.Rows, Exported: a.Exported, Tags: a.Tags,
			MembersNotScanned: memberNotes(a.MembersNotScanned), Error: a.Error})
	}
}

func (b *Batch) listed(keys []string) error { return b.w.Listed(keys) }

func (b *Batch) step(s scrub.Step) error {
	return b.w.Step(audit.Step{Key: s.Key, State: string(s.State), VersionID: s.VersionID, Staged: s.Staged,
		SHA256: s.SHA256, NewVersionID: s.NewVersionID, Size: s.Size, VersionsDeleted: s.VersionsDeleted,
		RowsScanned: s.RowsScanned, RowsRemoved: s.RowsRemoved, RowsExpired: s.RowsExpired, Tags: s.IDTags, Deferred: s.Deferred})
}

func (b *Batch) archive(r scrub.Result) error {
	return b.w.Archive(audit.Archive{
		Key: r.Key, VersionID: r.VersionID, Format: r.Format, Status: string(r.Status), Dataset: r.Dataset,
		SizeBefore: r.BytesBefore, SHA256Before: r.SHA256Before, SizeAfter: r.BytesAfter, SHA256After: r.SHA256After,
		RowsScanned: r.RowsScanned, RowsRemoved: r.RowsRemoved, RowsExpired: r.RowsExpired, MembersCarried: r.MembersCarried,
		MembersNotScanned: memberNotes(r.MembersNotScanned),
		VersionsDeleted:   r.DeletedVersions, Tags: r.IDTags, Reason: r.Reason, Error: r.Error,
		IndexEntry: r.IndexEntry, Identity: r.Identity,
	})
}

func memberNotes(ms []scrub.MemberNote) []audit.MemberNote {
	var out []audit.MemberNote
	for _, m := range ms {
		out = append(out, audit.MemberNote(m))
	}
	return out
}

// MatchedBefore reports whether the interrupted attempts of a resumed
// batch found the listed ID of tag in some row.
func (b *Batch) MatchedBefore(tag string) bool {
	return b.resumed != nil && b.resumed.Matched[tag]
}

// Resumed reports whether the batch takes up an interrupted one.
func (b *Batch) Resumed() bool { return b.resumed != nil }

// Unmatched logs the n listed IDs that matched no row of the archives read
// (ids_unmatched events): their tags, sorted, up to 1000 per event, as
// the ids events list them; nil tags means every listed ID (one event,
// all: the ids events name them).
func (b *Batch) Unmatched(n int, tags []string) error {
	if tags == nil {
		return b.w.Event(audit.EventIDsUnmatched, audit.IDsUnmatched{Count: n, All: true})
	}
	// A list of a million IDs matching nothing is not one line of 64 MB.
	const per = 1000
	for i := 0; i < len(tags); i += per {
		ev := audit.IDsUnmatched{Count: n, Tags: tags[i:min(i+per, len(tags))]}
		if err := b.w.Event(audit.EventIDsUnmatched, ev); err != nil {
			return err
		}
	}
	return nil
}

// UnmatchedSums is Unmatched for the IDs of IDs.Set: it logs the tags
// for which unmatched is true, from those Begin worked out (none without
// an ID key). The tags are not needed after, and it lets them go.
func (b *Batch) UnmatchedSums(n int, unmatched func(sum *ids.Sum) bool) error {
	sums := b.sums
	b.sums = nil
	return b.w.UnmatchedSums(n, sums, unmatched)
}

// IDSums returns the tags of IDs.Set, sorted, that Begin worked out (nil
// without an ID key, or after UnmatchedSums).
func (b *Batch) IDSums() []ids.Sum { return b.sums }

// Totals sums the outcomes of the batch's archives, those of earlier
// attempts of a resumed batch included.
func (b *Batch) Totals() scrub.Totals { return scrub.Totals(b.w.Totals()) }

// Seal logs the batch's end and seals its bundle, even after an
// interrupt. A batch that reads archives (erase, sweep, queue run) ends
// complete, partial or failed by its archives (of every attempt) and
// runErr; the other commands complete unless runErr.
func (b *Batch) Seal(ctx context.Context, runErr error) (*audit.Sealed, error) {
	result := audit.ResultComplete
	switch b.req.Command {
	case Erase, Sweep, QueueRun:
		result = b.w.Totals().Result(runErr)
	default:
		if runErr != nil {
			result = audit.ResultFailed
		}
	}
	var sealed *audit.Sealed
	err := b.sealing(ctx, b.w.Name(), func() error {
		var err error
		sealed, err = b.w.Finish(context.WithoutCancel(ctx), result, runErr)
		return err
	})
	// The request's lock goes with the seal, done or not: the same
	// command again seals what is left.
	if rerr := b.release(ctx); rerr != nil {
		fmt.Fprintf(b.cfg.Stderr, "scrub: warning: %v\n", rerr)
	}
	if err != nil {
		switch b.req.Command {
		case Export:
			return nil, fmt.Errorf("the export ran, but its audit bundle could not be stored (its journal is %s): %w", b.w.Spool(), err)
		case Unblock:
			return nil, fmt.Errorf("the blocklist change ran, but its audit bundle could not be stored (its journal is %s; the same command again seals it): %w", b.w.Spool(), err)
		}
		return nil, fmt.Errorf("the batch ran, but its audit bundle could not be stored (its journal is %s; the same command again seals it): %w", b.w.Spool(), err)
	}
	return sealed, nil
}

// EventTime formats a time as the commands' own events record it.
func EventTime(t time.Time) string { return t.UTC().Format(audit.EventTime) }
