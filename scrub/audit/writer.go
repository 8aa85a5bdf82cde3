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
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

// uploadEvery is how often the journal of a batch whose audit location is
// not a local directory is copied there.
const uploadEvery = 10 * time.Second

// Writer writes one batch's bundle. While the batch runs, its log is the
// batch's journal, NAME.journal: in a local audit directory it is the file
// itself; elsewhere it is spooled to a local file and copied to the
// location every few seconds. Every event but an archive's outcome, the
// list of archives and a deferred step (Step.Deferred) is synced before the
// call that logs it returns (a run of ids events once, after its last
// line), and with it every line before it:
// the steps that protect a destructive action are durable before it
// happens. Writers that log at once share one sync (group commit). An
// outcome lost to a crash only makes the resumed batch look at its archive
// again. Finish turns the journal into the sealed bundle. Its methods are safe for concurrent use.
type Writer struct {
	loc     Location
	name    string
	key     ed25519.PrivateKey
	now     func() time.Time
	started time.Time
	start   Start
	local   bool // the spool is the journal in a local audit directory

	mu       sync.Mutex
	spool    *os.File
	path     string // the journal's path (spool's name, once Begin has linked it there)
	log      hash.Hash
	seq      int
	prev     string
	outcomes outcomes // what the totals need of the last archive event of each key
	uploaded time.Time
	err      error // sticky: a log with a hole must not be sealed
	// buf is the line emit builds, reused.
	buf []byte

	// syncMu serializes syncs of the spool; synced is the number of
	// lines known durable. Both only grow under syncMu; synced is read
	// under it.
	syncMu sync.Mutex
	synced int
	syncs  int // how many syncs: for tests
	// redact, if set, rewrites each line before it is written and
	// hashed (WithRedact); keepsTags, that it leaves a list of tags as
	// it is (WithRedactKeepsTags).
	redact    func([]byte) []byte
	keepsTags bool
	// oldChain, set by tests, seals the batch as an earlier release did
	// (no Manifest.Chain).
	oldChain bool
	// witness, if set, is where the head of each signed batch goes
	// (WithWitness); retention, how long the sealed files are locked
	// (WithRetention).
	witness   Location
	retention *Retention
}

// Option configures a Writer.
type Option func(*Writer)

// WithRedact makes the Writer pass every line through f before it is
// written (and chained, and signed): f replaces what must not reach the
// permanent record in clear, such as a listed ID in an archive's path or
// in the ticket. Keys of archives are then known by their redacted form
// (a resumed batch's Journal has them so).
func WithRedact(f func([]byte) []byte) Option {
	return func(w *Writer) { w.redact = f }
}

// WithRedactKeepsTags tells the Writer that the function of WithRedact
// leaves a list of tags, quoted lower-case hex SHA-256 sums separated by
// commas, as it is (ids.Redactor.KeepsTags): the lines that list the tags
// of a million IDs are then written with the rest of the line redacted,
// the same bytes, without passing the tags through it.
func WithRedactKeepsTags() Option {
	return func(w *Writer) { w.keepsTags = true }
}

// Begin starts a batch: it creates its journal and writes the first event.
// key signs the bundle; nil makes an unsigned bundle, allowed only for a
// dry run. spoolDir holds the journal when loc is not a local directory;
// "" means os.TempDir().
func Begin(loc Location, spoolDir string, key ed25519.PrivateKey, st Start, opts ...Option) (*Writer, error) {
	if key == nil && !st.DryRun {
		return nil, errors.New("a batch that changes data needs a signing key")
	}
	now := func() time.Time { return time.Now().UTC() }
	started := now()
	id := make([]byte, 6)
	rand.Read(id)
	name := "batch-" + started.Format("20060102T150405.000Z") + "-" + hex.EncodeToString(id)
	w := &Writer{loc: loc, name: name, key: key, now: now, started: started, start: st, log: sha256.New(), prev: zeroHash,
		outcomes: outcomes{}}
	for _, o := range opts {
		o(w)
	}
	// The journal appears with its first line: it is written under a
	// hidden name and linked into place, so that no other run (another
	// shard's, resuming in the same location) ever sees it empty.
	if err := w.openSpool(spoolDir, os.O_CREATE|os.O_EXCL, "."+name+journalSuffix+".new"); err != nil {
		return nil, err
	}
	tmp := w.spool.Name()
	err := w.write("batch_start", &startEvent{Batch: name, Start: st})
	if err == nil {
		err = os.Link(tmp, w.path)
	}
	os.Remove(tmp)
	if err == nil && w.local {
		err = syncDir(filepath.Dir(w.path))
	}
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	return w, nil
}

// openSpool opens the journal, or with a name the file of that name in
// the journal's directory.
func (w *Writer) openSpool(spoolDir string, flag int, name ...string) error {
	if d, ok := w.loc.(LocalDir); ok {
		spoolDir, w.local = d.LocalPath(), true
	}
	if spoolDir == "" {
		spoolDir = os.TempDir()
	}
	w.path = filepath.Join(spoolDir, w.name+journalSuffix)
	path := w.path
	if len(name) > 0 {
		path = filepath.Join(spoolDir, name[0])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|flag, 0o644)
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	w.spool = f
	if w.local && flag&os.O_CREATE != 0 {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("audit journal: %w", err)
		}
	}
	return nil
}

// Name returns the batch's name.
func (w *Writer) Name() string { return w.name }

// Spool returns the path of the local copy of the journal.
func (w *Writer) Spool() string { return w.path }

// Abort removes the journal of a batch that did not start.
func (w *Writer) Abort() {
	w.spool.Close()
	os.Remove(w.path)
}

// event is implemented by the events, through their header.
type event interface{ head() *header }

func (h *header) head() *header { return h }

// write appends one event and syncs the journal: what was logged
// survives a crash once write returns.
func (w *Writer) write(typ string, ev event) error {
	seq, err := w.emit(typ, ev, nil)
	if err != nil {
		return err
	}
	return w.syncTo(seq)
}

// append appends one event, not synced (see Writer).
func (w *Writer) append(typ string, ev event) (int, error) { return w.emit(typ, ev, nil) }

// tagSentinel stands for the tags of an event that emit writes itself:
// it is the one tag of the event as marshalled, and no other field of a
// tags event can hold it (JSON escapes the NUL).
const tagSentinel = "\x00"

var tagSentinelJSON = []byte(`["\u0000"]`)

// emit appends one event, not synced: it fills in the header and writes
// the line, and returns its sequence number. With tags, ev holds the one
// tag tagSentinel, and tags appends the JSON array's elements instead
// (without the brackets), so that a long list is not marshalled through
// strings; the line is built in a buffer that is reused.
func (w *Writer) emit(typ string, ev event, tags func(dst []byte) []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	h := ev.head()
	h.Seq, h.Prev, h.Type, h.Time = w.seq+1, w.prev, typ, w.now().Format(timeFormat)
	line, err := json.Marshal(ev)
	redacted := false
	if err == nil && tags != nil {
		i := bytes.Index(line, tagSentinelJSON)
		if i < 0 {
			return 0, fmt.Errorf("audit: %s event without its tags", typ)
		}
		head, tail := line[:i+1], line[i+len(tagSentinelJSON)-1:]
		if w.redact != nil && w.keepsTags {
			// The tags come out of redaction as they went in: only
			// what is around them goes through it (the same bytes).
			head, tail, redacted = w.redact(head), w.redact(tail), true
		}
		buf := append(w.buf[:0], head...)
		buf = tags(buf)
		buf = append(buf, tail...)
		w.buf, line = buf, buf
	}
	if err == nil && w.redact != nil && !redacted {
		line = w.redact(line)
	}
	var prev string
	if err == nil {
		line = append(line, '\n')
		if len(line) >= 16<<10 {
			// A long line (of tags) is written and hashed twice at
			// once: into the log's hash and for the next line's prev.
			// If the write fails, the log's hash holds a line the
			// journal does not, but the error is sticky: nothing is
			// logged or sealed after it.
			var wg sync.WaitGroup
			wg.Go(func() { _, err = w.spool.Write(line) })
			wg.Go(func() { w.log.Write(line) })
			prev = sha256Hex(line)
			wg.Wait()
		} else if _, err = w.spool.Write(line); err == nil {
			w.log.Write(line)
			prev = sha256Hex(line)
		}
	}
	if err != nil {
		w.err = fmt.Errorf("audit journal %s: %w", w.path, err)
		return 0, w.err
	}
	w.seq++
	w.prev = prev
	if !w.local && w.now().Sub(w.uploaded) >= uploadEvery {
		// A failed copy is retried with the next event; the local
		// journal is complete either way.
		if w.putJournal(context.Background()) == nil {
			w.uploaded = w.now()
		}
	}
	return w.seq, nil
}

// syncTo returns once line seq of the journal, and every line before it,
// is durable. One sync covers the lines of every writer that appended
// before it began: a writer whose line a sync in progress did not cover
// waits for it and syncs once more, for all who waited meanwhile.
func (w *Writer) syncTo(seq int) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced >= seq {
		return nil
	}
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return w.err
	}
	upTo := w.seq
	w.mu.Unlock()
	if err := w.spool.Sync(); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err == nil {
			w.err = fmt.Errorf("audit journal %s: %w", w.path, err)
		}
		return w.err
	}
	w.synced = upTo
	w.syncs++
	return nil
}

// sync syncs the journal up to its last line, after a run of events that
// were appended without.
func (w *Writer) sync() error {
	w.mu.Lock()
	seq := w.seq
	w.mu.Unlock()
	return w.syncTo(seq)
}

// appendSums appends the quoted lower-case hex of sums, comma-separated.
func appendSums(dst []byte, sums [][sha256.Size]byte) []byte {
	for i := range sums {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = hex.AppendEncode(dst, sums[i][:])
		dst = append(dst, '"')
	}
	return dst
}

// chain returns Manifest.Chain of the batch: how it links. (Tests make
// batches as an earlier release linked them, oldChain.)
func (w *Writer) chain() string {
	if w.oldChain {
		return ""
	}
	return ChainSealOrder
}

// recorded returns key as the log records it.
func (w *Writer) recorded(key string) string {
	if w.redact == nil {
		return key
	}
	return string(w.redact([]byte(key)))
}

// putJournal copies the spooled journal to the location. The caller holds
// w.mu.
func (w *Writer) putJournal(ctx context.Context) error {
	data, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	return w.loc.Put(ctx, w.name+journalSuffix, bytes.NewReader(data))
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// IDs logs the tags of the listed IDs, sorted, in events of up to 1000,
// synced once, after the last.
func (w *Writer) IDs(tags []string) error {
	for len(tags) > 0 {
		n := min(len(tags), idsPerLine)
		if _, err := w.append("ids", &idsEvent{Tags: tags[:n]}); err != nil {
			return err
		}
		tags = tags[n:]
	}
	return w.sync()
}

// IDSums is IDs for tags as HMAC-SHA256 sums, sorted: it writes their
// hex itself.
func (w *Writer) IDSums(sums [][sha256.Size]byte) error {
	for len(sums) > 0 {
		chunk := sums[:min(len(sums), idsPerLine)]
		add := func(dst []byte) []byte { return appendSums(dst, chunk) }
		if _, err := w.emit("ids", &idsEvent{Tags: []string{tagSentinel}}, add); err != nil {
			return err
		}
		sums = sums[len(chunk):]
	}
	return w.sync()
}

// UnmatchedSums logs the n listed IDs that matched no row as
// ids_unmatched events (see IDsUnmatched): the tags of those sums for
// which unmatched is true, in their order (sorted), up to 1000 per event,
// synced once, after the last.
func (w *Writer) UnmatchedSums(n int, sums [][sha256.Size]byte, unmatched func(sum *[sha256.Size]byte) bool) error {
	chunk := make([][sha256.Size]byte, 0, idsPerLine)
	flush := func() error {
		add := func(dst []byte) []byte { return appendSums(dst, chunk) }
		ev := &noteEvent{Data: IDsUnmatched{Count: n, Tags: []string{tagSentinel}}}
		_, err := w.emit(EventIDsUnmatched, ev, add)
		chunk = chunk[:0]
		return err
	}
	for i := range sums {
		if !unmatched(&sums[i]) {
			continue
		}
		chunk = append(chunk, sums[i])
		if len(chunk) == idsPerLine {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(chunk) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return w.sync()
}

// Listed logs the keys of the archives about to be processed.
func (w *Writer) Listed(keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), idsPerLine)
		if _, err := w.append("listed", &listedEvent{Keys: keys[:n]}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// Step logs an archive's progress through the destructive sequence, synced
// before it returns unless s.Deferred.
func (w *Writer) Step(s Step) error {
	switch s.State {
	case StepRead, StepWritten, StepVerified, StepOriginalsDeleted:
	default:
		return fmt.Errorf("audit: %q is not a step", s.State)
	}
	ev := &stepEvent{Key: s.Key, VersionID: s.VersionID, SHA256: s.SHA256, Staged: s.Staged,
		NewVersionID: s.NewVersionID, VersionsDeleted: s.VersionsDeleted}
	if s.State == StepRead || s.State == StepWritten {
		ev.Size = &s.Size
	}
	if s.State == StepWritten {
		ev.RowsScanned, ev.RowsRemoved, ev.RowsExpired, ev.Tags = &s.RowsScanned, &s.RowsRemoved, s.RowsExpired, s.Tags
	}
	if s.Deferred {
		_, err := w.append(s.State, ev)
		return err
	}
	return w.write(s.State, ev)
}

// Archive logs one archive's outcome. It is not synced (see Writer).
func (w *Writer) Archive(a Archive) error {
	_, err := w.append("archive", &archiveEvent{Archive: a})
	if err == nil {
		w.mu.Lock()
		w.outcomes.set(w.recorded(a.Key), a)
		w.mu.Unlock()
	}
	return err
}

// outcomes holds, for each archive key, what the totals need of its last
// archive event: a few dozen bytes an archive, whatever the key's length
// (a batch may have hundreds of thousands).
type outcomes map[[16]byte]outcome

// outcome is what the totals need of an archive event.
type outcome struct {
	status                                string
	rowsScanned, rowsRemoved, rowsExpired int64
	sizeBefore, sizeAfter                 int64
	hasAfter                              bool
}

func (o outcomes) set(key string, a Archive) {
	sum := sha256.Sum256([]byte(key))
	oc := outcome{status: a.Status, rowsScanned: a.RowsScanned, rowsRemoved: a.RowsRemoved, rowsExpired: a.RowsExpired, sizeBefore: a.SizeBefore}
	if a.SizeAfter != nil {
		oc.sizeAfter, oc.hasAfter = *a.SizeAfter, true
	}
	o[[16]byte(sum[:16])] = oc
}

// total sums the outcomes: one per archive, its last.
func (o outcomes) total() Totals {
	var t Totals
	for _, oc := range o {
		a := Archive{Status: oc.status, RowsScanned: oc.rowsScanned, RowsRemoved: oc.rowsRemoved, RowsExpired: oc.rowsExpired, SizeBefore: oc.sizeBefore}
		if oc.hasAfter {
			a.SizeAfter = &oc.sizeAfter
		}
		t.add(a)
	}
	return t
}

// Totals sums the outcomes of the batch's archives, those of earlier
// attempts of a resumed batch included: for an archive processed more than
// once, its last.
func (w *Writer) Totals() Totals {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.outcomes.total()
}

// Finish logs the batch's end (result, the error that stopped it if any,
// and the totals of all its archive events) and seals it. See Seal.
func (w *Writer) Finish(ctx context.Context, result string, runErr error) (*Sealed, error) {
	end := &endEvent{Result: result, Totals: w.Totals()}
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if err := w.write("batch_end", end); err != nil {
		return nil, err
	}
	return w.seal(ctx)
}

// seal puts the bundle into the location: log, manifest, SHA256SUMS and,
// last, its signature, then removes the journal. Each step that is already
// done (an earlier seal was interrupted) is kept as it is.
func (w *Writer) seal(ctx context.Context) (*Sealed, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	logName, manifestName, sumsName := w.name+logSuffix, w.name+manifestSuffix, w.name+sumsSuffix
	s := &Sealed{Batch: w.name, Location: w.loc.String()}
	create := w.loc.Create
	if r := w.retention; r != nil {
		rc, ok := w.loc.(retainedCreator)
		if !ok {
			return nil, fmt.Errorf("audit location %s cannot lock objects", w.loc)
		}
		until := w.now().Add(r.period())
		create = func(ctx context.Context, name string, rd io.Reader) error {
			return rc.CreateRetained(ctx, name, rd, r.Mode, until)
		}
	}
	put := func(name string, data []byte) ([]byte, error) {
		err := create(ctx, name, bytes.NewReader(data))
		if errors.Is(err, fs.ErrExist) {
			// An earlier seal got this far: keep what it wrote.
			data, err = w.loc.ReadFile(ctx, name)
		}
		if err != nil {
			return nil, fmt.Errorf("audit location %s: write %s: %w", w.loc, name, err)
		}
		s.Files = append(s.Files, name)
		return data, nil
	}
	// The journal goes to the log as a stream: a list of millions of
	// IDs makes it hundreds of MB.
	journal, err := os.Open(w.path)
	if err != nil {
		return nil, err
	}
	defer journal.Close()
	fi, err := journal.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if d, ok := w.loc.(LocalDir); ok && w.local && w.retention == nil {
		// The journal is in the directory already, synced: the log is
		// a second name of it, as the journal's own is of its first
		// file (Begin), rather than a copy. Its own name goes below.
		err = os.Link(w.path, filepath.Join(d.LocalPath(), logName))
		if err == nil {
			err = syncDir(d.LocalPath())
		}
	} else {
		err = create(ctx, logName, io.NewSectionReader(journal, 0, size))
	}
	if errors.Is(err, fs.ErrExist) {
		// An earlier seal got this far: keep what it wrote, which
		// must be the journal.
		var logData []byte
		if logData, err = w.loc.ReadFile(ctx, logName); err == nil {
			var same bool
			if same, err = sameContent(logData, journal, size); err == nil && !same {
				return nil, fmt.Errorf("audit location %s: %s exists and differs from the batch's journal", w.loc, logName)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit location %s: write %s: %w", w.loc, logName, err)
	}
	s.Files = append(s.Files, logName)
	last, err := lastLine(journal, size)
	if err != nil {
		return nil, err
	}
	prevName, prevSums, err := w.linkTo(ctx)
	if err == nil && w.key != nil {
		err = w.setTip(ctx, prevName, prevSums)
	}
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", w.loc, err)
	}
	m := Manifest{
		Format: FormatVersion, Batch: w.name, Log: logName,
		LogSHA256: hex.EncodeToString(w.log.Sum(nil)), Lines: w.seq, ChainHead: w.prev,
		DryRun: w.start.DryRun, Signed: w.key != nil, IDKey: w.start.IDKey,
		Started: w.started.Format(timeFormat), Finished: w.now().Format(timeFormat),
		Result: w.result(last), Totals: w.outcomes.total(), PrevBatch: prevName, PrevSHA256SUMS: prevSums,
		Retention: w.retention, Chain: w.chain(),
	}
	if w.witness != nil && w.key != nil {
		m.Witness = w.witness.String()
	}
	if w.key != nil {
		m.KeyFingerprint = sshsig.Fingerprint(w.key.Public().(ed25519.PublicKey))
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if manifest, err = put(manifestName, append(manifest, '\n')); err != nil {
		return nil, err
	}
	sums := sumsText(m.LogSHA256, logName, manifest, manifestName)
	sumsData, err := put(sumsName, []byte(sums))
	if err != nil {
		return nil, err
	}
	s.Head = sha256Hex(sumsData)
	if w.key != nil && w.witness != nil {
		// Before the signature: a batch with its signature is taken
		// for sealed (Journals), so its head must be witnessed by then.
		if err := w.witnessHead(ctx, manifest, s.Head); err != nil {
			return nil, err
		}
	}
	if w.key != nil {
		sig, err := sshsig.Sign(w.key, Namespace, bytes.NewReader(sumsData))
		if err != nil {
			return nil, err
		}
		if _, err := put(w.name+sigSuffix, sig); err != nil {
			return nil, err
		}
	}
	// The journal is now the log; its copies go.
	w.spool.Close()
	if !w.local {
		os.Remove(w.path)
	}
	if err := w.loc.Remove(ctx, w.name+journalSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit location %s: remove the journal: %w", w.loc, err)
	}
	return s, nil
}

// result returns the result recorded by the log's last event, last.
func (w *Writer) result(last []byte) string {
	var end struct {
		Result string `json:"result"`
	}
	json.Unmarshal(last, &end)
	return end.Result
}

// lastLine returns the last line of the first size bytes of f, without
// its newline, reading back from the end.
func lastLine(f io.ReaderAt, size int64) ([]byte, error) {
	var line []byte
	end := size
	if end > 0 {
		var b [1]byte
		if _, err := f.ReadAt(b[:], end-1); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		if b[0] == '\n' {
			end-- // the newline that ends the last line
		}
	}
	for end > 0 {
		n := min(end, 64<<10)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, end-n); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return append(buf[i+1:], line...), nil
		}
		line = append(buf, line...)
		end -= n
	}
	return line, nil
}

// sameContent reports whether data is the first size bytes of f.
func sameContent(data []byte, f io.ReaderAt, size int64) (bool, error) {
	if int64(len(data)) != size {
		return false, nil
	}
	buf := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("audit journal: %w", err)
		}
		if !bytes.Equal(buf[:n], data[off:off+n]) {
			return false, nil
		}
	}
	return true, nil
}
