package scrub

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
)

// ExportOptions configure an export: a pass over the archives of one or
// more stores that only reads them (List and Open, never Stage, Replace or
// Purge) and collects, for every listed ID, the records that an erasure
// with the same filter would remove.
type ExportOptions struct {
	Filter  *filter.Filter
	Archive archive.Options
	// Include, Exclude and Select choose the archives as in Options.
	Include, Exclude []string
	Select           func(Object) bool
	Jobs             int // concurrent archives; 0 as in Options
	Progress         Progress
	// SpoolDir is where the records wait, in a directory of their own
	// (mode 0700), until the archives are built: a Staging's Dir, so that
	// they are never left where the user did not choose. It is required;
	// there is no default (os.TempDir would outlive a killed run).
	SpoolDir string
	// Tag, if set, names the listed IDs found in each archive
	// (ScannedArchive.Tags).
	Tag func(id []byte) string
	// Redact, if set, rewrites the source paths that go into the export
	// archives (member names, the archive each came from), so that
	// another listed subject's ID in a path (exports/client=ID/...) does
	// not reach this subject.
	Redact func(string) string
	// Listed, if set, is told the archives' keys before any is read; Scanned
	// each archive's outcome as soon as it is read, from its worker. An
	// error from either stops the export.
	Listed  func(keys []string) error
	Scanned func(ScannedArchive) error
}

// ScannedArchive is what an export read of one archive.
type ScannedArchive struct {
	Source    string `json:"source"` // the SOURCE it was listed under, as given
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	Format    string `json:"format,omitempty"`
	Size      int64  `json:"size"`
	// SHA256 is the SHA-256 of the archive as it was read.
	SHA256 string `json:"sha256,omitempty"`
	// Streams counts the CSV streams read; Rows their data records, and
	// Exported those that hold a listed ID.
	Streams  int      `json:"csv_streams"`
	Rows     int64    `json:"rows_scanned"`
	Exported int64    `json:"rows_exported"`
	Tags     []string `json:"id_hmacs,omitempty"`
	// MembersNotScanned names the streams not read as CSV (no table with
	// an ID column), with the reason: nothing of them is exported.
	MembersNotScanned []MemberNote `json:"members_not_scanned,omitempty"`
	Error             string       `json:"error,omitempty"`
}

// ExportMember is one CSV file of a data subject's export: the header and
// the subject's records of one CSV stream of a source archive.
type ExportMember struct {
	Name    string `json:"name"`             // in the export archive
	Archive string `json:"archive"`          // the source archive's key
	Stream  string `json:"stream,omitempty"` // the zip member (or gzip name) it came from
	Rows    int64  `json:"rows"`
	Size    int64  `json:"size"`             // bytes
	SHA256  string `json:"sha256,omitempty"` // set by WriteZip
}

// Extraction is the outcome of an export's reading: the archives read, and
// the records of each listed ID that was found, spooled to temporary files
// until WriteZip packs them. Close removes the spool.
type Extraction struct {
	Archives []ScannedArchive // sorted by key
	dir      string
	subjects map[string][]*spooled // by clear ID
}

// spooled is the records of one ID from one CSV stream.
type spooled struct {
	ExportMember
	archive, stream int // indexes of the job and of the stream in its archive
	file            string
}

// spool collects the records of a running export.
type spool struct {
	dir      string
	mu       sync.Mutex
	subjects map[string][]*spooled
	files    int
}

// add starts the spool file of id's records from one stream.
func (sp *spool) add(id string, archive, stream int, name string) *spooled {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.files++
	s := &spooled{archive: archive, stream: stream, file: filepath.Join(sp.dir, strconv.Itoa(sp.files)+".csv")}
	s.Stream = name
	sp.subjects[id] = append(sp.subjects[id], s)
	return s
}

// spoolBuffer bounds the records one worker holds in memory before it
// appends them to their spool files.
const spoolBuffer = 4 << 20

// streamSpool takes the records of one CSV stream. A stream's records of
// one ID go to one file, in order; they are buffered and appended in
// batches, and a file is open only while it is appended to, so that an
// export of many IDs needs neither much memory nor many descriptors.
type streamSpool struct {
	sp              *spool
	archive, stream int
	name            string
	pending         map[string]*pendingRows
	buffered        int
	found           map[string]bool // the IDs found in the archive
}

type pendingRows struct {
	s   *spooled
	buf []byte
}

func (w *streamSpool) add(id, header, record []byte) error {
	p := w.pending[string(id)]
	if p == nil {
		s := w.sp.add(string(id), w.archive, w.stream, w.name)
		p = &pendingRows{s: s, buf: append([]byte(nil), header...)}
		w.pending[string(id)] = p
		w.found[string(id)] = true
		w.buffered += len(header)
	}
	p.buf = append(p.buf, record...)
	p.s.Rows++
	w.buffered += len(record)
	if w.buffered >= spoolBuffer {
		return w.flush()
	}
	return nil
}

// flush appends what is buffered to the spool files.
func (w *streamSpool) flush() error {
	for _, p := range w.pending {
		if len(p.buf) == 0 {
			continue
		}
		f, err := os.OpenFile(p.s.file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		_, err = f.Write(p.buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		p.s.Size += int64(len(p.buf))
		p.buf = nil // a large buffer is not kept for an ID that may not come back
	}
	w.buffered = 0
	return nil
}

// Export reads every selected archive of the sources and spools the
// records of each listed ID. Any archive that cannot be read in full stops
// the export with an error that names it: an answer to an access request
// must cover everything. Nothing in the sources is changed.
func Export(ctx context.Context, opt ExportOptions, sources []Source) (*Extraction, error) {
	p, err := list(ctx, sources, selection{include: opt.Include, exclude: opt.Exclude, selects: opt.Select}, opt.Progress)
	if err != nil {
		return nil, err
	}
	if len(p.jobs) == 0 {
		return nil, ErrNoArchives
	}
	if opt.Listed != nil {
		if err := opt.Listed(p.keys()); err != nil {
			return nil, err
		}
	}
	if opt.SpoolDir == "" {
		return nil, errors.New("spool: no spool directory")
	}
	dir, err := os.MkdirTemp(opt.SpoolDir, "spool-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	ex := &Extraction{Archives: make([]ScannedArchive, len(p.jobs)), dir: dir}
	sp := &spool{dir: dir, subjects: map[string][]*spooled{}}
	if opt.Progress != nil {
		opt.Progress.Start(len(p.jobs), p.bytes)
	}
	jobs := cmp.Or(opt.Jobs, defaultJobs(sources))
	exp := &exporter{opt, make(slots, workSlots(sources, jobs))}
	err = p.run(ctx, jobs, sources, func(ctx context.Context, i int, j job) error {
		mctx, m := withMeter(ctx, opt.Progress)
		res, err := exp.scan(mctx, sp, i, j.store, j.obj)
		res.Source = sources[j.source].Name
		ex.Archives[i] = res
		if opt.Progress != nil {
			m.done(j.obj.Size)
			opt.Progress.Done(j.obj)
		}
		if opt.Scanned != nil {
			if serr := opt.Scanned(res); serr != nil {
				return errors.Join(err, fmt.Errorf("audit record of %s: %w", j.obj.Key, serr))
			}
		}
		return err
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ex.subjects = sp.subjects
	rels := make([]string, len(p.jobs))
	srcs := make([]int, len(p.jobs))
	for i, j := range p.jobs {
		rels[i], srcs[i] = j.obj.Rel, j.source
	}
	ex.name(sources, srcs, rels, opt.Redact)
	return ex, nil
}

// exporter is one run of an export.
type exporter struct {
	ExportOptions
	work slots // bounds the archives scanned at once
}

// scan reads one archive into the spool. Its error names the archive.
func (o *exporter) scan(ctx context.Context, sp *spool, i int, st Store, obj Object) (ScannedArchive, error) {
	res := ScannedArchive{Key: obj.Key, Size: obj.Size}
	found := map[string]bool{}
	err := st.Open(ctx, obj, func(c Content) error {
		release, err := o.work.take(ctx)
		defer release()
		if err != nil {
			return err
		}
		res.Size = c.Size()
		if v, ok := c.(Versioned); ok {
			res.VersionID = v.VersionID()
		}
		src := newPrefixHash(c)
		src.meter = meterOf(ctx)
		stream := 0
		rep, err := archive.ScanFunc(src, c.Size(), o.Archive, func(name string, r io.Reader) (filter.Stats, bool, error) {
			w := &streamSpool{sp: sp, archive: i, stream: stream, name: name, pending: map[string]*pendingRows{}, found: found}
			stream++
			st, err := o.Filter.Extract(ctxReader{ctx, r}, w.add)
			if err == nil {
				err = w.flush()
			}
			return st, false, err
		})
		if rep != nil {
			res.Format, res.Streams, res.Rows, res.Exported = rep.Format.String(), len(rep.Members)-rep.Carried(), rep.Rows(), rep.Removed()
			res.MembersNotScanned = memberNotes(rep)
		}
		if err != nil {
			return err
		}
		res.SHA256, err = src.sum(c.Size())
		return err
	})
	if err != nil {
		res.Error = err.Error()
		return res, fmt.Errorf("%s: %w", obj.Key, err)
	}
	if o.Tag != nil {
		for id := range found {
			res.Tags = append(res.Tags, o.Tag([]byte(id)))
		}
		slices.Sort(res.Tags)
	}
	return res, nil
}

// ctxReader stops a read when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// ManifestName is the name of the manifest member of an export archive;
// no CSV member is given it.
const ManifestName = "manifest.json"

// name gives every spooled stream its name in the export archives: the
// source archive's path below its SOURCE, followed for a zip by the
// member's name, or without its .gz for a gzip file, and with .csv added
// to a CSV stream named otherwise. With several SOURCEs,
// the path starts with the SOURCE's base name. Names are the same in
// every subject's archive; a name taken twice gets "~2", "~3"... before
// its extension.
func (ex *Extraction) name(sources []Source, srcs []int, rels []string, redact func(string) string) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	labels := sourceLabels(sources)
	var all []*spooled
	for _, list := range ex.subjects {
		all = append(all, list...)
	}
	slices.SortFunc(all, func(a, b *spooled) int {
		return cmp.Or(cmp.Compare(a.archive, b.archive), cmp.Compare(a.stream, b.stream))
	})
	type streamID struct{ archive, stream int }
	names := map[streamID]string{}
	used := map[string]bool{ManifestName: true}
	for _, s := range all {
		id := streamID{s.archive, s.stream}
		if n, ok := names[id]; ok {
			s.Name = n
			continue
		}
		a := ex.Archives[s.archive]
		n := rels[s.archive]
		switch a.Format {
		case "zip":
			n += "/" + s.Stream
		case "gzip":
			if ext := path.Ext(n); strings.EqualFold(ext, ".gz") || strings.EqualFold(ext, ".gzip") {
				n = strings.TrimSuffix(n, ext)
			}
			fallthrough
		default:
			if !archive.IsCSVName(n) {
				n += ".csv" // a file named for another format, told apart by its content
			}
		}
		if len(sources) > 1 {
			n = labels[srcs[s.archive]] + "/" + n
		}
		n = redact(n)
		base := n
		for k := 2; used[n]; k++ {
			ext := path.Ext(base)
			n = strings.TrimSuffix(base, ext) + "~" + strconv.Itoa(k) + ext
		}
		used[n], names[id] = true, n
		s.Name = n
	}
	for _, s := range all {
		s.Archive = redact(ex.Archives[s.archive].Key)
		s.Stream = redact(s.Stream) // a zip member's or gzip header's name: after the names above
	}
}

// sourceLabels names each SOURCE by its label (its last path element, as
// package store gives it, or else of its name), made unique with "-2",
// "-3"...
func sourceLabels(sources []Source) []string {
	labels := make([]string, len(sources))
	used := map[string]bool{}
	for i, s := range sources {
		n := s.Label
		if n == "" {
			n = path.Base(filepath.ToSlash(strings.TrimRight(s.Name, "/")))
		}
		if n == "." || n == "/" || n == "" {
			n = "source"
		}
		base := n
		for k := 2; used[n]; k++ {
			n = base + "-" + strconv.Itoa(k)
		}
		used[n], labels[i] = true, n
	}
	return labels
}

// Found reports how many records of id were found, and in how many
// streams.
func (ex *Extraction) Found(id string) (rows int64, members int) {
	for _, s := range ex.subjects[id] {
		rows += s.Rows
	}
	return rows, len(ex.subjects[id])
}

// WriteZip writes the export archive of one ID to w: a CSV member for each
// stream that held its records, sorted by name, each the stream's header
// and the ID's records byte for byte, then the manifest member, which
// manifest makes from the CSV members (with their sizes and SHA-256). An
// ID without records gets an archive with the manifest alone. modified is
// the members' modification time.
func (ex *Extraction) WriteZip(w io.Writer, id string, modified time.Time, manifest func([]ExportMember) ([]byte, error)) ([]ExportMember, error) {
	list := slices.Clone(ex.subjects[id])
	slices.SortFunc(list, func(a, b *spooled) int { return strings.Compare(a.Name, b.Name) })
	zw := zip.NewWriter(w)
	members := make([]ExportMember, 0, len(list))
	for _, s := range list {
		m := s.ExportMember
		h := sha256.New()
		f, err := os.Open(s.file)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: m.Name, Method: zip.Deflate, Modified: modified})
		if err == nil {
			m.Size, err = io.Copy(io.MultiWriter(fw, h), f)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if m.Size != s.Size {
			return nil, fmt.Errorf("%s: spooled %d bytes, read back %d", m.Name, s.Size, m.Size)
		}
		m.SHA256 = hex.EncodeToString(h.Sum(nil))
		members = append(members, m)
	}
	data, err := manifest(members)
	if err != nil {
		return nil, err
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: ManifestName, Method: zip.Deflate, Modified: modified})
	if err == nil {
		_, err = fw.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	return members, nil
}

// Dir returns the spool directory, where temporary files of the export
// belong.
func (ex *Extraction) Dir() string { return ex.dir }

// Close removes the spool.
func (ex *Extraction) Close() error { return os.RemoveAll(ex.dir) }

// StagingPrefix begins the name of an export's staging directory. Only
// directories of this name are ever removed as stale.
const StagingPrefix = ".scrub-export-staging-"

// Staging is the hidden directory, mode 0700, in which an export keeps
// everything that holds the rows it exports until they are in place: the
// spool (ExportOptions.SpoolDir) and each subject's archive as built. It
// is made inside the output directory, or for output to object storage in
// a local directory the user names, never in os.TempDir, so that a killed
// run leaves the subjects' rows nowhere else. The run holds an exclusive
// flock(2) on the directory while it lives; a staging directory whose lock
// can be taken is stale: its run is gone.
type Staging struct {
	Dir string
	// Owner names what the staging directory is for (the output
	// location), so that one parent can serve several; "" if a run was
	// killed before it was recorded.
	Owner string
	lock  *os.File
}

// ownerFile is the file in a staging directory that holds its Owner.
const ownerFile = "owner"

// NewStaging makes a staging directory for owner in parent, creating
// parent (mode 0700) if it is missing, and locks it.
func NewStaging(parent, owner string) (*Staging, error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	// Made and locked under another name, then renamed: another run
	// never finds it unlocked, which would take it for a killed run's.
	tmp, err := os.MkdirTemp(parent, ".scrub-export-new-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	lock, err := lockDir(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("staging: %w", err)
	}
	dir := filepath.Join(parent, StagingPrefix+strings.TrimPrefix(filepath.Base(tmp), ".scrub-export-new-"))
	if err := os.Rename(tmp, dir); err != nil {
		lock.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("staging: %w", err)
	}
	st := &Staging{Dir: dir, Owner: owner, lock: lock}
	if err := os.WriteFile(st.Path(ownerFile), []byte(owner), 0o600); err != nil {
		st.Close()
		return nil, fmt.Errorf("staging: %w", err)
	}
	return st, nil
}

// Unlock lets go of the staging directory and leaves it as it is.
func (st *Staging) Unlock() error { return st.lock.Close() }

// Path returns the path of a file in the staging directory.
func (st *Staging) Path(name string) string { return filepath.Join(st.Dir, name) }

// Close removes the staging directory and everything in it, then lets go
// of its lock.
func (st *Staging) Close() error {
	err := os.RemoveAll(st.Dir)
	if cerr := st.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// StaleStaging finds the staging directories in parent that runs killed
// before they ended left behind, and locks them, so that no other run
// takes them meanwhile; Close removes them, Unlock leaves them. A staging directory that
// another run holds is left alone, and so is every entry not named with
// StagingPrefix or not a directory. A missing parent has none.
func StaleStaging(parent string) ([]*Staging, error) {
	ents, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	var stale []*Staging
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), StagingPrefix) { // IsDir: not through a symlink
			continue
		}
		dir := filepath.Join(parent, e.Name())
		lock, err := lockDir(dir)
		if errors.Is(err, errLocked) {
			continue // a live run's
		}
		if err != nil {
			for _, s := range stale {
				s.lock.Close()
			}
			return nil, fmt.Errorf("staging: %w", err)
		}
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			lock.Close()
			for _, s := range stale {
				s.lock.Close()
			}
			return nil, fmt.Errorf("staging: %w", err)
		}
		stale = append(stale, &Staging{Dir: dir, Owner: string(owner), lock: lock})
	}
	return stale, nil
}

var errLocked = errors.New("locked by another run")

// lockDir takes an exclusive flock(2) on a directory, without waiting: a
// lock held elsewhere is errLocked. The lock lasts until the returned file
// is closed, or its process ends however it ends.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("%s: %w", dir, errLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}
