package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"

	"strings"

	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

var batchName = regexp.MustCompile(`^batch-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{12}$`)

// Problems a batch can have, in the order Verify looks for them.
const (
	Missing      = "missing"       // a file of the batch, or a batch a later one follows, is gone
	BadSignature = "signature"     // SHA256SUMS not signed by a trusted key for the namespace
	HashMismatch = "hash mismatch" // a file differs from its SHA256SUMS line
	ChainBroken  = "chain broken"  // a log line's seq or prev is wrong
)

// Trust is whom signatures must come from. With neither field set, Verify
// checks each signature against the key it carries and requires all
// batches to share one key, which shows the bundle is consistent but not
// who made it.
type Trust struct {
	Signers []sshsig.AllowedSigner // an allowed_signers file
	Keys    []ed25519.PublicKey    // public keys given directly
}

func (t *Trust) pinned() bool { return t != nil && (len(t.Signers) > 0 || len(t.Keys) > 0) }

func (t *Trust) allows(pub ed25519.PublicKey) bool {
	for _, k := range t.Keys {
		if k.Equal(pub) {
			return true
		}
	}
	for _, s := range t.Signers {
		if s.Key.Equal(pub) && s.Allows(Namespace) {
			return true
		}
	}
	return false
}

// BatchStatus is what Verify found for one batch.
type BatchStatus struct {
	Batch   string
	Problem string // "" when valid
	Line    int    // for ChainBroken: the first line whose link fails
	Detail  string
	// Unsigned marks a dry run made without a signing key: it is listed
	// but is not part of the record and not counted.
	Unsigned bool
	Manifest *Manifest // nil unless the manifest could be trusted
	Head     string    // SHA-256 of the batch's SHA256SUMS
	Signer   string    // key fingerprint
	Start    *Start    // the batch_start event; nil unless the batch is valid
}

// Valid reports whether the batch passed every check.
func (s *BatchStatus) Valid() bool { return s.Problem == "" && !s.Unsigned }

// Status is the batch's status as scrub verify prints it.
func (s *BatchStatus) Status() string {
	switch {
	case s.Unsigned:
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
	// runs excluded); the location is valid when they are equal.
	Valid, Total int
	// Head is the head of the newest valid batch.
	Head string
	// Signers are the fingerprints of the keys that signed valid batches.
	Signers []string
	Pinned  bool // signatures were checked against a trusted key
	// Split are the requests split into shares (--shard I/N), each
	// complete only when every share has a valid, complete batch.
	Split []*SplitRequest
}

// OK reports whether every batch is valid and every split request
// complete.
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
func Verify(ctx context.Context, loc Location, trust *Trust, expectHeads []string) (*Report, error) {
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
	rep := &Report{Pinned: trust.pinned()}
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
	// unchanged.
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
		m := st.Manifest
		if !st.Valid() || m.PrevSHA256SUMS == "" || heads[m.PrevSHA256SUMS] != nil {
			continue
		}
		if p := byName[m.PrevBatch]; p != nil {
			if p.Problem == "" {
				p.Problem, p.Detail = HashMismatch, "its SHA256SUMS is not the one "+st.Batch+" follows"
			}
			continue
		}
		extra = append(extra, &BatchStatus{Batch: orUnknown(m.PrevBatch), Problem: Missing, Detail: "followed by " + st.Batch})
		heads[m.PrevSHA256SUMS] = extra[len(extra)-1]
	}
	for _, h := range expectHeads {
		// A head that is here but invalid is reported as such already.
		if heads[h] == nil {
			extra = append(extra, &BatchStatus{Batch: "expected head " + h, Problem: Missing, Detail: "no batch has this SHA256SUMS hash"})
		}
	}
	rep.Batches = append(rep.Batches, extra...)
	rep.Split = splitRequests(rep.Batches)
	seen := map[string]bool{}
	for _, st := range rep.Batches {
		if st.Unsigned {
			continue
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
		// is not part of the record.
		var m Manifest
		if json.Unmarshal(manifest, &m) == nil && m.DryRun && !m.Signed && checkSums(sums, name, logData, manifest) == "" {
			if line := checkChain(logData, &m, name); line == 0 {
				st.Unsigned = true
				return st, nil
			}
		}
		st.Problem, st.Detail = Missing, name+sigSuffix+" not found"
		return st, nil
	}
	pub, err := sshsig.Verify(sig, Namespace, bytes.NewReader(sums))
	if err != nil {
		st.Problem, st.Detail = BadSignature, err.Error()
		return st, nil
	}
	st.Signer = sshsig.Fingerprint(pub)
	if trust.pinned() && !trust.allows(pub) {
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
