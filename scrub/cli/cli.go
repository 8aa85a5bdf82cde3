// Package cli is scrub's command line: it parses arguments into validated
// options, wires the stores, filter and engine, and writes results. main
// only maps the returned error to an exit code.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/datamap"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/store"
)

// Env is what a run sees of the process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Version        string
	Commit         string // VCS revision of the build, if known
	// Now, if set, is the clock (tests fix it); time.Now otherwise.
	Now func() time.Time
}

// now reads env's clock.
func (env Env) now() time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// UsageError is a mistake in the command line or its inputs (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// ErrHelp is returned after help was printed on request.
var ErrHelp = flag.ErrHelp

const usage = `scrub removes the rows of listed client IDs from exported CSV archives.

Usage:
  scrub erase --ids FILE --key FILE --id-key FILE [--block --blocklist LOC] [flags] SOURCE...
  scrub erase --older-than AGE [--ids FILE] --key FILE --id-key FILE [flags] SOURCE...
  scrub sweep --blocklist LOC --key FILE --id-key FILE [--blocklist-signers FILE] [flags] SOURCE...
  scrub unblock --ids FILE --blocklist LOC --key FILE --id-key FILE [--blocklist-signers FILE]
  scrub unblock --adopt-unsigned --blocklist LOC --key FILE --id-key FILE
  scrub queue add --queue LOC --ids FILE --ticket REF [--type TYPE] [--received DATE] [--due DATE] --key FILE --id-key FILE
  scrub queue list --queue LOC [--json] (--key FILE | --queue-signers FILE)
  scrub queue run --queue LOC --key FILE --id-key FILE [flags] SOURCE...
  scrub queue verify --queue LOC (--key FILE | --queue-signers FILE) [--audit LOC]
  scrub export --ids FILE --out DIR|s3://... [--spool DIR] --key FILE --id-key FILE [flags] SOURCE...
  scrub keygen --out NAME [--id-key FILE]
  scrub verify [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] LOCATION
  scrub audit lookup --id-key FILE --ids FILE [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] [--id-transform SPEC] LOCATION
  scrub audit report --out FILE [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] LOCATION
  scrub erase --map FILE --ids TYPE=FILE [--ids TYPE=FILE...] --key FILE --id-key FILE [flags]
  scrub map check [--sample N] FILE
  scrub completion bash|zsh|fish
  scrub man
  scrub version

SOURCE is a directory (walked recursively), an archive file or an
s3://bucket/prefix. Archives are plain CSV, gzip or zip, told apart by their
content. Every run writes a signed audit bundle (--audit, default ./scrub-audit)
that scrub verify, or ssh-keygen and sha256sum, can check.

Run 'scrub COMMAND --help' for the flags of a command.

Exit codes: 0 done, 1 failure, 2 usage error, 3 partial (some archives failed,
the rest done), 4 verify, audit lookup and audit report without a trusted
signer: the bundles are consistent, but who signed them was not checked,
5 queue list: a pending request is overdue.
`

// Run runs the command line args.
func Run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return usagef("no command")
	}
	switch args[0] {
	case "erase":
		return runErase(ctx, args[1:], env)
	case "sweep":
		return runSweep(ctx, args[1:], env)
	case "unblock":
		return runUnblock(ctx, args[1:], env)
	case "queue":
		return runQueue(ctx, args[1:], env)
	case "export":
		return runExport(ctx, args[1:], env)
	case "keygen":
		return runKeygen(args[1:], env)
	case "verify":
		return runVerify(ctx, args[1:], env)
	case "audit":
		return runAudit(ctx, args[1:], env)
	case "map":
		return runMap(ctx, args[1:], env)
	case "index":
		return runIndex(ctx, args[1:], env)
	case "completion":
		return runCompletion(args[1:], env)
	case "man":
		return runMan(args[1:], env)
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "scrub %s\n", env.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprint(env.Stderr, usage)
	return usagef("unknown command %q", args[0])
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// eraseOptions are the parsed flags of erase.
type eraseOptions struct {
	ids          string
	idsTyped     []string // every --ids, for --map
	mapFile      string   // --map
	mapRetention bool     // --retention
	dmap         *mapRun  // the loaded map
	columns      list
	include      list
	exclude      list
	jobs         int
	dryRun       bool
	json         bool
	noProgress   bool
	level        int
	delimiter    string
	maxRecord    int
	endpoint     string
	partSize     int64
	verify       string
	key          string
	idKey        string
	audit        string
	ticket       string
	resume       bool
	takeOver     bool // --take-over-lock
	index        indexFlags
	anchor       anchorFlags
	memory       memoryFlag
	maxMember    int64
	maxRatio     int
	allowUTF8    bool
	accept       bool // --accept-unconditional-writes
	shard        *scrub.Shard
	sources      []string

	allowPlaceholders bool
	maxShare          float64

	idTransform string
	transform   *ids.Transform
	olderThan   string
	timeColumn  string
	queue       string    // queue run's --queue
	age         *age      // parsed --older-than
	cutoff      time.Time // resolved at the start of the batch
}

// defaultMaxShare is the default of --max-share: a batch whose listed IDs
// hold more than half of the rows read is stopped.
const defaultMaxShare = 0.5

// parseEraseLike parses the flags of erase for command (erase, or sweep,
// which takes no --ids), with the command's own flags added by extra.
func parseEraseLike(command string, args []string, stderr io.Writer, help func(io.Writer, *flag.FlagSet), extra func(*flag.FlagSet)) (*eraseOptions, error) {
	o := &eraseOptions{}
	fs := flag.NewFlagSet("scrub "+command, flag.ContinueOnError)
	if command == "erase" {
		fs.Var(idsFlag{o}, "ids", "`FILE` of client IDs, one per line (- for standard input); required unless --older-than is given. With --map: TYPE=FILE, repeatable, one per identifier type")
		o.registerMap(fs)
	}
	if command == "queue run" {
		fs.StringVar(&o.mapFile, "map", "", "data map `FILE` (TOML): no SOURCE; each dataset is read with its own columns, each column checked for the pending requests of its identifier type only")
	}
	fs.Var(&o.columns, "column", "header `NAME` of the ID column; repeat for several (default: Client ID, clientId, client_id, ClientID)")
	fs.Var(&o.include, "include", "process only archives matching `GLOB` (repeatable; * stays within a directory, ** crosses any number)")
	fs.Var(&o.exclude, "exclude", "skip archives matching `GLOB` (repeatable)")
	fs.IntVar(&o.jobs, "jobs", 0, "`N` archives processed at once (default: 4 times the number of CPUs, of which one per CPU is scanned or rewritten at once, the others waiting on the disk; 64 with an s3:// source, of which at most twice the number of CPUs are scanned or rewritten at once, the others waiting on S3)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read everything and report what would be removed; write and delete nothing")
	fs.BoolVar(&o.json, "json", false, "write a JSON summary to standard output")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress bar")
	fs.IntVar(&o.level, "level", archive.DefaultLevel, "compression `LEVEL` (1-9) of rewritten gzip files and zip members")
	fs.StringVar(&o.delimiter, "delimiter", "", "CSV field delimiter `CHAR`: , ; or tab (default: detected from the header)")
	fs.IntVar(&o.maxRecord, "max-record", filter.DefaultMaxRecord, "largest CSV record in `BYTES`; a longer one is an error")
	fs.Int64Var(&o.maxMember, "max-member-size", archive.DefaultMaxMemberSize, "largest uncompressed CSV stream (zip member or gzip file) in `BYTES`; a larger one fails its archive (a guard against zip bombs)")
	fs.IntVar(&o.maxRatio, "max-ratio", archive.DefaultMaxRatio, "largest expansion `RATIO` of a compressed CSV stream (honest deflate cannot exceed about 1030); a larger one fails its archive")
	fs.BoolVar(&o.allowUTF8, "allow-invalid-utf8", false, "pass bytes that are not UTF-8 through (for exports in another encoding); by default they fail their archive")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint `URL` for S3-compatible stores such as MinIO (default: AWS, or $AWS_ENDPOINT_URL)")
	fs.StringVar(&o.verify, "verify", "size", "check `MODE` after replacing an archive: size (size and checksum of what the store received) or full (also read it back and count its rows)")
	fs.Int64Var(&o.partSize, "part-size", store.DefaultPartSize, "S3 multipart part size in `BYTES` (at least 5 MiB); smaller archives go up in one request")
	fs.BoolVar(&o.accept, "accept-unconditional-writes", false, "replace archives in an S3 store that ignores conditional writes (If-Match), found by a check before the first write: another writer's object put there meanwhile could be overwritten (by default scrub refuses such a store)")
	fs.StringVar(&o.key, "key", "", "Ed25519 signing key `FILE` for the audit bundle (from scrub keygen or ssh-keygen -t ed25519; default $"+envSigningKey+", which holds the key itself); required unless --dry-run")
	fs.StringVar(&o.idKey, "id-key", "", "secret `FILE` under which client IDs are named (HMAC-SHA256) in the audit log (default $"+envIDKey+"); required unless --dry-run")
	fs.StringVar(&o.audit, "audit", "scrub-audit", "where the audit bundle goes: a `DIR` or s3://bucket/prefix")
	fs.StringVar(&o.ticket, "ticket", "", "request `REF` (ticket, case number) recorded in the audit log")
	shard := fs.String("shard", "", "process only share `I/N` of the archives (0 <= I < N; I may be auto, read from $JOB_COMPLETION_INDEX or $AWS_BATCH_JOB_ARRAY_INDEX), so N workers split one request; each writes its own audit batch")
	o.timeColumn = filter.DefaultTimeColumn
	if command == "erase" {
		fs.BoolVar(&o.allowPlaceholders, "allow-placeholder-ids", false, "erase listed IDs that look like placeholders for a missing ID (unknown, none, null, n/a, -, 0, a nil UUID); by default such a list is refused")
		fs.StringVar(&o.idTransform, "id-transform", "", "the stored form of the listed IDs: `SPEC` lower|upper, then sha256|sha1|md5|hmac-sha256:KEYFILE, joined by a comma (e.g. lower,sha256); digests match as hex in either case")
		fs.StringVar(&o.olderThan, "older-than", "", "also remove every row older than `AGE`: 365d, 2w, 12h (back from the start of the batch), or a date such as 2025-01-01 (UTC unless it has a zone); --ids is then optional")
		fs.StringVar(&o.timeColumn, "time-column", filter.DefaultTimeColumn, "header `NAME` of the column --older-than reads (2006-01-02 15:04:05[.frac], RFC 3339 or 2006-01-02; UTC without a zone)")
	}
	fs.Float64Var(&o.maxShare, "max-share", defaultMaxShare, "stop before replacing another archive once the listed IDs' rows are more than this `FRACTION` of the rows read (checked from "+strconv.Itoa(scrub.MassMinRows)+" rows on; 1 turns the check off; rows that go only for their age do not count)")
	fs.BoolVar(&o.resume, "resume", true, "take up the unfinished batch of the same request (IDs, sources, selection) that an interrupted run left in the audit location; --resume=false starts a new batch")
	fs.BoolVar(&o.takeOver, "take-over-lock", false, "take over the lock of this request in an s3:// audit location that a run on another host left (its lease ran out); only when that run is dead")
	o.anchor.register(fs)
	o.memory.register(fs)
	o.index.register(fs)
	if extra != nil {
		extra(fs)
	}
	var err error
	if o.sources, err = parseArgs(fs, args, stderr, help); err != nil {
		return nil, err
	}
	if o.mapFile != "" && o.index.location != "" {
		return nil, usagef("--index goes without --map: an index entry covers the ID columns of the flags (--column), not a data map's datasets")
	}
	switch {
	case o.mapFile != "" && command == "queue run":
		if err := o.parseQueueMap(); err != nil {
			return nil, err
		}
	case o.mapFile != "":
		if err := o.parseMap(); err != nil {
			return nil, err
		}
	case o.mapRetention:
		return nil, usagef("--retention goes with --map (without a map: --older-than AGE)")
	}
	switch {
	case o.ids == "" && o.olderThan == "" && command == "erase" && o.dmap == nil:
		return nil, usagef("--ids FILE is required (or --older-than AGE for a retention purge)")
	case o.ids == "" && o.idTransform != "":
		return nil, usagef("--id-transform goes with --ids")
	case o.level < 1 || o.level > 9:
		return nil, usagef("--level must be between 1 and 9")
	case o.verify != "size" && o.verify != "full":
		return nil, usagef("--verify must be size or full")
	case o.partSize < 5<<20:
		return nil, usagef("--part-size must be at least 5 MiB (5242880)")
	case !(o.maxShare > 0 && o.maxShare <= 1):
		return nil, usagef("--max-share must be a fraction above 0 and at most 1 (0.5 is half the rows)")
	}
	if err := o.checkReading(); err != nil {
		return nil, err
	}
	o.memory.apply() // before the ID list is read
	if *shard != "" {
		sh, err := scrub.ParseShard(*shard, os.Getenv)
		if err != nil {
			return nil, usagef("--shard: %v", err)
		}
		o.shard = &sh
	}
	if err := o.parseRetention(); err != nil {
		return nil, err
	}
	if o.transform, err = parseTransform(o.idTransform); err != nil {
		return nil, err
	}
	return o, nil
}

// checkReading checks the flags that say what to read and how, which
// every command that reads archives shares: the sources, jobs, limits,
// delimiter, globs and columns.
func (o *eraseOptions) checkReading() error {
	switch {
	case len(o.sources) == 0:
		return usagef("no SOURCE given")
	case o.jobs < 0:
		return usagef("--jobs must be positive")
	case o.maxRecord < 1:
		return usagef("--max-record must be positive")
	case o.maxMember < 1:
		return usagef("--max-member-size must be positive")
	case o.maxRatio < 1:
		return usagef("--max-ratio must be positive")
	}
	if _, err := o.delim(); err != nil {
		return err
	}
	for _, g := range [][]string{o.include, o.exclude} {
		if err := scrub.CheckGlobs(g); err != nil {
			return &UsageError{err}
		}
	}
	for _, c := range o.columns {
		if strings.TrimSpace(c) == "" {
			return usagef("--column needs a name")
		}
	}
	return nil
}

var printEraseHelp = printFlags("Usage: scrub erase --ids FILE --key FILE --id-key FILE [flags] SOURCE...\n\n"+
	"Removes every row whose ID column holds a listed ID (and, with --older-than,\n"+
	"every row older than the cutoff) from the archives below each SOURCE,\n"+
	"replacing each archive that held one atomically, and writes a signed audit\n"+
	"bundle of the batch. With --block the IDs also go on the blocklist (as HMAC\n"+
	"tags), and scrub sweep erases them from later exports.\n",
	"\nGlobs: a pattern with a '/' matches the path below SOURCE, one without matches\n"+
		"the file name. * and ? stay within a directory, ** crosses any number of them\n"+
		"(exports/**/*.csv.gz), {zip,gz} is either. Exit codes: 0 done, 1 failure,\n"+
		"2 usage error, 3 partial.\n"+
		"\nWith a data map (--map FILE, no SOURCE), each --ids is TYPE=FILE and reaches\n"+
		"every dataset of the map that holds that type of identifier, in its own\n"+
		"columns and stored form; the other datasets are not read. A composite type's\n"+
		"FILE is a CSV whose header names the part types:\n"+
		"  scrub erase --map ops/datamap.toml --ids client_id=clients.txt \\\n"+
		"      --ids host_user=pairs.csv --key keys/signer --id-key keys/id.key\n"+
		"See scrub map check --help, and Data maps in docs/operators-guide.md.\n",
	"scrub erase --ids ids.txt --key keys/signer --id-key keys/id.key --audit scrub-audit --ticket GDPR-1234 exports/")

func (o *eraseOptions) delim() (byte, error) {
	switch o.delimiter {
	case "":
		return 0, nil
	case ",", ";":
		return o.delimiter[0], nil
	case "tab", "\t", `\t`:
		return '\t', nil
	}
	return 0, usagef("--delimiter must be , ; or tab")
}

// loadIDs reads an ID list. Unless allowPlaceholders, an ID that looks
// like a placeholder (ids.Placeholder) is a usage error naming its line:
// listed by mistake, it would erase the rows of every client without an
// ID.
func loadIDs(name string, stdin io.Reader, allowPlaceholders bool) (*ids.Set, error) {
	r := stdin
	label := "standard input"
	if r == nil {
		r = strings.NewReader("")
	}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, &UsageError{fmt.Errorf("--ids: %w", err)}
		}
		defer f.Close()
		r, label = f, name
	}
	set := &ids.Set{}
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			// A set sized for the list once is built without copies.
			lines, size, err := ids.Measure(f)
			if err == nil {
				_, err = f.Seek(0, io.SeekStart)
			}
			if err != nil {
				return nil, &UsageError{fmt.Errorf("--ids: %w", err)}
			}
			set.Grow(lines, size)
		}
	}
	var placeholders []string
	var check func(id []byte, line int)
	if !allowPlaceholders {
		check = func(id []byte, line int) {
			if ids.PlaceholderBytes(id) {
				placeholders = append(placeholders, fmt.Sprintf("%s:%d", label, line))
			}
		}
	}
	err := ids.ReadSet(r, label, set, check)
	if err != nil {
		return nil, &UsageError{err}
	}
	if len(placeholders) > 0 {
		return nil, usagef("%s: looks like a placeholder for a missing ID (such as unknown, none, null, n/a, - or 0), not a client's ID: "+
			"erasing it would remove the rows of every client without one; take it out of the list, or give --allow-placeholder-ids if it is meant",
			strings.Join(placeholders, ", "))
	}
	return set, nil
}

func runErase(ctx context.Context, args []string, env Env) error {
	var block blockFlags
	o, err := parseEraseLike("erase", args, env.Stderr, printEraseHelp, block.eraseFlags)
	if err != nil {
		return err
	}
	if err := block.checkErase(); err != nil {
		return err
	}
	if block.block && o.ids == "" {
		return usagef("--block needs --ids FILE: the IDs to block")
	}
	spec := batchSpec{command: batch.Erase}
	switch {
	case o.dmap != nil && block.block:
		return usagef("--block does not go with --map: the blocklist holds client IDs of one column")
	case o.dmap != nil:
		if err := o.mapSpec(env, &spec); err != nil {
			return err
		}
	case o.ids != "":
		set, err := loadIDs(o.ids, env.Stdin, o.allowPlaceholders)
		if err != nil {
			return err
		}
		spec.clear, spec.plain = o.transform == nil, set
		if o.transform != nil {
			set = o.transform.Set(set)
		}
		spec.set, spec.ids, spec.listed = set, batch.IDs{N: set.Len(), Each: eachTagged(set), Set: set}, set
		spec.index = indexUse{skip: true, listed: set}
	}
	if block.block {
		var err error
		if spec.started, err = block.adder(ctx, o, env, spec); err != nil {
			return err
		}
	}
	return o.run(ctx, env, spec)
}

// batchSpec is what an erase-like command (erase, sweep) removes.
type batchSpec struct {
	command string     // the audit log's command
	set     filter.Set // the IDs whose rows go
	ids     batch.IDs  // the IDs as the request is fingerprinted by
	// listed, if set, is the erasure's own list of IDs, of which those
	// that match no row are reported; clear says they are the IDs as
	// listed, not digests of them.
	listed *ids.Set
	clear  bool
	// plain, if set, is the list as given (before --id-transform): those
	// IDs are not to appear in clear in what the batch records or prints.
	plain *ids.Set
	// started, if set, is called once the batch's audit log has begun
	// (or been resumed), before any archive is read: a command's own
	// events go there.
	started func(b *batch.Batch) error
	// selects, if set, narrows the batch to the archives it accepts
	// (scrub.Options.Select).
	selects func(scrub.Object) bool
	// noArchives, if set, is called when the sources yield no archive to
	// process; its error replaces scrub.ErrNoArchives, and nil makes a
	// batch of no archives a success (a sweep with nothing new).
	noArchives func() error
	// sealed, if set, is called once the batch is sealed, before the
	// summary is printed, with what the batch came to. What it returns goes into
	// the --json summary, and its error into the run's.
	sealed func(b *batch.Batch, r sealedRun) (*queueOutcome, error)
	// filters, with --map, are the filters of the datasets read, by name;
	// stored the sets they match, one per type and stored form.
	filters map[string]*filter.Filter
	stored  []datamap.Stored
	// index says what the batch does with --index.
	index indexUse
}

// sealedRun is what a sealed batch tells batchSpec.sealed.
type sealedRun struct {
	sealed *audit.Sealed // nil if it could not be sealed
	// ok says the batch completed (not a dry run, every archive done,
	// the bundle sealed); settled that it ran to its end and was sealed,
	// not a dry run: if not ok, only some archives' outcomes stand in
	// the way.
	ok, settled bool
	sum         *scrub.Summary // what this attempt did
}

// eachTagged lists the clear IDs of set with their tags.
func eachTagged(set *ids.Set) func(*audit.IDKey, func(id, tag string)) {
	return func(k *audit.IDKey, fn func(id, tag string)) {
		set.Each(func(id string) { fn(id, k.Tag([]byte(id))) })
	}
}

// unmatched counts the listed IDs that matched no row of the archives the
// batch read (those of its interrupted attempts included) into
// sum.IDsUnmatched, logs their tags, and returns what to tell the
// operator: never the IDs themselves.
func unmatched(sum *scrub.Summary, b *batch.Batch, idKey *audit.IDKey, spec batchSpec, shard *scrub.Shard) ([]string, error) {
	// Tags are worked out only where they are needed: to tell the IDs an
	// interrupted attempt matched, and to name those that match nothing
	// (unless that is all of them: the ids events name those).
	byTag := idKey != nil && (b.Resumed() || sum.TakenOver())
	isUnmatched := func(id string) bool {
		if sum.Matched(id) {
			return false
		}
		if byTag {
			tag := idKey.Tag([]byte(id))
			return !b.MatchedBefore(tag) && !sum.MatchedTag(tag)
		}
		return true
	}
	// With the tags Begin worked out, an ID matched nothing if its tag
	// is none of those of the IDs matched (a few): that spares a tag per
	// listed ID.
	sums := b.IDSums()
	var unmatchedSum func(s *ids.Sum) bool
	if sums != nil {
		found := map[ids.Sum]bool{}
		sum.EachMatched(func(id string) {
			var s ids.Sum
			idKey.Sum([]byte(id), &s)
			found[s] = true
		})
		var tag [2 * len(ids.Sum{})]byte
		unmatchedSum = func(s *ids.Sum) bool {
			if found[*s] {
				return false
			}
			if byTag {
				hex.Encode(tag[:], s[:])
				return !b.MatchedBefore(string(tag[:])) && !sum.MatchedTag(string(tag[:]))
			}
			return true
		}
	}
	n, invisible, notUTF8 := 0, 0, 0
	switch {
	case sums != nil:
		for i := range sums {
			if unmatchedSum(&sums[i]) {
				n++
			}
		}
	default:
		spec.listed.Each(func(id string) {
			if isUnmatched(id) {
				n++
			}
		})
	}
	if spec.clear && !spec.listed.ASCII() {
		// An ASCII ID is valid UTF-8, and its only invisible
		// characters, control characters, are not allowed in a list.
		spec.listed.Each(func(id string) {
			bad := !utf8.ValidString(id)
			if !bad && strings.IndexFunc(id, invisibleRune) < 0 {
				return
			}
			if !isUnmatched(id) {
				return
			}
			if bad {
				notUTF8++
			} else {
				invisible++
			}
		})
	}
	sum.IDsUnmatched = &n
	if n == 0 {
		return nil, nil
	}
	if idKey != nil {
		var err error
		switch {
		case n == spec.listed.Len():
			err = b.Unmatched(n, nil)
		case sums != nil:
			err = b.UnmatchedSums(n, unmatchedSum)
		default:
			var tags []string
			spec.listed.Each(func(id string) {
				if isUnmatched(id) {
					tags = append(tags, idKey.Tag([]byte(id)))
				}
			})
			slices.Sort(tags)
			err = b.Unmatched(n, tags)
		}
		if err != nil {
			return nil, err
		}
	}
	where := "the archives read"
	if spec.ids.N == n {
		where = "any archive read"
	}
	advice := "check the list for typos, letter case and stray characters"
	if shard != nil {
		// The other shares may hold them: only the request's every
		// share together says which match nothing.
		where = "the archives of share " + shard.String() + " read"
		advice = "other shares may hold them"
	}
	msg := []string{fmt.Sprintf("%d of the %d listed IDs matched no row of %s; %s", n, spec.ids.N, where, advice)}
	if idKey != nil {
		msg[0] += " (the audit log names them by their HMAC tags)"
	}
	if invisible > 0 {
		msg = append(msg, fmt.Sprintf("%d of them hold an invisible or unusual white-space character (a zero-width space, a no-break space, a byte order mark...): most likely pasted along", invisible))
	}
	if notUTF8 > 0 {
		msg = append(msg, fmt.Sprintf("%d of them are not valid UTF-8 (a list saved as Latin-1 or UTF-16?)", notUTF8))
	}
	return msg, nil
}

// invisibleRune reports whether r is a character one does not see in an
// ID: format characters (zero-width spaces and joiners, a byte order
// mark, direction marks), white space other than ASCII's, and control
// characters.
func invisibleRune(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r > 0x7f && unicode.IsSpace(r) || unicode.IsControl(r)
}

// request is the batch's typed request, from the flags.
func (o *eraseOptions) request(command string) *batch.Request {
	delim, _ := o.delim()
	return &batch.Request{
		Command: command, Sources: o.sources, IDsFile: o.ids,
		Columns: o.columns, Include: o.include, Exclude: o.exclude, Delimiter: delim, Shard: o.shard,
		Transform: o.transform, OlderThan: o.olderThan, TimeColumn: o.timeColumn, Cutoff: o.cutoff,
		DryRun: o.dryRun, Jobs: o.jobs, Level: o.level, MaxRecord: o.maxRecord, MaxMemberSize: o.maxMember,
		MaxRatio: o.maxRatio, AllowInvalidUTF8: o.allowUTF8, Verify: o.verify, PartSize: o.partSize, Endpoint: o.endpoint,
		AcceptUnconditionalWrites: o.accept, AllowPlaceholderIDs: o.allowPlaceholders, MaxShare: o.maxShare, Queue: o.queue,
		Map: o.mapRef(),
	}
}

// run runs one batch: it loads the keys, opens the sources and the audit
// location, begins (or resumes) the batch, runs the engine, seals the
// batch, and prints the summary.
func (o *eraseOptions) run(ctx context.Context, env Env, spec batchSpec) (err error) {
	key, idKey, err := loadKeys(env.Stderr, o.key, o.idKey, o.dryRun, "an erasure", "the erased IDs in its audit log")
	if err != nil {
		return err
	}
	var red *ids.Redactor
	terminal := env.Stderr // the progress bar, which names no archive, draws on it as it is
	if spec.plain != nil {
		// A listed ID in a path, the ticket or the ID file's name is
		// recorded and printed by a short form of its tag.
		red = spec.plain.Redactor(tagFunc(idKey))
		var done func() error
		env, done = redacted(env, red)
		defer func() {
			if ferr := done(); err == nil {
				err = ferr
			}
			err = redactErr(red, err)
		}()
	}
	op := o.opener(env, false)
	if err := checkApart(o.audit, o.sources, "the audit directory %s and the source %s overlap; keep the audit log outside the data"); err != nil {
		return err
	}
	for _, file := range o.idFiles() {
		if file == "" || file == "-" {
			continue
		}
		if err := checkApart(file, o.sources, "the ID list %s is inside the source %s; keep it outside the data (it would be read as an archive, and it is personal data)"); err != nil {
			return err
		}
	}
	if err := o.index.check(idKey, o.sources); err != nil {
		return err
	}
	delim, _ := o.delim()
	sources, err := openSources(ctx, op, o.sources)
	if err != nil {
		return err
	}
	if o.dmap != nil {
		o.mapSources(sources, spec)
	}
	loc, err := openFiles(ctx, op, "audit location", o.audit)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := o.resolveCutoff(now); err != nil {
		return err
	}
	if err := o.resolveMapCutoffs(now); err != nil {
		return err
	}
	prog := newProgress(terminal, !o.noProgress)
	cfg := batch.Config{
		Location: loc, Key: key, IDKey: idKey, Version: env.Version, Commit: env.Commit,
		Ticket: o.ticket, NoResume: !o.resume, Stderr: env.Stderr, TakeOverLock: o.takeOver, Redact: red.Bytes,
		RedactKeepsTags: red.KeepsTags(),
	}
	if err := o.anchor.apply(ctx, op, o.audit, &cfg); err != nil {
		return err
	}
	b, err := batch.Begin(ctx, o.request(spec.command), spec.ids, cfg)
	if err != nil {
		return err
	}
	o.cutoff = b.Request().Cutoff // a resumed batch keeps its own
	o.applyCutoffs(sources, b.Request())
	if spec.started != nil {
		if err := spec.started(b); err != nil {
			_, sealErr := b.Seal(ctx, err)
			return errors.Join(err, sealErr)
		}
	}
	opt := scrub.Options{
		Filter: &filter.Filter{IDs: spec.set, Columns: o.columns, Delimiter: delim, MaxRecord: o.maxRecord,
			AllowInvalidUTF8: o.allowUTF8, Before: o.cutoff, TimeColumn: o.timeColumn},
		Archive: archive.Options{Level: o.level, MaxMemberSize: o.maxMember, MaxRatio: o.maxRatio},
		Include: o.include, Exclude: o.exclude, Select: spec.selects,
		Jobs: o.jobs, DryRun: o.dryRun, Progress: prog, VerifyFull: o.verify == "full",
	}
	if o.maxShare < 1 {
		opt.MaxShare = o.maxShare
	}
	b.Erase(&opt)
	if red != nil {
		opt.Recorded = red.String
	}
	if idKey != nil {
		opt.Tag = tagger(idKey, spec.set)
	}
	ix, err := o.index.open(ctx, env, op, o.sources, idKey, &opt, spec.index)
	if err != nil {
		_, sealErr := b.Seal(ctx, err)
		return errors.Join(err, sealErr)
	}
	fmt.Fprintf(env.Stderr, "scrub: %d IDs to erase%s\n", spec.ids.N, map[bool]string{true: " (dry run: nothing will be written)"}[o.dryRun])
	o.printMapNotes(env.Stderr)
	o.printMapCutoffs(env.Stderr)
	o.printCutoff(env.Stderr)
	sum, runErr := scrub.Run(ctx, opt, sources)
	if sum != nil {
		defer sum.Close()
	}
	if errors.Is(runErr, scrub.ErrNoArchives) && spec.noArchives != nil {
		runErr = spec.noArchives()
	}
	prog.Finish()
	flushIndex(ctx, env, ix)
	if o.shard != nil && errors.Is(runErr, scrub.ErrNoArchives) && sum != nil && sum.Outside > 0 {
		fmt.Fprintf(env.Stderr, "scrub: shard %s: none of the %d archives falls to this share\n", o.shard, sum.Outside)
		runErr = nil
	}
	var hints []string
	if spec.listed != nil && sum != nil && runErr == nil {
		var err error
		if hints, err = unmatched(sum, b, idKey, spec, o.shard); err != nil {
			runErr = err
		}
	}
	if spec.stored != nil && sum != nil && runErr == nil {
		var err error
		if hints, err = mapUnmatched(sum, b, idKey, spec.stored, o.shard); err != nil {
			runErr = err
		}
	}
	sealed, auditErr := b.Seal(ctx, runErr)
	var queued *queueOutcome
	var queueErr error
	if spec.sealed != nil {
		settled := runErr == nil && auditErr == nil && sealed != nil && !o.dryRun
		queued, queueErr = spec.sealed(b, sealedRun{sealed: sealed, settled: settled, ok: settled && b.Totals().Err() == nil, sum: sum})
	}
	if err := o.report(env, sum, hints, sealed, loc, key, queued); err != nil {
		return errors.Join(err, queueErr)
	}
	if queueErr != nil {
		return errors.Join(runErr, auditErr, queueErr)
	}
	switch {
	case runErr != nil && ctx.Err() != nil && auditErr == nil:
		return interrupted(sum, sealed, runErr)
	case runErr != nil:
		return errors.Join(runErr, auditErr)
	case auditErr != nil:
		return auditErr
	}
	// A resumed batch is done when all its archives are, those of its
	// earlier attempts included.
	return b.Totals().Err()
}

// interrupted says what an interrupt (Ctrl-C, SIGTERM) left, and what to
// do, rather than "context canceled". It wraps runErr.
func interrupted(sum *scrub.Summary, sealed *audit.Sealed, runErr error) error {
	batch := ""
	if sealed != nil {
		batch = fmt.Sprintf(" (batch %s, sealed with what is left recorded skipped)", sealed.Batch)
	}
	const todo = "run the same command to finish: archives already erased are found clean, the rest are erased"
	if sum == nil || sum.Totals.Archives == 0 {
		return &interruptError{fmt.Sprintf("interrupted while listing the archives, before any was processed%s; %s", batch, todo), runErr}
	}
	t := sum.Totals
	return &interruptError{fmt.Sprintf("interrupted after %d of %d archives%s; %s", t.Archives-t.Skipped, t.Archives, batch, todo), runErr}
}

// interruptError says what an interrupt left; it wraps what the run
// returned (context.Canceled).
type interruptError struct {
	msg string
	err error
}

func (e *interruptError) Error() string { return e.msg }
func (e *interruptError) Unwrap() error { return e.err }

// report writes what a batch did: the summary and where its bundle went
// on stderr, and with --json the summary on stdout.
func (o *eraseOptions) report(env Env, sum *scrub.Summary, hints []string, sealed *audit.Sealed, loc fmt.Stringer, key ed25519.PrivateKey, queued *queueOutcome) error {
	var sumErr error
	if sum != nil {
		// A summary that cannot be read back (its spool's disk failed)
		// is an error, after what can be said: the totals and where the
		// bundle went, which records every archive.
		if sumErr = printSummary(env.Stderr, sum); sumErr != nil {
			printTotals(env.Stderr, sum)
			sumErr = fmt.Errorf("the summary: %w; the audit bundle records every archive", sumErr)
		}
		if t := sum.Totals; sum.DryRun && t.RowsScanned >= scrub.MassMinRows && t.RowsRemoved > t.RowsExpired {
			share := float64(t.RowsRemoved-t.RowsExpired) / float64(t.RowsScanned)
			fmt.Fprintf(env.Stderr, "scrub: the listed IDs hold %.1f%% of the rows read; a batch stops above --max-share %.0f%% (from %d rows read on)\n",
				100*share, 100*o.maxShare, scrub.MassMinRows)
		}
	}
	for _, h := range hints {
		fmt.Fprintf(env.Stderr, "scrub: %s\n", h)
	}
	if sealed != nil {
		printSealed(env.Stderr, sealed, loc, key, "unsigned: dry run without --key")
	}
	queued.print(env.Stderr)
	if sumErr != nil || !o.json || sum == nil {
		return sumErr
	}
	return writeJSON(env.Stdout, summaryJSON{Datasets: o.mapNotes(), Audit: sealed, Queue: queued}, sum)
}

// summaryJSON is the document --json writes: the summary, each archive's
// result, and where the bundle went.
type summaryJSON struct {
	scrub.FullSummary
	Datasets []datasetNote `json:"datasets,omitempty"`
	Audit    *audit.Sealed `json:"audit"`
	Queue    *queueOutcome `json:"queue,omitempty"`
}

// writeJSON writes the --json document of sum (head's FullSummary is
// filled in from sum), indented by two spaces, as
// json.Encoder with SetIndent("", "  ") writes a summaryJSON holding every
// result, byte for byte; but the results are streamed from the summary's
// spool, one at a time, into the place of an empty list.
func writeJSON(w io.Writer, head summaryJSON, sum *scrub.Summary) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	head.FullSummary = scrub.FullSummary{DryRun: sum.DryRun, Archives: []scrub.Result{}, Totals: sum.Totals, IDsUnmatched: sum.IDsUnmatched}
	if err := enc.Encode(head); err != nil {
		return err
	}
	const empty = "\n  \"archives\": []"
	i := bytes.Index(buf.Bytes(), []byte(empty))
	if i < 0 {
		return errors.New("--json: no list of archives") // cannot happen: dry_run comes first
	}
	i += len(empty) - 1 // at the list's ]
	bw := bufio.NewWriter(w)
	bw.Write(buf.Bytes()[:i])
	var indented bytes.Buffer
	n := 0
	err := sum.Each(func(r scrub.Result) error {
		indented.Reset()
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := json.Indent(&indented, b, "    ", "  "); err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		bw.WriteString("\n    ")
		_, err = bw.Write(indented.Bytes())
		return err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.Write(buf.Bytes()[i:])
	return bw.Flush()
}

// printSealed tells where a batch's bundle went and its head.
func printSealed(w io.Writer, sealed *audit.Sealed, loc fmt.Stringer, key ed25519.PrivateKey, unsigned string) {
	signed := unsigned
	if key != nil {
		signed = "signed by " + sshsig.Fingerprint(key.Public().(ed25519.PublicKey))
	}
	fmt.Fprintf(w, "scrub: audit bundle %s in %s (%s)\nscrub: audit head %s\n", sealed.Batch, loc, signed, sealed.Head)
}

// opener returns the store.Opener of a command's locations.
func (o *eraseOptions) opener(env Env, readOnly bool) *store.Opener {
	var share string
	if o.shard != nil {
		share = fmt.Sprintf("%d-of-%d", o.shard.Index, o.shard.Count)
	}
	return store.New(store.Options{Endpoint: o.endpoint, PartSize: o.partSize, ReadOnly: readOnly, Jobs: o.jobs,
		AcceptUnconditionalWrites: o.accept, Share: share, Warn: func(msg string) { fmt.Fprintf(env.Stderr, "scrub: warning: %s\n", msg) }})
}

// openSources opens the SOURCEs as the engine's sources.
func openSources(ctx context.Context, op *store.Opener, names []string) ([]scrub.Source, error) {
	var sources []scrub.Source
	for _, s := range names {
		loc, err := op.Open(ctx, s)
		if store.IsLocationError(err) {
			return nil, usagef("source %v", err)
		}
		if err != nil {
			return nil, err
		}
		src, err := loc.Archives(ctx)
		if err != nil && !loc.Remote() {
			return nil, &UsageError{fmt.Errorf("source: %w", err)}
		}
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	return sources, nil
}

// anchorFlags anchor a batch's head outside the reach of whoever can write
// the audit location: a witness location, and a retention of the sealed
// files in an S3 bucket with Object Lock.
type anchorFlags struct {
	witness    string // --witness
	retain     string // --audit-retain
	retainMode string // --audit-retain-mode
}

func (a *anchorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.witness, "witness", "", "a second location (a `DIR` or s3://bucket/prefix, apart from the audit location and out of reach of whoever can write it) to which each batch adds its head when it is sealed; scrub verify --witness checks it")
	fs.StringVar(&a.retain, "audit-retain", "", "in an s3:// audit location whose bucket has Object Lock: lock each sealed bundle file for `PERIOD` (7y, 90d, 12h) so that it cannot be deleted (default: the bucket's default retention)")
	fs.StringVar(&a.retainMode, "audit-retain-mode", "", "the Object Lock `MODE` of --audit-retain: governance or compliance (default: the bucket's default retention's, else governance)")
}

// apply checks the flags and sets cfg's Witness and Retain. A retention
// the audit location cannot give is refused by batch.Begin.
func (a *anchorFlags) apply(ctx context.Context, op *store.Opener, auditWhere string, cfg *batch.Config) error {
	if a.retain != "" {
		d, err := audit.ParsePeriod(a.retain)
		if err != nil {
			return usagef("--audit-retain: %v", err)
		}
		cfg.Retain.Period = d
	}
	if a.retainMode != "" {
		m, err := audit.ParseRetainMode(a.retainMode)
		if err != nil {
			return usagef("--audit-retain-mode: %v", err)
		}
		cfg.Retain.Mode = m
	}
	if a.witness == "" {
		return nil
	}
	if err := checkApart(a.witness, []string{auditWhere}, "--witness %s and the audit location %s overlap: a witness must be out of reach of whoever can write the audit location"); err != nil {
		return err
	}
	w, err := openFiles(ctx, op, "witness", a.witness)
	if err != nil {
		return err
	}
	cfg.Witness = w
	return nil
}

// openFiles opens a location of files (what names it, for messages).
func openFiles(ctx context.Context, op *store.Opener, what, where string) (store.Files, error) {
	loc, err := op.Open(ctx, where)
	if store.IsLocationError(err) {
		return nil, usagef("%s %v", what, err)
	}
	if err != nil {
		return nil, err
	}
	return loc.Files(ctx)
}

// checkApart refuses a place (the audit location, a blocklist) that
// overlaps one of others: its files would be taken for archives, or
// archives for its files. msg formats the refusal with the place and the
// other.
func checkApart(place string, others []string, msg string) error {
	p, err := store.Parse(place)
	if err != nil {
		return nil // reported when it is opened
	}
	for _, s := range others {
		q, err := store.Parse(s)
		if err != nil {
			continue
		}
		over, err := p.Overlaps(q)
		if err != nil {
			return err
		}
		if over {
			return usagef(msg, place, s)
		}
	}
	return nil
}

// quoteName quotes a name that is empty or holds characters that are not
// printable (strconv.Quote rules), so that it cannot garble the terminal
// or forge a line of the summary.
func quoteName(name string) string {
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(name)
	}
	return name
}

// oneLine escapes what in a message is not printable (a newline or an
// escape sequence in a file name it quotes), as strconv.Quote would, so
// that it stays one line and cannot garble the terminal.
func oneLine(msg string) string {
	if q := quoteName(msg); q != msg && msg != "" {
		return q[1 : len(q)-1]
	}
	return msg
}

// printSummary writes the text summary of a batch: a line for each
// archive not unchanged (more for its notes), read back from the summary's
// spool one at a time, then the totals.
func printSummary(w io.Writer, sum *scrub.Summary) error {
	err := sum.Each(func(r scrub.Result) error {
		printResult(w, r)
		return nil
	})
	if err != nil {
		return err
	}
	printTotals(w, sum)
	return nil
}

// printResult writes the lines of one archive's result.
func printResult(w io.Writer, r scrub.Result) {
	key := quoteName(r.Key)
	switch r.Status {
	case scrub.Unchanged:
	case scrub.Erased:
		fmt.Fprintf(w, "%-11s %s: %d of %d rows removed, %d -> %d bytes\n", r.Status, key, r.RowsRemoved, r.RowsScanned, r.BytesBefore, *r.BytesAfter)
	case scrub.WouldErase:
		fmt.Fprintf(w, "%-11s %s: %d of %d rows\n", r.Status, key, r.RowsRemoved, r.RowsScanned)
	case scrub.Skipped:
		fmt.Fprintf(w, "%-11s %s: not processed, the batch stopped first\n", "SKIPPED", key)
	case scrub.NotScanned:
		fmt.Fprintf(w, "%-11s %s: %s\n", r.Status, key, oneLine(strings.TrimPrefix(r.Reason, "not scanned: ")))
	case scrub.AbsentByIndex:
		fmt.Fprintf(w, "%s %s: %s\n", r.Status, key, r.Reason)
	default:
		fmt.Fprintf(w, "%-11s %s: %s\n", strings.ToUpper(string(r.Status)), key, oneLine(r.Error))
	}
	if r.VersionsDeleted > 0 {
		fmt.Fprintf(w, "%-11s %s: %d older versions deleted\n", "note", key, r.VersionsDeleted)
	}
	if r.Status != scrub.NotScanned {
		for _, m := range r.MembersNotScanned {
			fmt.Fprintf(w, "%-11s %s: member %s %s\n", "not-scanned", key, quoteName(m.Name), oneLine(m.Reason))
		}
	}
}

// printTotals writes the totals of a batch, and what they mean.
func printTotals(w io.Writer, sum *scrub.Summary) {
	t := sum.Totals
	verb := "removed"
	if sum.DryRun {
		verb = "would be removed (dry run, nothing written)"
	}
	fmt.Fprintf(w, "scrub: %d archives: %d erased, %d unchanged, %d would be erased, %d failed, %d conflicts, %d held, %d skipped; %d of %d rows %s\n",
		t.Archives, t.Erased, t.Unchanged, t.WouldErase, t.Failed, t.Conflict, t.Held, t.Skipped, t.RowsRemoved, t.RowsScanned, verb)
	if t.NotScanned > 0 {
		fmt.Fprintf(w, "scrub: %d entries not scanned, each for the reason above (not a regular file, or no table with an ID column); they were not read and are not touched\n", t.NotScanned)
	}
	if t.ReplacedIncomplete > 0 {
		fmt.Fprintf(w, "scrub: %d archives were replaced but not finished (their rows are gone from the current version; see each one's error for what remains); run the same command again to finish them\n", t.ReplacedIncomplete)
	}
	if t.RowsExpired > 0 {
		fmt.Fprintf(w, "scrub: %d of those rows were older than the cutoff\n", t.RowsExpired)
	}
	if t.AbsentByIndex > 0 {
		fmt.Fprintf(w, "scrub: %d archives not read: their index entries, made for the archives as listed now, rule out every listed ID (--no-index reads them)\n", t.AbsentByIndex)
	}
	switch {
	case t.Unchanged == 0 || t.Unchanged+t.NotScanned+t.AbsentByIndex != t.Archives:
	case t.NotScanned == 0 && t.AbsentByIndex == 0 && !sum.MembersNotScanned():
		fmt.Fprintln(w, "scrub: nothing to erase: no archive (and no older version) holds a listed ID; nothing was changed")
	default:
		fmt.Fprintln(w, "scrub: nothing to erase in what was read: no archive read (and no older version) holds a listed ID; nothing was changed; what is marked not-scanned above was not read")
	}
}
