package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/queue"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// queueClock is the day the queue tests run on: 2017-12-20, 09:30 UTC.
var queueClock = time.Date(2017, 12, 20, 9, 30, 0, 0, time.UTC)

// runAt runs the command line with the clock fixed at now, and checks that
// no listed ID shows up in its output.
func runAt(t *testing.T, now time.Time, args ...string) output {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, Version: "v1.2.3-test",
		Now: func() time.Time { return now }})
	out := output{stdout.String(), stderr.String(), err}
	for _, id := range scrubtest.Listed {
		for name, s := range map[string]string{"stdout": out.stdout, "stderr": out.stderr, "error": errString(err)} {
			if strings.Contains(strings.ToUpper(s), id) {
				t.Errorf("%s of %q contains the listed ID %s:\n%s", name, args, id, s)
			}
		}
	}
	return out
}

// queueTest is a queue in a directory, an export to erase from, and the
// keys; its ID files each hold one request's IDs.
type queueTest struct {
	a     *scrubtest.Audit
	queue string
	data  string
	files string
}

func newQueueTest(t *testing.T) *queueTest {
	t.Helper()
	return &queueTest{a: scrubtest.NewAudit(t), queue: filepath.Join(t.TempDir(), "queue"), data: scrubtest.CopyExport(t), files: t.TempDir()}
}

// ids writes a file of ids and returns its name.
func (q *queueTest) ids(t *testing.T, name string, ids ...string) string {
	t.Helper()
	p := filepath.Join(q.files, name)
	if err := os.WriteFile(p, []byte(strings.Join(ids, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (q *queueTest) add(t *testing.T, now time.Time, ids, ticket string, extra ...string) {
	t.Helper()
	args := append([]string{"queue", "add", "--queue", q.queue, "--ids", ids, "--ticket", ticket, "--key", q.a.Key, "--id-key", q.a.IDKey}, extra...)
	if out := runAt(t, now, args...); out.err != nil {
		t.Fatalf("queue add %s: %v\n%s", ticket, out.err, out.stderr)
	}
}

func (q *queueTest) list(t *testing.T, now time.Time, extra ...string) output {
	t.Helper()
	return runAt(t, now, append([]string{"queue", "list", "--queue", q.queue, "--key", q.a.Key}, extra...)...)
}

func (q *queueTest) run(t *testing.T, now time.Time, extra ...string) output {
	t.Helper()
	args := append([]string{"queue", "run", "--queue", q.queue, "--key", q.a.Key, "--id-key", q.a.IDKey, "--audit", q.a.Dir, "--no-progress", "--json"}, extra...)
	return runAt(t, now, append(args, q.data)...)
}

// queueSummary decodes a queue run's --json summary.
type queueSummary struct {
	scrub.FullSummary
	Audit *audit.Sealed `json:"audit"`
	Queue struct {
		Queue   string   `json:"queue"`
		Done    []string `json:"done"`
		Change  string   `json:"change"`
		Pending []string `json:"pending"`
		Reason  string   `json:"reason"`
	} `json:"queue"`
}

func decodeQueueRun(t *testing.T, stdout string) *queueSummary {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var s queueSummary
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decode the queue run's summary: %v\n%s", err, stdout)
	}
	return &s
}

// golden compares got with the golden file testdata/name, which -update
// rewrites.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", p, got, want)
	}
}

var requestIDs = regexp.MustCompile(`queue-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{8}`)

var batchNames = regexp.MustCompile(`batch-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{12}`)

// TestQueueEndToEnd: requests added on different days are listed with
// their due days, overdue first (exit ErrOverdue), erased in one batch by
// queue run, then listed done with that batch; the queue verifies against
// the audit location, and neither the queue nor the audit bundle holds an
// identifier in clear.
func TestQueueEndToEnd(t *testing.T) {
	t.Parallel()
	q := newQueueTest(t)
	v := scrubtest.Victims
	q.add(t, queueClock.AddDate(0, 0, -40), q.ids(t, "old.txt", v[0]), "DPO-1")
	q.add(t, queueClock.AddDate(0, 0, -3), q.ids(t, "two.txt", v[1], v[2]), "DPO-2", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "none.txt", scrubtest.Listed[3]), "DPO-3", "--due", "2017-12-27")
	q.add(t, queueClock, q.ids(t, "late.txt", scrubtest.Listed[3]), "DPO-4", "--received", "2017-11-01", "--due", "2017-12-19")

	out := q.list(t, queueClock)
	if !errors.Is(out.err, cli.ErrOverdue) {
		t.Fatalf("queue list with overdue requests: %v, want ErrOverdue\n%s", out.err, out.stderr)
	}
	golden(t, "queue-list-pending.golden", out.stdout)
	jsonOut := q.list(t, queueClock, "--json")
	golden(t, "queue-list-pending.json", requestIDs.ReplaceAllString(strings.ReplaceAll(jsonOut.stdout, q.queue, "QUEUE"), "queue-X"))

	// A dry run marks nothing done.
	dry := q.run(t, queueClock, "--dry-run")
	if dry.err != nil {
		t.Fatalf("dry run: %v\n%s", dry.err, dry.stderr)
	}
	if s := decodeQueueRun(t, dry.stdout); len(s.Queue.Done) != 0 || len(s.Queue.Pending) != 4 || !strings.Contains(s.Queue.Reason, "dry run") {
		t.Errorf("dry run's queue outcome: %+v", s.Queue)
	}
	if got := q.list(t, queueClock).stdout; got != out.stdout {
		t.Errorf("a dry run changed the list:\n%s", got)
	}

	run := q.run(t, queueClock)
	if run.err != nil {
		t.Fatalf("queue run: %v\n%s", run.err, run.stderr)
	}
	s := decodeQueueRun(t, run.stdout)
	if got := strings.Join(s.Queue.Done, " "); got != "DPO-1 DPO-2 DPO-3 DPO-4" || len(s.Queue.Pending) != 0 {
		t.Errorf("queue run marked %q done, left %q pending", got, s.Queue.Pending)
	}
	if s.Totals.Erased != 13 || s.Totals.RowsRemoved != 343 {
		t.Errorf("totals %+v, want 13 archives erased, 343 rows", s.Totals)
	}
	checkClean(t, q.data)

	after := q.list(t, queueClock.Add(time.Hour))
	if after.err != nil {
		t.Fatalf("queue list after the run: %v", after.err)
	}
	if !strings.Contains(after.stdout, s.Audit.Batch) {
		t.Errorf("the list does not name the batch %s:\n%s", s.Audit.Batch, after.stdout)
	}
	golden(t, "queue-list-done.golden", batchNames.ReplaceAllString(after.stdout, "batch-X"))

	// The batch records the queue's head and every ticket.
	var ev audit.QueueRun
	found := 0
	audit.EachLogNewestFirst(context.Background(), local.Dir(q.a.Dir), func(b *audit.BatchLog) bool {
		for _, e := range b.Events {
			if e.Type == audit.EventQueueRun && b.Name == s.Audit.Batch {
				found++
				if err := e.Decode(&ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		return true
	})
	if found != 1 || len(ev.QueueHeads) != 1 || len(ev.Requests) != 4 || ev.Routing != "all-columns" {
		t.Errorf("queue_run events %d: %+v", found, ev)
	}

	// The queue verifies, and so does each done request against its batch.
	ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if ver.err != nil || !strings.Contains(ver.stdout, "4 done requests backed by valid, complete queue-run batches") {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}

	// The head verify printed finds the loss of the newest change.
	head := regexp.MustCompile(`(?m)^queue head ([0-9a-f]{64})$`).FindStringSubmatch(ver.stdout)
	if head == nil {
		t.Fatalf("queue verify printed no head:\n%s", ver.stdout)
	}
	pinned := []string{"queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--expect-queue-head", head[1]}
	if out := runAt(t, queueClock, pinned...); out.err != nil {
		t.Errorf("queue verify --expect-queue-head of the queue's head: %v", out.err)
	}
	saved := t.TempDir()
	os.CopyFS(saved, os.DirFS(q.queue))
	os.Remove(filepath.Join(q.queue, s.Queue.Change))
	os.Remove(filepath.Join(q.queue, s.Queue.Change+".sig"))
	if out := runAt(t, queueClock, pinned...); !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, "INVALID: no change of the queue has the expected head") {
		t.Errorf("queue verify after the newest change was deleted: %v\n%s", out.err, out.stdout)
	}
	os.RemoveAll(q.queue)
	os.CopyFS(q.queue, os.DirFS(saved))

	// Nothing pending: a further run does nothing, and writes no batch.
	n := len(scrubtest.Batches(t, q.a.Dir))
	if again := q.run(t, queueClock); again.err != nil || !strings.Contains(again.stderr, "no pending request") ||
		!strings.Contains(again.stdout, `"reason": "no pending request"`) {
		t.Errorf("a run with nothing pending: %v\n%s%s", again.err, again.stdout, again.stderr)
	}
	if m := len(scrubtest.Batches(t, q.a.Dir)); m != n {
		t.Errorf("a run with nothing pending wrote a batch: %d batches, were %d", m, n)
	}
	scrubtest.CheckNoIDs(t, q.queue, q.a.Dir)
}

// TestQueueDoneOnlyWhenClean: a batch with a failed archive leaves every
// request it covers pending, says which and why, and a run after the
// archive is dealt with marks them done with its own batch.
func TestQueueDoneOnlyWhenClean(t *testing.T) {
	t.Parallel()
	q := newQueueTest(t)
	q.add(t, queueClock, q.ids(t, "a.txt", scrubtest.Victims...), "DPO-7")
	scrubtest.Corrupt(t, q.data, "bad.csv.gz")

	out := q.run(t, queueClock)
	if !errors.Is(out.err, scrub.ErrPartial) {
		t.Fatalf("queue run over a corrupt archive: %v, want ErrPartial\n%s", out.err, out.stderr)
	}
	s := decodeQueueRun(t, out.stdout)
	if len(s.Queue.Done) != 0 || strings.Join(s.Queue.Pending, ",") != "DPO-7" || !strings.Contains(s.Queue.Reason, "1 failed") {
		t.Errorf("queue outcome %+v, want DPO-7 pending for 1 failed archive", s.Queue)
	}
	if !strings.Contains(out.stderr, "1 requests left pending, because the batch "+s.Audit.Batch+" did not complete: 1 failed") {
		t.Errorf("the summary does not say why the request stays pending:\n%s", out.stderr)
	}
	if l := q.list(t, queueClock, "--json"); !strings.Contains(l.stdout, `"state": "pending"`) || strings.Contains(l.stdout, `"state": "done"`) {
		t.Errorf("after a partial batch:\n%s", l.stdout)
	}

	// A done change that names the partial batch (written by a key the
	// queue trusts, not by queue run) is found out by queue verify --audit.
	forged := t.TempDir()
	os.CopyFS(forged, os.DirFS(q.queue))
	markDone(t, forged, q.a, s.Audit.Batch, s.Audit.Head)
	ver := runAt(t, queueClock, "queue", "verify", "--queue", forged, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if !errors.Is(ver.err, cli.ErrInvalid) || !strings.Contains(ver.stdout, "(ticket DPO-7) marked done by "+s.Audit.Batch) ||
		!strings.Contains(ver.stdout, "its batch is partial, not complete") {
		t.Errorf("queue verify of a request marked done by a partial batch: %v\n%s", ver.err, ver.stdout)
	}

	os.Remove(filepath.Join(q.data, "bad.csv.gz"))
	out = q.run(t, queueClock)
	if out.err != nil {
		t.Fatalf("queue run after the bad archive went: %v\n%s", out.err, out.stderr)
	}
	s = decodeQueueRun(t, out.stdout)
	if strings.Join(s.Queue.Done, ",") != "DPO-7" {
		t.Errorf("queue outcome %+v, want DPO-7 done", s.Queue)
	}
	if s.Totals.Erased != 0 || s.Totals.Unchanged != 14 {
		t.Errorf("the second run found %+v, want the 14 archives erased before clean", s.Totals)
	}
	if l := q.list(t, queueClock); l.err != nil || !strings.Contains(l.stdout, "done   DPO-7") || !strings.Contains(l.stdout, s.Audit.Batch) {
		t.Errorf("after a clean batch: %v\n%s", l.err, l.stdout)
	}
}

// TestQueueResumeAfterKill: a run killed after it replaced an archive
// (its journal unfinished, no done change) is taken up by the next run,
// which finishes the same batch and marks the requests done with it.
func TestQueueResumeAfterKill(t *testing.T) {
	t.Parallel()
	q := newQueueTest(t)
	q.add(t, queueClock, q.ids(t, "a.txt", scrubtest.Victims[0]), "DPO-8")
	q.add(t, queueClock, q.ids(t, "b.txt", scrubtest.Victims[1], scrubtest.Victims[2]), "DPO-9")
	orig := scrubtest.Snapshot(t, q.data)
	queueBefore := dirFiles(t, q.queue)

	out := q.run(t, queueClock)
	if out.err != nil {
		t.Fatalf("queue run: %v\n%s", out.err, out.stderr)
	}
	b := decodeQueueRun(t, out.stdout).Audit.Batch
	// Make it the run killed after its first archive was replaced: the
	// journal up to that archive's verified step, the other archives as
	// they were, no bundle, no done change.
	raw, err := os.ReadFile(filepath.Join(q.a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	end := strings.Index(string(raw), `"type":"verified"`)
	end += strings.IndexByte(string(raw[end:]), '\n') + 1
	var first struct{ Key string }
	line := raw[:end]
	line = line[bytes.LastIndexByte(line[:len(line)-1], '\n')+1:]
	json.Unmarshal(line, &first)
	if first.Key == "" {
		t.Fatalf("no key in %s", line)
	}
	entries, _ := os.ReadDir(q.a.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), b) {
			os.Remove(filepath.Join(q.a.Dir, e.Name()))
		}
	}
	if err := os.WriteFile(filepath.Join(q.a.Dir, b+".journal"), raw[:end], 0o600); err != nil {
		t.Fatal(err)
	}
	for f := range dirFiles(t, q.queue) {
		if !queueBefore[f] {
			os.Remove(filepath.Join(q.queue, f))
		}
	}
	for rel, f := range orig {
		if f.Mode.IsRegular() && !strings.HasSuffix(first.Key, rel) {
			os.WriteFile(filepath.Join(q.data, rel), f.Data, 0o644)
		}
	}

	if l := q.list(t, queueClock); strings.Contains(l.stdout, "\ndone ") {
		t.Fatalf("the killed run's requests are done:\n%s", l.stdout)
	}
	// A request added after the kill does not keep the killed batch from
	// being taken up: it waits for the next run.
	q.add(t, queueClock, q.ids(t, "c.txt", scrubtest.Listed[3]), "DPO-10")
	out = q.run(t, queueClock)
	if out.err != nil {
		t.Fatalf("the run after the kill: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueRun(t, out.stdout)
	if s.Audit.Batch != b {
		t.Errorf("the run after the kill sealed %s, want the killed batch %s taken up", s.Audit.Batch, b)
	}
	if strings.Join(s.Queue.Done, ",") != "DPO-8,DPO-9" || len(s.Queue.Pending) != 0 {
		t.Errorf("queue outcome %+v", s.Queue)
	}
	if !strings.Contains(out.stderr, "taking up the unfinished batch "+b+" with its 2 requests; the 1 added since wait for the next run") {
		t.Errorf("the run does not say it takes up the killed batch:\n%s", out.stderr)
	}
	if js, _ := filepath.Glob(filepath.Join(q.a.Dir, "*.journal")); len(js) != 0 {
		t.Errorf("unfinished batches left: %v", js)
	}
	// The archives whose outcome the killed run recorded are done; the
	// rest are this run's: the 12 archives with listed rows left, the one
	// replaced (from its journal), and the unchanged one unless its
	// outcome came first (archives finish in any order).
	recorded := strings.Count(string(raw[:end]), `"type":"archive"`)
	if tot := s.Totals; tot.Erased != 13 || tot.Archives != 14-recorded || recorded > 1 {
		t.Errorf("the resumed run: %+v, want 13 archives erased (the 12 the killed run left, and the one it replaced, from its journal) of %d (%d recorded before the kill)", tot, 14-recorded, recorded)
	}
	checkClean(t, q.data)
	next := q.run(t, queueClock)
	if next.err != nil || strings.Join(decodeQueueRun(t, next.stdout).Queue.Done, ",") != "DPO-10" {
		t.Errorf("the next run: %v\n%s", next.err, next.stderr)
	}
	if ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub); ver.err != nil {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}
}

// dirFiles returns the names of the files in dir.
func dirFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

// TestQueueConcurrentAdds: queue add calls made at once, on a queue not
// yet started, lose nothing: every request is there, and the queue
// verifies.
func TestQueueConcurrentAdds(t *testing.T) {
	t.Parallel()
	q := newQueueTest(t)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		ids := q.ids(t, fmt.Sprintf("ids-%d.txt", i), fmt.Sprintf("CLIENT%04d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			errs[i] = cli.Run(context.Background(), []string{"queue", "add", "--queue", q.queue, "--ids", ids, "--ticket", fmt.Sprintf("T-%02d", i),
				"--key", q.a.Key, "--id-key", q.a.IDKey}, cli.Env{Stdout: io.Discard, Stderr: &stderr, Now: func() time.Time { return queueClock }})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %d: %v", i, err)
		}
	}
	out := q.list(t, queueClock, "--json")
	if out.err != nil {
		t.Fatalf("queue list: %v\n%s", out.err, out.stderr)
	}
	var l struct {
		Pending  int
		Requests []struct{ Ticket string }
	}
	if err := json.Unmarshal([]byte(out.stdout), &l); err != nil {
		t.Fatal(err)
	}
	if l.Pending != n || len(l.Requests) != n {
		t.Errorf("%d pending of %d requests, want %d", l.Pending, len(l.Requests), n)
	}
	if ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key); ver.err != nil {
		t.Errorf("queue verify: %v\n%s", ver.err, ver.stderr)
	}
}

// TestQueueRefused: bad input is a usage error naming what is wrong, and
// writes nothing; a queue with a change that fails its signature is
// refused by every command.
func TestQueueRefused(t *testing.T) {
	t.Parallel()
	q := newQueueTest(t)
	ids := q.ids(t, "a.txt", scrubtest.Victims[0])
	key := []string{"--key", q.a.Key, "--id-key", q.a.IDKey}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no ticket", []string{"--ids", ids}, "--ticket: a request needs a ticket"},
		{"no ids", []string{"--ticket", "T"}, "--ids FILE is required"},
		{"bad type", []string{"--ids", ids, "--ticket", "T", "--type", "Client ID"}, `--type: type "Client ID"`},
		{"bad date", []string{"--ids", ids, "--ticket", "T", "--received", "3/12/2017"}, `--received "3/12/2017": want a date`},
		{"due before received", []string{"--ids", ids, "--ticket", "T", "--received", "2017-12-01", "--due", "2017-11-30"}, "--due 2017-11-30 is before"},
		{"placeholder", []string{"--ids", q.ids(t, "p.txt", "unknown"), "--ticket", "T"}, "looks like a placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runAt(t, queueClock, append(append([]string{"queue", "add", "--queue", q.queue}, tc.args...), key...)...)
			var ue *cli.UsageError
			if !errors.As(out.err, &ue) || !strings.Contains(out.err.Error(), tc.want) {
				t.Errorf("err %v, want a usage error with %q", out.err, tc.want)
			}
			if _, err := os.Stat(q.queue); err == nil {
				t.Errorf("the refused add wrote the queue")
			}
		})
	}

	q.add(t, queueClock, ids, "DPO-1")
	if out := runAt(t, queueClock, append([]string{"queue", "add", "--queue", q.queue, "--ids", ids, "--ticket", "DPO-1"}, key...)...); out.err == nil ||
		!strings.Contains(out.err.Error(), "holds a request of ticket DPO-1 already") {
		t.Errorf("a second request of a ticket: %v", out.err)
	}
	// A change whose content was edited fails its signature.
	names, _ := filepath.Glob(filepath.Join(q.queue, "queue-*.json"))
	data, _ := os.ReadFile(names[0])
	os.WriteFile(names[0], bytes.Replace(data, []byte(`"due":"2018-01-19"`), []byte(`"due":"2019-01-19"`), 1), 0o644)
	for _, args := range [][]string{
		{"queue", "list", "--queue", q.queue, "--key", q.a.Key},
		{"queue", "verify", "--queue", q.queue, "--key", q.a.Key},
		{"queue", "run", "--queue", q.queue, "--key", q.a.Key, "--id-key", q.a.IDKey, "--audit", q.a.Dir, q.data},
		{"queue", "add", "--queue", q.queue, "--ids", ids, "--ticket", "DPO-2", "--key", q.a.Key, "--id-key", q.a.IDKey},
	} {
		out := runAt(t, queueClock, args...)
		if out.err == nil || !strings.Contains(out.err.Error(), filepath.Base(names[0])+": the queue cannot be trusted: bad signature") {
			t.Errorf("%s on a tampered queue: %v", args[1], out.err)
		}
	}
	if _, err := os.Stat(q.a.Dir); err == nil {
		t.Errorf("queue run on a tampered queue wrote an audit batch")
	}
	// A share of the archives cannot complete a request.
	if out := runAt(t, queueClock, "queue", "run", "--queue", q.queue, "--shard", "0/2", "--key", q.a.Key, "--id-key", q.a.IDKey, "--audit", q.a.Dir, q.data); !isUsage(out.err) ||
		!strings.Contains(out.err.Error(), "queue run takes no --shard") {
		t.Errorf("queue run --shard: %v", out.err)
	}
	if n := len(dirFiles(t, q.queue)); n != 3 {
		t.Errorf("%d files in the queue, want 3: a refused queue is not written", n)
	}
}

// markDone marks every pending request of the queue in dir done by batch
// and head, signed by a's key, through the queue package.
func markDone(t *testing.T, dir string, a *scrubtest.Audit, batch, head string) {
	t.Helper()
	raw, _ := os.ReadFile(a.IDKey)
	k, err := audit.ParseIDKey(raw, a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	qu, err := queue.Open(context.Background(), local.Dir(dir), k, &queue.Trust{Keys: []ed25519.PublicKey{a.Signer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range qu.Pending() {
		ids = append(ids, e.ID)
	}
	if _, err := qu.MarkDone(context.Background(), a.Signer, queueClock, "", batch, head, ids); err != nil {
		t.Fatal(err)
	}
}
