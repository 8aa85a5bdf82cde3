// Package blocklist keeps the suppression list of "delete and block": the
// client IDs whose rows must be erased from every export, later ones
// included. IDs are kept only as their HMAC-SHA256 tags under the ID key
// (audit.IDKey.Tag), never in clear.
//
// The list lives in an audit.Location (a directory or an S3 prefix) as
// append-only change files, one per change, each created under a new name
// and never rewritten, each with a detached SSH signature (PROTOCOL.sshsig,
// namespace "scrub-blocklist", as `ssh-keygen -Y sign` makes it) beside it,
// and the list's identity, fixed by its first writer:
//
//	blocklist.json
//	change-20260314T021500.123Z-9f86d081.json
//	change-20260314T021500.123Z-9f86d081.json.sig
//
//	{"format":3,"list":"3f0c9a6e51d24b7f8e0a1c2d3b4f5a69"}
//
//	{"format":3,"name":"change-20260314T021500.123Z-9f86d081.json",
//	 "list":"3f0c9a6e51d24b7f8e0a1c2d3b4f5a69",
//	 "prev":["5be1..."],"op":"add","id_key":"hmac-sha256:...","tags":["0a1b...",...],
//	 "batch":"batch-...","time":"2026-03-14T02:15:00.123Z","operator":"dpo","ticket":"DPO-7"}
//
// A change names itself (so that a copy under another name is refused),
// the list it belongs to (so that a change copied from another list made
// with the same keys is refused, even one that follows no other) and
// the changes it follows: prev holds the SHA-256 of every change that no
// other change followed yet when it was written (one, unless writers ran at
// once; none for the first). The changes form a chain, or a graph where
// writers ran at once, so a change deleted from the middle breaks it. The list is the replay of its changes in that
// order, changes made at once (neither following the other) in name order:
// the UTC time of the change, to the millisecond, then 8 random hex digits.
// Since nothing is read, changed and written back, two writers at once
// cannot lose each other's changes; the next change follows both.
//
// The identity file (ListFile) holds a random name that the list's first
// change (or its adopt change) creates, never replacing one: writers that
// start an empty list at once all use the one created first. It is not
// signed; the changes, which carry it, are. Rewriting it only makes the
// list refused: a list with signed changes and no identity file, or with
// one that none of its changes names, is refused, and so is a change that
// names another.
//
// Open checks every change against the trusted keys before the list is
// used, and refuses the list, naming the change, if one is unsigned, badly
// signed, signed by a key not trusted, of another list, or follows a
// change that is not there. Lists of earlier releases (format 1: unsigned,
// unchained) are brought under signatures once, by an adopt change that records the name
// and SHA-256 of each of their changes and the tags they leave on the
// list (see OpenUnsigned and List.Adopt).
//
// Other files in the location (an audit bundle, a writer's hidden
// temporary file) are not part of the list.
package blocklist

import (
	"bytes"
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

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/chain"
)

// Format is the version of the change files this package writes. It reads
// format 1 (unsigned, of earlier releases) only as adopted by an adopt
// change. Format 2 (signed, without the list's identity) was written by
// no release and is refused.
const (
	Format       = 3
	LegacyFormat = 1
)

// ListFile is the name of the list's identity file.
const ListFile = "blocklist.json"

// identity is the content of ListFile.
type identity struct {
	Format int    `json:"format"`
	List   string `json:"list"`
}

// The operations of a change.
const (
	OpAdd    = "add"
	OpRemove = "remove"
	// OpAdopt sets the list to its tags, and vouches for the unsigned
	// changes of an earlier release it lists under legacy.
	OpAdopt = "adopt"
)

// Change is one change file.
type Change struct {
	Format int `json:"format"`
	// Name is the change file's own name (format 3).
	Name string `json:"name,omitempty"`
	// List is the identity of the list the change belongs to (format 3):
	// the one in its ListFile.
	List string `json:"list,omitempty"`
	// Prev holds the hex SHA-256 of the changes this one follows, sorted
	// (format 3; empty for a first change and an adopt change).
	Prev []string `json:"prev,omitempty"`
	Op   string   `json:"op"`
	// IDKey names the key the tags are under (audit.IDKey.ID).
	IDKey string `json:"id_key"`
	// Tags are the HMAC-SHA256 tags of the IDs, hex, sorted, distinct.
	Tags []string `json:"tags"`
	// Legacy (adopt) lists the unsigned changes the adopt vouches for.
	Legacy []LegacyChange `json:"legacy,omitempty"`
	// Batch is the audit batch that made the change.
	Batch    string `json:"batch"`
	Time     string `json:"time"`
	Operator string `json:"operator,omitempty"`
	Ticket   string `json:"ticket,omitempty"`
}

// LegacyChange names an unsigned change file of an earlier release and
// the SHA-256 of its content.
type LegacyChange struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// SigSuffix ends the name of a change's signature file.
const SigSuffix = chain.SigSuffix

var (
	changeName = regexp.MustCompile(`^change-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{8}\.json$`)
	tagPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	listID     = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ErrKeyMismatch reports a list whose tags are under another ID key than
// the one given: tags under different keys cannot be compared.
var ErrKeyMismatch = errors.New("the blocklist's tags are under another ID key")

// ErrUnauthenticated reports a list with a change that is not signed by a
// trusted key or does not follow the others: the list is not used.
var ErrUnauthenticated = errors.New("the blocklist cannot be trusted")

// ErrNoTrust reports a list with changes opened without a trusted key.
var ErrNoTrust = errors.New("no trusted key to check the changes' signatures with")

// ErrUnsigned reports a list of an earlier release, whose changes are not
// signed: it is used only once adopted (List.Adopt).
var ErrUnsigned = errors.New("the blocklist was written by an earlier scrub and is not signed")

// ErrAdopted reports, from OpenUnsigned, a list that an adopt change has
// taken under signatures already.
var ErrAdopted = errors.New("the list is adopted already")

// List is the state of a blocklist as loaded: the tags on it and the
// changes it was replayed from.
type List struct {
	loc     audit.Location
	id      string // the list's identity; "" until its first change
	keyID   string
	trust   *Trust
	tags    map[string]struct{}
	changes []Loaded // signed, in replay order
	heads   []string // SHA-256 of the changes no other follows, sorted
	legacy  []Loaded // unsigned, of an earlier release, in name order
	adopted bool     // legacy is vouched for by an adopt change
}

// Loaded is a change file as read: its name, the SHA-256 of its content,
// the signer's key fingerprint ("" for an unsigned one) and the change.
type Loaded struct {
	Name   string
	SHA256 string
	Signer string
	Change
}

// Open loads the list in loc and checks every change file: a malformed
// one, one under another ID key than key's (ErrKeyMismatch), one not signed
// by a key trust allows, or one that does not follow the others
// (ErrUnauthenticated) is an error naming it. So is an unsigned change of
// an earlier release that no adopt change vouches for (ErrUnsigned). A
// location without change files holds an empty list.
func Open(ctx context.Context, loc audit.Location, key *audit.IDKey, trust *Trust) (*List, error) {
	return open(ctx, loc, key, trust, false)
}

// OpenUnsigned is Open for a list of an earlier release, to adopt it: its
// unsigned changes are replayed in name order, as that release did. It
// refuses a list that holds a signed change (an unsigned one there is not
// of an earlier release).
func OpenUnsigned(ctx context.Context, loc audit.Location, key *audit.IDKey, trust *Trust) (*List, error) {
	return open(ctx, loc, key, trust, true)
}

func open(ctx context.Context, loc audit.Location, key *audit.IDKey, trust *Trust, unsigned bool) (*List, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", loc, err)
	}
	listing := chain.Classify(files, ListFile, changeName)
	if len(listing.Changes) > 0 && !trust.Pinned() {
		return nil, fmt.Errorf("blocklist %s: %w", loc, ErrNoTrust)
	}
	l := &List{loc: loc, keyID: key.ID(), trust: trust, tags: map[string]struct{}{}}
	if listing.HasID {
		if l.id, err = l.readID(ctx); err != nil {
			return nil, err
		}
	}
	all, err := chain.LoadAll(ctx, "blocklist", loc, listing, l.load)
	if err != nil {
		return nil, err
	}
	var signed []Loaded
	for _, c := range all {
		if c.Signer == "" {
			l.legacy = append(l.legacy, c)
		} else {
			signed = append(signed, c)
		}
	}
	if err := l.checkList(signed); err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", loc, err)
	}
	if err := l.checkLegacy(signed, unsigned); err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", loc, err)
	}
	if l.changes, l.heads, err = order(signed); err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", loc, err)
	}
	if !l.adopted {
		for _, c := range l.legacy { // only with unsigned
			l.apply(c.Op, c.Tags)
		}
	}
	for _, c := range l.changes {
		l.apply(c.Op, c.Tags)
	}
	return l, nil
}

// readID reads the list's identity file.
func (l *List) readID(ctx context.Context) (string, error) {
	data, err := l.loc.ReadFile(ctx, ListFile)
	if err != nil {
		return "", fmt.Errorf("blocklist %s: %w", l.loc, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var id identity
	if err := dec.Decode(&id); err != nil || dec.More() || id.Format != Format || !listID.MatchString(id.List) {
		return "", fmt.Errorf("blocklist %s: %s: %w: not the list's identity (want {\"format\":%d,\"list\":\"<32 hex digits>\"})",
			l.loc, ListFile, ErrUnauthenticated, Format)
	}
	return id.List, nil
}

// checkList checks that every signed change is of this list: of the
// identity in its ListFile.
func (l *List) checkList(signed []Loaded) error {
	if len(signed) == 0 {
		return nil
	}
	if l.id == "" {
		return fmt.Errorf("%w: %s is missing (deleted?), and the list holds signed changes, which name their list (%s names %s): restore it",
			ErrUnauthenticated, ListFile, signed[0].Name, signed[0].List)
	}
	if !slices.ContainsFunc(signed, func(c Loaded) bool { return c.List == l.id }) {
		return fmt.Errorf("%s: %w: it names the list %s, none of the list's changes (%s, for one, names %s): %s replaced?",
			ListFile, ErrUnauthenticated, l.id, signed[0].Name, signed[0].List, ListFile)
	}
	for _, c := range signed {
		if c.List != l.id {
			return fmt.Errorf("%s: %w: from another list: it names the list %s, this list is %s (%s); a change copied from another list signed by the same key",
				c.Name, ErrUnauthenticated, c.List, l.id, ListFile)
		}
	}
	return nil
}

// load reads, parses and, for format 3, authenticates one change file.
func (l *List) load(ctx context.Context, name string, hasSig bool) (*Loaded, error) {
	data, err := l.loc.ReadFile(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := parse(data)
	if err != nil {
		return nil, err
	}
	if c.IDKey != l.keyID {
		return nil, fmt.Errorf("%w (%s; this run's ID key is %s): use the --id-key the list was made with", ErrKeyMismatch, c.IDKey, l.keyID)
	}
	sum := sha256.Sum256(data)
	ld := &Loaded{Name: name, SHA256: hex.EncodeToString(sum[:]), Change: *c}
	if c.Format == LegacyFormat {
		return ld, nil
	}
	if c.Name != name {
		return nil, fmt.Errorf("%w: it names itself %s (a change copied or renamed)", ErrUnauthenticated, c.Name)
	}
	if !hasSig {
		return nil, fmt.Errorf("%w: unsigned (no %s)", ErrUnauthenticated, name+SigSuffix)
	}
	sig, err := l.loc.ReadFile(ctx, name+SigSuffix)
	if err != nil {
		return nil, err
	}
	pub, err := sshsig.Verify(sig, Namespace, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature: %v", ErrUnauthenticated, err)
	}
	ld.Signer = sshsig.Fingerprint(pub)
	if !l.trust.Allows(pub, Namespace) {
		return nil, fmt.Errorf("%w: signed by %s, which is not a trusted blocklist signer (the public half of --key, or --blocklist-signers for namespace %s)",
			ErrUnauthenticated, ld.Signer, Namespace)
	}
	return ld, nil
}

// checkLegacy checks the unsigned changes against the adopt change, which
// must be the only one and come first. With unsigned (to adopt), a list of
// unsigned changes only is accepted as it is.
func (l *List) checkLegacy(signed []Loaded, unsigned bool) error {
	var adopt *Loaded
	for i, c := range signed {
		if c.Op != OpAdopt {
			continue
		}
		if adopt != nil {
			return fmt.Errorf("%s: %w: a second adopt change (the first is %s)", c.Name, ErrUnauthenticated, adopt.Name)
		}
		adopt = &signed[i]
	}
	if adopt == nil {
		switch {
		case len(l.legacy) == 0:
			return nil
		case len(signed) > 0:
			return fmt.Errorf("%s: %w: unsigned (no %s), in a list of signed changes: not written by scrub, or copied there",
				l.legacy[0].Name, ErrUnauthenticated, l.legacy[0].Name+SigSuffix)
		case unsigned:
			return nil
		}
		return fmt.Errorf("%s: %w (format 1, no signature): check the list, then adopt it with scrub unblock --adopt-unsigned (see docs/operators-guide.md, How the blocklist is stored)",
			l.legacy[0].Name, ErrUnsigned)
	}
	if unsigned {
		return fmt.Errorf("%s: %w", adopt.Name, ErrAdopted)
	}
	vouched := map[string]string{}
	for _, lc := range adopt.Legacy {
		vouched[lc.Name] = lc.SHA256
	}
	for _, c := range l.legacy {
		sum, ok := vouched[c.Name]
		switch {
		case !ok:
			return fmt.Errorf("%s: %w: unsigned, and not among the changes the adopt change %s vouches for", c.Name, ErrUnauthenticated, adopt.Name)
		case sum != c.SHA256:
			return fmt.Errorf("%s: %w: differs from what the adopt change %s recorded (SHA-256 %s, now %s)", c.Name, ErrUnauthenticated, adopt.Name, sum, c.SHA256)
		}
	}
	l.adopted = true
	return nil
}

// order puts the signed changes in replay order: each after the changes it
// follows, changes made at once in name order. Every change it follows
// must be there; an adopt change must be the one every other follows.
func order(changes []Loaded) ([]Loaded, []string, error) {
	nodes := make([]chain.Node, len(changes))
	var roots []int
	for i, c := range changes {
		nodes[i] = chain.Node{Name: c.Name, SHA256: c.SHA256, Prev: c.Prev}
		if len(c.Prev) == 0 {
			roots = append(roots, i)
		}
	}
	idx, heads, err := chain.Order(nodes)
	var broken *chain.BrokenError
	switch {
	case errors.As(err, &broken) && broken.Missing != "":
		return nil, nil, fmt.Errorf("%s: %w: chain broken: it follows a change with SHA-256 %s, which is not in the list (deleted, or the change is from another list)",
			broken.Name, ErrUnauthenticated, broken.Missing)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	for _, i := range roots {
		if changes[i].Op != OpAdopt {
			continue
		}
		for _, r := range roots {
			if r != i {
				return nil, nil, fmt.Errorf("%s: %w: chain broken: it does not follow the adopt change %s, and no change it follows does",
					changes[r].Name, ErrUnauthenticated, changes[i].Name)
			}
		}
	}
	out := make([]Loaded, len(idx))
	for k, i := range idx {
		out[k] = changes[i]
	}
	return out, heads, nil
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
	legacy := c.Format == LegacyFormat
	switch {
	case c.Format != Format && !legacy:
		return nil, fmt.Errorf("format %d, this scrub reads format %d (and %d, unsigned, of earlier releases)", c.Format, Format, LegacyFormat)
	case legacy && (c.Name != "" || c.List != "" || c.Prev != nil || c.Legacy != nil || c.Op == OpAdopt):
		return nil, fmt.Errorf("format 1 with the fields of format %d", Format)
	case !legacy && !changeName.MatchString(c.Name):
		return nil, fmt.Errorf("name %q is not a change file name", c.Name)
	case !legacy && !listID.MatchString(c.List):
		return nil, fmt.Errorf("list %q is not a list identity (32 hex digits)", c.List)
	case c.Op != OpAdd && c.Op != OpRemove && c.Op != OpAdopt:
		return nil, fmt.Errorf("op %q, want add, remove or adopt", c.Op)
	case c.Op == OpAdopt && len(c.Prev) > 0:
		return nil, errors.New("an adopt change follows other changes")
	case c.Op != OpAdopt && c.Legacy != nil:
		return nil, fmt.Errorf("legacy changes in an %s change", c.Op)
	case !strings.HasPrefix(c.IDKey, "hmac-sha256:"):
		return nil, fmt.Errorf("id_key %q is not an ID key name", c.IDKey)
	case len(c.Tags) == 0 && c.Op != OpAdopt:
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
	for i, p := range c.Prev {
		if !tagPattern.MatchString(p) || i > 0 && p <= c.Prev[i-1] {
			return nil, fmt.Errorf("prev %d is not a hex SHA-256 in order", i+1)
		}
	}
	for i, lc := range c.Legacy {
		if !changeName.MatchString(lc.Name) || !tagPattern.MatchString(lc.SHA256) || i > 0 && lc.Name <= c.Legacy[i-1].Name {
			return nil, fmt.Errorf("legacy %d is not a change file name and SHA-256, in order", i+1)
		}
	}
	return &c, nil
}

func (l *List) apply(op string, tags []string) {
	if op == OpAdopt {
		clear(l.tags)
	}
	for _, t := range tags {
		if op == OpRemove {
			delete(l.tags, t)
		} else {
			l.tags[t] = struct{}{}
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

// Changes returns the signed change files the list was replayed from, in
// order.
func (l *List) Changes() []Loaded { return slices.Clone(l.changes) }

// Unsigned returns the unsigned change files of an earlier release, in
// name order: adopted ones, or, from OpenUnsigned, those to adopt.
func (l *List) Unsigned() []Loaded { return slices.Clone(l.legacy) }

// Heads counts the changes no other follows yet: more than one when
// writers changed the list at once (the next change follows them all).
func (l *List) Heads() int { return len(l.heads) }

// Adoption returns the list's adopt change, if it has one.
func (l *List) Adoption() (Loaded, bool) {
	for _, c := range l.changes {
		if c.Op == OpAdopt {
			return c, true
		}
	}
	return Loaded{}, false
}

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

// Pending is a change prepared but not yet stored: its name, content and
// signature are fixed, so that an audit log can record both (and the
// content's SHA-256) before the change takes effect.
type Pending struct {
	Name   string
	SHA256 string
	Change Change
	data   []byte
	sig    []byte
	signer string
	list   *List
}

// Prepare makes a change of op (OpAdd or OpRemove) for tags, which it
// sorts and deduplicates, following the list's heads and signed by
// signer, whose public half the list must trust. The caller fills in
// nothing else: the key, time and name come from the list and the clock,
// the list's identity from its ListFile. For a list's first change,
// Prepare creates that file: its only write (Store writes the change).
func (l *List) Prepare(ctx context.Context, signer ed25519.PrivateKey, op, batch, operator, ticket string, tags []string) (*Pending, error) {
	if op != OpAdd && op != OpRemove {
		return nil, fmt.Errorf("blocklist: op %q", op)
	}
	if len(l.legacy) > 0 && !l.adopted {
		return nil, fmt.Errorf("blocklist %s: %w: adopt it first", l.loc, ErrUnsigned)
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
	return l.prepare(ctx, signer, Change{Prev: slices.Clone(l.heads), Op: op, Tags: tags, Batch: batch, Operator: operator, Ticket: ticket})
}

// Adopt makes the adopt change of a list of an earlier release opened
// with OpenUnsigned: it records the name and SHA-256 of each of its
// unsigned changes, and the tags they leave on the list, signed by signer.
// From then on Open accepts those changes, and only those, unsigned. The
// adopt change fixes the list's identity (ListFile), as a first change does.
func (l *List) Adopt(ctx context.Context, signer ed25519.PrivateKey, batch, operator, ticket string) (*Pending, error) {
	switch {
	case len(l.legacy) == 0:
		return nil, fmt.Errorf("blocklist %s: no unsigned change to adopt", l.loc)
	case l.adopted || len(l.changes) > 0:
		return nil, fmt.Errorf("blocklist %s: the list holds signed changes already", l.loc)
	}
	c := Change{Op: OpAdopt, Tags: l.Tags(), Batch: batch, Operator: operator, Ticket: ticket}
	for _, lc := range l.legacy {
		c.Legacy = append(c.Legacy, LegacyChange{Name: lc.Name, SHA256: lc.SHA256})
	}
	p, err := l.prepare(ctx, signer, c)
	if err == nil {
		p.Change.Tags = slices.Clone(c.Tags)
	}
	return p, err
}

func (l *List) prepare(ctx context.Context, signer ed25519.PrivateKey, c Change) (*Pending, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, errors.New("blocklist: a change needs a signing key")
	}
	pub := signer.Public().(ed25519.PublicKey)
	if !l.trust.Allows(pub, Namespace) {
		return nil, fmt.Errorf("blocklist %s: the signing key %s is not a trusted blocklist signer: the list would refuse its change", l.loc, sshsig.Fingerprint(pub))
	}
	if err := l.fixID(ctx); err != nil {
		return nil, err
	}
	c.List = l.id
	now := time.Now().UTC()
	c.Format, c.IDKey, c.Time = Format, l.keyID, now.Format(timeFormat)
	c.Name = chain.NewName("change-", now)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	sig, err := sshsig.Sign(signer, Namespace, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return &Pending{Name: c.Name, SHA256: hex.EncodeToString(sum[:]), Change: c, data: data, sig: sig,
		signer: sshsig.Fingerprint(pub), list: l}, nil
}

// fixID gives a list without an identity (no change yet) one: it creates
// ListFile, never replacing one, and if another writer created it first,
// takes the identity from there.
func (l *List) fixID(ctx context.Context) error {
	if l.id != "" {
		return nil
	}
	id := chain.NewID()
	data, err := json.Marshal(identity{Format: Format, List: id})
	if err != nil {
		return err
	}
	created, err := chain.CreateOnce(ctx, l.loc, ListFile, append(data, '\n'))
	switch {
	case err != nil:
		return fmt.Errorf("blocklist %s: write %s: %w", l.loc, ListFile, err)
	case !created:
		// Another writer started the list at the same time.
		if id, err = l.readID(ctx); err != nil {
			return err
		}
	}
	l.id = id
	return nil
}

// Store creates the signature file and then the change file, neither of
// which ever replaces another, and applies the change to the list in
// memory. A signature without its change (a writer that died between the
// two) is no part of the list.
func (p *Pending) Store(ctx context.Context) error {
	l := p.list
	if err := chain.Store(ctx, l.loc, "blocklist", p.Name, p.data, p.sig); err != nil {
		return err
	}
	l.apply(p.Change.Op, p.Change.Tags)
	l.changes = append(l.changes, Loaded{Name: p.Name, SHA256: p.SHA256, Signer: p.signer, Change: p.Change})
	l.heads = []string{p.SHA256}
	if p.Change.Op == OpAdopt {
		l.adopted = true
	}
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
