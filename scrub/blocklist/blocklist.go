// Package blocklist keeps the suppression list of "delete and block": the
// client IDs whose rows must be erased from every export, later ones
// included. IDs are kept only as their HMAC-SHA256 tags under the ID key
// (audit.IDKey.Tag), never in clear.
//
// The list lives in an audit.Location (a directory or an S3 prefix) as
// append-only change files, one per change, each created under a new name
// and never rewritten:
//
//	change-20260314T021500.123Z-9f86d081.json
//
//	{"format":1,"op":"add","id_key":"hmac-sha256:...","tags":["0a1b...",...],
//	 "batch":"batch-...","time":"2026-03-14T02:15:00.123Z","operator":"dpo","ticket":"DPO-7"}
//
// The list is the replay of its changes in name order (UTC time of the
// change, to the millisecond, then 8 random hex digits): op add puts tags
// on the list, op remove takes them off. Since nothing is read, changed and
// written back, two writers at once cannot lose each other's changes; two
// changes of the same tag at once are ordered by their writers' clocks.
// Other files in the location (an audit bundle, a writer's hidden
// temporary file) are not part of the list.
package blocklist

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scrubtool/scrub/scrub/audit"
)

// Format is the version of the change files this package writes and reads.
const Format = 1

// The operations of a change.
const (
	OpAdd    = "add"
	OpRemove = "remove"
)

// Change is one change file.
type Change struct {
	Format int    `json:"format"`
	Op     string `json:"op"`
	// IDKey names the key the tags are under (audit.IDKey.ID).
	IDKey string `json:"id_key"`
	// Tags are the HMAC-SHA256 tags of the IDs, hex, sorted, distinct.
	Tags []string `json:"tags"`
	// Batch is the audit batch that made the change.
	Batch    string `json:"batch"`
	Time     string `json:"time"`
	Operator string `json:"operator,omitempty"`
	Ticket   string `json:"ticket,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05.000Z"

var (
	changeName = regexp.MustCompile(`^change-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{8}\.json$`)
	tagPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ErrKeyMismatch reports a list whose tags are under another ID key than
// the one given: tags under different keys cannot be compared.
var ErrKeyMismatch = errors.New("the blocklist's tags are under another ID key")

// List is the state of a blocklist as loaded: the tags on it and the
// changes it was replayed from.
type List struct {
	loc     audit.Location
	keyID   string
	tags    map[string]struct{}
	changes []Loaded
}

// Loaded is a change file as read: its name, the SHA-256 of its content
// and the change.
type Loaded struct {
	Name   string
	SHA256 string
	Change
}

// loadJobs bounds the change files read at once (an S3 prefix answers
// each with a request).
const loadJobs = 8

// Open loads the list in loc and checks every change file: a malformed one
// is an error naming it, and so is one under another ID key than key's. A
// location without change files holds an empty list.
func Open(ctx context.Context, loc audit.Location, key *audit.IDKey) (*List, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", loc, err)
	}
	var names []string
	for _, f := range files {
		if changeName.MatchString(f) {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	l := &List{loc: loc, keyID: key.ID(), tags: map[string]struct{}{}, changes: make([]Loaded, len(names))}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadJobs)
	for i, name := range names {
		g.Go(func() error {
			data, err := loc.ReadFile(gctx, name)
			if err != nil {
				return fmt.Errorf("blocklist %s: %s: %w", loc, name, err)
			}
			c, err := parse(data)
			if err != nil {
				return fmt.Errorf("blocklist %s: %s: %w", loc, name, err)
			}
			if c.IDKey != l.keyID {
				return fmt.Errorf("blocklist %s: %s: %w (%s; this run's ID key is %s): use the --id-key the list was made with",
					loc, name, ErrKeyMismatch, c.IDKey, l.keyID)
			}
			sum := sha256.Sum256(data)
			l.changes[i] = Loaded{Name: name, SHA256: hex.EncodeToString(sum[:]), Change: *c}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, c := range l.changes {
		l.apply(c.Op, c.Tags)
	}
	return l, nil
}

// parse decodes and checks one change file.
func parse(data []byte) (*Change, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Change
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("not a change file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a change file: data after its JSON object")
	}
	switch {
	case c.Format != Format:
		return nil, fmt.Errorf("format %d, this scrub reads format %d", c.Format, Format)
	case c.Op != OpAdd && c.Op != OpRemove:
		return nil, fmt.Errorf("op %q, want add or remove", c.Op)
	case !strings.HasPrefix(c.IDKey, "hmac-sha256:"):
		return nil, fmt.Errorf("id_key %q is not an ID key name", c.IDKey)
	case len(c.Tags) == 0:
		return nil, errors.New("no tags")
	case c.Batch == "":
		return nil, errors.New("no batch")
	}
	if _, err := time.Parse(timeFormat, c.Time); err != nil {
		return nil, fmt.Errorf("time %q: want %s", c.Time, timeFormat)
	}
	for i, t := range c.Tags {
		// A tag is not personal data (it is keyed), but a malformed one
		// might be a clear ID pasted in: never quote it.
		if !tagPattern.MatchString(t) {
			return nil, fmt.Errorf("tag %d is not a hex HMAC-SHA256", i+1)
		}
		if i > 0 && t <= c.Tags[i-1] {
			return nil, fmt.Errorf("tag %d is out of order or repeated", i+1)
		}
	}
	return &c, nil
}

func (l *List) apply(op string, tags []string) {
	for _, t := range tags {
		if op == OpAdd {
			l.tags[t] = struct{}{}
		} else {
			delete(l.tags, t)
		}
	}
}

// String names the list's location.
func (l *List) String() string { return l.loc.String() }

// Len returns the number of tags on the list.
func (l *List) Len() int { return len(l.tags) }

// Has reports whether tag is on the list.
func (l *List) Has(tag string) bool {
	_, ok := l.tags[tag]
	return ok
}

// Tags returns the tags on the list, sorted.
func (l *List) Tags() []string {
	out := make([]string, 0, len(l.tags))
	for t := range l.tags {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// State names the list's content: the hex SHA-256 of its sorted tags, one
// per line. Two lists with the same tags have the same state.
func (l *List) State() string { return State(l.Tags()) }

// State is List.State of a sorted list of tags.
func State(sorted []string) string {
	h := sha256.New()
	for _, t := range sorted {
		h.Write([]byte(t + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Changes returns the change files the list was replayed from, in order.
func (l *List) Changes() []Loaded { return slices.Clone(l.changes) }

// ByBatch returns the change that batch made, if any: a resumed batch
// must not make its change twice.
func (l *List) ByBatch(batch string) (Loaded, bool) {
	for _, c := range l.changes {
		if c.Batch == batch {
			return c, true
		}
	}
	return Loaded{}, false
}

// Pending is a change prepared but not yet stored: its name and content are
// fixed, so that an audit log can record both (and the content's SHA-256)
// before the change takes effect.
type Pending struct {
	Name   string
	SHA256 string
	Change Change
	data   []byte
	list   *List
}

// Prepare makes a change of op (OpAdd or OpRemove) for tags, which it
// sorts and deduplicates. The caller fills in nothing else: the key, time
// and name come from the list and the clock.
func (l *List) Prepare(op, batch, operator, ticket string, tags []string) (*Pending, error) {
	if op != OpAdd && op != OpRemove {
		return nil, fmt.Errorf("blocklist: op %q", op)
	}
	tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	if len(tags) == 0 {
		return nil, errors.New("blocklist: a change needs at least one tag")
	}
	for i, t := range tags {
		if !tagPattern.MatchString(t) {
			return nil, fmt.Errorf("blocklist: tag %d is not a hex HMAC-SHA256", i+1)
		}
	}
	now := time.Now().UTC()
	var rnd [4]byte
	rand.Read(rnd[:])
	c := Change{Format: Format, Op: op, IDKey: l.keyID, Tags: tags, Batch: batch, Time: now.Format(timeFormat),
		Operator: operator, Ticket: ticket}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	sum := sha256.Sum256(data)
	name := "change-" + now.Format("20060102T150405.000Z") + "-" + hex.EncodeToString(rnd[:]) + ".json"
	return &Pending{Name: name, SHA256: hex.EncodeToString(sum[:]), Change: c, data: data, list: l}, nil
}

// Store creates the change file, which never replaces another, and applies
// the change to the list in memory.
func (p *Pending) Store(ctx context.Context) error {
	err := p.list.loc.Create(ctx, p.Name, bytes.NewReader(p.data))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blocklist %s: %s exists already (a name is never reused; try again): %w", p.list.loc, p.Name, err)
	}
	if err != nil {
		return fmt.Errorf("blocklist %s: write %s: %w", p.list.loc, p.Name, err)
	}
	p.list.apply(p.Change.Op, p.Change.Tags)
	p.list.changes = append(p.list.changes, Loaded{Name: p.Name, SHA256: p.SHA256, Change: p.Change})
	return nil
}

// Covered is what earlier batches tell a sweep about the list's tags.
type Covered struct {
	// Since is the oldest, over the tags, of the newest time at which a
	// complete batch of the scope had every archive clean of the tag;
	// Batch is that batch.
	Since time.Time
	Batch string
	// Uncovered counts the tags no such batch had.
	Uncovered int
}

// Coverage reads the audit logs in loc, newest first, until every tag is
// covered by a complete batch (not a dry run) of the same ID key and scope:
// a sweep that swept it (as of the sweep's watermark), or an erase --block
// that added it (as of its blocklist_add event, before it listed).
func Coverage(ctx context.Context, loc audit.Location, keyID, scope string, tags []string) (*Covered, error) {
	need := make(map[string]bool, len(tags))
	for _, t := range tags {
		need[t] = true
	}
	c := &Covered{}
	var bad error
	err := audit.EachLogNewestFirst(ctx, loc, func(b *audit.BatchLog) bool {
		if b.Result != audit.ResultComplete || b.Start.DryRun || b.Start.IDKey != keyID {
			return true
		}
		at, tags, err := batchCoverage(b, scope)
		if err != nil {
			bad = fmt.Errorf("audit location %s: %s: %w", loc, b.Name, err)
			return false
		}
		for _, t := range tags {
			if need[t] {
				delete(need, t)
				if c.Batch == "" || at.Before(c.Since) {
					c.Since, c.Batch = at, b.Name
				}
			}
		}
		return len(need) > 0
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	c.Uncovered = len(need)
	return c, nil
}

// batchCoverage returns the time from which a complete batch had the
// archives of scope clean of tags: a sweep's last watermark and the tags
// it swept, or an erase --block's blocklist_add and the tags it added.
func batchCoverage(b *audit.BatchLog, scope string) (time.Time, []string, error) {
	var at time.Time
	var tags []string
	switch b.Start.Command {
	case "sweep":
		found := false
		for _, e := range b.Events {
			switch e.Type {
			case audit.EventSweep:
				var ev audit.Sweep
				if err := e.Decode(&ev); err != nil {
					return at, nil, err
				}
				if ev.Scope != scope {
					return at, nil, nil
				}
				t, err := time.Parse(audit.EventTime, ev.Watermark)
				if err != nil {
					return at, nil, fmt.Errorf("sweep event %d: watermark: %w", e.Seq, err)
				}
				// A resumed sweep logs one per run; the last run's
				// listing is the one that completed the batch.
				at, found = t, true
			case "ids":
				t, err := e.IDTags()
				if err != nil {
					return at, nil, err
				}
				tags = append(tags, t...)
			}
		}
		if !found {
			return at, nil, nil
		}
		return at, tags, nil
	case "erase":
		for _, e := range b.Events {
			if e.Type != audit.EventBlocklistAdd {
				continue
			}
			var ev audit.BlocklistChange
			if err := e.Decode(&ev); err != nil {
				return at, nil, err
			}
			if ev.Scope != scope {
				return at, nil, nil
			}
			return e.Time, ev.Tags, nil
		}
	}
	return at, nil, nil
}
