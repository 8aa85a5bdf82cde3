package cli

// Delete and block: erase --block puts the erased IDs on a blocklist,
// sweep erases every blocked ID from the archives (those newer than what
// earlier batches covered), unblock takes IDs off. See package blocklist
// for the list's storage.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/store"
)

// blockFlags are the flags of delete and block, beside those of erase.
type blockFlags struct {
	block     bool
	blocklist string
	signers   string
	full      bool
	overlap   time.Duration
}

func (b *blockFlags) blocklistFlag(fs *flag.FlagSet) {
	fs.StringVar(&b.blocklist, "blocklist", "", "the blocklist: a `DIR` or s3://bucket/prefix, outside the data (it may be the audit location)")
	fs.StringVar(&b.signers, "blocklist-signers", "", "also trust the signers of this ssh-keygen allowed_signers `FILE` (namespace "+blocklist.Namespace+") for the blocklist's changes; the public half of --key is always trusted")
}

// trust returns whom the blocklist's changes must be signed by: the public
// half of key (the run's signing key, nil for a dry run without one) and
// the --blocklist-signers. A list is never checked against the keys its
// own signatures carry, so one of the two is needed for a list with
// changes (openBlocklist says so).
func (b *blockFlags) trust(key ed25519.PrivateKey) (*blocklist.Trust, error) {
	t := &blocklist.Trust{}
	if key != nil {
		t.Keys = append(t.Keys, key.Public().(ed25519.PublicKey))
	}
	if b.signers != "" {
		data, err := os.ReadFile(b.signers)
		if err != nil {
			return nil, usagef("--blocklist-signers: %v", err)
		}
		if t.Signers, err = sshsig.ParseAllowedSigners(strings.NewReader(string(data))); err != nil {
			return nil, usagef("--blocklist-signers %s: %v", b.signers, err)
		}
		if len(t.Signers) == 0 {
			return nil, usagef("--blocklist-signers %s: no ssh-ed25519 signer in it", b.signers)
		}
	}
	return t, nil
}

func (b *blockFlags) eraseFlags(fs *flag.FlagSet) {
	fs.BoolVar(&b.block, "block", false, "also put the IDs on the --blocklist (as HMAC tags under --id-key), so that scrub sweep erases them from later exports")
	b.blocklistFlag(fs)
}

func (b *blockFlags) sweepFlags(fs *flag.FlagSet) {
	b.blocklistFlag(fs)
	fs.BoolVar(&b.full, "full", false, "sweep every archive, not only those written since the last sweep")
	fs.DurationVar(&b.overlap, "overlap", defaultOverlap, "start this `DURATION` before the last sweep's watermark: a margin for clock skew between this machine and the store, and for uploads that began before the last sweep and ended after it")
}

// defaultOverlap is the default of sweep --overlap.
const defaultOverlap = time.Hour

func (b *blockFlags) checkErase() error {
	switch {
	case b.block && b.blocklist == "":
		return usagef("--block needs --blocklist DIR or s3://bucket/prefix")
	case !b.block && b.blocklist != "":
		return usagef("--blocklist without --block: erase changes the blocklist only with --block")
	}
	return nil
}

// openBlocklist opens and loads the blocklist at where, which must not be
// inside a local source (its files would be taken for archives) or hold
// one, and checks every change against trust. With unsigned it opens a
// list of an earlier release, to adopt it.
func openBlocklist(ctx context.Context, op *store.Opener, where string, idKey *audit.IDKey, trust *blocklist.Trust, sources []string, unsigned bool) (*blocklist.List, error) {
	if err := checkApart(where, sources, "the blocklist %s and the source %s overlap; keep the blocklist outside the data"); err != nil {
		return nil, err
	}
	loc, err := openFiles(ctx, op, "audit location", where)
	if err != nil {
		return nil, err
	}
	open := blocklist.Open
	if unsigned {
		open = blocklist.OpenUnsigned
	}
	list, err := open(ctx, loc, idKey, trust)
	if errors.Is(err, blocklist.ErrNoTrust) {
		return nil, usagef("%v: give --key (its public half is trusted; or $%s) or --blocklist-signers FILE", err, envSigningKey)
	}
	return list, err
}

// adder returns the started hook of erase --block: it puts the batch's IDs
// on the blocklist before any archive is read. The list is loaded (and a
// bad one refused) before the batch begins.
func (b *blockFlags) adder(ctx context.Context, o *eraseOptions, env Env, spec batchSpec) (func(*batch.Batch) error, error) {
	idKey, err := loadIDKey(env.Stderr, o.idKey)
	if err != nil {
		return nil, err
	}
	if idKey == nil {
		return nil, usagef("--block needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	key, err := loadSigningKey(env.Stderr, o.key)
	if err != nil {
		return nil, err
	}
	trust, err := b.trust(key)
	if err != nil {
		return nil, err
	}
	list, err := openBlocklist(ctx, o.opener(env, false), b.blocklist, idKey, trust, o.sources, false)
	if err != nil {
		return nil, err
	}
	var tags []string
	spec.ids.Each(idKey, func(_, tag string) { tags = append(tags, tag) })
	slices.Sort(tags)
	tags = slices.Compact(tags)
	return func(w *batch.Batch) error {
		if c, ok := list.ByBatch(w.Name()); ok {
			// A resumed batch: its change (logged before it was made) is in.
			fmt.Fprintf(env.Stderr, "scrub: blocklist %s: this batch's change %s is in already\n", list, c.Name)
			return nil
		}
		already := 0
		for _, t := range tags {
			if list.Has(t) {
				already++
			}
		}
		if o.dryRun {
			fmt.Fprintf(env.Stderr, "scrub: dry run: would add %d IDs to the blocklist %s (%d on it already)\n", len(tags)-already, list, already)
			return nil
		}
		ev := audit.BlocklistChange{Blocklist: b.blocklist, Tags: tags, AlreadyListed: &already, ListTags: list.Len(),
			Scope: w.Request().Scope(b.blocklist)}
		if already == len(tags) {
			fmt.Fprintf(env.Stderr, "scrub: all %d IDs are on the blocklist %s already\n", len(tags), list)
			return w.Event(audit.EventBlocklistAdd, ev)
		}
		p, err := list.Prepare(ctx, key, blocklist.OpAdd, w.Name(), batch.Operator(), o.ticket, tags)
		if err != nil {
			return err
		}
		// The event goes first: a change file never exists without the
		// event that names it (a crash between the two leaves an event
		// whose file is missing, and the resumed batch adds again).
		ev.Change, ev.SHA256, ev.ListTags = p.Name, p.SHA256, list.Len()+len(tags)-already
		if err := w.Event(audit.EventBlocklistAdd, ev); err != nil {
			return err
		}
		if err := p.Store(ctx); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "scrub: %d IDs added to the blocklist %s (%s; %d were on it already)\n", len(tags)-already, list, p.Name, already)
		return nil
	}, nil
}

var printSweepHelp = printFlags("Usage: scrub sweep --blocklist LOC --key FILE --id-key FILE [flags] SOURCE...\n\n"+
	"Erases every ID on the blocklist (put there by scrub erase --block) from the\n"+
	"archives below each SOURCE, as one audited batch. Typically run nightly: it\n"+
	"reads only the archives written since the sweeps and erase --block batches of\n"+
	"the same sources and blocklist covered the list's IDs (less --overlap), and\n"+
	"every archive when an ID has no such batch yet, or with --full. A sweep with\n"+
	"nothing new to read succeeds with 0 archives and is audited all the same.\n",
	"\nArchive times are the store's (S3 LastModified, file mtime): a copy that keeps\n"+
		"old times (rsync -a, cp -p) hides an archive from incremental sweeps, so run a\n"+
		"--full sweep now and then. Exit codes: 0 done, 1 failure, 2 usage error, 3 partial.\n",
	"scrub sweep --blocklist s3://compliance/blocklist --key keys/signer --id-key keys/id.key --audit s3://compliance/audit s3://exports/telemetry")

func runSweep(ctx context.Context, args []string, env Env) error {
	var bf blockFlags
	o, err := parseEraseLike("sweep", args, env.Stderr, printSweepHelp, bf.sweepFlags)
	if err != nil {
		return err
	}
	switch {
	case bf.blocklist == "":
		return usagef("--blocklist DIR or s3://bucket/prefix is required")
	case bf.overlap < 0:
		return usagef("--overlap must not be negative")
	}
	idKey, err := loadIDKey(env.Stderr, o.idKey)
	if err != nil {
		return err
	}
	if idKey == nil {
		return usagef("a sweep needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	// The list is checked before the batch begins: a change that is not
	// signed by a trusted key stops the sweep before anything is read.
	key, err := loadSigningKey(env.Stderr, o.key)
	if err != nil {
		return err
	}
	trust, err := bf.trust(key)
	if err != nil {
		return err
	}
	op := o.opener(env, false)
	list, err := openBlocklist(ctx, op, bf.blocklist, idKey, trust, o.sources, false)
	if err != nil {
		return err
	}
	if n := list.Heads(); n > 1 {
		fmt.Fprintf(env.Stderr, "scrub: blocklist %s: its last %d changes were made at once (none follows another); they apply in the order of their names (times)\n", list, n)
	}
	tags := list.Tags()
	matcher, err := blocklist.NewMatcher(idKey, tags)
	if err != nil {
		return err
	}
	ev := audit.Sweep{Blocklist: bf.blocklist, ListState: blocklist.State(tags), ListTags: len(tags),
		Overlap: bf.overlap.String(), Scope: o.request(batch.Sweep).Scope(bf.blocklist)}
	var since time.Time
	switch {
	case len(tags) == 0:
		ev.Mode, ev.Reason = "empty", "the blocklist is empty"
	case bf.full:
		ev.Mode, ev.Reason = "full", "--full"
	default:
		loc, err := openFiles(ctx, op, "audit location", o.audit)
		if err != nil {
			return err
		}
		cov, err := blocklist.Coverage(ctx, loc, idKey.ID(), ev.Scope, tags)
		if err != nil {
			return err
		}
		if cov.Uncovered > 0 {
			ev.Mode = "full"
			ev.Reason = fmt.Sprintf("%d of the %d blocked IDs have no complete sweep or erase --block of these sources and blocklist in %s", cov.Uncovered, len(tags), loc)
		} else {
			since = cov.Since.Add(-bf.overlap)
			ev.Mode, ev.After, ev.Since = "incremental", cov.Batch, batch.EventTime(since)
			ev.Reason = fmt.Sprintf("archives written since %s (%s, less --overlap %s)", batch.EventTime(cov.Since), cov.Batch, bf.overlap)
		}
	}
	// Select runs in the listing's goroutine, one source after another.
	var seen, older int
	selects := func(obj scrub.Object) bool {
		seen++
		switch {
		case ev.Mode == "empty":
			return false
		case ev.Mode == "full", obj.ModTime.IsZero():
			return true
		case obj.ModTime.Before(since):
			older++
			return false
		}
		return true
	}
	spec := batchSpec{
		command: batch.Sweep, set: matcher,
		// The request is fingerprinted by the tags: no clear ID exists.
		ids: batch.IDs{N: len(tags), Each: func(_ *audit.IDKey, fn func(id, tag string)) {
			for _, t := range tags {
				fn(t, t)
			}
		}},
		selects: selects,
		started: func(b *batch.Batch) error {
			ev.Watermark = batch.EventTime(time.Now())
			fmt.Fprintf(env.Stderr, "scrub: sweep of %d blocked IDs, %s: %s\n", len(tags), ev.Mode, ev.Reason)
			return b.Event(audit.EventSweep, ev)
		},
		// Archives that are all older than the last sweep are nothing
		// new: a success. Sources without any archive are an error, as
		// for erase (a mistyped SOURCE).
		noArchives: func() error {
			if seen > 0 {
				return nil
			}
			return scrub.ErrNoArchives
		},
	}
	err = o.run(ctx, env, spec)
	if older > 0 {
		fmt.Fprintf(env.Stderr, "scrub: sweep: %d archives written before %s not read (run with --full to read them)\n", older, batch.EventTime(since))
	}
	return err
}

var printUnblockHelp = printFlags("Usage: scrub unblock --ids FILE --blocklist LOC --key FILE --id-key FILE [flags]\n"+
	"       scrub unblock --adopt-unsigned --blocklist LOC --key FILE --id-key FILE [flags]\n\n"+
	"Takes the listed IDs off the blocklist: later sweeps keep their rows. No\n"+
	"archive is touched, and rows erased before stay erased. The change is an\n"+
	"audit batch of its own (command unblock, event blocklist_remove).\n\n"+
	"With --adopt-unsigned, takes a blocklist written by an earlier scrub, whose\n"+
	"changes are not signed, under signatures: one signed adopt change records\n"+
	"each of them (name and SHA-256) and the IDs they leave on the list (event\n"+
	audit.EventBlocklistAdopt+"). Check the list first: what it holds then is trusted.\n", "",
	"scrub unblock --ids ids.txt --blocklist s3://compliance/blocklist --key keys/signer --id-key keys/id.key --audit s3://compliance/audit --ticket GDPR-1234")

func runUnblock(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub unblock", flag.ContinueOnError)
	idsFile := fs.String("ids", "", "`FILE` of client IDs to take off the list, one per line (- for standard input); required")
	adopt := fs.Bool("adopt-unsigned", false, "take the unsigned changes of a blocklist written by an earlier scrub under signatures (no --ids): check the list first")
	var bf blockFlags
	bf.blocklistFlag(fs)
	keyFile := fs.String("key", "", "Ed25519 signing key `FILE` for the audit bundle and the change (default $"+envSigningKey+"); required")
	idKeyFile := fs.String("id-key", "", "the ID key `FILE` the blocklist is under (default $"+envIDKey+"); required")
	where := fs.String("audit", "scrub-audit", "where the audit bundle goes: a `DIR` or s3://bucket/prefix")
	ticket := fs.String("ticket", "", "request `REF` (ticket, case number) recorded in the audit log and the change")
	endpoint := fs.String("endpoint", "", "S3 endpoint `URL` for s3:// locations (default: AWS, or $AWS_ENDPOINT_URL)")
	takeOver := fs.Bool("take-over-lock", false, "take over the lock of this request in an s3:// audit location that a run on another host left (its lease ran out); only when that run is dead")
	var anchor anchorFlags
	anchor.register(fs)
	pos, err := parseArgs(fs, args, env.Stderr, printUnblockHelp)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q: unblock touches no archive", pos[0])
	case *adopt && *idsFile != "":
		return usagef("--adopt-unsigned takes no --ids: adopt the list, then unblock")
	case *idsFile == "" && !*adopt:
		return usagef("--ids FILE is required")
	case bf.blocklist == "":
		return usagef("--blocklist DIR or s3://bucket/prefix is required")
	}
	key, err := loadSigningKey(env.Stderr, *keyFile)
	if err != nil {
		return err
	}
	idKey, err := loadIDKey(env.Stderr, *idKeyFile)
	if err != nil {
		return err
	}
	switch {
	case key == nil:
		return usagef("unblock needs a key to sign its audit bundle and its change: --key FILE or $%s", envSigningKey)
	case idKey == nil:
		return usagef("unblock needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	trust, err := bf.trust(key)
	if err != nil {
		return err
	}
	set := ids.New()
	if !*adopt {
		// Taking a placeholder off the blocklist erases nothing.
		if set, err = loadIDs(*idsFile, env.Stdin, true); err != nil {
			return err
		}
	}
	op := store.New(store.Options{Endpoint: *endpoint})
	list, err := openBlocklist(ctx, op, bf.blocklist, idKey, trust, nil, *adopt)
	var adopted error // the refusal of a list adopted already
	if *adopt && errors.Is(err, blocklist.ErrAdopted) {
		adopted, err = err, nil
	}
	if err != nil {
		return err
	}
	loc, err := openFiles(ctx, op, "audit location", *where)
	if err != nil {
		return err
	}
	if adopted != nil {
		if list, err = interruptedAdoption(ctx, op, bf.blocklist, idKey, trust, loc, adopted); err != nil {
			return err
		}
	}
	var listed []string
	set.Each(func(id string) {
		if t := idKey.Tag([]byte(id)); list.Has(t) {
			listed = append(listed, t)
		}
	})
	slices.Sort(listed)
	req := &batch.Request{Command: batch.Unblock, IDsFile: *idsFile, Blocklist: bf.blocklist}
	cfg := batch.Config{
		Location: loc, Key: key, IDKey: idKey, Version: env.Version, Commit: env.Commit, Ticket: *ticket, Stderr: env.Stderr,
		TakeOverLock: *takeOver,
	}
	if err := anchor.apply(ctx, op, *where, &cfg); err != nil {
		return err
	}
	b, err := batch.Begin(ctx, req, batch.IDs{N: set.Len(), Each: eachTagged(set)}, cfg)
	if err != nil {
		return err
	}
	var runErr error
	if *adopt {
		runErr = adoptList(ctx, b, list, key, bf.blocklist, *ticket, env)
	} else {
		runErr = unblock(ctx, b, list, key, bf.blocklist, *ticket, listed, set.Len(), env)
	}
	sealed, err := b.Seal(ctx, runErr)
	if err != nil {
		return errors.Join(runErr, err)
	}
	printSealed(env.Stderr, sealed, loc, key, "")
	return runErr
}

// unblock logs and makes the remove change of the listed tags.
func unblock(ctx context.Context, b *batch.Batch, list *blocklist.List, key ed25519.PrivateKey, where, ticket string, listed []string, n int, env Env) error {
	if c, ok := list.ByBatch(b.Name()); ok {
		fmt.Fprintf(env.Stderr, "scrub: blocklist %s: this batch's change %s is in already\n", list, c.Name)
		return nil
	}
	notListed := n - len(listed)
	ev := audit.BlocklistChange{Blocklist: where, Tags: listed, NotListed: &notListed, ListTags: list.Len()}
	if len(listed) == 0 {
		fmt.Fprintf(env.Stderr, "scrub: none of the %d IDs is on the blocklist %s; nothing changed\n", n, list)
		ev.Tags = []string{}
		return b.Event(audit.EventBlocklistRemove, ev)
	}
	p, err := list.Prepare(ctx, key, blocklist.OpRemove, b.Name(), batch.Operator(), ticket, listed)
	if err != nil {
		return err
	}
	ev.Change, ev.SHA256, ev.ListTags = p.Name, p.SHA256, list.Len()-len(listed)
	if err := b.Event(audit.EventBlocklistRemove, ev); err != nil {
		return err
	}
	if err := p.Store(ctx); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "scrub: %d IDs taken off the blocklist %s (%s); %d of the listed IDs were not on it\n", len(listed), list, p.Name, notListed)
	return nil
}

// interruptedAdoption opens an adopted list for --adopt-unsigned when the
// batch that adopted it is unfinished in the audit location loc: a run
// interrupted after it stored the adopt change, before it sealed the
// batch, which this run resumes and seals. Otherwise the list's adoption
// is over, and refused is the error.
func interruptedAdoption(ctx context.Context, op *store.Opener, where string, idKey *audit.IDKey, trust *blocklist.Trust, loc audit.Location, refused error) (*blocklist.List, error) {
	list, err := openBlocklist(ctx, op, where, idKey, trust, nil, false)
	if err != nil {
		return nil, err
	}
	c, ok := list.Adoption()
	if !ok {
		return nil, refused
	}
	journals, err := audit.Journals(ctx, loc)
	if err != nil {
		return nil, err
	}
	for _, j := range journals {
		if j.Batch == c.Batch && j.Start.Command == batch.Unblock {
			return list, nil
		}
	}
	return nil, refused
}

// adoptList logs and makes the adopt change of a list of an earlier
// release: the event first, as for the other changes.
func adoptList(ctx context.Context, b *batch.Batch, list *blocklist.List, key ed25519.PrivateKey, where, ticket string, env Env) error {
	if c, ok := list.ByBatch(b.Name()); ok {
		fmt.Fprintf(env.Stderr, "scrub: blocklist %s: this batch's change %s is in already\n", list, c.Name)
		return nil
	}
	if c, ok := list.Adoption(); ok {
		// Its batch was sealed by Begin (interrupted while sealing), or is
		// not this request's.
		return fmt.Errorf("blocklist %s: %s (batch %s): %w", list, c.Name, c.Batch, blocklist.ErrAdopted)
	}
	p, err := list.Adopt(ctx, key, b.Name(), batch.Operator(), ticket)
	if err != nil {
		return err
	}
	ev := audit.BlocklistChange{Blocklist: where, Change: p.Name, SHA256: p.SHA256, Tags: p.Change.Tags, ListTags: len(p.Change.Tags)}
	if err := b.Event(audit.EventBlocklistAdopt, ev); err != nil {
		return err
	}
	if err := p.Store(ctx); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "scrub: blocklist %s adopted: %d unsigned changes of an earlier scrub, %d IDs on the list, vouched for by %s\n",
		list, len(p.Change.Legacy), len(p.Change.Tags), p.Name)
	return nil
}
