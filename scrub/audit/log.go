// Package audit writes and verifies scrub's audit bundles: the signed,
// hash-chained record of what each batch erased, which an auditor can check
// with scrub verify or with stock tools (ssh-keygen -Y verify and
// sha256sum -c).
//
// A batch NAME (batch-<UTC start time>-<batch id>) is four files:
//
//	NAME.jsonl              the log: JSON Lines, one event per line
//	NAME-manifest.json      the log's SHA-256, line count and chain head,
//	                        the totals, the signing key's fingerprint and
//	                        the SHA-256 of the previous batch's SHA256SUMS
//	NAME-SHA256SUMS         sha256sum format, over the log and manifest
//	NAME-SHA256SUMS.sig     SSHSIG signature of SHA256SUMS, namespace
//	                        "scrub-audit" (what ssh-keygen -Y sign makes)
//
// Every line of the log carries seq (1, 2, ...) and prev, the SHA-256 of
// the previous line's bytes including its newline (64 zeros for the first
// line), so an edit, deletion or reordering of lines breaks the chain at a
// known line. Batches chain through their manifests; the newest batch's
// SHA256SUMS hash, the head, is what an auditor keeps to detect the loss of
// the newest batches, which no chain can detect on its own.
//
// Client IDs never appear in a bundle: an ID is named by its HMAC-SHA256
// tag under a secret key (IDKey) kept apart from the log.
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

// Namespace is the SSHSIG namespace of audit signatures.
const Namespace = "scrub-audit"

// FormatVersion names the bundle format in every manifest.
const FormatVersion = "scrub-audit/1"

// File name suffixes of a batch's files.
const (
	logSuffix      = ".jsonl"
	manifestSuffix = "-manifest.json"
	sumsSuffix     = "-SHA256SUMS"
	sigSuffix      = "-SHA256SUMS.sig"
)

// idsPerLine is how many ID tags one "ids" event holds.
const idsPerLine = 1000

var zeroHash = strings.Repeat("0", 64)

// Tool identifies the program that wrote a log.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
}

// Start describes a batch, for its first event.
type Start struct {
	Command  string   `json:"command"`
	DryRun   bool     `json:"dry_run"`
	Tool     Tool     `json:"tool"`
	Operator string   `json:"operator"`
	Host     string   `json:"host"`
	Ticket   string   `json:"ticket,omitempty"`
	Sources  []string `json:"sources"`
	// Options are the settings that shape what is erased, as given.
	Options any `json:"options"`
	// IDs counts the listed IDs; their tags follow in "ids" events.
	IDs int `json:"ids"`
	// IDKey names the key of the tags (IDKey.ID); empty when the run
	// had none, and then the log names no ID at all.
	IDKey string `json:"id_key,omitempty"`
}

// header is the part every event shares, first on its line.
type header struct {
	Seq  int    `json:"seq"`
	Prev string `json:"prev"`
	Type string `json:"type"`
	Time string `json:"time"`
}

type startEvent struct {
	header
	Batch string `json:"batch"`
	Start
}

type idsEvent struct {
	header
	Tags []string `json:"id_hmacs"`
}

// archiveEvent is one archive's outcome.
type archiveEvent struct {
	header
	Key             string   `json:"key"`
	VersionID       string   `json:"version_id,omitempty"`
	Format          string   `json:"format,omitempty"`
	Status          string   `json:"status"`
	SizeBefore      int64    `json:"size_before"`
	SHA256Before    string   `json:"sha256_before,omitempty"`
	SizeAfter       *int64   `json:"size_after"`
	SHA256After     string   `json:"sha256_after,omitempty"`
	RowsScanned     int64    `json:"rows_scanned"`
	RowsRemoved     int64    `json:"rows_removed"`
	MembersCarried  int      `json:"members_carried,omitempty"`
	VersionsDeleted []string `json:"versions_deleted,omitempty"`
	Tags            []string `json:"id_hmacs,omitempty"`
	Error           string   `json:"error,omitempty"`
}

type endEvent struct {
	header
	Result string       `json:"result"`
	Error  string       `json:"error,omitempty"`
	Totals scrub.Totals `json:"totals"`
}

// Manifest is a batch's NAME-manifest.json.
type Manifest struct {
	Format         string       `json:"format"`
	Batch          string       `json:"batch"`
	Log            string       `json:"log"`
	LogSHA256      string       `json:"log_sha256"`
	Lines          int          `json:"lines"`
	ChainHead      string       `json:"chain_head"`
	DryRun         bool         `json:"dry_run"`
	Signed         bool         `json:"signed"`
	KeyFingerprint string       `json:"key_fingerprint,omitempty"`
	IDKey          string       `json:"id_key,omitempty"`
	Started        string       `json:"started"`
	Finished       string       `json:"finished"`
	Result         string       `json:"result"`
	Totals         scrub.Totals `json:"totals"`
	// PrevBatch and PrevSHA256SUMS link to the newest signed batch that
	// was in the location when this one was sealed; empty for the first.
	PrevBatch      string `json:"prev_batch,omitempty"`
	PrevSHA256SUMS string `json:"prev_sha256sums,omitempty"`
}

// Writer writes one batch's bundle: the log as the batch goes, spooled to a
// local file, then on Finish the manifest, checksums and signature, and
// everything into the location. Its methods are safe for concurrent use.
type Writer struct {
	loc     Location
	name    string
	key     ed25519.PrivateKey
	now     func() time.Time
	started time.Time
	start   Start

	mu    sync.Mutex
	spool *os.File
	log   hash.Hash
	seq   int
	prev  string
	err   error // sticky: a log with a hole must not be sealed
}

// Begin starts a batch's log in a spool file in spoolDir and writes its
// first event. key signs the bundle; nil makes an unsigned bundle, allowed
// only for a dry run.
func Begin(loc Location, spoolDir string, key ed25519.PrivateKey, st Start) (*Writer, error) {
	if key == nil && !st.DryRun {
		return nil, errors.New("a batch that changes data needs a signing key")
	}
	now := func() time.Time { return time.Now().UTC() }
	started := now()
	id := make([]byte, 6)
	rand.Read(id)
	name := "batch-" + started.Format("20060102T150405.000Z") + "-" + hex.EncodeToString(id)
	if err := os.MkdirAll(spoolDir, 0o755); err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	spool, err := os.CreateTemp(spoolDir, "."+name+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	w := &Writer{loc: loc, name: name, key: key, now: now, started: started, start: st,
		spool: spool, log: sha256.New(), prev: zeroHash}
	if err := w.write("batch_start", &startEvent{Batch: name, Start: st}); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// Name returns the batch's name.
func (w *Writer) Name() string { return w.name }

// Spool returns the path of the spooled log.
func (w *Writer) Spool() string { return w.spool.Name() }

// Abort removes the spool file of a batch that did not start.
func (w *Writer) Abort() {
	w.spool.Close()
	os.Remove(w.spool.Name())
}

// event is implemented by the events, through their header.
type event interface{ head() *header }

func (h *header) head() *header { return h }

// write appends one event: it fills in the header, writes the line and
// syncs the spool, so that what was logged survives a crash.
func (w *Writer) write(typ string, ev event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	h := ev.head()
	w.seq++
	h.Seq, h.Prev, h.Type, h.Time = w.seq, w.prev, typ, w.now().Format(timeFormat)
	line, err := json.Marshal(ev)
	if err != nil {
		w.err = fmt.Errorf("audit log: %w", err)
		return w.err
	}
	line = append(line, '\n')
	if _, err := w.spool.Write(line); err != nil {
		w.err = fmt.Errorf("audit log: %w", err)
		return w.err
	}
	if err := w.spool.Sync(); err != nil {
		w.err = fmt.Errorf("audit log: %w", err)
		return w.err
	}
	w.log.Write(line)
	w.prev = sha256Hex(line)
	return nil
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// IDs logs the tags of the listed IDs, sorted, in events of up to 1000.
func (w *Writer) IDs(tags []string) error {
	for len(tags) > 0 {
		n := min(len(tags), idsPerLine)
		if err := w.write("ids", &idsEvent{Tags: tags[:n]}); err != nil {
			return err
		}
		tags = tags[n:]
	}
	return nil
}

// Archive logs one archive's result.
func (w *Writer) Archive(r scrub.Result) error {
	return w.write("archive", &archiveEvent{
		Key: r.Key, VersionID: r.VersionID, Format: r.Format, Status: string(r.Status),
		SizeBefore: r.BytesBefore, SHA256Before: r.SHA256Before, SizeAfter: r.BytesAfter, SHA256After: r.SHA256After,
		RowsScanned: r.RowsScanned, RowsRemoved: r.RowsRemoved, MembersCarried: r.MembersCarried,
		VersionsDeleted: r.DeletedVersions, Tags: r.IDTags, Error: r.Error,
	})
}

// Sealed describes a finished bundle.
type Sealed struct {
	Batch    string   `json:"batch"`
	Location string   `json:"location"`
	Files    []string `json:"files"` // in the order written
	// Head is the SHA-256 of the batch's SHA256SUMS: what an auditor
	// pins with scrub verify --expect-head.
	Head string `json:"head"`
}

// Result values of a batch's last event and manifest.
const (
	ResultComplete = "complete" // every archive done
	ResultPartial  = "partial"  // some archives failed or were not reached
	ResultFailed   = "failed"   // the batch could not run or stopped
)

// Finish logs the batch's end (result, the error that stopped it if any,
// and the totals) and puts the bundle into the location: log, manifest,
// SHA256SUMS and, last, its signature. The spool file is removed once the
// log is stored.
func (w *Writer) Finish(ctx context.Context, result string, runErr error, totals scrub.Totals) (*Sealed, error) {
	end := &endEvent{Result: result, Totals: totals}
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if err := w.write("batch_end", end); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prevName, prevSums, err := newestSigned(ctx, w.loc, w.name)
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", w.loc, err)
	}
	m := Manifest{
		Format: FormatVersion, Batch: w.name, Log: w.name + logSuffix,
		LogSHA256: hex.EncodeToString(w.log.Sum(nil)), Lines: w.seq, ChainHead: w.prev,
		DryRun: w.start.DryRun, Signed: w.key != nil, IDKey: w.start.IDKey,
		Started: w.started.Format(timeFormat), Finished: w.now().Format(timeFormat),
		Result: result, Totals: totals, PrevBatch: prevName, PrevSHA256SUMS: prevSums,
	}
	if w.key != nil {
		m.KeyFingerprint = sshsig.Fingerprint(w.key.Public().(ed25519.PublicKey))
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	manifest = append(manifest, '\n')
	sums := fmt.Sprintf("%s  %s\n%s  %s\n", m.LogSHA256, m.Log, sha256Hex(manifest), w.name+manifestSuffix)
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	s := &Sealed{Batch: w.name, Location: w.loc.String(), Head: sha256Hex([]byte(sums))}
	put := func(name string, r io.Reader) error {
		if err := w.loc.Create(ctx, name, r); err != nil {
			return fmt.Errorf("audit location %s: write %s: %w", w.loc, name, err)
		}
		s.Files = append(s.Files, name)
		return nil
	}
	if err := put(m.Log, w.spool); err != nil {
		return nil, err
	}
	w.spool.Close()
	os.Remove(w.spool.Name())
	if err := put(w.name+manifestSuffix, bytes.NewReader(manifest)); err != nil {
		return nil, err
	}
	if err := put(w.name+sumsSuffix, strings.NewReader(sums)); err != nil {
		return nil, err
	}
	if w.key != nil {
		sig, err := sshsig.Sign(w.key, Namespace, strings.NewReader(sums))
		if err != nil {
			return nil, err
		}
		if err := put(w.name+sigSuffix, bytes.NewReader(sig)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newestSigned returns the newest signed batch in the location other than
// self, and the SHA-256 of its SHA256SUMS.
func newestSigned(ctx context.Context, loc Location, self string) (name, sums string, err error) {
	files, err := loc.List(ctx)
	if err != nil {
		return "", "", err
	}
	for i := len(files) - 1; i >= 0; i-- {
		b, ok := strings.CutSuffix(files[i], sigSuffix)
		if !ok || !batchName.MatchString(b) || b == self {
			continue
		}
		data, err := loc.ReadFile(ctx, b+sumsSuffix)
		if err != nil {
			return "", "", err
		}
		return b, sha256Hex(data), nil
	}
	return "", "", nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
