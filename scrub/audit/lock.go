package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Locks keep two runs from writing the same thing in one audit location.
// A run holds the lock of its request (and shard) from Begin to Seal, so
// that a second run of the same request (a retry while the first still
// runs) is refused at once instead of writing the same journal; and it
// holds the location's seal lock, for seconds, while its batch is sealed,
// so that two batches never link to the same predecessor. Shards of one
// request have locks of their own and run at the same time.
//
// In a local directory a lock is a file locked with flock(2): the kernel
// drops it when its process dies, so it is never stale. Elsewhere it is an
// object created only if absent (Conditional), holding its Holder with a
// lease that the run extends while it lasts; a lock whose lease ran out is
// stale, and is taken over only when asked (LockOptions.TakeOver), or at
// once when its holder ran on this host and is no longer running (see
// Lock.deadHere). All writes of a run's lock object are made one at a
// time, and a write refused because the object is not the version last
// written (a write whose answer was lost took effect) is taken back only
// once the object is read and found to be another run's.

// SealLock is the name of the lock held while a batch is sealed.
const SealLock = ".lock-seal"

// RequestLock returns the name of the lock of a request (its identity, as
// Start.Request) and shard.
func RequestLock(request string, shard *Shard) string {
	name := ".lock-request-" + request[:min(16, len(request))]
	if shard != nil {
		name += fmt.Sprintf("-shard-%d-of-%d", shard.Index, shard.Count)
	}
	return name
}

// Conditional is implemented by a Location that can create a file only if
// the name is free and replace or remove one only if it is still the one
// read, each version named by a tag (an S3 ETag): what a lock needs where
// there is no file lock.
type Conditional interface {
	// CreateTagged stores a new file and returns its tag; a taken name
	// is an error wrapping fs.ErrExist.
	CreateTagged(ctx context.Context, name string, data []byte) (string, error)
	// ReadTagged returns a file's content and tag; a missing file is an
	// error wrapping fs.ErrNotExist.
	ReadTagged(ctx context.Context, name string) ([]byte, string, error)
	// ReplaceIf replaces a file if its tag is still tag, and returns the
	// new tag; ok is false if the file changed or went.
	ReplaceIf(ctx context.Context, name string, data []byte, tag string) (newTag string, ok bool, err error)
	// RemoveIf removes a file if its tag is still tag; ok is false if it
	// changed or went.
	RemoveIf(ctx context.Context, name, tag string) (ok bool, err error)
}

// Holder is what a lock says of the run that holds it.
type Holder struct {
	PID  int    `json:"pid"`
	Host string `json:"host"`
	// BootID and PIDNamespace say which boot of Host and which PID
	// namespace PID is in (Linux's /proc/sys/kernel/random/boot_id and
	// the link /proc/self/ns/pid, "pid:[inode]"); empty where they
	// cannot be read, and in a lock object written before they were
	// recorded.
	BootID       string `json:"boot_id,omitempty"`
	PIDNamespace string `json:"pid_ns,omitempty"`
	Started      string `json:"started"`
	// LeaseUntil is when a lock object goes stale unless renewed; a
	// local lock has none.
	LeaseUntil string `json:"lease_until,omitempty"`
	Command    string `json:"command,omitempty"`
	Request    string `json:"request,omitempty"` // the lock's name says which
	Shard      *Shard `json:"shard,omitempty"`
	Batch      string `json:"batch,omitempty"` // once known
	Token      string `json:"token"`           // this run's, at random
}

// LockOptions say how a lock is taken.
type LockOptions struct {
	Holder Holder // PID, Host, BootID, PIDNamespace, Started and Token are filled in
	// Wait is how long to wait for a lock held by a live run; 0 refuses
	// at once.
	Wait time.Duration
	// TakeOver takes a stale lock over (--take-over-lock).
	TakeOver bool
	// Lease is how long a lock object holds without renewal (default
	// DefaultLease); it is renewed every quarter of it.
	Lease time.Duration
	// Stderr is told of a lock taken over.
	Stderr io.Writer
}

// DefaultLease is how long a lock object holds unless its run renews it.
const DefaultLease = time.Minute

// processSpace returns what says where this process's PID means what it
// means: the boot ID of the kernel and the PID namespace, each empty when
// it cannot be read (not Linux, or a /proc of another PID namespace).
func processSpace() (bootID, pidNamespace string) {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		bootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil && strings.HasPrefix(ns, "pid:[") {
		pidNamespace = ns
	}
	return bootID, pidNamespace
}

// deadHere reports whether h, the holder of a lock object, is a run of
// this host, boot and PID namespace that is no longer running (killed):
// that run is dead for certain, and its lock is taken over without
// waiting for its lease. A hostname alone does not say so: containers
// with the host's network share it, each with PIDs of its own. Where the
// boot or PID namespace is not known, of this run (not Linux) or of the
// holder (a lock object written before they were recorded), no holder is
// dead for certain. (A PID namespace's inode may be reused once the
// namespace is gone, but then every process of it is gone too.)
func (l *Lock) deadHere(h Holder) bool {
	me := l.holder
	return me.BootID != "" && me.PIDNamespace != "" &&
		h.Host == me.Host && h.BootID == me.BootID && h.PIDNamespace == me.PIDNamespace &&
		!alive(h.PID)
}

// alive reports whether a process of this PID namespace runs as pid.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// LockedError is the refusal of a lock held by another run.
type LockedError struct {
	Location string
	Lock     string
	Holder   Holder
	Known    bool // Holder could be read
	// Stale reports a lock object whose lease ran out: its run is
	// likely dead, but it is taken over only with --take-over-lock.
	Stale bool
	Local bool // a file lock, which the kernel drops with its run
}

func (e *LockedError) Error() string {
	h := e.Holder
	what := "another run holds it"
	if e.Known {
		who := fmt.Sprintf("pid %d on host %s since %s", h.PID, h.Host, h.Started)
		switch {
		case h.Batch != "" && e.Stale:
			what = fmt.Sprintf("batch %s was being written by %s", h.Batch, who)
		case h.Batch != "":
			what = fmt.Sprintf("batch %s is being written by %s", h.Batch, who)
		case e.Stale:
			what = "it was held by " + who
		default:
			what = "it is held by " + who
		}
	}
	switch {
	case e.Stale:
		return fmt.Sprintf("audit location %s: the lock %s is stale: %s, and its lease ran out at %s; if that run is dead, run again with --take-over-lock",
			e.Location, e.Lock, what, h.LeaseUntil)
	case e.Local:
		return fmt.Sprintf("audit location %s is in use: %s (lock %s); wait for it to finish", e.Location, what, e.Lock)
	}
	return fmt.Sprintf("audit location %s is in use: %s (lock %s, lease until %s); wait for it, or if that run is dead, run again with --take-over-lock once its lease has run out",
		e.Location, what, e.Lock, h.LeaseUntil)
}

// Lock is a lock held in an audit location.
type Lock struct {
	loc    Location
	name   string
	lease  time.Duration
	holder Holder

	file *os.File // a local lock

	cond Conditional // a lock object
	// wmu is held across each write of the lock object (the renewal's,
	// SetBatch's, Release's): from the tag read to the tag it leaves.
	// Two writes with one tag would refuse one of them.
	wmu sync.Mutex
	tag string // the lock object's version last written; under wmu
	mu  sync.Mutex
	// until is when the lease runs out, as last renewed; lost is set
	// when the lock object was found taken over or gone.
	until time.Time
	lost  error
	stop  chan struct{}
	done  chan struct{}
}

// AcquireLock takes the lock name in loc: a file lock in a local
// directory, a lock object in a Conditional location. A lock held by
// another run is a *LockedError, at once or after opt.Wait.
func AcquireLock(ctx context.Context, loc Location, name string, opt LockOptions) (*Lock, error) {
	h := opt.Holder
	h.PID = os.Getpid()
	h.Host, _ = os.Hostname()
	h.BootID, h.PIDNamespace = processSpace()
	h.Started = time.Now().UTC().Format(timeFormat)
	tok := make([]byte, 8)
	rand.Read(tok)
	h.Token = hex.EncodeToString(tok)
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	l := &Lock{loc: loc, name: name, lease: opt.Lease, holder: h}
	deadline := time.Now().Add(opt.Wait)
	if d, ok := loc.(LocalDir); ok {
		return l, l.acquireFile(ctx, d.LocalPath(), deadline)
	}
	c, ok := loc.(Conditional)
	if !ok {
		return nil, fmt.Errorf("audit location %s cannot hold a lock", loc)
	}
	l.cond = c
	return l, l.acquireObject(ctx, opt, deadline)
}

func (l *Lock) acquireFile(ctx context.Context, dir string, deadline time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("audit location %s: lock: %w", l.loc, err)
	}
	path := filepath.Join(dir, l.name)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("audit location %s: lock: %w", l.loc, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if time.Now().Before(deadline) {
				f.Close()
				if err := sleep(ctx, 50*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			e := &LockedError{Location: l.loc.String(), Lock: l.name, Local: true}
			// The holder writes itself in just after it took the
			// lock: a moment to read it whole.
			for try := 0; try < 10 && !e.Known; try++ {
				if try > 0 {
					time.Sleep(10 * time.Millisecond)
				}
				data, _ := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
				e.Known = json.Unmarshal(data, &e.Holder) == nil && e.Holder.PID != 0
			}
			f.Close()
			return e
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("audit location %s: lock %s: %w", l.loc, l.name, err)
		}
		// The run that held it may have removed the file meanwhile:
		// the lock is then on a file no one else will open.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(fi, pi) {
			f.Close()
			continue
		}
		l.file = f
		if err := l.writeFile(); err != nil {
			l.Release(context.WithoutCancel(ctx))
			return err
		}
		return nil
	}
}

// writeFile records the holder in the local lock file.
func (l *Lock) writeFile() error {
	data, _ := json.Marshal(l.holder)
	data = append(data, '\n')
	// Written over what was there, then cut: never empty for a reader.
	if _, err := l.file.WriteAt(data, 0); err != nil {
		return fmt.Errorf("audit location %s: lock %s: %w", l.loc, l.name, err)
	}
	if err := l.file.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("audit location %s: lock %s: %w", l.loc, l.name, err)
	}
	return nil
}

func (l *Lock) acquireObject(ctx context.Context, opt LockOptions, deadline time.Time) error {
	for {
		data, until := l.record()
		tag, err := l.cond.CreateTagged(ctx, l.name, data)
		if err == nil {
			l.held(tag, until)
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("audit location %s: lock: %w", l.loc, err)
		}
		old, oldTag, err := l.cond.ReadTagged(ctx, l.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return fmt.Errorf("audit location %s: lock: %w", l.loc, err)
		}
		e := &LockedError{Location: l.loc.String(), Lock: l.name}
		e.Known = json.Unmarshal(old, &e.Holder) == nil && e.Holder.PID != 0
		if e.Known && e.Holder.Token == l.holder.Token {
			// This run's: a create or take-over whose answer was
			// lost took effect (the SDK's retry was refused).
			until, _ := time.Parse(timeFormat, e.Holder.LeaseUntil)
			l.held(oldTag, until)
			return nil
		}
		// A lock object without a readable lease (written by no run
		// of scrub) counts as stale: taken over only when asked.
		lease, perr := time.Parse(timeFormat, e.Holder.LeaseUntil)
		e.Stale = perr != nil || time.Now().After(lease)
		if perr != nil {
			e.Holder.LeaseUntil = "(unreadable)"
		}
		dead := e.Known && l.deadHere(e.Holder)
		if !e.Stale && !dead {
			if time.Now().Before(deadline) {
				if err := sleep(ctx, time.Second); err != nil {
					return err
				}
				continue
			}
			return e
		}
		if !opt.TakeOver && !dead {
			return e
		}
		data, until = l.record()
		tag, ok, err := l.cond.ReplaceIf(ctx, l.name, data, oldTag)
		if err != nil {
			return fmt.Errorf("audit location %s: lock: %w", l.loc, err)
		}
		if !ok {
			continue // another run renewed it or took it first
		}
		if opt.Stderr != nil {
			why := "stale"
			if dead {
				why = "dead run's"
			}
			fmt.Fprintf(opt.Stderr, "scrub: took over the %s lock %s in %s (%s)\n", why, l.name, l.loc, e.heldBy())
		}
		l.held(tag, until)
		return nil
	}
}

// heldBy names the holder of a lock taken over.
func (e *LockedError) heldBy() string {
	if !e.Known {
		return "its holder unknown"
	}
	h := e.Holder
	s := fmt.Sprintf("held by pid %d on host %s since %s, lease until %s", h.PID, h.Host, h.Started, h.LeaseUntil)
	if h.Batch != "" {
		s += ", batch " + h.Batch
	}
	return s
}

// record returns the lock object's content with a new lease.
func (l *Lock) record() ([]byte, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := time.Now().Add(l.lease).UTC()
	l.holder.LeaseUntil = until.Format(timeFormat)
	data, _ := json.MarshalIndent(l.holder, "", "  ")
	return append(data, '\n'), until
}

// held starts renewing a lock object that is now the run's.
func (l *Lock) held(tag string, until time.Time) {
	l.tag, l.until = tag, until
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew()
}

// renew extends the lease every quarter of it until Release.
func (l *Lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.lease / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if err := l.extend(context.Background()); err != nil && l.Err() != nil {
			return
		}
	}
}

// extend renews the lease now. A failed request is retried at the next
// tick; a lock object found another run's, or gone, is lost.
func (l *Lock) extend(ctx context.Context) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.lease/4)
	defer cancel()
	data, until := l.record()
	for try := 0; ; try++ {
		newTag, ok, err := l.cond.ReplaceIf(ctx, l.name, data, l.tag)
		if err != nil {
			return err
		}
		if ok {
			l.tag = newTag
			l.mu.Lock()
			l.until = until
			l.mu.Unlock()
			return nil
		}
		if err := l.reread(ctx); err != nil {
			return err
		}
		if try == 2 {
			return fmt.Errorf("audit location %s: the lock %s changes under each renewal", l.loc, l.name)
		}
	}
}

// reread reads the lock object after a conditional write or removal was
// refused, under wmu: if it is still this run's (a write whose answer was
// lost took effect), its tag is taken as the version last written; if it
// is another run's or gone, the lock is lost.
func (l *Lock) reread(ctx context.Context) error {
	data, tag, err := l.cond.ReadTagged(ctx, l.name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var h Holder
	if err != nil || json.Unmarshal(data, &h) != nil || h.Token != l.holder.Token {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lost = fmt.Errorf("audit location %s: the lock %s was taken over by another run (or removed); this run stops writing the audit location", l.loc, l.name)
		return l.lost
	}
	l.tag = tag
	return nil
}

// Err returns why the lock is no longer the run's, or nil: a lock object
// found taken over, or one whose lease ran out without renewal.
func (l *Lock) Err() error {
	if l == nil || l.cond == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	if time.Now().After(l.until) {
		return fmt.Errorf("audit location %s: the lease of the lock %s ran out at %s without renewal; this run stops writing the audit location",
			l.loc, l.name, l.until.Format(timeFormat))
	}
	return nil
}

// SetBatch records the batch the run writes in the lock, for the message
// of a run refused.
func (l *Lock) SetBatch(ctx context.Context, batch string) error {
	l.mu.Lock()
	l.holder.Batch = batch
	l.mu.Unlock()
	if l.file != nil {
		return l.writeFile()
	}
	return l.extend(ctx)
}

// Release gives the lock up: the lock file or object is removed (a lock
// object only if it is still the run's).
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	if l.file != nil {
		// Removed before it is unlocked: a run that opened it and
		// then gets the lock finds it gone and opens a new one.
		err := os.Remove(l.file.Name())
		l.file.Close()
		l.file = nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("audit location %s: release the lock %s: %w", l.loc, l.name, err)
		}
		return nil
	}
	if l.stop == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for try := 0; ; try++ {
		if l.Err() != nil {
			return nil // not ours any more: nothing to remove
		}
		ok, err := l.cond.RemoveIf(ctx, l.name, l.tag)
		if err != nil {
			return fmt.Errorf("audit location %s: release the lock %s: %w", l.loc, l.name, err)
		}
		if ok || try == 2 {
			return nil
		}
		// Not the version last written: if a write whose answer was
		// lost made it, it is still this run's to remove.
		if err := l.reread(ctx); err != nil && l.Err() == nil {
			return fmt.Errorf("audit location %s: release the lock %s: %w", l.loc, l.name, err)
		}
	}
}

// Guard returns loc, seen through the lock: a lock object that is no
// longer the run's (Err) fails every write, so that a run whose lock was
// taken over cannot change the journal or seal the batch. A local lock
// cannot be lost, and loc is returned as it is.
func (l *Lock) Guard(loc Location) Location {
	if l == nil || l.cond == nil {
		return loc
	}
	return &guarded{Location: loc, lock: l}
}

type guarded struct {
	Location
	lock *Lock
}

func (g *guarded) Create(ctx context.Context, name string, r io.Reader) error {
	if err := g.lock.Err(); err != nil {
		return err
	}
	return g.Location.Create(ctx, name, r)
}

// CreateRetained is the guarded location's, if it has it.
func (g *guarded) CreateRetained(ctx context.Context, name string, r io.Reader, mode string, until time.Time) error {
	if err := g.lock.Err(); err != nil {
		return err
	}
	rc, ok := g.Location.(retainedCreator)
	if !ok {
		return fmt.Errorf("audit location %s cannot lock objects", g.Location)
	}
	return rc.CreateRetained(ctx, name, r, mode, until)
}

func (g *guarded) Put(ctx context.Context, name string, r io.Reader) error {
	if err := g.lock.Err(); err != nil {
		return err
	}
	return g.Location.Put(ctx, name, r)
}

func (g *guarded) Remove(ctx context.Context, name string) error {
	if err := g.lock.Err(); err != nil {
		return err
	}
	return g.Location.Remove(ctx, name)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
