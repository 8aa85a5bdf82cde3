// Package queue keeps the request queue: the erasure requests that arrive
// one by one (GDPR gives a month to answer each), to be worked together in
// one pass over the archives. A request names its identifiers only by
// their HMAC-SHA256 tags under the ID key (audit.IDKey.Tag), never in
// clear.
//
// The queue lives in an audit.Location (a directory or an S3 prefix) and
// is stored as the blocklist is (package chain): append-only change files,
// each signed (PROTOCOL.sshsig, namespace "scrub-queue") and naming the
// SHA-256 of the changes it follows, and the queue's identity, fixed by
// its first writer:
//
//	queue.json
//	queue-20261203T201500.123Z-9f86d081.json
//	queue-20261203T201500.123Z-9f86d081.json.sig
//
//	{"format":1,"queue":"3f0c9a6e51d24b7f8e0a1c2d3b4f5a69"}
//
//	{"format":1,"name":"queue-20261203T201500.123Z-9f86d081.json",
//	 "queue":"3f0c9a6e51d24b7f8e0a1c2d3b4f5a69","prev":["5be1..."],"op":"add",
//	 "id_key":"hmac-sha256:...","request":{"ticket":"DPO-7","type":"client_id",
//	 "id_hmacs":["0a1b...",...],"received":"2026-12-03","due":"2027-01-02"},
//	 "time":"2026-12-03T20:15:00.123Z","operator":"dpo"}
//
//	{"format":1,"name":"queue-20261204T020000.000Z-0c1d2e3f.json",
//	 "queue":"3f0c...","prev":["77aa..."],"op":"done","id_key":"hmac-sha256:...",
//	 "done":["queue-20261203T201500.123Z-9f86d081"],"batch":"batch-...","head":"c0ff...",
//	 "time":"2026-12-04T02:00:00.000Z","operator":"nightly"}
//
// An add change adds one request: one ticket, one identifier type, and the
// tags of every identifier listed for it; optionally (scrub queue add
// --map), in "forms", the tags of those identifiers in each stored form a
// data map holds the type in besides clear, each named as the map's
// transform names itself ("lower,sha256"; "hmac-sha256" with "key_id", the
// key's ID): {"form":"lower,sha256","id_hmacs":["3c2d...",...]}. A change
// without forms is read as every earlier version wrote it. The request's ID is its add
// change's name without ".json". A done change marks requests done, naming
// the audit batch that erased them and that batch's head (the SHA-256 of
// its SHA256SUMS): the queue says which signed batch answered each ticket,
// and the batch says what it read and removed.
//
// Open checks every change against the trusted keys and the chain, as the
// blocklist does, and refuses the queue, naming the change, if one is
// unsigned, badly signed, signed by a key not trusted, of another queue,
// follows a change that is not there, or marks done a request that was
// not added before it. Files of other kinds in the location (a blocklist,
// an audit bundle) are not part of the queue.
package queue

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/chain"
)

// Format is the version of the queue's files.
const Format = 1

// File is the name of the queue's identity file.
const File = "queue.json"

// Namespace is the SSHSIG namespace of queue change signatures: a
// signature made for the audit bundle or the blocklist is never taken for
// one of the queue's.
const Namespace = "scrub-queue"

// Trust is whom change signatures must come from.
type Trust = sshsig.Trust

// DefaultType is the identifier type of a request that names none.
const DefaultType = "client_id"

// DueAfter is how long after its receipt a request is due by default: the
// month GDPR art. 12(3) gives, counted as 30 days.
const DueAfter = 30 * 24 * time.Hour

// DateLayout is how received and due dates are written: UTC days.
const DateLayout = "2006-01-02"

// The operations of a change.
const (
	OpAdd  = "add"
	OpDone = "done"
)

const (
	prefix     = "queue-"
	timeFormat = "2006-01-02T15:04:05.000Z"
)

var (
	changeName = regexp.MustCompile(`^queue-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{8}\.json$`)
	hexSum     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	queueID    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	typeName   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	batchName  = regexp.MustCompile(`^batch-[0-9A-Za-z._-]+$`)
	formName   = regexp.MustCompile(`^(?:(?:lower|upper)(?:,(?:sha256|sha1|md5|hmac-sha256))?|sha256|sha1|md5|hmac-sha256)$`)
	formKeyID  = regexp.MustCompile(`^sha256:[0-9a-f]{16}$`)
)

// ErrUnauthenticated reports a queue with a change that is not signed by
// a trusted key or does not follow the others: the queue is not used.
var ErrUnauthenticated = errors.New("the queue cannot be trusted")

// ErrNoTrust reports a queue with changes opened without a trusted key.
var ErrNoTrust = errors.New("no trusted key to check the queue's signatures with")

// ErrKeyMismatch reports a queue whose tags are under another ID key.
var ErrKeyMismatch = errors.New("the queue's tags are under another ID key")

// identity is the content of File.
type identity struct {
	Format int    `json:"format"`
	Queue  string `json:"queue"`
}

// Request is one erasure request as its add change records it.
type Request struct {
	// Ticket is the operator's reference (ticket, case number): the unit
	// that is reported.
	Ticket string `json:"ticket"`
	// Type is the identifier type (client_id, user_name, ip...): the
	// data map routes it to the columns that hold it.
	Type string `json:"type"`
	// Tags are the HMAC-SHA256 tags of the identifiers, hex, sorted,
	// distinct.
	Tags []string `json:"id_hmacs"`
	// Received and Due are UTC days (DateLayout).
	Received string `json:"received"`
	Due      string `json:"due"`
	// Forms (optional; scrub queue add --map) are the tags of the
	// identifiers in each stored form a data map holds the type in, other
	// than clear: sorted by form and key, distinct. A change without them
	// is a request whose identifiers can be matched in clear only.
	Forms []Form `json:"forms,omitempty"`
}

// Form is the tags of a request's identifiers in one stored form: the
// HMAC-SHA256 tags, under the ID key, of each identifier transformed as
// the data map's column stores it (a digest as its lower-case hex).
type Form struct {
	// Form is the stored form as the map's transform names it, without
	// key material: "lower", "upper", "sha256", "lower,sha256",
	// "hmac-sha256"... (never "clear": those are the request's Tags).
	Form string `json:"form"`
	// Key names the key of an hmac-sha256 form (ids.KeyID: "sha256:" and
	// 16 hex digits, which do not reveal it); empty for other forms.
	Key string `json:"key_id,omitempty"`
	// Tags are hex, sorted, distinct.
	Tags []string `json:"id_hmacs"`
}

// FormKey names one stored form of one identifier type.
type FormKey struct {
	Type, Form, Key string
}

// Form returns the request's tags in stored form form under the key named
// key ("" but for hmac-sha256), and whether it holds them.
func (r *Request) Form(form, key string) ([]string, bool) {
	for _, f := range r.Forms {
		if f.Form == form && f.Key == key {
			return f.Tags, true
		}
	}
	return nil, false
}

// Change is one change file.
type Change struct {
	Format int    `json:"format"`
	Name   string `json:"name"`
	Queue  string `json:"queue"`
	// Prev holds the hex SHA-256 of the changes this one follows, sorted
	// (empty for the first).
	Prev  []string `json:"prev,omitempty"`
	Op    string   `json:"op"`
	IDKey string   `json:"id_key"`
	// Request (add) is the request the change adds.
	Request *Request `json:"request,omitempty"`
	// Done (done) are the IDs of the requests Batch completed, sorted;
	// Head is that batch's audit head.
	Done     []string `json:"done,omitempty"`
	Batch    string   `json:"batch,omitempty"`
	Head     string   `json:"head,omitempty"`
	Time     string   `json:"time"`
	Operator string   `json:"operator,omitempty"`
}

// Loaded is a change file as read: its name, the SHA-256 of its content,
// its signer's key fingerprint and the change.
type Loaded struct {
	Name   string
	SHA256 string
	Signer string
	Change
}

// Entry is a request in the queue, with what became of it.
type Entry struct {
	// ID is the name of the request's add change without ".json".
	ID string
	Request
	Added    string // the add change's time
	Operator string // who added it
	// Done is nil while the request is pending.
	Done *Completion
}

// Completion is the done change that marked a request done.
type Completion struct {
	Change string // the done change's name
	Batch  string // the audit batch that erased the request's rows
	Head   string // its audit head
	Time   string
}

// Pending reports whether the request is still to be worked.
func (e *Entry) Pending() bool { return e.Done == nil }

// DueDate returns the request's due day.
func (e *Entry) DueDate() time.Time {
	t, _ := time.Parse(DateLayout, e.Due) // checked when loaded
	return t
}

// Queue is the state of a queue as loaded.
type Queue struct {
	loc      audit.Location
	id       string // "" until its first change
	keyID    string // "" when opened without the ID key
	trust    *Trust
	changes  []Loaded
	heads    []string
	requests []*Entry
	byID     map[string]*Entry
}

// Open loads the queue in loc and checks every change file: a malformed
// one, one under another ID key than key's (ErrKeyMismatch; key may be nil
// to list a queue without its ID key), one not signed by a key trust
// allows or that does not follow the others (ErrUnauthenticated) is an
// error naming it. A location without change files holds an empty queue.
func Open(ctx context.Context, loc audit.Location, key *audit.IDKey, trust *Trust) (*Queue, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", loc, err)
	}
	listing := chain.Classify(files, File, changeName)
	if len(listing.Changes) > 0 && !trust.Pinned() {
		return nil, fmt.Errorf("queue %s: %w", loc, ErrNoTrust)
	}
	q := &Queue{loc: loc, trust: trust, byID: map[string]*Entry{}}
	if key != nil {
		q.keyID = key.ID()
	}
	if listing.HasID {
		if q.id, err = q.readID(ctx); err != nil {
			return nil, err
		}
	}
	all, err := chain.LoadAll(ctx, "queue", loc, listing, q.load)
	if err != nil {
		return nil, err
	}
	if len(all) > 0 && q.id == "" {
		return nil, fmt.Errorf("queue %s: %w: %s is missing (deleted?), and the queue holds signed changes, which name their queue (%s names %s): restore it",
			loc, ErrUnauthenticated, File, all[0].Name, all[0].Queue)
	}
	nodes := make([]chain.Node, len(all))
	for i, c := range all {
		if c.Queue != q.id {
			return nil, fmt.Errorf("queue %s: %s: %w: from another queue: it names the queue %s, this queue is %s (%s)",
				loc, c.Name, ErrUnauthenticated, c.Queue, q.id, File)
		}
		nodes[i] = chain.Node{Name: c.Name, SHA256: c.SHA256, Prev: c.Prev}
	}
	idx, heads, err := chain.Order(nodes)
	var broken *chain.BrokenError
	switch {
	case errors.As(err, &broken) && broken.Missing != "":
		return nil, fmt.Errorf("queue %s: %s: %w: chain broken: it follows a change with SHA-256 %s, which is not in the queue (deleted, or the change is from another queue)",
			loc, broken.Name, ErrUnauthenticated, broken.Missing)
	case err != nil:
		return nil, fmt.Errorf("queue %s: %w: %v", loc, ErrUnauthenticated, err)
	}
	q.heads = heads
	for _, i := range idx {
		if err := q.apply(all[i]); err != nil {
			return nil, fmt.Errorf("queue %s: %s: %w", loc, all[i].Name, err)
		}
	}
	return q, nil
}

// readID reads the queue's identity file.
func (q *Queue) readID(ctx context.Context) (string, error) {
	data, err := q.loc.ReadFile(ctx, File)
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", q.loc, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var id identity
	if err := dec.Decode(&id); err != nil || dec.More() || id.Format != Format || !queueID.MatchString(id.Queue) {
		return "", fmt.Errorf("queue %s: %s: %w: not the queue's identity (want {\"format\":%d,\"queue\":\"<32 hex digits>\"})",
			q.loc, File, ErrUnauthenticated, Format)
	}
	return id.Queue, nil
}

// load reads, parses and authenticates one change file.
func (q *Queue) load(ctx context.Context, name string, hasSig bool) (*Loaded, error) {
	data, err := q.loc.ReadFile(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := parse(data)
	if err != nil {
		return nil, err
	}
	if q.keyID != "" && c.IDKey != q.keyID {
		return nil, fmt.Errorf("%w (%s; this run's ID key is %s): use the --id-key the queue was made with", ErrKeyMismatch, c.IDKey, q.keyID)
	}
	if c.Name != name {
		return nil, fmt.Errorf("%w: it names itself %s (a change copied or renamed)", ErrUnauthenticated, c.Name)
	}
	if !hasSig {
		return nil, fmt.Errorf("%w: unsigned (no %s)", ErrUnauthenticated, name+chain.SigSuffix)
	}
	sig, err := q.loc.ReadFile(ctx, name+chain.SigSuffix)
	if err != nil {
		return nil, err
	}
	pub, err := sshsig.Verify(sig, Namespace, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature: %v", ErrUnauthenticated, err)
	}
	sum := sha256.Sum256(data)
	ld := &Loaded{Name: name, SHA256: hex.EncodeToString(sum[:]), Signer: sshsig.Fingerprint(pub), Change: *c}
	if !q.trust.Allows(pub, Namespace) {
		return nil, fmt.Errorf("%w: signed by %s, which is not a trusted queue signer (the public half of --key, or --queue-signers for namespace %s)",
			ErrUnauthenticated, ld.Signer, Namespace)
	}
	return ld, nil
}

// parse decodes and checks one change file.
func parse(data []byte) (*Change, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Change
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("not a queue change file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a queue change file: data after its JSON object")
	}
	switch {
	case c.Format != Format:
		return nil, fmt.Errorf("format %d, this scrub reads format %d", c.Format, Format)
	case !changeName.MatchString(c.Name):
		return nil, fmt.Errorf("name %q is not a queue change file name", c.Name)
	case !queueID.MatchString(c.Queue):
		return nil, fmt.Errorf("queue %q is not a queue identity (32 hex digits)", c.Queue)
	case !strings.HasPrefix(c.IDKey, "hmac-sha256:"):
		return nil, fmt.Errorf("id_key %q is not an ID key name", c.IDKey)
	}
	if _, err := time.Parse(timeFormat, c.Time); err != nil {
		return nil, fmt.Errorf("time %q: want %s", c.Time, timeFormat)
	}
	for i, p := range c.Prev {
		if !hexSum.MatchString(p) || i > 0 && p <= c.Prev[i-1] {
			return nil, fmt.Errorf("prev %d is not a hex SHA-256 in order", i+1)
		}
	}
	switch c.Op {
	case OpAdd:
		if c.Request == nil || c.Done != nil || c.Batch != "" || c.Head != "" {
			return nil, errors.New("an add change holds a request, and nothing of a done change")
		}
		if err := c.Request.check(); err != nil {
			return nil, err
		}
	case OpDone:
		if c.Request != nil || len(c.Done) == 0 {
			return nil, errors.New("a done change names the requests done, and holds no request")
		}
		if !batchName.MatchString(c.Batch) || !hexSum.MatchString(c.Head) {
			return nil, errors.New("a done change names its audit batch and that batch's head (a hex SHA-256)")
		}
		for i, id := range c.Done {
			if !changeName.MatchString(id+".json") || i > 0 && id <= c.Done[i-1] {
				return nil, fmt.Errorf("done %d is not a request ID in order", i+1)
			}
		}
	default:
		return nil, fmt.Errorf("op %q, want add or done", c.Op)
	}
	return &c, nil
}

// check checks a request's fields.
func (r *Request) check() error {
	if err := CheckTicket(r.Ticket); err != nil {
		return err
	}
	if !typeName.MatchString(r.Type) {
		return fmt.Errorf("type %q: want a lower-case word (letters, digits, _), such as %s", r.Type, DefaultType)
	}
	rec, err := time.Parse(DateLayout, r.Received)
	if err != nil {
		return fmt.Errorf("received %q: want a date such as 2026-12-03", r.Received)
	}
	due, err := time.Parse(DateLayout, r.Due)
	if err != nil {
		return fmt.Errorf("due %q: want a date such as 2027-01-02", r.Due)
	}
	if due.Before(rec) {
		return fmt.Errorf("due %s is before received %s", r.Due, r.Received)
	}
	if len(r.Tags) == 0 {
		return errors.New("a request without identifiers")
	}
	if err := checkTags(r.Tags); err != nil {
		return err
	}
	for i, f := range r.Forms {
		what := fmt.Sprintf("form %d", i+1)
		switch {
		case !formName.MatchString(f.Form):
			return fmt.Errorf("%s: %q is not a stored form (lower, upper, sha256, sha1, md5, hmac-sha256, or a case then a digest)", what, f.Form)
		case strings.HasSuffix(f.Form, "hmac-sha256") != (f.Key != ""):
			return fmt.Errorf("%s: an hmac-sha256 form, and only one, names its key (key_id)", what)
		case f.Key != "" && !formKeyID.MatchString(f.Key):
			return fmt.Errorf("%s: key_id %q: want sha256: and 16 hex digits", what, f.Key)
		case i > 0 && (f.Form < r.Forms[i-1].Form || f.Form == r.Forms[i-1].Form && f.Key <= r.Forms[i-1].Key):
			return fmt.Errorf("%s is out of order or repeated", what)
		case len(f.Tags) == 0 || len(f.Tags) > len(r.Tags):
			return fmt.Errorf("%s: want from 1 to %d tags (one per identifier, fewer where its stored forms coincide)", what, len(r.Tags))
		}
		if err := checkTags(f.Tags); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// checkTags checks a list of tags: hex HMAC-SHA256, sorted, distinct.
func checkTags(tags []string) error {
	for i, t := range tags {
		// A malformed tag might be a clear ID pasted in: never quote it.
		if !hexSum.MatchString(t) {
			return fmt.Errorf("tag %d is not a hex HMAC-SHA256", i+1)
		}
		if i > 0 && t <= tags[i-1] {
			return fmt.Errorf("tag %d is out of order or repeated", i+1)
		}
	}
	return nil
}

// CheckTicket checks a ticket reference: 1 to 100 printable characters
// without white space at either end.
func CheckTicket(t string) error {
	switch {
	case t == "":
		return errors.New("a request needs a ticket")
	case len(t) > 100:
		return errors.New("ticket longer than 100 bytes")
	case strings.TrimSpace(t) != t || strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("ticket with white space at an end or a character that is not printable")
	}
	return nil
}

// CheckType checks an identifier type: a lower-case word.
func CheckType(t string) error {
	if !typeName.MatchString(t) {
		return fmt.Errorf("type %q: want a lower-case word (letters, digits, _), such as %s", t, DefaultType)
	}
	return nil
}

// apply replays one change, in order.
func (q *Queue) apply(c Loaded) error {
	switch c.Op {
	case OpAdd:
		e := &Entry{ID: strings.TrimSuffix(c.Name, ".json"), Request: *c.Request, Added: c.Time, Operator: c.Operator}
		q.requests = append(q.requests, e)
		q.byID[e.ID] = e
	case OpDone:
		for _, id := range c.Done {
			e, ok := q.byID[id]
			if !ok {
				return fmt.Errorf("%w: it marks done the request %s, which no change before it added", ErrUnauthenticated, id)
			}
			if e.Done == nil { // the first batch that completed it
				e.Done = &Completion{Change: c.Name, Batch: c.Batch, Head: c.Head, Time: c.Time}
			}
		}
	}
	q.changes = append(q.changes, c)
	return nil
}

// String names the queue's location.
func (q *Queue) String() string { return q.loc.String() }

// Requests returns the requests, in the order they were added.
func (q *Queue) Requests() []*Entry { return slices.Clone(q.requests) }

// Pending returns the requests not done yet, in the order they were added.
func (q *Queue) Pending() []*Entry {
	var out []*Entry
	for _, e := range q.requests {
		if e.Pending() {
			out = append(out, e)
		}
	}
	return out
}

// Changes returns the change files the queue was replayed from, in order.
func (q *Queue) Changes() []Loaded { return slices.Clone(q.changes) }

// Heads returns the SHA-256 of the changes no other follows yet, sorted:
// the queue's head (more than one when writers changed it at once). A
// batch that works the queue records them.
func (q *Queue) Heads() []string { return slices.Clone(q.heads) }

// ByType groups the tags of requests by identifier type: type → tags,
// sorted and distinct.
func ByType(reqs []*Entry) map[string][]string {
	out := map[string][]string{}
	for _, e := range reqs {
		out[e.Type] = append(out[e.Type], e.Tags...)
	}
	for t, tags := range out {
		slices.Sort(tags)
		out[t] = slices.Compact(tags)
	}
	return out
}

// ByForm groups the tags the requests hold in stored forms by type and
// form: tags sorted and distinct.
func ByForm(reqs []*Entry) map[FormKey][]string {
	out := map[FormKey][]string{}
	for _, e := range reqs {
		for _, f := range e.Forms {
			k := FormKey{e.Type, f.Form, f.Key}
			out[k] = append(out[k], f.Tags...)
		}
	}
	for k, tags := range out {
		slices.Sort(tags)
		out[k] = slices.Compact(tags)
	}
	return out
}

// Add adds a request, signed by signer (whose public half the queue must
// trust), following the queue's heads, and returns its entry. Tags are
// sorted and deduplicated, forms sorted; now is the change's time.
func (q *Queue) Add(ctx context.Context, signer ed25519.PrivateKey, now time.Time, operator string, r Request) (*Entry, error) {
	r.Tags = slices.Compact(slices.Sorted(slices.Values(r.Tags)))
	r.Forms = slices.Clone(r.Forms)
	for i := range r.Forms {
		r.Forms[i].Tags = slices.Compact(slices.Sorted(slices.Values(r.Forms[i].Tags)))
	}
	slices.SortFunc(r.Forms, func(a, b Form) int { return cmp.Or(strings.Compare(a.Form, b.Form), strings.Compare(a.Key, b.Key)) })
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.loc, err)
	}
	c, err := q.store(ctx, signer, now, Change{Op: OpAdd, Request: &r, Operator: operator})
	if err != nil {
		return nil, err
	}
	return q.byID[strings.TrimSuffix(c.Name, ".json")], nil
}

// MarkDone marks the requests ids done by the audit batch whose head is
// head, signed by signer. Every ID must be of a request in the queue.
func (q *Queue) MarkDone(ctx context.Context, signer ed25519.PrivateKey, now time.Time, operator, batch, head string, ids []string) (*Loaded, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return nil, errors.New("queue: no request to mark done")
	}
	for _, id := range ids {
		if _, ok := q.byID[id]; !ok {
			return nil, fmt.Errorf("queue %s: no request %s", q.loc, id)
		}
	}
	return q.store(ctx, signer, now, Change{Op: OpDone, Done: ids, Batch: batch, Head: head, Operator: operator})
}

// store signs and stores a change following the queue's heads, and
// applies it to the queue in memory.
func (q *Queue) store(ctx context.Context, signer ed25519.PrivateKey, now time.Time, c Change) (*Loaded, error) {
	if q.keyID == "" {
		return nil, errors.New("queue: a change needs the ID key the tags are under")
	}
	if len(signer) != ed25519.PrivateKeySize {
		return nil, errors.New("queue: a change needs a signing key")
	}
	pub := signer.Public().(ed25519.PublicKey)
	if !q.trust.Allows(pub, Namespace) {
		return nil, fmt.Errorf("queue %s: the signing key %s is not a trusted queue signer: the queue would refuse its change", q.loc, sshsig.Fingerprint(pub))
	}
	if err := q.fixID(ctx); err != nil {
		return nil, err
	}
	now = now.UTC()
	c.Format, c.Name, c.Queue, c.Prev = Format, chain.NewName(prefix, now), q.id, slices.Clone(q.heads)
	c.IDKey, c.Time = q.keyID, now.Format(timeFormat)
	if _, err := parse(mustJSON(c)); err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.loc, err) // a bug: never write a change Open would refuse
	}
	data := mustJSON(c)
	sig, err := sshsig.Sign(signer, Namespace, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if err := chain.Store(ctx, q.loc, "queue", c.Name, data, sig); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	ld := Loaded{Name: c.Name, SHA256: hex.EncodeToString(sum[:]), Signer: sshsig.Fingerprint(pub), Change: c}
	if err := q.apply(ld); err != nil {
		return nil, err
	}
	q.heads = []string{ld.SHA256}
	return &ld, nil
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and slices only
	}
	return append(data, '\n')
}

// fixID gives a queue without an identity (no change yet) one: it creates
// File, never replacing one, and if another writer created it first,
// takes the identity from there.
func (q *Queue) fixID(ctx context.Context) error {
	if q.id != "" {
		return nil
	}
	id := chain.NewID()
	created, err := chain.CreateOnce(ctx, q.loc, File, mustJSON(identity{Format: Format, Queue: id}))
	switch {
	case err != nil:
		return fmt.Errorf("queue %s: write %s: %w", q.loc, File, err)
	case !created:
		if id, err = q.readID(ctx); err != nil {
			return err
		}
	}
	q.id = id
	return nil
}
