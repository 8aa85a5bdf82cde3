package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/store"
)

// exportOptions are the parsed flags of export: those it shares with
// erase (the IDs, their columns, the selection, the limits on reading, the
// keys and the audit location) and where the archives go.
type exportOptions struct {
	eraseOptions
	out   string
	spool string // for an S3 --out: where the staging directory is made
	tool  audit.Tool
	// terminal is standard error as given, for the progress bar.
	terminal io.Writer
	// redact replaces the listed IDs in paths and the ticket.
	redact *ids.Redactor
}

func parseExport(args []string, stderr io.Writer) (*exportOptions, error) {
	o := &exportOptions{}
	fs := flag.NewFlagSet("scrub export", flag.ContinueOnError)
	fs.StringVar(&o.ids, "ids", "", "`FILE` of client IDs, one per line, one data subject each (- for standard input); required")
	fs.StringVar(&o.out, "out", "", "where the subjects' zip archives go: a `DIR` or s3://bucket/prefix; required")
	fs.StringVar(&o.spool, "spool", "", "with an s3:// --out: the local `DIR` where the rows and archives wait, in a hidden 0700 directory, until uploaded (a local --out holds its own); required there")
	fs.Var(&o.columns, "column", "header `NAME` of the ID column; repeat for several (default: Client ID, clientId, client_id, ClientID)")
	fs.Var(&o.include, "include", "read only archives matching `GLOB` (repeatable)")
	fs.Var(&o.exclude, "exclude", "skip archives matching `GLOB` (repeatable)")
	fs.IntVar(&o.jobs, "jobs", 0, "`N` archives read at once (default: the number of CPUs; 64 with an s3:// source, of which at most twice the number of CPUs are scanned at once, the others waiting on S3)")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress bar")
	fs.StringVar(&o.delimiter, "delimiter", "", "CSV field delimiter `CHAR`: , ; or tab (default: detected from the header)")
	fs.IntVar(&o.maxRecord, "max-record", filter.DefaultMaxRecord, "largest CSV record in `BYTES`; a longer one is an error")
	fs.Int64Var(&o.maxMember, "max-member-size", archive.DefaultMaxMemberSize, "largest uncompressed CSV stream (zip member or gzip file) in `BYTES`; a larger one fails the export (a guard against zip bombs)")
	fs.IntVar(&o.maxRatio, "max-ratio", archive.DefaultMaxRatio, "largest expansion `RATIO` of a compressed CSV stream; a larger one fails the export")
	fs.BoolVar(&o.allowUTF8, "allow-invalid-utf8", false, "read bytes that are not UTF-8 (for exports in another encoding); by default they fail the export")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint `URL` for S3-compatible stores such as MinIO (default: AWS, or $AWS_ENDPOINT_URL)")
	fs.StringVar(&o.key, "key", "", "Ed25519 signing key `FILE` for the audit bundle (default $"+envSigningKey+", which holds the key itself); required")
	fs.StringVar(&o.idKey, "id-key", "", "secret `FILE` under which client IDs are named (HMAC-SHA256) in the audit log and the archive names (default $"+envIDKey+"); required")
	fs.StringVar(&o.audit, "audit", "scrub-audit", "where the audit bundle goes: a `DIR` or s3://bucket/prefix")
	fs.StringVar(&o.ticket, "ticket", "", "request `REF` (ticket, case number) recorded in the audit log and each archive's manifest")
	fs.BoolVar(&o.takeOver, "take-over-lock", false, "take over the lock of this request in an s3:// audit location that a run on another host left (its lease ran out); only when that run is dead")
	o.anchor.register(fs)
	o.memory.register(fs)
	var err error
	if o.sources, err = parseArgs(fs, args, stderr, printExportHelp); err != nil {
		return nil, err
	}
	switch {
	case o.ids == "":
		return nil, usagef("--ids FILE is required")
	case o.out == "":
		return nil, usagef("--out DIR or s3://bucket/prefix is required")
	}
	out, err := store.Parse(o.out)
	if err != nil {
		return nil, usagef("--out %v", err)
	}
	switch {
	case out.Remote() && o.spool == "":
		return nil, usagef("--spool DIR is required with an s3:// --out: the subjects' rows wait there, in a hidden 0700 directory, until they are uploaded")
	case !out.Remote() && o.spool != "":
		return nil, usagef("--spool is for an s3:// --out; a local export stages inside --out")
	case o.spool != "":
		if sp, err := store.Parse(o.spool); err != nil || sp.Remote() {
			return nil, usagef("--spool must be a local directory")
		}
	}
	if err := o.checkReading(); err != nil {
		return nil, err
	}
	o.memory.apply() // before the ID list is read
	return o, nil
}

var printExportHelp = printFlags("Usage: scrub export --ids FILE --out DIR|s3://bucket/prefix --key FILE --id-key FILE [flags] SOURCE...\n\n"+
	"Answers access requests: copies every row of each listed ID, with the header\n"+
	"of its file, from the archives below each SOURCE into one zip archive per\n"+
	"data subject, named subject-<HMAC tag>.zip, and writes a signed audit bundle.\n"+
	"The sources are only read. Rows are matched exactly as scrub erase matches\n"+
	"them. Standard output names each ID by its line in the ID file, never in clear.\n",
	"\nAn archive that cannot be read in full fails the whole export, and no zip is\n"+
		"left at --out; an existing zip of the same name is never overwritten, unless\n"+
		"an earlier run of an export that was killed left it: that one is replaced.\n"+
		"Rows wait in a hidden 0700 directory inside --out (with an s3:// --out,\n"+
		"inside --spool DIR), removed at the end, and by the next run if killed.\n"+
		"Exit codes: 0 done, 1 failure, 2 usage error.\n",
	"scrub export --ids subject.txt --out answers --key keys/signer --id-key keys/id.key --audit scrub-audit --ticket DSAR-77 exports/")

// exportSubject is one data subject of an export: a distinct listed ID.
type exportSubject struct {
	id, tag, file string
	lines         []int // of the ID file where the ID is listed
	rows          int64
	members       int
	size          int64
	sha256        string
}

// exportManifest is the manifest.json member of a subject's archive. It
// names the subject only by its tag.
type exportManifest struct {
	Format   string               `json:"format"`
	Tag      string               `json:"id_hmac"`
	IDKey    string               `json:"id_key"`
	Ticket   string               `json:"ticket,omitempty"`
	Batch    string               `json:"audit_batch"`
	Tool     audit.Tool           `json:"tool"`
	Created  string               `json:"created"`
	Sources  []string             `json:"sources"`
	Columns  []string             `json:"id_columns"`
	Rows     int64                `json:"rows"`
	Note     string               `json:"note"`
	Members  []scrub.ExportMember `json:"members"`
	Archives []searchedArchive    `json:"archives_searched"`
}

// searchedArchive is an archive an export read, as a subject's manifest
// shows it: with the rows of that subject only.
type searchedArchive struct {
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	Format    string `json:"format"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Rows      int64  `json:"rows_scanned"`
	Subject   int64  `json:"rows_of_subject"`
}

// exportFormat names the layout of an export archive in its manifest.
const exportFormat = "scrub-export/1"

func runExport(ctx context.Context, args []string, env Env) (err error) {
	o, err := parseExport(args, env.Stderr)
	if err != nil {
		return err
	}
	lines, err := readIDLines(o.ids, env.Stdin)
	if err != nil {
		return err
	}
	key, idKey, err := loadKeys(env.Stderr, o.key, o.idKey, false, "an export", "the data subjects in its audit log and archives")
	if err != nil {
		return err
	}
	if err := o.checkPlaces(); err != nil {
		return err
	}
	subjects, set, err := exportSubjects(lines, idKey)
	if err != nil {
		return err
	}
	// A listed ID in a path, the ticket or the ID file's name is recorded
	// and printed by a short form of its tag.
	red := set.Redactor(idKey.Tag)
	o.redact = red
	o.terminal = env.Stderr // the progress bar, which names no archive, draws on it as it is
	env, done := redacted(env, red)
	defer func() {
		if ferr := done(); err == nil {
			err = ferr
		}
		err = redactErr(red, err)
	}()
	// The sources are only read: objects under object lock can be.
	op := o.opener(env, true)
	dest, err := openFiles(ctx, op, "--out", o.out)
	if err != nil {
		return err
	}
	// The staging of runs that were killed, and what they left in
	// --out: files proven theirs are replaced, not refused.
	parent := o.spool
	if l, ok := dest.(localDir); ok {
		parent = l.LocalPath()
	}
	stale, err := o.staleStaging(parent, dest)
	if err != nil {
		return err
	}
	defer func() {
		for _, st := range stale {
			st.Unlock() // kept if this run is refused or fails before replacePartial
		}
	}()
	// An earlier export's archives are never overwritten: refuse before
	// reading anything. (CreateFile refuses too, should one appear
	// meanwhile.)
	existing, err := dest.List(ctx)
	if err != nil {
		return fmt.Errorf("--out %s: %w", dest, err)
	}
	partial, err := leftByKilledRun(ctx, dest, existing, stale, subjects)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		if slices.Contains(existing, s.file) && !slices.Contains(partial, s.file) {
			return fmt.Errorf("%s:%d: %s exists in %s and is not what an interrupted export left (an earlier export?); export never overwrites: move it away or choose another --out",
				lines[0].file, s.lines[0], s.file, dest)
		}
	}
	sources, err := openSources(ctx, op, o.sources)
	if err != nil {
		return err
	}
	loc, err := openFiles(ctx, op, "audit location", o.audit)
	if err != nil {
		return err
	}
	o.tool = audit.Tool{Name: "scrub", Version: env.Version, Commit: env.Commit, Go: runtime.Version()}
	cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: env.Version, Commit: env.Commit, Ticket: o.ticket, Stderr: env.Stderr, TakeOverLock: o.takeOver, Redact: red.Bytes}
	if err := o.anchor.apply(ctx, op, o.audit, &cfg); err != nil {
		return err
	}
	b, err := batch.Begin(ctx, o.request(), batch.IDs{N: len(subjects), Each: func(_ *audit.IDKey, fn func(id, tag string)) {
		for _, s := range subjects {
			fn(s.id, s.tag)
		}
	}}, cfg)
	if err != nil {
		return err
	}
	err = o.replacePartial(ctx, b, dest, partial, stale, subjects)
	var staging *scrub.Staging
	if err == nil {
		staging, err = scrub.NewStaging(parent, dest.String())
	}
	if err == nil {
		err = o.export(ctx, env, b, idKey, dest, staging, sources, set, subjects)
	}
	sealed, sealErr := b.Seal(ctx, err)
	var stageErr error
	if staging != nil {
		// Only now: killed before the seal, the run's archives in --out
		// are proven its own by what is staged here. The staged
		// archives go first, so that a run killed from here on leaves
		// nothing that proves a sealed export's archives partial. What is
		// left holds the subjects' rows: a failure to remove it fails
		// the run.
		for _, s := range subjects {
			os.Remove(staging.Path(s.file))
		}
		if cerr := staging.Close(); cerr != nil {
			stageErr = fmt.Errorf("remove the staging directory %s, which holds the subjects' rows: %w", staging.Dir, cerr)
		}
	}
	if sealErr == nil {
		printSealed(env.Stderr, sealed, loc, key, "")
	}
	if err != nil {
		return errors.Join(err, sealErr, stageErr)
	}
	for _, s := range subjects {
		what := "no rows found"
		if s.rows > 0 {
			what = fmt.Sprintf("%d rows in %d files", s.rows, s.members)
		}
		for _, l := range s.lines {
			fmt.Fprintf(env.Stdout, "%s:%d  %s  %s\n", lines[0].file, l, s.file, what)
		}
	}
	return errors.Join(sealErr, stageErr)
}

// checkPlaces refuses an output or audit directory that overlaps a local
// source (its files would be read as archives, and a later erasure would
// rewrite the subjects' archives), and output that goes to the audit
// location, which holds no clear ID.
func (o *exportOptions) checkPlaces() error {
	if err := checkApart(o.audit, o.sources, "the audit directory %s and the source %s overlap; keep the audit log outside the data"); err != nil {
		return err
	}
	if err := checkApart(o.out, append([]string{o.audit}, o.sources...), "--out %s and %s overlap; keep the exports apart from the data and the audit log"); err != nil {
		return err
	}
	if o.spool == "" {
		return nil
	}
	return checkApart(o.spool, append([]string{o.audit}, o.sources...), "--spool %s and %s overlap; keep the exported rows apart from the data and the audit log")
}

// staleStaging returns the staging directories in parent that killed
// exports to dest left, locked: in a local --out, all; in a --spool DIR,
// which other outputs may share, those made for dest, and one that does
// not say its output (killed as it was made), which has put nothing
// anywhere.
func (o *exportOptions) staleStaging(parent string, dest store.Files) ([]*scrub.Staging, error) {
	all, err := scrub.StaleStaging(parent)
	if err != nil {
		return nil, err
	}
	_, local := dest.(localDir)
	var ours []*scrub.Staging
	for _, st := range all {
		if local || st.Owner == dest.String() || st.Owner == "" {
			ours = append(ours, st)
		} else {
			st.Unlock()
		}
	}
	return ours, nil
}

// localDir is a store.Files that is a local directory.
type localDir interface{ LocalPath() string }

// leftByKilledRun returns the names of this run's subjects' archives in
// --out that an export killed before its end left there: those a stale
// staging directory holds with the same content (locally the very file,
// which was linked into place from it). Nothing else in --out is ever
// taken for scrub's, and the archives of other subjects are left alone
// (the killed run may have been killed after it was sealed, while it
// removed its staging).
func leftByKilledRun(ctx context.Context, dest store.Files, existing []string, stale []*scrub.Staging, subjects []*exportSubject) ([]string, error) {
	mine := map[string]bool{}
	for _, s := range subjects {
		mine[s.file] = true
	}
	var ours []string
	for _, name := range existing {
		if !exportFileName(name) || !mine[name] {
			continue
		}
		for _, st := range stale {
			same, err := sameFile(ctx, dest, name, st.Path(name))
			if err != nil {
				return nil, fmt.Errorf("%s in %s: %w", name, dest, err)
			}
			if same {
				ours = append(ours, name)
				break
			}
		}
	}
	return ours, nil
}

// exportFileName reports whether name is that of a subject's archive.
func exportFileName(name string) bool {
	return strings.HasPrefix(name, "subject-") && strings.HasSuffix(name, ".zip")
}

// sameFile reports whether the file name in dest is the one staged, or has
// the same bytes. A staged file that is missing is not the same.
func sameFile(ctx context.Context, dest store.Files, name, staged string) (bool, error) {
	sfi, err := os.Lstat(staged)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !sfi.Mode().IsRegular() {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if l, ok := dest.(localDir); ok {
		fi, err := os.Lstat(filepath.Join(l.LocalPath(), name))
		if err != nil {
			return false, err
		}
		return os.SameFile(fi, sfi), nil
	}
	data, err := dest.ReadFile(ctx, name)
	if err != nil || int64(len(data)) != sfi.Size() {
		return false, err
	}
	staging, err := os.ReadFile(staged)
	if err != nil {
		return false, err
	}
	return bytes.Equal(data, staging), nil
}

// replacePartial removes from --out, and logs, the archives a killed run
// left there, then the stale staging directories. What is removed is
// written anew by this run (for the subjects it lists).
func (o *exportOptions) replacePartial(ctx context.Context, log *batch.Batch, dest store.Files, partial []string,
	stale []*scrub.Staging, subjects []*exportSubject) error {
	tags := map[string]string{}
	for _, s := range subjects {
		tags[s.file] = s.tag
	}
	for _, name := range partial {
		if err := dest.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s, left by an interrupted export: %w", name, err)
		}
		err := log.Event(audit.EventExportFileRemoved, audit.ExportFileRemoved{File: name, Tag: tags[name], Location: dest.String(),
			Reason: "left by an interrupted run of an export; replaced by this one"})
		if err != nil {
			return err
		}
	}
	for _, st := range stale {
		if err := st.Close(); err != nil {
			return fmt.Errorf("remove the stale staging directory %s: %w", st.Dir, err)
		}
	}
	return nil
}

// exportSubjects groups the listed IDs into subjects, in the order of
// their first line, and names each one's archive by its tag.
func exportSubjects(lines []idLine, idKey *audit.IDKey) ([]*exportSubject, *ids.Set, error) {
	var subjects []*exportSubject
	byID := map[string]*exportSubject{}
	byFile := map[string]*exportSubject{}
	var list []string
	for _, l := range lines {
		if s := byID[l.id]; s != nil {
			s.lines = append(s.lines, l.line)
			continue
		}
		tag := idKey.Tag([]byte(l.id))
		s := &exportSubject{id: l.id, tag: tag, file: "subject-" + tag[:16] + ".zip", lines: []int{l.line}}
		if other := byFile[s.file]; other != nil {
			// 64 bits of a keyed hash: not in this universe, but never
			// two subjects in one archive.
			return nil, nil, fmt.Errorf("%s:%d and line %d: the archive names of two IDs collide (%s)", l.file, l.line, other.lines[0], s.file)
		}
		byID[l.id], byFile[s.file] = s, s
		subjects = append(subjects, s)
		list = append(list, l.id)
	}
	return subjects, ids.New(list...), nil
}

// request is the export's typed request, from the flags.
func (o *exportOptions) request() *batch.Request {
	r := o.eraseOptions.request(batch.Export)
	r.Out = o.out
	return r
}

// export reads the sources into a spool, then writes each subject's
// archive to dest. If any archive cannot be written, those written before
// it are removed again: an export leaves all its archives or none.
func (o *exportOptions) export(ctx context.Context, env Env, log *batch.Batch, idKey *audit.IDKey, dest store.Files, staging *scrub.Staging,
	sources []scrub.Source, set *ids.Set, subjects []*exportSubject) error {
	delim, _ := o.delim()
	prog := newProgress(o.terminal, !o.noProgress)
	opt := scrub.ExportOptions{
		Filter: &filter.Filter{IDs: set, Columns: o.columns, Delimiter: delim, MaxRecord: o.maxRecord,
			AllowInvalidUTF8: o.allowUTF8},
		Archive: archive.Options{MaxMemberSize: o.maxMember, MaxRatio: o.maxRatio},
		Include: o.include, Exclude: o.exclude, Jobs: o.jobs, Progress: prog, Tag: idKey.Tag,
		SpoolDir: staging.Dir, Redact: o.redact.String,
	}
	log.Export(&opt)
	fmt.Fprintf(env.Stderr, "scrub: exporting the rows of %d IDs (the sources are only read)\n", len(subjects))
	ex, err := scrub.Export(ctx, opt, sources)
	prog.Finish()
	if err != nil {
		return err
	}
	defer ex.Close()
	var rows, scanned int64
	for _, a := range ex.Archives {
		for _, m := range a.MembersNotScanned {
			what := quoteName(a.Key)
			if m.Name != "" || a.Format == "zip" {
				what += ": member " + quoteName(m.Name)
			}
			fmt.Fprintf(env.Stderr, "%-11s %s %s (nothing of it is exported)\n", "not-scanned", what, oneLine(m.Reason))
		}
		rows += a.Exported
		scanned += a.Rows
	}
	fmt.Fprintf(env.Stderr, "scrub: %d archives read, %d rows, %d of them of listed IDs\n", len(ex.Archives), scanned, rows)
	now := time.Now().UTC()
	var written []*exportSubject
	for _, s := range subjects {
		err := o.writeSubject(ctx, log, idKey, dest, staging, ex, s, now)
		if err == nil {
			written = append(written, s)
			continue
		}
		for _, w := range written {
			rerr := dest.Remove(context.WithoutCancel(ctx), w.file)
			if rerr == nil {
				rerr = log.Event(audit.EventExportFileRemoved, audit.ExportFileRemoved{File: w.file, Tag: w.tag, Location: dest.String(),
					Reason: "a later archive of the export failed"})
			}
			if rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove %s again: %w", w.file, rerr))
			}
		}
		return err
	}
	fmt.Fprintf(env.Stderr, "scrub: %d archives written to %s\n", len(subjects), dest)
	return nil
}

// writeSubject builds one subject's archive in the staging directory
// (mode 0600), checks it by reading it back, creates it at dest and logs
// it. Locally it is linked into place from there, on S3 uploaded; the
// staged file stays until the run ends, the proof that the archive in
// --out is this run's should it be killed.
func (o *exportOptions) writeSubject(ctx context.Context, log *batch.Batch, idKey *audit.IDKey, dest store.Files,
	staging *scrub.Staging, ex *scrub.Extraction, s *exportSubject, now time.Time) error {
	tmp, err := os.OpenFile(staging.Path(s.file), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", s.file, err)
	}
	defer tmp.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 256<<10)
	members, err := ex.WriteZip(bw, s.id, now, func(members []scrub.ExportMember) ([]byte, error) {
		return json.MarshalIndent(o.manifest(log, idKey, ex, s, members, now), "", "  ")
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.file, err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if err := checkZip(tmp, size, len(members)+1); err != nil {
		return fmt.Errorf("%s: read back: %w", s.file, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.size, s.sha256, s.members = size, hex.EncodeToString(h.Sum(nil)), len(members)
	for _, m := range members {
		s.rows += m.Rows
	}
	if err := place(ctx, dest, s.file, tmp, size); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared in %s meanwhile; export never overwrites: %w", s.file, dest, err)
		}
		return fmt.Errorf("write %s: %w", s.file, err)
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	return log.Event(audit.EventExportFile, audit.ExportFile{Tag: s.tag, File: s.file, Location: dest.String(), Size: size,
		SHA256: s.sha256, Rows: s.rows, Members: names})
}

// place creates name at dest from the staged file f of size bytes, never
// over an existing file: locally by syncing f and linking it into place,
// then syncing the directory; elsewhere by CreateFile.
func place(ctx context.Context, dest store.Files, name string, f *os.File, size int64) error {
	l, ok := dest.(localDir)
	if !ok {
		return dest.CreateFile(ctx, name, f, size, "application/zip")
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), filepath.Join(l.LocalPath(), name)); err != nil {
		return err
	}
	d, err := os.Open(l.LocalPath())
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// manifest describes a subject's archive: what was searched, and what was
// found, with no clear ID and nothing of other subjects.
func (o *exportOptions) manifest(log *batch.Batch, idKey *audit.IDKey, ex *scrub.Extraction, s *exportSubject, members []scrub.ExportMember, now time.Time) exportManifest {
	perArchive := map[string]int64{}
	var rows int64
	for _, m := range members {
		perArchive[m.Archive] += m.Rows
		rows += m.Rows
	}
	// Another listed subject's ID in a path or the ticket must not reach
	// this one: those are redacted as in the audit log.
	sources := make([]string, len(o.sources))
	for i, src := range o.sources {
		sources[i] = o.redact.String(src)
	}
	m := exportManifest{
		Format: exportFormat, Tag: s.tag, IDKey: idKey.ID(), Ticket: o.redact.String(o.ticket), Batch: log.Name(),
		Tool: o.tool, Created: now.Format(time.RFC3339),
		Sources: sources, Columns: o.columns, Rows: rows, Members: members, Archives: []searchedArchive{},
	}
	if m.Columns == nil {
		m.Columns = filter.DefaultColumns
	}
	if rows == 0 {
		m.Note = "No row of this data subject was found in the archives searched."
	} else {
		m.Note = "Each CSV file holds every row of this data subject found in one file of the archives searched, after that file's header, byte for byte as stored."
	}
	for _, a := range ex.Archives {
		m.Archives = append(m.Archives, searchedArchive{Key: o.redact.String(a.Key), VersionID: a.VersionID, Format: a.Format, Size: a.Size,
			SHA256: a.SHA256, Rows: a.Rows, Subject: perArchive[o.redact.String(a.Key)]}) // as the members name it
	}
	return m
}

// checkZip reads a written archive back: its directory, and every member
// to the end, which checks its CRC.
func checkZip(r io.ReaderAt, size int64, members int) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return err
	}
	if len(zr.File) != members {
		return fmt.Errorf("%d members, want %d", len(zr.File), members)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}
