package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/store"
)

// indexFlags are --index and --no-index.
type indexFlags struct {
	location string
	off      bool // --no-index
}

func (f *indexFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.location, "index", "", "the keyed index of what archives hold: a `DIR` or s3://bucket/prefix, apart from the data; archives read in full add their entries, and an erasure does not read an archive whose entry rules out every listed ID (needs the ID key)")
	fs.BoolVar(&f.off, "no-index", false, "read every archive in full, whatever --index says of it (the entries of what is read are still written)")
}

// indexUse says what a batch does with the index.
type indexUse struct {
	// skip lets the index rule archives out (an erasure by ID); a
	// sweep or a retention purge only builds it.
	skip bool
	// listed is the request's IDs in the form the filter compares (a
	// digest's hex), for skip.
	listed *ids.Set
}

// check refuses --index without the ID key, or inside a source.
func (f *indexFlags) check(idKey *audit.IDKey, sources []string) error {
	if f.location == "" {
		return nil
	}
	if idKey == nil {
		return usagef("--index needs the ID key (--id-key FILE or $%s): the index is keyed by it", envIDKey)
	}
	return checkApart(f.location, sources, "the index %s and the source %s overlap; keep the index outside the data")
}

// open opens --index for a batch of options opt, and sets opt.Index
// (and opt.IndexSkip, as use says). It returns nil without --index.
func (f *indexFlags) open(ctx context.Context, env Env, op *store.Opener, sources []string, idKey *audit.IDKey, opt *scrub.Options, use indexUse) (*index.Index, error) {
	if f.location == "" {
		return nil, nil
	}
	if err := f.check(idKey, sources); err != nil {
		return nil, err
	}
	files, err := openFiles(ctx, op, "index location", f.location)
	if err != nil {
		return nil, err
	}
	ix, err := index.Open(ctx, files, index.NewKey(idKey.Derive(index.DeriveLabel)), opt.MatchSpec())
	if err != nil {
		// Without the index every archive is read: slower, never wrong.
		fmt.Fprintf(env.Stderr, "scrub: warning: the index cannot be read, every archive is read in full: %v\n", err)
		return nil, nil
	}
	for _, w := range ix.Warnings {
		fmt.Fprintf(env.Stderr, "scrub: warning: %s\n", w)
	}
	opt.Index = ix
	if use.skip && !f.off && use.listed != nil && opt.Filter.Before.IsZero() {
		hashes := make([]uint64, 0, use.listed.Len())
		use.listed.Each(func(id string) { hashes = append(hashes, ix.Hash([]byte(id))) })
		ix.SetListed(hashes)
		opt.IndexSkip = true
	}
	return ix, nil
}

// flushIndex writes what the batch taught the index; a failure is only a
// warning: the archives are read in full next time.
func flushIndex(ctx context.Context, env Env, ix *index.Index) {
	if ix == nil {
		return
	}
	if err := ix.Flush(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintf(env.Stderr, "scrub: warning: the index was not updated (its archives will be read in full next time): %v\n", err)
	}
}

const indexUse1 = "scrub index build --index LOCATION --id-key FILE [flags] SOURCE..."

var printIndexBuildHelp = printFlags("Usage: "+indexUse1+"\n\n"+
	"Reads every archive below each SOURCE in full, changing nothing, and writes\n"+
	"its entry in the keyed index at --index: the keyed hashes of the values of\n"+
	"its ID columns, bound to the archive's identity (locally device, inode,\n"+
	"size, mtime and ctime; in S3 the ETag and size). scrub erase --index then\n"+
	"does not read an archive whose entry rules out every listed ID, and records\n"+
	"it absent-by-index. Any erase, dry run or sweep run with --index builds the\n"+
	"index too. Give the ID columns and reading flags the erasures will use: an\n"+
	"entry answers only a request with the same.\n",
	"\nWrites no audit bundle: the index is an aid, not a record. Exit codes: 0\n"+
		"done, 1 failure, 2 usage error, 3 some archives could not be read (they\n"+
		"have no entry, and are read in full by every erasure).\n",
	"scrub index build --index scrub-index --id-key keys/id.key exports/")

// runIndex runs scrub index SUBCOMMAND.
func runIndex(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "build" {
		return usagef("usage:\n  %s", indexUse1)
	}
	o := &eraseOptions{}
	var ixf indexFlags
	fs := flag.NewFlagSet("scrub index build", flag.ContinueOnError)
	fs.StringVar(&ixf.location, "index", "", "the keyed index to write: a `DIR` or s3://bucket/prefix, apart from the data (required)")
	fs.StringVar(&o.idKey, "id-key", "", "the ID key `FILE` (or $"+envIDKey+") the index is keyed by: the erasures' --id-key")
	fs.Var(&o.columns, "column", "header `NAME` of the ID column; repeat for several (default: Client ID, clientId, client_id, ClientID)")
	fs.Var(&o.include, "include", "read only archives matching `GLOB` (repeatable)")
	fs.Var(&o.exclude, "exclude", "skip archives matching `GLOB` (repeatable)")
	fs.IntVar(&o.jobs, "jobs", 0, "`N` archives read at once (default: the number of CPUs; 64 with an s3:// source)")
	fs.BoolVar(&o.json, "json", false, "write a JSON summary to standard output")
	fs.StringVar(&o.delimiter, "delimiter", "", "CSV field delimiter `CHAR`: , ; or tab (default: detected from the header)")
	fs.IntVar(&o.maxRecord, "max-record", filter.DefaultMaxRecord, "largest CSV record in `BYTES`")
	fs.Int64Var(&o.maxMember, "max-member-size", archive.DefaultMaxMemberSize, "largest uncompressed CSV stream in `BYTES`")
	fs.IntVar(&o.maxRatio, "max-ratio", archive.DefaultMaxRatio, "largest expansion `RATIO` of a compressed CSV stream")
	fs.BoolVar(&o.allowUTF8, "allow-invalid-utf8", false, "pass bytes that are not UTF-8 through")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint `URL` for S3-compatible stores such as MinIO")
	var err error
	if o.sources, err = parseArgs(fs, args[1:], env.Stderr, printIndexBuildHelp); err != nil {
		return err
	}
	if ixf.location == "" {
		return usagef("--index LOCATION is required")
	}
	if err := o.checkReading(); err != nil {
		return err
	}
	idKey, err := loadIDKey(env.Stderr, o.idKey)
	if err != nil {
		return err
	}
	o.partSize = store.DefaultPartSize
	op := o.opener(env, true)
	sources, err := openSources(ctx, op, o.sources)
	if err != nil {
		return err
	}
	delim, _ := o.delim()
	// No ID is listed: every archive is read to its end, and none is
	// changed (a dry run, on a read-only store).
	opt := scrub.Options{
		Filter:  &filter.Filter{IDs: ids.New(), Columns: o.columns, Delimiter: delim, MaxRecord: o.maxRecord, AllowInvalidUTF8: o.allowUTF8},
		Archive: archive.Options{MaxMemberSize: o.maxMember, MaxRatio: o.maxRatio},
		Include: o.include, Exclude: o.exclude, Jobs: o.jobs, DryRun: true,
	}
	ix, err := ixf.open(ctx, env, op, o.sources, idKey, &opt, indexUse{})
	if err != nil {
		return err
	}
	if ix == nil {
		return fmt.Errorf("index %s cannot be read (see the warning above)", ixf.location)
	}
	before := ix.Len()
	sum, runErr := scrub.Run(ctx, opt, sources)
	if sum != nil && runErr == nil {
		flushIndex(ctx, env, ix)
	}
	if runErr != nil {
		return runErr
	}
	defer sum.Close()
	st := ix.Stats()
	err = sum.Each(func(r scrub.Result) error {
		switch r.Status {
		case scrub.Unchanged:
		case scrub.NotScanned:
			fmt.Fprintf(env.Stderr, "%-11s %s: %s (no entry)\n", r.Status, quoteName(r.Key), oneLine(r.Reason))
		default:
			fmt.Fprintf(env.Stderr, "%-11s %s: %s (no entry)\n", r.Status, quoteName(r.Key), oneLine(r.Error))
		}
		if r.Status == scrub.Unchanged && len(r.MembersNotScanned) > 0 {
			fmt.Fprintf(env.Stderr, "%-11s %s: %d members not read as CSV (no entry)\n", "not-scanned", quoteName(r.Key), len(r.MembersNotScanned))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the summary: %w", err)
	}
	fmt.Fprintf(env.Stderr, "scrub: index %s: %d archives read, %d rows; %d entries (%d before), %d distinct values, %d bytes of filters\n",
		ixf.location, sum.Totals.Archives, sum.Totals.RowsScanned, st.Entries, before, st.Values, st.Bytes)
	if o.json {
		full, err := sum.Full()
		if err != nil {
			return fmt.Errorf("the summary: %w", err)
		}
		out := struct {
			*scrub.FullSummary
			Index index.Stats `json:"index"`
		}{full, st}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return sum.Err()
}

// ErrIndexMismatch is the problem of a batch whose absent-by-index
// archive names an index entry made for another archive identity, or is
// not well formed.
const ErrIndexMismatch = "absent-by-index record does not hold"

// checkAbsent checks the absent-by-index archives of every valid batch of
// rep: each names its entry (a SHA-256) and the identity it listed, and
// says nothing was read or removed; with the index (files not nil), the
// entry of that hash, if the index still holds it, names that identity. A
// batch that fails is made invalid in rep. It returns notes for the
// user.
func checkAbsent(ctx context.Context, loc audit.Location, rep *audit.Report, files index.Files) ([]string, error) {
	var byHash map[string]*index.Entry
	if files != nil {
		var err error
		if byHash, err = index.All(ctx, files); err != nil {
			return nil, err
		}
	}
	total, checked, other, gone := 0, 0, 0, 0
	for _, st := range rep.Batches {
		if !st.Valid() || st.Manifest == nil {
			continue
		}
		as, err := audit.ReadArchives(ctx, loc, st)
		if err != nil {
			return nil, err
		}
		var bad []string
		for _, a := range as {
			if a.Status != audit.StatusAbsentByIndex {
				continue
			}
			total++
			switch {
			case len(a.IndexEntry) != 64 || strings.Trim(a.IndexEntry, "0123456789abcdef") != "" || a.Identity == "":
				bad = append(bad, quoteName(a.Key)+": no index entry or identity")
				continue
			case a.RowsScanned != 0 || a.RowsRemoved != 0 || a.SizeAfter == nil || *a.SizeAfter != a.SizeBefore:
				bad = append(bad, quoteName(a.Key)+": rows or sizes recorded for an archive not read")
				continue
			case byHash == nil:
				continue
			}
			e, ok := byHash[a.IndexEntry]
			if !ok {
				gone++
				continue
			}
			if e.Identity != index.IdentityHash(a.Identity) {
				other++
				bad = append(bad, fmt.Sprintf("%s: its index entry %s is for another archive identity than the batch listed (%q)", quoteName(a.Key), a.IndexEntry[:16], a.Identity))
				continue
			}
			checked++
		}
		if len(bad) > 0 {
			st.Problem, st.Detail = ErrIndexMismatch, strings.Join(bad, "; ")
			rep.Valid--
		}
	}
	var notes []string
	switch {
	case total == 0:
	case files == nil:
		notes = append(notes, fmt.Sprintf("%d archives are recorded absent-by-index (not read: their index entry ruled out every listed ID); their records are well formed, but their entries were not checked: give --index LOCATION", total))
	default:
		note := fmt.Sprintf("%d archives are recorded absent-by-index: %d index entries found, each made for the archive identity the batch listed; %d no longer in the index (replaced since the archive was read again), not checked", total, checked, gone)
		if other > 0 {
			note += fmt.Sprintf("; %d made for another identity (their batches are invalid)", other)
		}
		notes = append(notes, note)
	}
	return notes, nil
}
