package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/local"
)

// condLocation is an object store in memory: an audit.Location that is
// audit.Conditional, each version tagged by a counter.
type condLocation struct {
	mu   sync.Mutex
	data map[string][]byte
	tags map[string]string
	n    int
}

func newCondLocation() *condLocation {
	return &condLocation{data: map[string][]byte{}, tags: map[string]string{}}
}

func (c *condLocation) String() string { return "mem://audit/" }

func (c *condLocation) List(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n := range c.data {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (c *condLocation) ReadFile(ctx context.Context, name string) ([]byte, error) {
	data, _, err := c.ReadTagged(ctx, name)
	return data, err
}

func (c *condLocation) Create(ctx context.Context, name string, r io.Reader) error {
	data, _ := io.ReadAll(r)
	_, err := c.CreateTagged(ctx, name, data)
	return err
}

func (c *condLocation) Put(_ context.Context, name string, r io.Reader) error {
	data, _ := io.ReadAll(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(name, data)
	return nil
}

func (c *condLocation) Remove(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.data, name)
	delete(c.tags, name)
	return nil
}

func (c *condLocation) set(name string, data []byte) string {
	c.n++
	c.data[name], c.tags[name] = bytes.Clone(data), fmt.Sprint(c.n)
	return c.tags[name]
}

func (c *condLocation) CreateTagged(_ context.Context, name string, data []byte) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[name]; ok {
		return "", fmt.Errorf("%s: %w", name, fs.ErrExist)
	}
	return c.set(name, data), nil
}

func (c *condLocation) ReadTagged(_ context.Context, name string) ([]byte, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.data[name]
	if !ok {
		return nil, "", fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return bytes.Clone(data), c.tags[name], nil
}

func (c *condLocation) ReplaceIf(_ context.Context, name string, data []byte, tag string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags[name] != tag {
		return "", false, nil
	}
	return c.set(name, data), true, nil
}

func (c *condLocation) RemoveIf(_ context.Context, name, tag string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags[name] != tag {
		return false, nil
	}
	delete(c.data, name)
	delete(c.tags, name)
	return true, nil
}

var _ audit.Conditional = (*condLocation)(nil)

// TestLockLocal: a lock in a local directory is refused to a second
// holder at once, with a message naming the first, and is free again once
// released.
func TestLockLocal(t *testing.T) {
	ctx := context.Background()
	loc := local.Dir(t.TempDir())
	name := audit.RequestLock("0123456789abcdef0123", &audit.Shard{Index: 1, Count: 3})
	if name != ".lock-request-0123456789abcdef-shard-1-of-3" {
		t.Errorf("lock name %q", name)
	}
	a, err := audit.AcquireLock(ctx, loc, name, audit.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetBatch(ctx, "batch-x"); err != nil {
		t.Fatal(err)
	}
	// Another shard's lock is another lock.
	other, err := audit.AcquireLock(ctx, loc, audit.RequestLock("0123456789abcdef0123", &audit.Shard{Index: 2, Count: 3}), audit.LockOptions{})
	if err != nil {
		t.Fatalf("another shard: %v", err)
	}
	defer other.Release(ctx)

	start := time.Now()
	_, err = audit.AcquireLock(ctx, loc, name, audit.LockOptions{})
	var le *audit.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second holder: %v, want a LockedError", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("refused after %v, want at once", time.Since(start))
	}
	want := fmt.Sprintf("audit location %s is in use: batch batch-x is being written by pid %d on host ", loc, le.Holder.PID)
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "(lock "+name+"); wait for it to finish") {
		t.Errorf("message %q", err)
	}
	// A waiter gets it once it is released.
	go func() {
		time.Sleep(200 * time.Millisecond)
		a.Release(ctx)
	}()
	b, err := audit.AcquireLock(ctx, loc, name, audit.LockOptions{Wait: 10 * time.Second})
	if err != nil {
		t.Fatalf("waiting: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLockObject: a lock object is refused while its lease holds, stale
// once it ran out and then taken over only with TakeOver; the run that
// lost it can no longer write through Guard, nor remove the new holder's
// lock.
func TestLockObject(t *testing.T) {
	ctx := context.Background()
	loc := newCondLocation()
	const name = ".lock-request-00"
	// A run on another host, dead or cut off: its lease ran out.
	stale := audit.Holder{PID: 4242, Host: "elsewhere", Started: "2026-01-02T03:04:05.000Z",
		LeaseUntil: "2026-01-02T03:06:05.000Z", Batch: "batch-20260102T030405.000Z-000000000000", Token: "t"}
	data, _ := json.Marshal(stale)
	loc.Put(ctx, name, bytes.NewReader(data))

	_, err := audit.AcquireLock(ctx, loc, name, audit.LockOptions{})
	want := "audit location mem://audit/: the lock .lock-request-00 is stale: batch batch-20260102T030405.000Z-000000000000 was being written by pid 4242 on host elsewhere since 2026-01-02T03:04:05.000Z, and its lease ran out at 2026-01-02T03:06:05.000Z; if that run is dead, run again with --take-over-lock"
	if err == nil || err.Error() != want {
		t.Fatalf("stale lock without TakeOver:\n got %v\nwant %s", err, want)
	}
	var stderr bytes.Buffer
	a, err := audit.AcquireLock(ctx, loc, name, audit.LockOptions{TakeOver: true, Stderr: &stderr, Lease: 400 * time.Millisecond})
	if err != nil {
		t.Fatalf("take over: %v", err)
	}
	if !strings.Contains(stderr.String(), "took over the stale lock .lock-request-00 in mem://audit/ (held by pid 4242 on host elsewhere") {
		t.Errorf("stderr %q", stderr.String())
	}
	// Live: refused, even with TakeOver, and renewed past its lease.
	time.Sleep(600 * time.Millisecond)
	_, err = audit.AcquireLock(ctx, loc, name, audit.LockOptions{TakeOver: true})
	var le *audit.LockedError
	if !errors.As(err, &le) || le.Stale || !strings.Contains(err.Error(), "is in use: it is held by pid ") ||
		!strings.Contains(err.Error(), "wait for it, or if that run is dead, run again with --take-over-lock once its lease has run out") {
		t.Fatalf("live lock: %v", err)
	}
	if err := a.Err(); err != nil {
		t.Fatalf("renewed lock: %v", err)
	}

	// Taken over behind its back (as a run on another host would once
	// the lease ran out): the first run notices, and its guarded
	// location refuses to write.
	g := a.Guard(loc)
	data, tag, _ := loc.ReadTagged(ctx, name)
	loc.ReplaceIf(ctx, name, bytes.Replace(data, []byte(`"token"`), []byte(`"was"`), 1), tag)
	time.Sleep(300 * time.Millisecond)
	if a.Err() == nil {
		t.Fatal("a lock taken over is still held")
	}
	if err := g.Create(ctx, "batch-x.log", strings.NewReader("x")); err == nil {
		t.Error("a run that lost its lock wrote to the location")
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := loc.ReadFile(ctx, name); err != nil {
		t.Errorf("the run that lost the lock removed the new holder's: %v", err)
	}
}

// errLostAnswer is a request that took effect but whose answer was lost
// (a connection reset after the server wrote the object).
var errLostAnswer = errors.New("connection reset by peer")

// faultyLocation is a condLocation whose conditional writes are slow (so
// that writes of one lock object overlap) and whose next answers can be
// lost after the write took effect: answered with an error, or refused
// as the SDK's retry of it is (a failed precondition, the tag being the
// one the lost write replaced).
type faultyLocation struct {
	*condLocation
	delay time.Duration

	mu           sync.Mutex
	loseReplace  []error // the next ReplaceIf answers: errLostAnswer, or nil for a retry refused
	loseCreate   bool    // the next CreateTagged is answered as its retry is: fs.ErrExist
	replaceCalls int
}

func (f *faultyLocation) ReplaceIf(ctx context.Context, name string, data []byte, tag string) (string, bool, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	f.replaceCalls++
	var lose, lost error
	if len(f.loseReplace) > 0 {
		lose, lost = errLostAnswer, f.loseReplace[0]
		f.loseReplace = f.loseReplace[1:]
	}
	f.mu.Unlock()
	newTag, ok, err := f.condLocation.ReplaceIf(ctx, name, data, tag)
	if lose == nil || !ok || err != nil {
		return newTag, ok, err
	}
	return "", false, lost
}

func (f *faultyLocation) CreateTagged(ctx context.Context, name string, data []byte) (string, error) {
	f.mu.Lock()
	lose := f.loseCreate
	f.loseCreate = false
	f.mu.Unlock()
	tag, err := f.condLocation.CreateTagged(ctx, name, data)
	if lose && err == nil {
		return "", fmt.Errorf("%s: %w", name, fs.ErrExist)
	}
	return tag, err
}

// TestLockObjectOwnWrites: the writes of a run's own lock object (the
// lease renewed, the batch recorded) never make it lose the lock when no
// other run touched it: not when they overlap on a slow store, nor when a
// write took effect but its answer was lost (its retry, or the next
// write, names the version it replaced). The lock is released in the end.
// A lock another run took over is still lost.
func TestLockObjectOwnWrites(t *testing.T) {
	const name = ".lock-request-00"
	tests := []struct {
		name        string
		delay       time.Duration
		loseCreate  bool
		loseReplace []error
		takenOver   bool // by another run, halfway
	}{
		{name: "slow store", delay: 15 * time.Millisecond},
		{name: "answer lost", loseReplace: []error{errLostAnswer}},
		{name: "answer lost, retry refused", loseReplace: []error{nil}},
		{name: "answers lost in a row", loseReplace: []error{nil, errLostAnswer, nil, errLostAnswer}},
		{name: "answer lost on a slow store", delay: 15 * time.Millisecond, loseReplace: []error{nil, errLostAnswer}},
		{name: "create's answer lost", loseCreate: true},
		{name: "taken over", delay: 15 * time.Millisecond, takenOver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			loc := &faultyLocation{condLocation: newCondLocation(), delay: tt.delay, loseCreate: tt.loseCreate}
			a, err := audit.AcquireLock(ctx, loc, name, audit.LockOptions{Lease: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			loc.mu.Lock()
			loc.loseReplace = tt.loseReplace
			loc.mu.Unlock()
			// SetBatch against the renewals: every 50ms, for a second.
			var lostAt int
			for i := range 40 {
				if tt.takenOver && i == 20 {
					data, tag, _ := loc.ReadTagged(ctx, name)
					var h audit.Holder
					json.Unmarshal(data, &h)
					h.Token, h.PID = "another run's", 4242
					data, _ = json.Marshal(h)
					if _, ok, _ := loc.condLocation.ReplaceIf(ctx, name, data, tag); !ok {
						t.Fatal("could not take the lock over")
					}
				}
				a.SetBatch(ctx, fmt.Sprintf("batch-%d", i)) // an error is retried by the renewal
				time.Sleep(10 * time.Millisecond)
				if a.Err() != nil {
					lostAt = i
					break
				}
			}
			loc.mu.Lock()
			calls := loc.replaceCalls
			loc.mu.Unlock()
			err = a.Err()
			switch {
			case tt.takenOver && err == nil:
				t.Fatal("a lock another run took over is still held")
			case tt.takenOver && lostAt < 20:
				t.Fatalf("lost at SetBatch %d, before it was taken over: %v", lostAt, err)
			case !tt.takenOver && err != nil:
				t.Fatalf("lost after %d writes with no other run: %v", calls, err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
			data, err := loc.ReadFile(ctx, name)
			switch {
			case tt.takenOver && err != nil:
				t.Errorf("the other run's lock was removed: %v", err)
			case !tt.takenOver && err == nil:
				t.Errorf("released, but the lock object is left: %s", data)
			}
		})
	}
}

// TestLockObjectDeadHere: the lock object of a run that is no longer
// running is taken over without waiting for its lease only when that run
// was on this host, in this boot of it and in this PID namespace (where
// its PID means what it means here). Containers sharing a hostname each
// have a PID namespace of their own, and a lock object of before these
// were recorded says nothing of them: such a lock is live until its lease
// runs out, then stale.
func TestLockObjectDeadHere(t *testing.T) {
	linux := runtime.GOOS == "linux"
	tests := []struct {
		name    string
		edit    func(h map[string]any)
		expired bool
		// dead: taken over at once; else refused, stale if expired.
		dead bool
	}{
		{name: "same host, boot and PID namespace", edit: func(map[string]any) {}, dead: linux},
		{name: "another PID namespace", edit: func(h map[string]any) { h["pid_ns"] = "pid:[1]" }},
		{name: "another boot", edit: func(h map[string]any) { h["boot_id"] = "00000000-0000-0000-0000-000000000000" }},
		{name: "no PID namespace", edit: func(h map[string]any) { delete(h, "pid_ns") }},
		{name: "no boot", edit: func(h map[string]any) { delete(h, "boot_id") }},
		{name: "written before either was recorded", edit: func(h map[string]any) { delete(h, "pid_ns"); delete(h, "boot_id") }},
		{name: "another host", edit: func(h map[string]any) { h["host"] = "elsewhere" }},
		{name: "another PID namespace, lease ran out", edit: func(h map[string]any) { h["pid_ns"] = "pid:[1]" }, expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			loc := newCondLocation()
			a, err := audit.AcquireLock(ctx, loc, audit.SealLock, audit.LockOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			data, _ := loc.ReadFile(ctx, audit.SealLock)
			var h map[string]any
			if err := json.Unmarshal(data, &h); err != nil {
				t.Fatal(err)
			}
			if linux && (h["boot_id"] == nil || h["pid_ns"] == nil) {
				t.Fatalf("the holder names no boot or PID namespace: %s", data)
			}
			h["pid"] = 1 << 22 // above pid_max: no such process
			if tt.expired {
				h["lease_until"] = "2026-01-02T03:06:05.000Z"
			}
			tt.edit(h)
			data, _ = json.Marshal(h)
			loc.Put(ctx, audit.SealLock, bytes.NewReader(data))

			b, err := audit.AcquireLock(ctx, loc, audit.SealLock, audit.LockOptions{})
			if tt.dead {
				if err != nil {
					t.Fatalf("lock of a dead run of this host: %v", err)
				}
				b.Release(ctx)
				return
			}
			var le *audit.LockedError
			if !errors.As(err, &le) {
				if err == nil {
					b.Release(ctx)
				}
				t.Fatalf("got %v, want a LockedError", err)
			}
			if le.Stale != tt.expired {
				t.Errorf("stale %v, want %v: %v", le.Stale, tt.expired, err)
			}
		})
	}
}
