package cli

// The request queue: queue add records an erasure request (its IDs only
// as HMAC tags), queue list shows what is pending and due, queue run
// erases every pending request in one pass and marks them done once their
// batch is complete, queue verify checks the queue's signatures and chain
// (and, with --audit, the batches its done changes name). See package
// queue for the storage.

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/datamap"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/queue"
	"github.com/scrubtool/scrub/scrub/store"
)

// ErrOverdue is returned by queue list when a pending request is past its
// due date (exit code 5), so that a nightly job can alert.
var ErrOverdue = errors.New("overdue requests in the queue")

// routingAll is the routing a queue run records without a data map.
const routingAll = "all-columns"

// routingMap is the routing a queue run records with --map.
const routingMap = "data-map"

const queueUsage = `Usage:
  scrub queue add --queue LOC --ids FILE --ticket REF [--type TYPE] [--map FILE] [--received DATE] [--due DATE] --key FILE --id-key FILE
  scrub queue list --queue LOC [--json] (--key FILE | --queue-signers FILE)
  scrub queue run --queue LOC --key FILE --id-key FILE [erase flags] SOURCE...
  scrub queue run --queue LOC --key FILE --id-key FILE --map FILE [erase flags]
  scrub queue verify --queue LOC (--key FILE | --queue-signers FILE) [--audit LOC (--allowed-signers FILE | --pub FILE)]

The request queue holds erasure requests (a ticket, an identifier type, the
identifiers as HMAC tags under the ID key, received and due dates) in a
directory or s3://bucket/prefix, as signed, hash-chained change files. queue
run erases every pending request in one pass over the archives and marks each
done with the audit batch that erased it.

Run 'scrub queue COMMAND --help' for the flags of a command.
`

func runQueue(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, queueUsage)
		return usagef("queue needs a command: add, list, run or verify")
	}
	switch args[0] {
	case "add":
		return runQueueAdd(ctx, args[1:], env)
	case "list":
		return runQueueList(ctx, args[1:], env)
	case "run":
		return runQueueRun(ctx, args[1:], env)
	case "verify":
		return runQueueVerify(ctx, args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, queueUsage)
		return nil
	}
	fmt.Fprint(env.Stderr, queueUsage)
	return usagef("unknown queue command %q", args[0])
}

// queueFlags are the flags every queue command shares.
type queueFlags struct {
	queue    string
	signers  string
	endpoint string
}

func (q *queueFlags) register(fs *flag.FlagSet, endpoint bool) {
	fs.StringVar(&q.queue, "queue", "", "the request queue: a `DIR` or s3://bucket/prefix, outside the data; required")
	fs.StringVar(&q.signers, "queue-signers", "", "also trust the signers of this ssh-keygen allowed_signers `FILE` (namespace "+queue.Namespace+") for the queue's changes; the public half of --key is always trusted")
	if endpoint {
		fs.StringVar(&q.endpoint, "endpoint", "", "S3 endpoint `URL` for an s3:// queue (default: AWS, or $AWS_ENDPOINT_URL)")
	}
}

// trust returns whom the queue's changes must be signed by: the public
// half of key and the --queue-signers.
func (q *queueFlags) trust(key ed25519.PrivateKey) (*queue.Trust, error) {
	t := &queue.Trust{}
	if key != nil {
		t.Keys = append(t.Keys, key.Public().(ed25519.PublicKey))
	}
	if q.signers != "" {
		data, err := os.ReadFile(q.signers)
		if err != nil {
			return nil, usagef("--queue-signers: %v", err)
		}
		if t.Signers, err = sshsig.ParseAllowedSigners(strings.NewReader(string(data))); err != nil {
			return nil, usagef("--queue-signers %s: %v", q.signers, err)
		}
		if len(t.Signers) == 0 {
			return nil, usagef("--queue-signers %s: no ssh-ed25519 signer in it", q.signers)
		}
	}
	return t, nil
}

// open opens and loads the queue, which must not overlap a source, and
// checks every change against trust. idKey may be nil to read it only.
func (q *queueFlags) open(ctx context.Context, op *store.Opener, idKey *audit.IDKey, trust *queue.Trust, sources []string) (*queue.Queue, error) {
	if q.queue == "" {
		return nil, usagef("--queue DIR or s3://bucket/prefix is required")
	}
	if err := checkApart(q.queue, sources, "the queue %s and the source %s overlap; keep the queue outside the data"); err != nil {
		return nil, err
	}
	loc, err := openFiles(ctx, op, "queue", q.queue)
	if err != nil {
		return nil, err
	}
	qu, err := queue.Open(ctx, loc, idKey, trust)
	if errors.Is(err, queue.ErrNoTrust) {
		return nil, usagef("%v: give --key (its public half is trusted; or $%s) or --queue-signers FILE", err, envSigningKey)
	}
	return qu, err
}

// parseDate parses a --received or --due day.
func parseDate(flagName, v string) (time.Time, error) {
	t, err := time.Parse(queue.DateLayout, v)
	if err != nil {
		return t, usagef("%s %q: want a date such as 2026-12-03", flagName, v)
	}
	return t, nil
}

func runQueueAdd(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub queue add", flag.ContinueOnError)
	var qf queueFlags
	qf.register(fs, true)
	idsFile := fs.String("ids", "", "`FILE` of the request's identifiers, one per line (- for standard input); required. They are stored only as HMAC tags under --id-key")
	ticket := fs.String("ticket", "", "the request's `REF` (ticket, case number): the unit queue list and the audit log report; required")
	typ := fs.String("type", queue.DefaultType, "the identifiers' `TYPE`: a lower-case word (client_id, user_name, ip...)")
	received := fs.String("received", "", "the `DATE` the request was received, 2006-01-02 (default: today, UTC)")
	due := fs.String("due", "", "the `DATE` the request is due (default: --received plus 30 days)")
	keyFile := fs.String("key", "", "Ed25519 signing key `FILE` for the change (default $"+envSigningKey+"); required")
	idKeyFile := fs.String("id-key", "", "the ID key `FILE` the queue's tags are under (default $"+envIDKey+"); required")
	allowPlaceholders := fs.Bool("allow-placeholder-ids", false, "accept identifiers that look like placeholders for a missing ID (unknown, none, null, n/a, -, 0); by default they are refused")
	mapFile := fs.String("map", "", "the data map `FILE` scrub queue run --map will use: the request also records the tags of its identifiers in each stored form (stored = ...) a column of its type holds them in")
	help := printFlags("Usage: scrub queue add --queue LOC --ids FILE --ticket REF [--type TYPE] [--map FILE] [--received DATE] [--due DATE] --key FILE --id-key FILE\n\n"+
		"Adds one erasure request to the queue: the ticket, the identifier type, the\n"+
		"HMAC tags of every identifier in --ids (never the identifiers themselves), the\n"+
		"day it was received and the day it is due. The change is signed by --key and\n"+
		"follows the queue's last changes; adds made at once lose nothing. A ticket\n"+
		"already in the queue is refused. Nothing is erased until scrub queue run.\n\n"+
		"With --map FILE, for each stored form other than clear in which a column of\n"+
		"the map holds the type (lower,sha256, sha256, hmac-sha256:KEYFILE, lower...),\n"+
		"the change also records the HMAC tags of the identifiers in that form (the\n"+
		"transform applied as erase --map applies it, a digest as lower-case hex): the\n"+
		"form's name and, for hmac-sha256, the key's ID, never the key or an identifier.\n"+
		"scrub queue run --map matches such a column by those tags; a request added\n"+
		"without them stays pending there. The type must be one the map holds in a\n"+
		"column (a composite is refused).\n",
		"\nExit codes: 0 added, 1 failure, 2 usage error.\n",
		"scrub queue add --queue s3://compliance/queue --ids users-1234.txt --ticket GDPR-1234 --type user_name --map datamap.toml --key keys/signer --id-key keys/id.key")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q: queue add reads no archive", pos[0])
	case *idsFile == "":
		return usagef("--ids FILE is required")
	case qf.queue == "":
		return usagef("--queue DIR or s3://bucket/prefix is required")
	}
	if err := queue.CheckTicket(*ticket); err != nil {
		return usagef("--ticket: %v", err)
	}
	if err := queue.CheckType(*typ); err != nil {
		return usagef("--type: %v", err)
	}
	now := env.now().UTC()
	rec := now.Truncate(24 * time.Hour)
	if *received != "" {
		if rec, err = parseDate("--received", *received); err != nil {
			return err
		}
	}
	dueDay := rec.Add(queue.DueAfter)
	if *due != "" {
		if dueDay, err = parseDate("--due", *due); err != nil {
			return err
		}
		if dueDay.Before(rec) {
			return usagef("--due %s is before the day the request was received (%s)", *due, rec.Format(queue.DateLayout))
		}
	}
	var dm *datamap.Map
	if *mapFile != "" {
		if dm, err = loadMap(*mapFile); err != nil {
			return err
		}
		if err := checkAddType(dm, *typ); err != nil {
			return err
		}
	}
	key, idKey, err := loadKeys(env.Stderr, *keyFile, *idKeyFile, false, "queue add", "the request's identifiers")
	if err != nil {
		return err
	}
	if idKey == nil {
		return usagef("queue add needs the ID key the queue's tags are under: --id-key FILE or $%s", envIDKey)
	}
	set, err := loadIDs(*idsFile, env.Stdin, *allowPlaceholders)
	if err != nil {
		return err
	}
	if set.Len() == 0 {
		return usagef("--ids %s: no identifier in it", *idsFile)
	}
	if *idsFile != "-" {
		if err := checkApart(*idsFile, []string{qf.queue}, "the ID list %s is inside the queue %s; keep it apart (it is personal data)"); err != nil {
			return err
		}
	}
	trust, err := qf.trust(key)
	if err != nil {
		return err
	}
	qu, err := qf.open(ctx, store.New(store.Options{Endpoint: qf.endpoint}), idKey, trust, nil)
	if err != nil {
		return err
	}
	for _, e := range qu.Requests() {
		if e.Ticket == *ticket {
			return usagef("the queue %s holds a request of ticket %s already (%s, received %s): give this one another ticket", qu, *ticket, e.ID, e.Received)
		}
	}
	var tags []string
	set.Each(func(id string) { tags = append(tags, idKey.Tag([]byte(id))) })
	var forms []queue.Form
	if dm != nil {
		forms = storedForms(dm, *typ, set, idKey)
	}
	e, err := qu.Add(ctx, key, now, batch.Operator(), queue.Request{Ticket: *ticket, Type: *typ, Tags: tags, Forms: forms,
		Received: rec.Format(queue.DateLayout), Due: dueDay.Format(queue.DateLayout)})
	if err != nil {
		return err
	}
	also := ""
	if dm != nil {
		var names []string
		for _, f := range e.Forms {
			names = append(names, formName(f.Form, f.Key))
		}
		also = fmt.Sprintf(", with the tags of its stored forms in %s: %s", dm.Path, cmp.Or(strings.Join(names, ", "), "none (every column of the type is clear)"))
	}
	fmt.Fprintf(env.Stderr, "scrub: request %s added to the queue %s: ticket %s, %d identifiers of type %s, received %s, due %s%s\n",
		e.ID, qu, e.Ticket, len(e.Tags), e.Type, e.Received, e.Due, also)
	return nil
}

// checkAddType checks queue add --map's type: one the map holds in a
// column of its own. A composite's tuples are not a queue's identifiers,
// and a type the map does not know would record no form a run could use.
func checkAddType(m *datamap.Map, typ string) error {
	if _, ok := m.Composite(typ); ok {
		return usagef("--type %s: the data map %s holds it as a composite identifier, which a queue request (single identifiers) cannot hold: work it with scrub erase --map --ids %s=FILE", typ, m.Path, typ)
	}
	if len(m.Columns(typ)) == 0 {
		if co := partOf(m, typ); co != "" {
			return usagef("--type %s: the data map %s holds it only as a part of the composite %q, which a queue request cannot match: work it with scrub erase --map", typ, m.Path, co)
		}
		return usagef("--type %s: the data map %s holds no identifier of that type (it knows %s)", typ, m.Path, strings.Join(m.Types(), ", "))
	}
	return nil
}

// storedForms returns, for each distinct stored form other than clear in
// which a column of m holds type typ, the tags of the identifiers of set
// in that form: the transform's value (a digest's lower-case hex, what a
// column's value is canonicalised to when a run looks it up) tagged under
// idKey. Forms are named as the map's transforms name themselves, with an
// HMAC's key ID, never key material.
func storedForms(m *datamap.Map, typ string, set *ids.Set, idKey *audit.IDKey) []queue.Form {
	var out []queue.Form
	seen := map[queue.FormKey]bool{}
	for _, dc := range m.Columns(typ) {
		t := dc.Column.Transform
		if t == nil {
			continue
		}
		k := queue.FormKey{Type: typ, Form: t.String(), Key: t.KeyID()}
		if seen[k] {
			continue
		}
		seen[k] = true
		f := queue.Form{Form: k.Form, Key: k.Key}
		set.Each(func(id string) { f.Tags = append(f.Tags, idKey.Tag([]byte(t.Apply(id)))) })
		out = append(out, f)
	}
	return out
}

// formName names a stored form for people: "lower,sha256", "hmac-sha256
// (key sha256:0123456789abcdef)".
func formName(form, key string) string {
	if key == "" {
		return form
	}
	return form + " (key " + key + ")"
}

// listedRequest is one request as queue list --json writes it.
type listedRequest struct {
	ID       string `json:"id"`
	Ticket   string `json:"ticket"`
	Type     string `json:"type"`
	IDs      int    `json:"ids"`
	Received string `json:"received"`
	Due      string `json:"due"`
	// Forms (queue add --map) name the stored forms the request holds
	// tags of besides clear: "lower,sha256", "hmac-sha256 (key sha256:...)".
	Forms []string `json:"forms,omitempty"`
	// State is pending, overdue (pending past its due day) or done.
	State string `json:"state"`
	// DaysLeft (pending) is the number of days until the due day,
	// negative when overdue.
	DaysLeft *int   `json:"days_left,omitempty"`
	Batch    string `json:"batch,omitempty"`
	Head     string `json:"head,omitempty"`
	DoneAt   string `json:"done_at,omitempty"`
}

// listing is queue list --json's output.
type listing struct {
	Queue    string          `json:"queue"`
	Today    string          `json:"today"`
	Pending  int             `json:"pending"`
	Overdue  int             `json:"overdue"`
	Done     int             `json:"done"`
	Requests []listedRequest `json:"requests"`
}

// listQueue returns the queue's requests as listed on day today: overdue ones
// first, then pending ones, each by due day (then ticket), then done ones,
// the latest done first.
func listQueue(qu *queue.Queue, today time.Time) listing {
	out := listing{Queue: qu.String(), Today: today.Format(queue.DateLayout), Requests: []listedRequest{}}
	for _, e := range qu.Requests() {
		r := listedRequest{ID: e.ID, Ticket: e.Ticket, Type: e.Type, IDs: len(e.Tags), Received: e.Received, Due: e.Due}
		for _, f := range e.Forms {
			r.Forms = append(r.Forms, formName(f.Form, f.Key))
		}
		if e.Pending() {
			days := int(e.DueDate().Sub(today) / (24 * time.Hour))
			r.DaysLeft, r.State = &days, "pending"
			out.Pending++
			if days < 0 {
				r.State = "overdue"
				out.Overdue++
			}
		} else {
			r.State, r.Batch, r.Head, r.DoneAt = "done", e.Done.Batch, e.Done.Head, e.Done.Time
			out.Done++
		}
		out.Requests = append(out.Requests, r)
	}
	rank := map[string]int{"overdue": 0, "pending": 1, "done": 2}
	slices.SortStableFunc(out.Requests, func(a, b listedRequest) int {
		switch {
		case rank[a.State] != rank[b.State]:
			return rank[a.State] - rank[b.State]
		case a.State == "done":
			return strings.Compare(b.DoneAt, a.DoneAt)
		case a.Due != b.Due:
			return strings.Compare(a.Due, b.Due)
		}
		return strings.Compare(a.Ticket, b.Ticket)
	})
	return out
}

func printListing(w io.Writer, l listing) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tTICKET\tTYPE\tIDS\tRECEIVED\tDUE\tDAYS LEFT\tBATCH")
	for _, r := range l.Requests {
		days := "-"
		if r.DaysLeft != nil {
			days = fmt.Sprint(*r.DaysLeft)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.State, quoteName(r.Ticket), r.Type, r.IDs, r.Received, r.Due, days, r.Batch)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d pending (%d overdue), %d done, as of %s (UTC)\n", l.Pending, l.Overdue, l.Done, l.Today)
	return err
}

func runQueueList(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub queue list", flag.ContinueOnError)
	var qf queueFlags
	qf.register(fs, true)
	asJSON := fs.Bool("json", false, "write the list as JSON to standard output")
	keyFile := fs.String("key", "", "the signing key `FILE` whose public half the queue's changes are checked against (default $"+envSigningKey+"); or --queue-signers")
	help := printFlags("Usage: scrub queue list --queue LOC [--json] (--key FILE | --queue-signers FILE)\n\n"+
		"Lists the queue's requests, after checking every change's signature and the\n"+
		"chain: overdue ones first, then pending ones by due day, then done ones with\n"+
		"the audit batch that erased them. Days left count UTC days to the due day.\n",
		"\nExit codes: 0 nothing overdue, 1 failure (a change that fails its signature or\n"+
			"the chain), 2 usage error, 5 a pending request is overdue (a nightly job's alert).\n",
		"scrub queue list --queue s3://compliance/queue --queue-signers keys/queue.allowed_signers")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	key, err := loadSigningKey(env.Stderr, *keyFile)
	if err != nil {
		return err
	}
	trust, err := qf.trust(key)
	if err != nil {
		return err
	}
	qu, err := qf.open(ctx, store.New(store.Options{Endpoint: qf.endpoint, ReadOnly: true}), nil, trust, nil)
	if err != nil {
		return err
	}
	l := listQueue(qu, env.now().UTC().Truncate(24*time.Hour))
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(l)
	} else {
		err = printListing(env.Stdout, l)
	}
	if err != nil {
		return err
	}
	if l.Overdue > 0 {
		return fmt.Errorf("%w: %d of the %d pending requests in %s are past their due day", ErrOverdue, l.Overdue, l.Pending, qu)
	}
	return nil
}

// queueOutcome is what a queue run did to the queue: in the --json
// summary under "queue".
type queueOutcome struct {
	Queue string `json:"queue"`
	// Done are the tickets marked done by this batch (Change names the
	// done change); Pending those left pending, and Reason why.
	Done    []string `json:"done"`
	Change  string   `json:"change,omitempty"`
	Pending []string `json:"pending"`
	Reason  string   `json:"reason,omitempty"`
	// PendingWhy (with --map) says, for each request left pending, why:
	// a type the map holds nowhere, or an archive left unfinished in a
	// dataset that holds its type.
	PendingWhy []pendingRequest `json:"pending_why,omitempty"`
}

// pendingRequest is a request a queue run leaves pending, and why.
type pendingRequest struct {
	Ticket string `json:"ticket"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func (q *queueOutcome) print(w io.Writer) {
	if q == nil {
		return
	}
	if len(q.Done) > 0 {
		fmt.Fprintf(w, "scrub: queue %s: %d requests marked done (%s): %s\n", q.Queue, len(q.Done), q.Change, strings.Join(quoteAll(q.Done), ", "))
	}
	switch {
	case len(q.PendingWhy) > 0:
		for _, p := range q.PendingWhy {
			fmt.Fprintf(w, "scrub: queue %s: request %s (type %s) left pending, because %s\n", q.Queue, quoteName(p.Ticket), p.Type, p.Reason)
		}
	case len(q.Pending) > 0:
		fmt.Fprintf(w, "scrub: queue %s: %d requests left pending, because %s: %s\n", q.Queue, len(q.Pending), q.Reason, strings.Join(quoteAll(q.Pending), ", "))
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = quoteName(v)
	}
	return out
}

// notDone says why a batch that did not complete leaves its requests
// pending.
func notDone(dryRun bool, t scrub.Totals, sealed *audit.Sealed) string {
	switch {
	case dryRun:
		return "this is a dry run"
	case sealed == nil:
		return "the batch could not be sealed"
	}
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{t.Failed, "failed"}, {t.Conflict, "conflict"}, {t.Held, "held"}, {t.ReplacedIncomplete, "replaced-incomplete"}, {t.Skipped, "skipped"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("the batch %s did not complete (see the error)", sealed.Batch)
	}
	return fmt.Sprintf("the batch %s did not complete: %s archives (named above); run scrub queue run again once they are dealt with", sealed.Batch, strings.Join(parts, ", "))
}

var printQueueRunHelp = printFlags("Usage: scrub queue run --queue LOC --key FILE --id-key FILE [flags] SOURCE...\n"+
	"       scrub queue run --queue LOC --key FILE --id-key FILE --map FILE [flags]\n\n"+
	"Erases every pending request of the queue from the archives below each SOURCE\n"+
	"in one pass (matching each ID field by its HMAC tag, as scrub sweep does), as\n"+
	"one audited batch whose queue_run event records the queue's head and every\n"+
	"request it covers. Then it marks them done, naming the batch and its head: only\n"+
	"when the batch completed with no failed, conflict, held, replaced-incomplete or\n"+
	"skipped archive. Otherwise they stay pending, and the summary says why; run it\n"+
	"again to work them (an interrupted run is resumed). A dry run marks nothing.\n\n"+
	"Without a data map, every ID column (--column) is checked for every request's\n"+
	"identifiers, whatever their type (recorded as routing \""+routingAll+"\").\n\n"+
	"With --map FILE (no SOURCE), each dataset of the map that holds a pending type\n"+
	"is read, each of its columns checked for the requests of the column's type only\n"+
	"(routing \""+routingMap+"\"); the other datasets are not read, and are named. A\n"+
	"request is then done when no archive of a dataset holding its type is left\n"+
	"unfinished: an archive failed in one dataset keeps only the requests of the\n"+
	"types it holds pending. A request of a type the map holds nowhere stays pending,\n"+
	"named with the reason. A column the map stores hashed, HMAC'd or case-normalised\n"+
	"(stored = ...) is checked for the tags of its values in that form, which\n"+
	"scrub queue add --map records (a digest's hex lower-cased first); a request\n"+
	"without the tags of a form its type is stored in (added without --map, or the\n"+
	"map changed since) is not worked and stays pending, named with the column, the\n"+
	"form and how to add it again, unless a pending request of the same type and\n"+
	"identifiers holds them. A pending composite type cannot be matched by tags of\n"+
	"single identifiers: the run is refused before anything is read (work such\n"+
	"requests with scrub erase --map).\n",
	"\nExit codes: 0 done (or nothing pending), 1 failure, 2 usage error, 3 partial.\n",
	"scrub queue run --queue s3://compliance/queue --key keys/signer --id-key keys/id.key --audit s3://compliance/audit s3://exports/telemetry")

func runQueueRun(ctx context.Context, args []string, env Env) error {
	var qf queueFlags
	o, err := parseEraseLike("queue run", args, env.Stderr, printQueueRunHelp, func(fs *flag.FlagSet) { qf.register(fs, false) })
	if err != nil {
		return err
	}
	switch {
	case qf.queue == "":
		return usagef("--queue DIR or s3://bucket/prefix is required")
	case o.shard != nil:
		// A share reads only its part of the archives: its batch
		// completing says nothing of the others.
		return usagef("queue run takes no --shard: a request is done only when one batch read every archive")
	}
	key, idKey, err := loadKeys(env.Stderr, o.key, o.idKey, o.dryRun, "a queue run", "the requests' identifiers")
	if err != nil {
		return err
	}
	if idKey == nil {
		return usagef("a queue run needs the ID key the queue's tags are under: --id-key FILE or $%s", envIDKey)
	}
	trust, err := qf.trust(key)
	if err != nil {
		return err
	}
	// The queue is checked before the batch begins: a change that is
	// not signed by a trusted key stops the run before anything is read.
	qu, err := qf.open(ctx, o.opener(env, false), idKey, trust, o.sources)
	if err != nil {
		return err
	}
	pending := qu.Pending()
	if len(pending) == 0 {
		fmt.Fprintf(env.Stderr, "scrub: queue %s: no pending request; nothing to do\n", qu)
		if !o.json {
			return nil
		}
		// No batch, so no summary: the queue's part only, for a job
		// that reads standard output.
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Queue *queueOutcome `json:"queue"`
		}{&queueOutcome{Queue: qf.queue, Done: []string{}, Pending: []string{}, Reason: "no pending request"}})
	}
	if !o.dryRun {
		if pending, err = takeUp(ctx, o, env, qf.queue, pending); err != nil {
			return err
		}
	}
	var notRouted []audit.QueueRunNotRouted
	if o.dmap != nil {
		if pending, notRouted, err = routeQueue(o.dmap.m, pending); err != nil {
			return err
		}
		for _, n := range notRouted {
			fmt.Fprintf(env.Stderr, "scrub: queue %s: request %s (type %s) not worked: %s\n", qu, quoteName(n.Ticket), n.Type, n.Reason)
		}
		if len(pending) == 0 {
			return noneRouted(env, o.json, qf.queue, notRouted)
		}
	}
	byType := queue.ByType(pending)
	var byForm map[queue.FormKey][]string
	if o.dmap != nil {
		// Only the forms a column of the map stores a routed type in:
		// tags of a form no column holds check nothing.
		byForm = map[queue.FormKey][]string{}
		for k, tags := range queue.ByForm(pending) {
			if usesForm(o.dmap.m, k) {
				byForm[k] = tags
			}
		}
	}
	m, err := queue.NewMatcher(idKey, byType, byForm)
	if err != nil {
		return err
	}
	// The batch is fingerprinted by every tag it checks columns for: the
	// clear ones and those of the stored forms.
	var all []string
	for _, t := range byType {
		all = append(all, t...)
	}
	for _, t := range byForm {
		all = append(all, t...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	ev := audit.QueueRun{Queue: qf.queue, QueueHeads: qu.Heads(), Routing: routingAll, NotRouted: notRouted}
	for _, e := range pending {
		r := audit.QueueRunRequest{ID: e.ID, Ticket: e.Ticket, Type: e.Type, Due: e.Due, Tags: e.Tags}
		if o.dmap != nil {
			r.Datasets = holding(o.dmap.m, e.Type)
			for _, f := range e.Forms {
				if usesForm(o.dmap.m, queue.FormKey{Type: e.Type, Form: f.Form, Key: f.Key}) {
					r.Forms = append(r.Forms, audit.QueueRunForm{Form: f.Form, Key: f.Key, Tags: f.Tags})
				}
			}
		}
		ev.Requests = append(ev.Requests, r)
	}
	o.queue = qf.queue
	spec := batchSpec{
		// Without a data map every ID column is checked for every type:
		// the matcher of all types. With one, each dataset's filter
		// checks each column with the matcher of its type (mapQueue).
		command: batch.QueueRun, set: m.All(),
		// The request is fingerprinted by the tags: no clear ID exists.
		ids: batch.IDs{N: len(all), Each: func(_ *audit.IDKey, fn func(id, tag string)) {
			for _, t := range all {
				fn(t, t)
			}
		}},
		started: func(b *batch.Batch) error {
			how := "every ID column checked for each"
			if o.dmap != nil {
				how = "each dataset's columns checked for the requests of their type (data map " + o.mapFile + ")"
			}
			fmt.Fprintf(env.Stderr, "scrub: queue %s: %d pending requests, %d identifiers (types %s), %s\n",
				qu, len(pending), len(all), strings.Join(m.Types(), ", "), how)
			return b.Event(audit.EventQueueRun, ev)
		},
		sealed: func(b *batch.Batch, r sealedRun) (*queueOutcome, error) {
			out := &queueOutcome{Queue: qf.queue, Done: []string{}, Pending: []string{}}
			done, held := pending, []pendingRequest(nil)
			switch {
			case r.settled && o.dmap != nil:
				done, held = doneByDataset(o.dmap.m, pending, r.sum, b.Totals(), r.sealed)
			case !r.ok:
				done = nil
				for _, e := range pending {
					held = append(held, pendingRequest{Ticket: e.Ticket, Type: e.Type, Reason: notDone(o.dryRun, b.Totals(), r.sealed)})
				}
			}
			for _, n := range notRouted {
				held = append(held, pendingRequest{Ticket: n.Ticket, Type: n.Type, Reason: n.Reason})
			}
			for _, h := range held {
				out.Pending = append(out.Pending, h.Ticket)
			}
			out.Reason = commonReason(held)
			if o.dmap != nil {
				out.PendingWhy = held
			}
			if len(done) == 0 {
				return out, nil
			}
			var doneIDs []string
			for _, e := range done {
				doneIDs = append(doneIDs, e.ID)
				out.Done = append(out.Done, e.Ticket)
			}
			c, err := qu.MarkDone(ctx, key, env.now(), batch.Operator(), r.sealed.Batch, r.sealed.Head, doneIDs)
			if err != nil {
				out.Pending, out.Done, out.PendingWhy = append(out.Pending, out.Done...), []string{}, nil
				out.Reason = "the done change could not be written"
				return out, fmt.Errorf("the batch %s is complete, but marking its requests done failed (run scrub queue run again; the archives will be found clean): %w", r.sealed.Batch, err)
			}
			out.Change = c.Name
			return out, nil
		},
	}
	if o.dmap != nil {
		o.mapQueue(&spec, m)
		ev.Routing, ev.Map = routingMap, o.dmap.m.SHA256
	}
	return o.run(ctx, env, spec)
}

// commonReason is the reason every held request shares, or a pointer to
// each one's.
func commonReason(held []pendingRequest) string {
	if len(held) == 0 {
		return ""
	}
	for _, h := range held[1:] {
		if h.Reason != held[0].Reason {
			return "each has its own reason (pending_why)"
		}
	}
	return held[0].Reason
}

// noneRouted ends a queue run whose pending requests the map routes none
// of: no batch, the requests named with their reasons.
func noneRouted(env Env, asJSON bool, where string, notRouted []audit.QueueRunNotRouted) error {
	out := &queueOutcome{Queue: where, Done: []string{}, Pending: []string{}}
	for _, n := range notRouted {
		out.Pending = append(out.Pending, n.Ticket)
		out.PendingWhy = append(out.PendingWhy, pendingRequest{Ticket: n.Ticket, Type: n.Type, Reason: n.Reason})
	}
	out.Reason = commonReason(out.PendingWhy)
	fmt.Fprintf(env.Stderr, "scrub: queue %s: no pending request of a type the map holds; nothing read\n", where)
	if !asJSON {
		return nil
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Queue *queueOutcome `json:"queue"`
	}{out})
}

// parseQueueMap loads queue run's --map: the sources are its datasets,
// narrowed to those that hold a pending type once the queue is read
// (mapQueue); until then, all of them (so that the queue is kept apart
// from every one).
func (o *eraseOptions) parseQueueMap() error {
	if err := o.checkMapFlags(); err != nil {
		return err
	}
	m, err := loadMap(o.mapFile)
	if err != nil {
		return err
	}
	o.dmap = &mapRun{m: m}
	for _, d := range m.Datasets {
		o.sources = append(o.sources, mapLocation(m, d))
	}
	return nil
}

// routeQueue splits the pending requests into those the map routes and
// those it cannot (a type no dataset holds, or holds only as a
// composite's part; a stored form of its type the request holds no tags
// of: they stay pending, with the reason). A column that stores its type
// in another form than clear (hashed, HMAC'd, case-normalised) is matched
// by the tags of the identifiers in that form, which queue add --map
// records: HMAC(stored form) is not HMAC(identifier), so a request without
// them is never checked against such a column as if it were clear. A
// pending composite type is refused: a request holds tags of single
// identifiers, which cannot be matched against several columns.
func routeQueue(m *datamap.Map, pending []*queue.Entry) ([]*queue.Entry, []audit.QueueRunNotRouted, error) {
	known := m.Types()
	var routed []*queue.Entry
	var notRouted []audit.QueueRunNotRouted
	var refused []string
	tickets := map[string][]string{}
	for _, e := range pending {
		tickets[e.Type] = append(tickets[e.Type], quoteName(e.Ticket))
	}
	checked := map[string]bool{}
	for _, e := range pending {
		if !slices.Contains(known, e.Type) {
			why := fmt.Sprintf("the data map %s holds no identifier of type %q (it knows %s)", m.Path, e.Type, strings.Join(known, ", "))
			if co := partOf(m, e.Type); co != "" {
				why = fmt.Sprintf("the data map %s holds type %q only as a part of the composite %q, which a request of single identifiers cannot match", m.Path, e.Type, co)
			}
			notRouted = append(notRouted, audit.QueueRunNotRouted{ID: e.ID, Ticket: e.Ticket, Type: e.Type, Reason: why})
			continue
		}
		if co := partOf(m, e.Type); co != "" {
			// Held alone in one dataset and as a part of a composite in
			// another: the composite's rows cannot be reached by a single
			// identifier, so the request cannot be done by this run.
			why := fmt.Sprintf("the data map %s holds type %q also as a part of the composite %q, whose rows a request of single identifiers cannot match; erase them with scrub erase --map --ids %s=FILE", m.Path, e.Type, co, co)
			notRouted = append(notRouted, audit.QueueRunNotRouted{ID: e.ID, Ticket: e.Ticket, Type: e.Type, Reason: why})
			continue
		}
		if _, ok := m.Composite(e.Type); ok {
			if !checked[e.Type] {
				checked[e.Type] = true
				refused = append(refused, fmt.Sprintf("type %q is a composite identifier in %s: a queue request holds tags of single identifiers, which cannot be matched against several columns (requests %s)",
					e.Type, m.Path, strings.Join(tickets[e.Type], ", ")))
			}
			continue
		}
		e = withTwinForms(e, pending)
		if why := missingForms(m, e); why != "" {
			notRouted = append(notRouted, audit.QueueRunNotRouted{ID: e.ID, Ticket: e.Ticket, Type: e.Type, Reason: why})
			continue
		}
		routed = append(routed, e)
	}
	if len(refused) > 0 {
		return nil, nil, usagef("queue run --map: %s; nothing was read. Work these requests with scrub erase --map --ids TYPE=FILE, or run without --map until they are done",
			strings.Join(refused, "; "))
	}
	return routed, notRouted, nil
}

// withTwinForms returns e with the stored forms it lacks taken from the
// other pending requests of the same type and the very same identifiers
// (equal tags: equal identifiers), which queue add --map recorded: the
// tags of those forms are its identifiers' too. This is how a request
// added without --map is worked: its identifiers added again with --map.
// e itself when no twin adds a form.
func withTwinForms(e *queue.Entry, pending []*queue.Entry) *queue.Entry {
	out := e
	for _, o := range pending {
		if o == e || o.Type != e.Type || !slices.Equal(o.Tags, e.Tags) {
			continue
		}
		for _, f := range o.Forms {
			if _, ok := out.Form(f.Form, f.Key); ok {
				continue
			}
			if out == e {
				c := *e
				c.Forms = slices.Clone(e.Forms)
				out = &c
			}
			out.Forms = append(out.Forms, f)
		}
	}
	if out != e {
		slices.SortFunc(out.Forms, func(a, b queue.Form) int {
			return cmp.Or(strings.Compare(a.Form, b.Form), strings.Compare(a.Key, b.Key))
		})
	}
	return out
}

// missingForms says which columns of the map hold e's type in a stored
// form e holds no tags of, and what to do; "" when it holds them all.
func missingForms(m *datamap.Map, e *queue.Entry) string {
	var cols []string
	for _, dc := range m.Columns(e.Type) {
		t := dc.Column.Transform
		if t == nil {
			continue
		}
		if _, ok := e.Form(t.String(), t.KeyID()); !ok {
			cols = append(cols, fmt.Sprintf("dataset %s, column %q (%s:%d), stores it as %s", dc.Dataset.Name, dc.Column.Name, m.Path, dc.Column.Line, formName(t.String(), t.KeyID())))
		}
	}
	if len(cols) == 0 {
		return ""
	}
	return fmt.Sprintf("the request holds no tags of its identifiers in a stored form the map uses for type %q (it was added without --map, or the map changed since): %s; add the same identifiers again, of the same type, with scrub queue add --map %s (under a new ticket): a run then works both requests; or work it with scrub erase --map --ids %s=FILE",
		e.Type, strings.Join(cols, "; "), m.Path, e.Type)
}

// usesForm reports whether a column of m holds type k.Type in stored form
// k (by itself, not as a composite's part).
func usesForm(m *datamap.Map, k queue.FormKey) bool {
	return slices.ContainsFunc(m.Columns(k.Type), func(dc datamap.DatasetColumn) bool {
		t := dc.Column.Transform
		return t != nil && t.String() == k.Form && t.KeyID() == k.Key
	})
}

// partOf returns a composite type of which typ is a part, or "".
func partOf(m *datamap.Map, typ string) string {
	for _, d := range m.Datasets {
		for _, co := range d.Composites {
			for _, p := range co.Parts {
				if p.Type == typ {
					return co.Type
				}
			}
		}
	}
	return ""
}

// holding returns the names of the datasets that hold type typ.
func holding(m *datamap.Map, typ string) []string {
	var out []string
	for _, d := range m.Datasets {
		if d.Holds(typ) {
			out = append(out, d.Name)
		}
	}
	return out
}

// mapQueue routes a queue run by the map: each dataset that holds a
// pending type gets a filter that checks each of its columns with the
// matcher of the column's type, or of its type and stored form; the
// others are not read. It sets the sources to the datasets read.
func (o *eraseOptions) mapQueue(spec *batchSpec, m *queue.Matcher) {
	r := o.dmap
	r.types = m.Types()
	r.read, r.unread, o.sources = nil, nil, nil
	spec.filters = map[string]*filter.Filter{}
	base := filter.Filter{MaxRecord: o.maxRecord, AllowInvalidUTF8: o.allowUTF8}
	for _, d := range r.m.Datasets {
		f := d.Filter(base, func(c *datamap.Column) filter.Set {
			if !slices.Contains(r.types, c.Type) {
				return nil
			}
			if t := c.Transform; t != nil {
				return formSet{t: t, m: m.Form(queue.FormKey{Type: c.Type, Form: t.String(), Key: t.KeyID()})}
			}
			return m.Type(c.Type)
		}, func(*datamap.Composite) filter.Set { return nil })
		if f == nil {
			r.unread = append(r.unread, d)
			continue
		}
		spec.filters[d.Name] = f
		r.read = append(r.read, d)
		o.sources = append(o.sources, mapLocation(r.m, d))
	}
}

// formSet matches a column that stores its type in a stored form by the
// tags of the stored values: each value is canonicalised as the
// transform's own set names it (a digest's hex in lower case, whatever
// case the column writes it in), then looked up by its tag. It lists a
// value matched by that canonical form, so that the audit log's tag of
// it is the tag the request holds.
type formSet struct {
	t *ids.Transform
	m filter.Set
}

func (s formSet) Contains(id []byte) bool { return s.m.Contains(s.t.Canonical(id)) }

// Canonical is the form the engine names a matched value by.
func (s formSet) Canonical(id []byte) []byte { return s.t.Canonical(id) }

// doneByDataset splits the requests of a map-routed batch that ran to its
// end: a request is done when no archive of a dataset that holds its type
// is unfinished (failed, conflict, held, replaced-incomplete, skipped) or
// was left unread, whole or in part (not-scanned, members not scanned: a
// dataset's archive without its columns may still hold the identifier).
// When this attempt's archives do not account for every unfinished one of
// the batch (one an earlier attempt left is no longer listed), none is
// done.
func doneByDataset(m *datamap.Map, reqs []*queue.Entry, sum *scrub.Summary, t scrub.Totals, sealed *audit.Sealed) (done []*queue.Entry, held []pendingRequest) {
	const membersNotScanned = "with members not scanned"
	bad := map[string]map[string]int{}
	n := 0
	readBack := sum != nil
	if sum != nil {
		err := sum.Each(func(a scrub.Result) error {
			what := ""
			switch a.Status {
			case scrub.Failed, scrub.Conflict, scrub.Held, scrub.ReplacedIncomplete, scrub.Skipped:
				what = string(a.Status)
				n++
			case scrub.NotScanned:
				what = string(a.Status)
			default:
				if len(a.MembersNotScanned) > 0 {
					what = membersNotScanned
				}
			}
			if what != "" {
				if bad[a.Dataset] == nil {
					bad[a.Dataset] = map[string]int{}
				}
				bad[a.Dataset][what]++
			}
			return nil
		})
		readBack = err == nil
	}
	// Only a complete or partial batch (not a failed one) marks some done:
	// what queue verify --audit accepts.
	unfinished := t.Failed + t.Conflict + t.Held + t.ReplacedIncomplete + t.Skipped
	result := audit.Totals(t).Result(nil)
	if !readBack || n != unfinished || (unfinished > 0 && result != audit.ResultPartial) {
		why := notDone(false, t, sealed) + ": its archives could not be told apart by dataset"
		if !readBack {
			why = "the batch's results could not be read back to tell its archives apart by dataset"
		}
		for _, e := range reqs {
			held = append(held, pendingRequest{Ticket: e.Ticket, Type: e.Type, Reason: why})
		}
		return nil, held
	}
	for _, e := range reqs {
		var why []string
		for _, d := range holding(m, e.Type) {
			c := bad[d]
			if len(c) == 0 {
				continue
			}
			var parts []string
			for _, st := range []string{string(scrub.Failed), string(scrub.Conflict), string(scrub.Held), string(scrub.ReplacedIncomplete), string(scrub.Skipped), string(scrub.NotScanned), membersNotScanned} {
				if c[st] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", c[st], st))
				}
			}
			why = append(why, fmt.Sprintf("dataset %s, which holds type %s, has %s archives (named above)", d, e.Type, strings.Join(parts, ", ")))
		}
		if len(why) == 0 {
			done = append(done, e)
			continue
		}
		held = append(held, pendingRequest{Ticket: e.Ticket, Type: e.Type, Reason: strings.Join(why, "; ") + "; run scrub queue run again once they are dealt with (or exclude what is not the dataset's in the map)"})
	}
	return done, held
}

func runQueueVerify(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub queue verify", flag.ContinueOnError)
	var qf queueFlags
	qf.register(fs, true)
	keyFile := fs.String("key", "", "the signing key `FILE` whose public half the queue's changes are checked against (default $"+envSigningKey+"); or --queue-signers")
	var expect list
	fs.Var(&expect, "expect-queue-head", "`SHA256` of a queue head printed earlier (by queue verify): a change with that SHA-256 must be in the queue, so that the loss of the newest changes is found (repeatable)")
	auditWhere := fs.String("audit", "", "also check, in this audit `LOCATION`, the batch each done change names: valid, complete, of the queue, with that head, and covering the request")
	var vf verifyFlags
	fs.StringVar(&vf.signers, "allowed-signers", "", "with --audit: trust the signers of this allowed_signers `FILE` (namespace scrub-audit) for the audit bundles")
	fs.StringVar(&vf.pubFile, "pub", "", "with --audit: trust the public key in `FILE` for the audit bundles")
	help := printFlags("Usage: scrub queue verify --queue LOC (--key FILE | --queue-signers FILE) [--expect-queue-head SHA256] [--audit LOC (--allowed-signers FILE | --pub FILE)]\n\n"+
		"Checks the queue: every change signed by a trusted key (namespace "+queue.Namespace+"),\n"+
		"named as stored, of this queue, following changes that are there, and every\n"+
		"done change marking requests added before it. With --audit, each done change's\n"+
		"batch must be in the audit location, valid, complete, a queue run, not a dry\n"+
		"run, with the head the change names, and its queue_run event must cover the\n"+
		"request. It prints the queue's head: keep it, and pass it as --expect-queue-head\n"+
		"later, to find a loss of the newest changes.\n",
		"\nExit codes: 0 valid, 1 not valid, 2 usage error, 4 --audit without a trusted\n"+
			"signer (the bundles are consistent, their signer was not checked).\n",
		"scrub queue verify --queue s3://compliance/queue --queue-signers keys/queue.allowed_signers --audit s3://compliance/audit --allowed-signers keys/signer.allowed_signers")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q", pos[0])
	case *auditWhere == "" && (vf.signers != "" || vf.pubFile != ""):
		return usagef("--allowed-signers and --pub go with --audit")
	case vf.signers != "" && vf.pubFile != "":
		return usagef("give --allowed-signers or --pub, not both")
	}
	key, err := loadSigningKey(env.Stderr, *keyFile)
	if err != nil {
		return err
	}
	trust, err := qf.trust(key)
	if err != nil {
		return err
	}
	qu, err := qf.open(ctx, store.New(store.Options{Endpoint: qf.endpoint, ReadOnly: true}), nil, trust, nil)
	if err != nil {
		return err
	}
	changes := qu.Changes()
	signers := map[string]bool{}
	for _, c := range changes {
		signers[c.Signer] = true
	}
	done := 0
	for _, e := range qu.Requests() {
		if !e.Pending() {
			done++
		}
	}
	fmt.Fprintf(env.Stdout, "queue %s: valid: %d changes, %d requests (%d pending, %d done), signed by %s\n",
		qu, len(changes), len(qu.Requests()), len(qu.Requests())-done, done, strings.Join(slices.Sorted(func(yield func(string) bool) {
			for s := range signers {
				if !yield(s) {
					return
				}
			}
		}), ", "))
	fmt.Fprintf(env.Stdout, "queue head %s\n", strings.Join(qu.Heads(), " "))
	for _, h := range expect {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.ContainsFunc(changes, func(c queue.Loaded) bool { return c.SHA256 == h }) {
			fmt.Fprintf(env.Stdout, "INVALID: no change of the queue has the expected head %s: changes were deleted (or it is another queue's)\n", h)
			return fmt.Errorf("%w: the queue %s lacks the change of the expected head %s", ErrInvalid, qu, h)
		}
	}
	if *auditWhere == "" {
		return nil
	}
	vf.endpoint = qf.endpoint
	v, err := vf.verify(ctx, *auditWhere, env)
	if err != nil {
		return err
	}
	bad, err := checkDone(ctx, qu, v)
	if err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintf(env.Stdout, "INVALID: %s\n", b)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %d done requests are not backed by their audit batch", ErrInvalid, len(bad))
	}
	fmt.Fprintf(env.Stdout, "%d done requests backed by valid, complete queue-run batches in %s\n", done, v.loc)
	if !v.rep.Pinned {
		return fmt.Errorf("%w: %s: the audit bundles were checked against the keys they carry only", ErrConsistencyOnly, untrustedWhy(v.untrusted))
	}
	return nil
}

// checkDone checks each done request against the batch its done change
// names, in the verified audit location: what is wrong, one line each.
func checkDone(ctx context.Context, qu *queue.Queue, v *verified) ([]string, error) {
	byBatch := map[string]*audit.BatchStatus{}
	for _, b := range v.rep.Batches {
		byBatch[b.Batch] = b
	}
	covered := map[string]map[string]bool{}     // batch → request IDs its queue_run events cover
	reached := map[string]map[string][]string{} // batch → request ID → the datasets of its type (data-map routing)
	unfinished := map[string]map[string]bool{}  // batch → datasets with an archive left unfinished
	err := audit.EachLogNewestFirst(ctx, v.loc, func(b *audit.BatchLog) bool {
		last := map[string]audit.Archive{} // an archive's last event is its outcome
		for _, e := range b.Events {
			if e.Type == "archive" {
				var a audit.Archive
				if json.Unmarshal(e.Line, &a) == nil {
					last[a.Key] = a
				}
				continue
			}
			if e.Type != audit.EventQueueRun {
				continue
			}
			var ev audit.QueueRun
			if e.Decode(&ev) != nil {
				continue
			}
			if covered[b.Name] == nil {
				covered[b.Name] = map[string]bool{}
			}
			if reached[b.Name] == nil {
				reached[b.Name] = map[string][]string{}
			}
			for _, r := range ev.Requests {
				covered[b.Name][r.ID] = true
				if ev.Routing == routingMap {
					reached[b.Name][r.ID] = r.Datasets
				}
			}
		}
		for _, a := range last {
			switch a.Status {
			case audit.StatusFailed, audit.StatusConflict, audit.StatusHeld, audit.StatusReplacedIncomplete, audit.StatusSkipped:
				if unfinished[b.Name] == nil {
					unfinished[b.Name] = map[string]bool{}
				}
				unfinished[b.Name][a.Dataset] = true
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, e := range qu.Requests() {
		if e.Pending() {
			continue
		}
		d := e.Done
		b := byBatch[d.Batch]
		why := ""
		switch {
		case b == nil:
			why = "its batch is not in the audit location"
		case !b.Valid() || b.Manifest == nil || b.Start == nil:
			why = "its batch is not valid: " + b.Status()
		case b.Head != d.Head:
			why = fmt.Sprintf("its batch's head is %s, the done change names %s", b.Head, d.Head)
		case b.Start.Command != batch.QueueRun:
			why = "its batch is a " + b.Start.Command + ", not a queue run"
		case b.Manifest.DryRun:
			why = "its batch is a dry run"
		case !covered[d.Batch][e.ID]:
			why = "its batch's queue_run event does not cover it"
		case b.Manifest.Result == audit.ResultComplete:
		case b.Manifest.Result != audit.ResultPartial || reached[d.Batch][e.ID] == nil:
			why = "its batch is " + b.Manifest.Result + ", not complete"
		default:
			// A data-map run: partial, done for the requests whose
			// datasets have no archive left unfinished.
			for _, ds := range reached[d.Batch][e.ID] {
				if unfinished[d.Batch][ds] {
					why = fmt.Sprintf("its batch is partial, with an archive left unfinished in the dataset %s, which holds its type", ds)
					break
				}
			}
			if why == "" && unfinished[d.Batch][""] {
				why = "its batch is partial, with an archive left unfinished outside any dataset"
			}
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("request %s (ticket %s) marked done by %s in %s: %s", e.ID, quoteName(e.Ticket), d.Batch, d.Change, why))
		}
	}
	return bad, nil
}

// takeUp returns the requests this run works: those of the queue run of
// the same queue and sources (with --map: the same map) that a killed run left unfinished in the
// audit location, when all of them are still pending, so that this run
// is the same request and resumes that batch (requests added since wait
// for the next run); otherwise every pending request.
func takeUp(ctx context.Context, o *eraseOptions, env Env, where string, pending []*queue.Entry) ([]*queue.Entry, error) {
	loc, err := openFiles(ctx, o.opener(env, false), "audit location", o.audit)
	if err != nil {
		return nil, err
	}
	journals, err := audit.Journals(ctx, loc)
	if err != nil {
		return nil, err
	}
	byID := map[string]*queue.Entry{}
	for _, e := range pending {
		byID[e.ID] = e
	}
	for _, j := range slices.Backward(journals) {
		// With a map, the sources are the datasets the requests' types
		// reach: the same map is what must match.
		if j.Start.Command != batch.QueueRun || j.Start.DryRun || o.dmap == nil && !slices.Equal(j.Start.Sources, o.sources) {
			continue
		}
		log, err := j.Log()
		if err != nil {
			return nil, fmt.Errorf("audit location %s: %s: %w", loc, j.Batch, err)
		}
		var ev *audit.QueueRun
		for _, e := range log.Events {
			if e.Type == audit.EventQueueRun {
				ev = &audit.QueueRun{}
				if err := e.Decode(ev); err != nil {
					return nil, fmt.Errorf("audit location %s: %s: %w", loc, j.Batch, err)
				}
			}
		}
		mapSHA := ""
		if o.dmap != nil {
			mapSHA = o.dmap.m.SHA256
		}
		if ev == nil || ev.Queue != where || ev.Map != mapSHA {
			continue
		}
		var again []*queue.Entry
		for _, r := range ev.Requests {
			if e := byID[r.ID]; e != nil {
				again = append(again, e)
			}
		}
		if len(again) != len(ev.Requests) {
			fmt.Fprintf(env.Stderr, "scrub: queue %s: the unfinished batch %s worked requests that are no longer pending; it is left, and every pending request is worked\n", where, j.Batch)
			continue
		}
		if n := len(pending) - len(again); n > 0 {
			fmt.Fprintf(env.Stderr, "scrub: queue %s: taking up the unfinished batch %s with its %d requests; the %d added since wait for the next run\n", where, j.Batch, len(again), n)
		}
		return again, nil
	}
	return pending, nil
}
