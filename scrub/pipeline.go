package scrub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"golang.org/x/sync/errgroup"
)

// The one pipeline every pass over archives runs (an erasure, a sweep, a
// retention purge, an export): list every source, select, take each
// archive once, order by key, then work through them with a bounded pool.

// selection chooses the archives of a pass.
type selection struct {
	// Include and Exclude are glob patterns (doublestar syntax: path.Match's,
	// plus ** for any number of directories and {a,b} for either). A
	// pattern with a '/' matches the path below the source root, one
	// without matches the base name. An archive is processed when it
	// matches some Include pattern (or there are none) and no Exclude
	// pattern.
	include, exclude []string
	// selects, if set, is asked about every archive the globs let
	// through (a sweep's archives newer than the last sweep).
	selects func(Object) bool
	// shard, if set, keeps the archives of one share.
	shard *Shard
	// skip, if set, drops archives already done (a resumed batch's), by
	// their key as recorded.
	skip     map[string]bool
	recorded func(key string) string
}

// CheckGlobs returns an error for a malformed pattern.
func CheckGlobs(patterns []string) error {
	for _, p := range patterns {
		if !doublestar.ValidatePattern(p) {
			return fmt.Errorf("pattern %q: %w", p, doublestar.ErrBadPattern)
		}
	}
	return nil
}

func matchAny(patterns []string, rel string) bool {
	for _, p := range patterns {
		name := rel
		if !strings.Contains(p, "/") {
			name = path.Base(rel)
		}
		if ok, _ := doublestar.Match(p, name); ok {
			return true
		}
	}
	return false
}

// selected reports whether the globs and selects let obj through.
func (s selection) selected(obj Object) bool {
	if len(s.include) > 0 && !matchAny(s.include, obj.Rel) {
		return false
	}
	if matchAny(s.exclude, obj.Rel) {
		return false
	}
	return s.selects == nil || s.selects(obj)
}

// Selects reports whether the source's own globs (a dataset's) let obj
// through.
func (src Source) Selects(obj Object) bool {
	return selection{include: src.Include, exclude: src.Exclude}.selected(obj)
}

// ErrOverlap is wrapped by an OverlapError.
var ErrOverlap = errors.New("an archive is in two datasets of the data map")

// OverlapError stops a batch whose sources of two datasets select one
// archive: which dataset's columns to read would be a guess.
type OverlapError struct {
	Key      string
	Datasets [2]string
}

func (e *OverlapError) Error() string {
	return fmt.Sprintf("%s is in the datasets %q and %q of the data map: their locations and globs must not overlap", e.Key, e.Datasets[0], e.Datasets[1])
}

func (e *OverlapError) Unwrap() error { return ErrOverlap }

// job is one archive of a pass.
type job struct {
	source int // index in the sources
	store  Store
	obj    Object
}

// plan is the archives of a pass, in order.
type plan struct {
	jobs  []job
	bytes int64 // their total size
	// outside counts the archives the selection let through that fall
	// to other shares.
	outside int
}

// list lists the sources and returns the archives sel chooses, each once
// (an archive reached through two sources, or two spellings of one, by
// Object.ID), sorted by key. prog, if not nil, is told how many it found
// as it goes.
func list(ctx context.Context, sources []Source, sel selection, prog Progress) (*plan, error) {
	p := &plan{}
	seen := map[string]string{} // archive -> its source's dataset
	for si, src := range sources {
		err := src.Store.List(ctx, func(obj Object) error {
			id := cmp.Or(obj.ID, obj.Key)
			if !sel.selected(obj) || !src.Selects(obj) {
				return nil
			}
			if d, ok := seen[id]; ok {
				if d != src.Dataset {
					return &OverlapError{Key: obj.Key, Datasets: [2]string{d, src.Dataset}}
				}
				return nil
			}
			if len(sel.skip) > 0 && sel.skip[sel.recorded(obj.Key)] {
				seen[id] = src.Dataset
				return nil
			}
			if sel.shard != nil && !sel.shard.Has(obj) {
				p.outside++
				return nil
			}
			seen[id] = src.Dataset
			p.jobs = append(p.jobs, job{si, src.Store, obj})
			p.bytes += obj.Size
			if prog != nil && len(p.jobs)%256 == 0 {
				prog.Listing(len(p.jobs))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", src.Name, err)
		}
	}
	slices.SortFunc(p.jobs, func(a, b job) int { return strings.Compare(a.obj.Key, b.obj.Key) })
	if prog != nil {
		prog.Listing(len(p.jobs))
	}
	return p, nil
}

// keys returns the keys of the plan's archives (not copies of their
// Objects: a hundred thousand of those is 13 MB).
func (p *plan) keys() []string {
	keys := make([]string, len(p.jobs))
	for i, j := range p.jobs {
		keys[i] = j.obj.Key
	}
	return keys
}

// run calls fn for every archive of the plan, at most n at once (0 means
// defaultJobs), and returns the first error fn returned, which stops the
// archives not started yet. fn is given the pool's context, which that
// error cancels.
func (p *plan) run(ctx context.Context, n int, sources []Source, fn func(ctx context.Context, i int, j job) error) error {
	if n <= 0 {
		n = defaultJobs(sources)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for i, j := range p.jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i, j) })
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// DefaultRemoteJobs is the default number of archives processed at once
// when a source is Remote: with requests of 20-50 ms, that many in flight
// keep the CPUs busy on small archives. Their CPU work is bounded apart
// (workSlots), and so is the memory of their reads (a small archive is
// read into a buffer of its size, a large one a chunk at a time).
const DefaultRemoteJobs = 64

// remote reports whether a source is Remote.
func remote(sources []Source) bool {
	for _, s := range sources {
		if r, ok := s.Store.(Remote); ok && r.Remote() {
			return true
		}
	}
	return false
}

// defaultJobs is the number of archives processed at once by default: the
// number of CPUs, DefaultRemoteJobs when a source is Remote.
func defaultJobs(sources []Source) int {
	if remote(sources) {
		return DefaultRemoteJobs
	}
	return runtime.NumCPU()
}

// LocalJobsPerCPU is, per CPU, the default number of archives an erasure
// of local sources processes at once: of them, one per CPU is scanned or
// rewritten (workSlots); the others wait on the disk (the fsyncs of a
// replacement and of the journal step before it) or for a slot, so that
// the CPUs are not idle while an archive's replacement is made durable.
const LocalJobsPerCPU = 4

// eraseJobs is the number of archives an erasure processes at once by
// default: defaultJobs, but LocalJobsPerCPU per CPU for local sources.
func eraseJobs(sources []Source) int {
	if remote(sources) {
		return DefaultRemoteJobs
	}
	return LocalJobsPerCPU * runtime.NumCPU()
}

// workSlots is the number of archives scanned or rewritten at once, of the
// jobs in flight: the number of CPUs, twice that when a source is Remote,
// since a large archive's scan there waits on its reads part of the time
// (a small one is read whole before its scan begins); never more than
// jobs.
func workSlots(sources []Source, jobs int) int {
	n := runtime.NumCPU()
	if remote(sources) {
		n *= 2
	}
	if jobs > 0 {
		n = min(n, jobs)
	}
	return n
}

// slots bounds the archives scanned or rewritten at once (workSlots), of
// the jobs in flight: a job takes a slot for its CPU work and gives it
// back before it waits on the store's writes.
type slots chan struct{}

// take waits for a slot, and returns the function that gives it back,
// which does nothing after its first call.
func (s slots) take(ctx context.Context) (release func(), err error) {
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return func() {}, ctx.Err()
	}
	held := true
	return func() {
		if held {
			held = false
			<-s
		}
	}, nil
}

// busy is the number of slots taken.
func (s slots) busy() int { return len(s) }
