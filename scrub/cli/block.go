package cli

// Delete and block: erase --block puts the erased IDs on a blocklist,
// sweep erases every blocked ID from the archives (those newer than what
// earlier batches covered), unblock takes IDs off. See package blocklist
// for the list's storage.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/blocklist"
)

// The audit events of delete and block.
const (
	eventBlocklistAdd    = "blocklist_add"
	eventBlocklistRemove = "blocklist_remove"
	eventSweep           = "sweep"
)

// blockFlags are the flags of delete and block, beside those of erase.
type blockFlags struct {
	block     bool
	blocklist string
	full      bool
	overlap   time.Duration
}

func (b *blockFlags) blocklistFlag(fs *flag.FlagSet) {
	fs.StringVar(&b.blocklist, "blocklist", "", "the blocklist: a `DIR` or s3://bucket/prefix, outside the data (it may be the audit location)")
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
// inside a local source (its files would be taken for archives) or hold one.
func openBlocklist(ctx context.Context, where, endpoint string, idKey *audit.IDKey, sources []string) (*blocklist.List, error) {
	if !strings.HasPrefix(where, "s3://") {
		a, err := filepath.Abs(where)
		if err != nil {
			return nil, err
		}
		for _, s := range sources {
			if strings.HasPrefix(s, "s3://") {
				continue
			}
			p, err := filepath.Abs(s)
			if err != nil {
				return nil, err
			}
			if within(a, p) || within(p, a) {
				return nil, usagef("the blocklist %s and the source %s overlap; keep the blocklist outside the data", where, s)
			}
		}
	}
	loc, err := auditLocation(ctx, where, endpoint)
	if err != nil {
		return nil, err
	}
	return blocklist.Open(ctx, loc, idKey)
}

// operatorName is who runs the command, for the audit log and the list.
func operatorName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// scope fingerprints what a batch covers: its sources and selection (the
// settings that make two erasures the same request, whatever the IDs) and
// the blocklist. A sweep takes only batches of the same scope as having
// cleaned archives before it.
func (o *eraseOptions) scope(blocklist string) string {
	settings := o.requestSettings("scope")
	if o.shard != nil {
		// A share covers only its own archives.
		settings += "\nshard " + o.shard.String()
	}
	sum := sha256.Sum256([]byte(settings + "\n" + blocklist))
	return hex.EncodeToString(sum[:])
}

// blocklistEvent is the data of blocklist_add and blocklist_remove.
type blocklistEvent struct {
	Blocklist string `json:"blocklist"`
	// Change is the change file and SHA256 its content; both are empty
	// when nothing changed (every ID was on the list already, or none
	// was on it).
	Change string `json:"change,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Tags are those of the request's IDs: for an add all of them, for
	// a remove those that were on the list.
	Tags []string `json:"id_hmacs"`
	// AlreadyListed (add) and NotListed (remove) count the IDs the
	// change did not concern.
	AlreadyListed *int `json:"already_listed,omitempty"`
	NotListed     *int `json:"not_listed,omitempty"`
	// ListTags counts the tags on the list after the change.
	ListTags int `json:"list_tags"`
	// Scope (add) is that of the erase batch (eraseOptions.scope): its
	// time is when its archives were clean of the tags, for sweep.
	Scope string `json:"scope,omitempty"`
}

// adder returns the started hook of erase --block: it puts the batch's IDs
// on the blocklist before any archive is read. The list is loaded (and a
// bad one refused) before the batch begins.
func (b *blockFlags) adder(ctx context.Context, o *eraseOptions, env Env, spec batchSpec) (func(*audit.Writer) error, error) {
	idKey, err := loadIDKey(o.idKey)
	if err != nil {
		return nil, err
	}
	if idKey == nil {
		return nil, usagef("--block needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	list, err := openBlocklist(ctx, b.blocklist, o.endpoint, idKey, o.sources)
	if err != nil {
		return nil, err
	}
	var tags []string
	spec.each(idKey, func(_, tag string) { tags = append(tags, tag) })
	slices.Sort(tags)
	tags = slices.Compact(tags)
	return func(w *audit.Writer) error {
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
		ev := blocklistEvent{Blocklist: b.blocklist, Tags: tags, AlreadyListed: &already, ListTags: list.Len(), Scope: o.scope(b.blocklist)}
		if already == len(tags) {
			fmt.Fprintf(env.Stderr, "scrub: all %d IDs are on the blocklist %s already\n", len(tags), list)
			return w.Event(eventBlocklistAdd, ev)
		}
		p, err := list.Prepare(blocklist.OpAdd, w.Name(), operatorName(), o.ticket, tags)
		if err != nil {
			return err
		}
		// The event goes first: a change file never exists without the
		// event that names it (a crash between the two leaves an event
		// whose file is missing, and the resumed batch adds again).
		ev.Change, ev.SHA256, ev.ListTags = p.Name, p.SHA256, list.Len()+len(tags)-already
		if err := w.Event(eventBlocklistAdd, ev); err != nil {
			return err
		}
		if err := p.Store(ctx); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "scrub: %d IDs added to the blocklist %s (%s; %d were on it already)\n", len(tags)-already, list, p.Name, already)
		return nil
	}, nil
}

// sweepEvent is the data of a sweep's sweep event, logged before the
// archives are listed.
type sweepEvent struct {
	Blocklist string `json:"blocklist"`
	// ListState is blocklist.State of the swept tags, ListTags their
	// number.
	ListState string `json:"list_state"`
	ListTags  int    `json:"list_tags"`
	// Mode is full (every archive), incremental (archives written
	// since Since) or empty (the list is empty: no archive is read);
	// Reason says why.
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
	// After is the batch whose coverage Since starts from, less
	// Overlap.
	After   string `json:"after,omitempty"`
	Overlap string `json:"overlap"`
	// Watermark is when this sweep began listing, by this machine's
	// clock: the archives written before it are clean of the list's
	// tags once the batch is complete.
	Watermark string `json:"watermark"`
	Scope     string `json:"scope"`
}

const eventTime = "2006-01-02T15:04:05.000Z"

var printSweepHelp = printFlags("Usage: scrub sweep --blocklist LOC --key FILE --id-key FILE [flags] SOURCE...\n\n"+
	"Erases every ID on the blocklist (put there by scrub erase --block) from the\n"+
	"archives below each SOURCE, as one audited batch. Typically run nightly: it\n"+
	"reads only the archives written since the sweeps and erase --block batches of\n"+
	"the same sources and blocklist covered the list's IDs (less --overlap), and\n"+
	"every archive when an ID has no such batch yet, or with --full. A sweep with\n"+
	"nothing new to read succeeds with 0 archives and is audited all the same.\n",
	"\nArchive times are the store's (S3 LastModified, file mtime): a copy that keeps\n"+
		"old times (rsync -a, cp -p) hides an archive from incremental sweeps, so run a\n"+
		"--full sweep now and then. Exit codes: 0 done, 1 failure, 2 usage error, 3 partial.\n")

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
	idKey, err := loadIDKey(o.idKey)
	if err != nil {
		return err
	}
	if idKey == nil {
		return usagef("a sweep needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	list, err := openBlocklist(ctx, bf.blocklist, o.endpoint, idKey, o.sources)
	if err != nil {
		return err
	}
	tags := list.Tags()
	matcher, err := blocklist.NewMatcher(idKey, tags)
	if err != nil {
		return err
	}
	ev := sweepEvent{Blocklist: bf.blocklist, ListState: blocklist.State(tags), ListTags: len(tags),
		Overlap: bf.overlap.String(), Scope: o.scope(bf.blocklist)}
	var since time.Time
	switch {
	case len(tags) == 0:
		ev.Mode, ev.Reason = "empty", "the blocklist is empty"
	case bf.full:
		ev.Mode, ev.Reason = "full", "--full"
	default:
		loc, err := auditLocation(ctx, o.audit, o.endpoint)
		if err != nil {
			return err
		}
		cov, err := coverage(ctx, loc, idKey.ID(), ev.Scope, tags)
		if err != nil {
			return err
		}
		if cov.uncovered > 0 {
			ev.Mode = "full"
			ev.Reason = fmt.Sprintf("%d of the %d blocked IDs have no complete sweep or erase --block of these sources and blocklist in %s", cov.uncovered, len(tags), loc)
		} else {
			since = cov.since.Add(-bf.overlap)
			ev.Mode, ev.After, ev.Since = "incremental", cov.batch, since.Format(eventTime)
			ev.Reason = fmt.Sprintf("archives written since %s (%s, less --overlap %s)", cov.since.Format(eventTime), cov.batch, bf.overlap)
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
		command: "sweep", set: matcher, n: len(tags),
		// The request is fingerprinted by the tags: no clear ID exists.
		each: func(_ *audit.IDKey, fn func(id, tag string)) {
			for _, t := range tags {
				fn(t, t)
			}
		},
		selects: selects,
		started: func(w *audit.Writer) error {
			ev.Watermark = time.Now().UTC().Format(eventTime)
			fmt.Fprintf(env.Stderr, "scrub: sweep of %d blocked IDs, %s: %s\n", len(tags), ev.Mode, ev.Reason)
			return w.Event(eventSweep, ev)
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
		fmt.Fprintf(env.Stderr, "scrub: sweep: %d archives written before %s not read (run with --full to read them)\n", older, since.Format(eventTime))
	}
	return err
}

// covered is what earlier batches tell a sweep about the list's tags.
type covered struct {
	// since is the oldest, over the tags, of the newest time at which a
	// complete batch of the scope had every archive clean of the tag;
	// batch is that batch.
	since time.Time
	batch string
	// uncovered counts the tags no such batch had.
	uncovered int
}

// coverage reads the audit logs in loc, newest first, until every tag is
// covered by a complete batch (not a dry run) of the same ID key and scope:
// a sweep that swept it (as of the sweep's watermark), or an erase --block
// that added it (as of its blocklist_add event, before it listed).
func coverage(ctx context.Context, loc audit.Location, keyID, scope string, tags []string) (*covered, error) {
	need := make(map[string]bool, len(tags))
	for _, t := range tags {
		need[t] = true
	}
	c := &covered{}
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
				if c.batch == "" || at.Before(c.since) {
					c.since, c.batch = at, b.Name
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
	c.uncovered = len(need)
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
			case eventSweep:
				var ev sweepEvent
				if err := json.Unmarshal(e.Data, &ev); err != nil {
					return at, nil, fmt.Errorf("sweep event %d: %w", e.Seq, err)
				}
				if ev.Scope != scope {
					return at, nil, nil
				}
				t, err := time.Parse(eventTime, ev.Watermark)
				if err != nil {
					return at, nil, fmt.Errorf("sweep event %d: watermark: %w", e.Seq, err)
				}
				// A resumed sweep logs one per run; the last run's
				// listing is the one that completed the batch.
				at, found = t, true
			case "ids":
				var ev struct {
					Tags []string `json:"id_hmacs"`
				}
				if err := json.Unmarshal(e.Line, &ev); err != nil {
					return at, nil, fmt.Errorf("ids event %d: %w", e.Seq, err)
				}
				tags = append(tags, ev.Tags...)
			}
		}
		if !found {
			return at, nil, nil
		}
		return at, tags, nil
	case "erase":
		for _, e := range b.Events {
			if e.Type != eventBlocklistAdd {
				continue
			}
			var ev blocklistEvent
			if err := json.Unmarshal(e.Data, &ev); err != nil {
				return at, nil, fmt.Errorf("%s event %d: %w", eventBlocklistAdd, e.Seq, err)
			}
			if ev.Scope != scope {
				return at, nil, nil
			}
			return e.Time, ev.Tags, nil
		}
	}
	return at, nil, nil
}

var printUnblockHelp = printFlags("Usage: scrub unblock --ids FILE --blocklist LOC --key FILE --id-key FILE [flags]\n\n"+
	"Takes the listed IDs off the blocklist: later sweeps keep their rows. No\n"+
	"archive is touched, and rows erased before stay erased. The change is an\n"+
	"audit batch of its own (command unblock, event blocklist_remove).\n", "")

func runUnblock(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub unblock", flag.ContinueOnError)
	idsFile := fs.String("ids", "", "`FILE` of client IDs to take off the list, one per line (- for standard input); required")
	var bf blockFlags
	bf.blocklistFlag(fs)
	keyFile := fs.String("key", "", "Ed25519 signing key `FILE` for the audit bundle (default $"+envSigningKey+"); required")
	idKeyFile := fs.String("id-key", "", "the ID key `FILE` the blocklist is under (default $"+envIDKey+"); required")
	where := fs.String("audit", "scrub-audit", "where the audit bundle goes: a `DIR` or s3://bucket/prefix")
	ticket := fs.String("ticket", "", "request `REF` (ticket, case number) recorded in the audit log and the change")
	endpoint := fs.String("endpoint", "", "S3 endpoint `URL` for s3:// locations (default: AWS, or $AWS_ENDPOINT_URL)")
	pos, err := parseArgs(fs, args, env.Stderr, printUnblockHelp)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q: unblock touches no archive", pos[0])
	case *idsFile == "":
		return usagef("--ids FILE is required")
	case bf.blocklist == "":
		return usagef("--blocklist DIR or s3://bucket/prefix is required")
	}
	key, err := loadSigningKey(*keyFile)
	if err != nil {
		return err
	}
	idKey, err := loadIDKey(*idKeyFile)
	if err != nil {
		return err
	}
	switch {
	case key == nil:
		return usagef("unblock needs a key to sign its audit bundle: --key FILE or $%s", envSigningKey)
	case idKey == nil:
		return usagef("unblock needs the ID key the blocklist is under: --id-key FILE or $%s", envIDKey)
	}
	set, err := loadIDs(*idsFile, env.Stdin)
	if err != nil {
		return err
	}
	list, err := openBlocklist(ctx, bf.blocklist, *endpoint, idKey, nil)
	if err != nil {
		return err
	}
	loc, err := auditLocation(ctx, *where, *endpoint)
	if err != nil {
		return err
	}
	var clear, listed []string
	set.Each(func(id string) {
		clear = append(clear, id)
		if t := idKey.Tag([]byte(id)); list.Has(t) {
			listed = append(listed, t)
		}
	})
	slices.Sort(clear)
	slices.Sort(listed)
	settings, _ := json.Marshal(map[string]any{"command": "unblock", "blocklist": bf.blocklist})
	host, _ := os.Hostname()
	st := audit.Start{
		Command: "unblock", Tool: audit.Tool{Name: "scrub", Version: env.Version, Commit: env.Commit, Go: runtime.Version()},
		Operator: operatorName(), Host: host, Ticket: *ticket, Sources: []string{},
		Options: map[string]any{"ids_file": *idsFile, "blocklist": bf.blocklist},
		IDs:     set.Len(), IDKey: idKey.ID(), Request: idKey.Request(clear, string(settings)),
	}
	w, err := beginUnblock(ctx, loc, key, st, env)
	if err != nil {
		return err
	}
	runErr := unblock(ctx, w, list, bf.blocklist, *ticket, listed, set.Len(), env)
	result := audit.ResultComplete
	if runErr != nil {
		result = audit.ResultFailed
	}
	sealed, err := w.Finish(context.WithoutCancel(ctx), result, runErr)
	if err != nil {
		err = fmt.Errorf("the blocklist change ran, but its audit bundle could not be stored (its journal is %s; the same command again seals it): %w", w.Spool(), err)
		return errors.Join(runErr, err)
	}
	fmt.Fprintf(env.Stderr, "scrub: audit bundle %s in %s (signed by %s)\nscrub: audit head %s\n",
		sealed.Batch, loc, sshsig.Fingerprint(key.Public().(ed25519.PublicKey)), sealed.Head)
	return runErr
}

// beginUnblock begins the unblock's audit batch, or resumes the unfinished
// one of the same request an interrupted run left.
func beginUnblock(ctx context.Context, loc audit.Location, key ed25519.PrivateKey, st audit.Start, env Env) (*audit.Writer, error) {
	spool := os.TempDir()
	if d, ok := loc.(audit.Dir); ok {
		spool = string(d)
	}
	journals, err := audit.Journals(ctx, loc)
	if err != nil {
		return nil, err
	}
	for _, j := range journals {
		if j.Start.Request != st.Request {
			continue
		}
		w, err := audit.Resume(loc, spool, key, j, st)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", j.Batch, err)
		}
		if j.Ended {
			// Interrupted while sealing: seal it, then start anew.
			if _, err := w.Seal(ctx); err != nil {
				return nil, fmt.Errorf("seal the interrupted batch %s: %w", j.Batch, err)
			}
			fmt.Fprintf(env.Stderr, "scrub: sealed %s, which an interrupted run had finished\n", j.Batch)
			continue
		}
		fmt.Fprintf(env.Stderr, "scrub: resuming %s, an unblock of the same IDs that was interrupted\n", j.Batch)
		return w, nil
	}
	w, err := audit.Begin(loc, spool, key, st)
	if err != nil {
		return nil, fmt.Errorf("audit location %s: %w", loc, err)
	}
	return w, nil
}

// unblock logs and makes the remove change of the listed tags.
func unblock(ctx context.Context, w *audit.Writer, list *blocklist.List, where, ticket string, listed []string, n int, env Env) error {
	if c, ok := list.ByBatch(w.Name()); ok {
		fmt.Fprintf(env.Stderr, "scrub: blocklist %s: this batch's change %s is in already\n", list, c.Name)
		return nil
	}
	notListed := n - len(listed)
	ev := blocklistEvent{Blocklist: where, Tags: listed, NotListed: &notListed, ListTags: list.Len()}
	if len(listed) == 0 {
		fmt.Fprintf(env.Stderr, "scrub: none of the %d IDs is on the blocklist %s; nothing changed\n", n, list)
		ev.Tags = []string{}
		return w.Event(eventBlocklistRemove, ev)
	}
	p, err := list.Prepare(blocklist.OpRemove, w.Name(), operatorName(), ticket, listed)
	if err != nil {
		return err
	}
	ev.Change, ev.SHA256, ev.ListTags = p.Name, p.SHA256, list.Len()-len(listed)
	if err := w.Event(eventBlocklistRemove, ev); err != nil {
		return err
	}
	if err := p.Store(ctx); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "scrub: %d IDs taken off the blocklist %s (%s); %d of the listed IDs were not on it\n", len(listed), list, p.Name, notListed)
	return nil
}
