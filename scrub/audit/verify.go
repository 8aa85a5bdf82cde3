package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"

	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

var batchName = regexp.MustCompile(`^batch-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{12}$`)

// Problems a batch can have, in the order Verify looks for them.
const (
	Missing      = "missing"       // a file of the batch, or a batch a later one follows, is gone
	BadSignature = "signature"     // SHA256SUMS not signed by a trusted key for the namespace
	HashMismatch = "hash mismatch" // a file differs from its SHA256SUMS line
	ChainBroken  = "chain broken"  // a log line's seq or prev is wrong
	// Unsigned: a batch without a signature where a signed batch's link
	// says a signed one was (an unsigned dry run taking a batch's place).
	Unsigned = "unsigned"
	// NotRetained: in a location that locks objects (S3 Object Lock), a
	// file of the batch has no retention, or a shorter one than its
	// batch recorded, or one that is past: it can be deleted.
	NotRetained = "not retained"
	// Forked: a batch linked in the order batches are sealed
	// (ChainSealOrder) that follows the same batch as another, or none
	// though a batch was sealed before it began: its link was made
	// through a tampered chain tip, and batches in between may be gone.
	Forked = "fork"
)

// Trust is whom signatures must come from. With no key in it, Verify
// checks each signature against the key it carries and requires all
// batches to share one key, which shows the bundle is consistent but not
// who made it: anyone who can write the location can re-sign all of it
// with a key of their own (Report.Pinned is then false, and
// Report.Signers names the key found).
type Trust = sshsig.Trust

// BatchStatus is what Verify found for one batch.
type BatchStatus struct {
	Batch   string
	Problem string // "" when valid
	Line    int    // for ChainBroken: the first line whose link fails
	Detail  string
	// Unsigned marks a batch that says it is a dry run made without a
	// signing key. When nothing else is wrong with it (Problem is "") it
	// is listed but is not part of the record and not counted; a problem
	// found on it counts like any other.
	Unsigned bool
	Manifest *Manifest // nil unless the manifest could be trusted
	Head     string    // SHA-256 of the batch's SHA256SUMS
	Signer   string    // key fingerprint
	Start    *Start    // the batch_start event; nil unless the batch is valid
	// claimed is an unsigned dry run's manifest: consistent with its
	// SHA256SUMS, but vouched for by no signature.
	claimed *Manifest
}

// Valid reports whether the batch passed every check.
func (s *BatchStatus) Valid() bool { return s.Problem == "" && !s.Unsigned }

// Status is the batch's status as scrub verify prints it.
func (s *BatchStatus) Status() string {
	switch {
	case s.Unsigned && s.Problem == "":
		return "unsigned dry run (not part of the record)"
	case s.Problem == "":
		return "valid"
	case s.Problem == ChainBroken:
		return fmt.Sprintf("INVALID: chain broken at line %d", s.Line)
	}
	return "INVALID: " + s.Problem
}

// Report is the result of verifying an audit location.
type Report struct {
	Batches []*BatchStatus
	// Valid and Total count the batches of the record (unsigned dry
	// runs excluded, unless something is wrong with one); the location
	// is valid when they are equal.
	Valid, Total int
	// Head is the head of the newest valid batch.
	Head string
	// Signers are the fingerprints of the keys that signed valid batches.
	Signers []string
	// Pinned says the signatures were checked against a trusted key.
	// Without one, a valid report shows only that the bundles are
	// consistent (each signature matches the key it carries, one key for
	// all): not who signed them.
	Pinned bool
	// Split are the requests split into shares (--shard I/N), each
	// complete only when every share has a valid, complete batch.
	Split []*SplitRequest
	// Notes are what verify has to say beyond the batches: that batches
	// were witnessed and no witness was given, that a batch was sealed
	// without the witness, that retention could not be checked.
	Notes []string
}

// VerifyOption configures Verify.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	witness Location
	now     func() time.Time
}

// WithWitnessCheck makes Verify check the batches against the heads a
// witness holds (see WithWitness): each batch named there must be present
// with that head, so that the deletion of the newest batches is found.
func WithWitnessCheck(witness Location) VerifyOption {
	return func(c *verifyConfig) { c.witness = witness }
}

// OK reports whether every batch is valid and every split request
// complete. It does not say whether the signer was trusted: see Pinned.
func (r *Report) OK() bool {
	for _, s := range r.Split {
		if !s.Complete() {
			return false
		}
	}
	return r.Valid == r.Total
}

// Verify checks every batch in loc: the signature of its SHA256SUMS, the
// hashes of its log and manifest, every line's seq and prev link, and that
// each batch's predecessor is present. Each expected head (the SHA-256 of a
// SHA256SUMS file, as printed by scrub erase) must belong to a valid batch:
// that detects the deletion of the newest batches. The error is for a
// location that cannot be read; problems with batches are in the report.
//
// In a location that locks objects (a Retainer with object lock enabled),
// every sealed file must be retained, as long as its batch recorded, and
// a batch whose files a delete marker hides is reported missing. With
// WithWitnessCheck, the batches are checked against the witness's heads.
func Verify(ctx context.Context, loc Location, trust *Trust, expectHeads []string, opts ...VerifyOption) (*Report, error) {
	cfg := verifyConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	files, err := loc.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", loc, err)
	}
	have := map[string]bool{}
	var names []string
	for _, f := range files {
		have[f] = true
		for _, suf := range []string{sigSuffix, sumsSuffix, manifestSuffix, logSuffix, journalSuffix} {
			if b, ok := strings.CutSuffix(f, suf); ok && batchName.MatchString(b) {
				if !have["batch:"+b] {
					have["batch:"+b] = true
					names = append(names, b)
				}
				break
			}
		}
	}
	rep := &Report{Pinned: trust.Pinned()}
	var first string // fingerprint of the first signer, when not pinned
	slices.Sort(names)
	for _, name := range names {
		st, err := verifyBatch(ctx, loc, name, have, trust)
		if err != nil {
			return nil, err
		}
		if st.Problem == "" && !st.Unsigned && !rep.Pinned {
			if first == "" {
				first = st.Signer
			} else if st.Signer != first {
				st.Problem, st.Detail, st.Manifest = BadSignature, "signed by "+st.Signer+", other batches by "+first+"; pass --allowed-signers", nil
			}
		}
		rep.Batches = append(rep.Batches, st)
	}
	// Links between batches: each valid batch's predecessor must be here,
	// unchanged and signed. The writer links a batch only to a signed one,
	// so an unsigned batch where a signed batch's link points took the
	// place of what was there. An unsigned dry run's own link, which no
	// signature vouches for, must lead to a batch too, or it is the one
	// at fault.
	heads := map[string]*BatchStatus{}
	byName := map[string]*BatchStatus{}
	for _, st := range rep.Batches {
		byName[st.Batch] = st
		if st.Head != "" {
			heads[st.Head] = st
		}
	}
	var extra []*BatchStatus
	for _, st := range rep.Batches {
		m, signed := st.Manifest, st.Valid()
		if !signed {
			if !st.Unsigned || st.Problem != "" {
				continue
			}
			m = st.claimed
		}
		if m.PrevSHA256SUMS == "" {
			continue
		}
		link := fmt.Sprintf("%s follows %s (prev_sha256sums %s)", st.Batch, orUnknown(m.PrevBatch), m.PrevSHA256SUMS)
		p := heads[m.PrevSHA256SUMS]
		switch {
		case p != nil && p.Unsigned && signed && p.Problem == "":
			p.Problem, p.Detail = Unsigned, "no signature, but "+link+", and a batch is only ever linked to a signed one"
		case p != nil:
			// The batch it follows, as it was; its own problems, if
			// any, are reported already.
		case !signed:
			st.Problem, st.Detail = Missing, link+": no batch here has that SHA256SUMS"
		case byName[m.PrevBatch] != nil:
			p = byName[m.PrevBatch]
			switch {
			case p.Unsigned:
				// Whatever else is wrong with it: it is not the
				// batch the signed one recorded.
				p.Problem, p.Detail = Unsigned, "an unsigned batch in the place of a signed one: "+link+", and its SHA256SUMS differs"
			case p.Problem == "":
				p.Problem, p.Detail = HashMismatch, "its SHA256SUMS is not the one "+st.Batch+" follows"
			}
		default:
			extra = append(extra, &BatchStatus{Batch: orUnknown(m.PrevBatch), Problem: Missing, Detail: "followed by " + st.Batch})
			heads[m.PrevSHA256SUMS] = extra[len(extra)-1]
		}
	}
	checkForks(rep.Batches)
	for _, h := range expectHeads {
		// A head that is here but invalid is reported as such already.
		if heads[h] == nil {
			extra = append(extra, &BatchStatus{Batch: "expected head " + h, Problem: Missing, Detail: "no batch has this SHA256SUMS hash"})
		}
	}
	rep.Batches = append(rep.Batches, extra...)
	add := func(st *BatchStatus) { rep.Batches = append(rep.Batches, st) }
	if err := checkRetention(ctx, loc, rep, add, cfg.now()); err != nil {
		return nil, err
	}
	if cfg.witness != nil {
		if err := checkWitness(ctx, cfg.witness, rep, add); err != nil {
			return nil, err
		}
	} else if hint := witnessHint(rep); hint != "" {
		rep.Notes = append(rep.Notes, hint)
	}
	rep.Split = splitRequests(rep.Batches)
	seen := map[string]bool{}
	for _, st := range rep.Batches {
		if st.Unsigned && st.Problem == "" {
			continue // a dry run without a key: not part of the record
		}
		rep.Total++
		if st.Valid() {
			rep.Valid++
			rep.Head = st.Head
			if !seen[st.Signer] {
				seen[st.Signer] = true
				rep.Signers = append(rep.Signers, st.Signer)
			}
		}
	}
	return rep, nil
}

// clockSkew is how far the clocks of the hosts that write one audit
// location may disagree, for checkForks.
const clockSkew = 15 * time.Minute

// checkForks reports the batches linked in seal order (ChainSealOrder)
// whose link a writer does not make: one that follows the same batch as
// another, and one that follows none though another was sealed before it
// began (by more than clockSkew). (Batches of earlier releases, linked to
// the newest by name, may share a predecessor, with each other or with one
// batch linked in seal order: that alone is not reported.)
func checkForks(batches []*BatchStatus) {
	followers := map[string][]*BatchStatus{}
	var signed []*BatchStatus
	for _, st := range batches {
		if !st.Valid() || st.Manifest == nil {
			continue
		}
		signed = append(signed, st)
		if prev := st.Manifest.PrevSHA256SUMS; prev != "" {
			followers[prev] = append(followers[prev], st)
		}
	}
	for _, fs := range followers {
		// Two batches linked in seal order never follow one batch. One
		// of them and a batch of an earlier release may: that release
		// linked to the newest batch by name, and did not move the tip.
		sealOrder := 0
		for _, st := range fs {
			if st.Manifest.Chain == ChainSealOrder {
				sealOrder++
			}
		}
		if sealOrder < 2 {
			continue
		}
		for _, st := range fs {
			if st.Manifest.Chain != ChainSealOrder {
				continue
			}
			var others []string
			for _, o := range fs {
				if o != st {
					others = append(others, o.Batch)
				}
			}
			st.Problem, st.Detail = Forked, fmt.Sprintf("it follows %s, as %s does: batches are linked in the order they are sealed, so one link was made through a tampered chain tip, and batches in between may be gone",
				orUnknown(st.Manifest.PrevBatch), strings.Join(others, ", "))
		}
	}
	for _, st := range signed {
		m := st.Manifest
		if m.Chain != ChainSealOrder || m.PrevSHA256SUMS != "" || st.Problem != "" {
			continue
		}
		started, err := time.Parse(timeFormat, m.Started)
		if err != nil {
			continue
		}
		for _, o := range signed {
			// The times come from the clocks of the hosts that ran the
			// batches: a margin for clocks that disagree.
			if finished, err := time.Parse(timeFormat, o.Manifest.Finished); o != st && err == nil && finished.Add(clockSkew).Before(started) {
				st.Problem, st.Detail = Forked, fmt.Sprintf("it follows no batch, though %s was sealed before it began: its link was made through a tampered chain tip, and batches before it may be gone", o.Batch)
				break
			}
		}
	}
}

func orUnknown(name string) string {
	if name == "" {
		return "(unnamed batch)"
	}
	return name
}

// verifyBatch checks one batch on its own.
func verifyBatch(ctx context.Context, loc Location, name string, have map[string]bool, trust *Trust) (*BatchStatus, error) {
	st := &BatchStatus{Batch: name}
	read := func(suffix string) ([]byte, error) {
		if !have[name+suffix] {
			return nil, nil
		}
		data, err := loc.ReadFile(ctx, name+suffix)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit location %s: %w", loc, err)
		}
		return data, nil
	}
	var data [4][]byte
	for i, suf := range []string{logSuffix, manifestSuffix, sumsSuffix, sigSuffix} {
		var err error
		if data[i], err = read(suf); err != nil {
			return nil, err
		}
	}
	logData, manifest, sums, sig := data[0], data[1], data[2], data[3]
	var missing []string
	for i, suf := range []string{logSuffix, manifestSuffix, sumsSuffix} {
		if data[i] == nil {
			missing = append(missing, name+suf)
		}
	}
	if len(missing) > 0 {
		st.Problem, st.Detail = Missing, strings.Join(missing, ", ")+" not found"
		if have[name+journalSuffix] && sig == nil {
			st.Detail = "unfinished: only its journal is here; run the same scrub erase again to resume and seal it"
		}
		return st, nil
	}
	st.Head = sha256Hex(sums)
	if sig == nil {
		// Only a dry run without a key may lack a signature, and it
		// is not part of the record; but what is wrong with one is
		// reported, and counts.
		var m Manifest
		if json.Unmarshal(manifest, &m) != nil || !m.DryRun || m.Signed || m.KeyFingerprint != "" {
			st.Problem, st.Detail = Missing, name+sigSuffix+" not found"
			return st, nil
		}
		st.Unsigned = true
		checkUnsigned(st, name, logData, manifest, sums, &m)
		return st, nil
	}
	pub, err := sshsig.Verify(sig, Namespace, bytes.NewReader(sums))
	if err != nil {
		st.Problem, st.Detail = BadSignature, err.Error()
		return st, nil
	}
	st.Signer = sshsig.Fingerprint(pub)
	if trust.Pinned() && !trust.Allows(pub, Namespace) {
		st.Problem, st.Detail = BadSignature, "signed by "+st.Signer+", which is not a trusted signer for namespace "+Namespace
		return st, nil
	}
	// The signature vouches for SHA256SUMS; SHA256SUMS for the manifest,
	// which is then trusted to check the log's chain against.
	if p := checkSums(sums, name, nil, manifest); p != "" {
		st.Problem, st.Detail = HashMismatch, p
		return st, nil
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		st.Problem, st.Detail = HashMismatch, "manifest: "+err.Error()
		return st, nil
	}
	if m.Batch != name || m.Log != name+logSuffix || m.KeyFingerprint != st.Signer {
		st.Problem, st.Detail = BadSignature, "the manifest names another batch or key"
		return st, nil
	}
	if line := checkChain(logData, &m, name); line != 0 {
		st.Problem, st.Line = ChainBroken, line
		return st, nil
	}
	if p := checkSums(sums, name, logData, manifest); p != "" {
		st.Problem, st.Detail = HashMismatch, p
		return st, nil
	}
	var first startEvent
	if line, _, _ := bytes.Cut(logData, []byte("\n")); json.Unmarshal(line, &first) == nil {
		st.Start = &first.Start
	}
	st.Manifest = &m
	return st, nil
}

// checkUnsigned checks an unsigned dry run as far as it can be without a
// signature: its files agree with one another, and its log says it is a
// dry run. What is wrong goes into st; a batch with nothing wrong keeps its
// manifest's claims (its link) for Verify to check.
func checkUnsigned(st *BatchStatus, name string, logData, manifest, sums []byte, m *Manifest) {
	const what = "; an unsigned dry run"
	if m.Batch != name || m.Log != name+logSuffix {
		st.Problem, st.Detail = HashMismatch, "the manifest names another batch"+what
		return
	}
	if p := checkSums(sums, name, nil, manifest); p != "" {
		st.Problem, st.Detail = HashMismatch, p+what
		return
	}
	if line := checkChain(logData, m, name); line != 0 {
		st.Problem, st.Line, st.Detail = ChainBroken, line, what[2:]
		return
	}
	if p := checkSums(sums, name, logData, manifest); p != "" {
		st.Problem, st.Detail = HashMismatch, p+what
		return
	}
	var first startEvent
	if line, _, _ := bytes.Cut(logData, []byte("\n")); json.Unmarshal(line, &first) != nil || !first.DryRun {
		st.Problem, st.Detail = Missing, name+sigSuffix+" not found (the manifest says dry run, the log does not)"
		return
	}
	st.claimed = m
}

// checkSums checks a SHA256SUMS file: it must list exactly the batch's log
// and manifest, and their hashes must match (the log's only when given).
// It returns what is wrong, or "".
func checkSums(sums []byte, name string, logData, manifest []byte) string {
	want := map[string][]byte{name + logSuffix: logData, name + manifestSuffix: manifest}
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	if len(lines) != len(want) {
		return "SHA256SUMS does not list the log and the manifest"
	}
	for _, l := range lines {
		sum, file, ok := strings.Cut(l, "  ")
		content, known := want[file]
		if !ok || !known {
			return "SHA256SUMS does not list the log and the manifest"
		}
		delete(want, file)
		if content != nil && sha256Hex(content) != sum {
			return file + " does not match its SHA-256"
		}
	}
	return ""
}

// checkChain checks every line's seq and prev, the first and last events,
// and the line count and head the manifest records. It returns the first
// line whose link fails, or 0.
func checkChain(log []byte, m *Manifest, name string) int {
	prev := zeroHash
	n := 0
	var last header
	for len(log) > 0 {
		n++
		i := bytes.IndexByte(log, '\n')
		if i < 0 {
			return n // a partial last line: the tail was cut
		}
		line := log[:i+1]
		log = log[i+1:]
		var h struct {
			header
			Batch string `json:"batch"`
		}
		if json.Unmarshal(line, &h) != nil || h.Seq != n || h.Prev != prev {
			return n
		}
		if n == 1 && (h.Type != "batch_start" || h.Batch != name) {
			return n
		}
		prev, last = sha256Hex(line), h.header
	}
	switch {
	case n < m.Lines:
		return n + 1 // lines missing at the end
	case n > m.Lines:
		return m.Lines + 1 // lines added at the end
	case prev != m.ChainHead, last.Type != "batch_end":
		return n // the last line changed
	}
	return 0
}

// ParseHead checks a head given by a user: 64 hex digits.
func ParseHead(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return "", errors.New("a head is the 64 hex digits of a SHA-256 (as scrub erase and scrub verify print it)")
	}
	return s, nil
}
