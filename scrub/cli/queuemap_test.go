package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/queue"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// The queue's estate: three datasets whose columns hold different types
// of identifiers, all in clear (a queue matches by the tag of the
// identifier as given): custom events keyed by "Client ID" (zip), logins
// by user name and source IP (plain CSV), and a host inventory (gzip)
// that holds host names only. Some logins have a client ID for a user
// name: routed by the map, a client_id request must not touch them.
const queueMapDoc = `[[dataset]]
name = "custom-events"
location = "events"

[[dataset.column]]
name = "Client ID"
type = "client_id"

[[dataset]]
name = "logins"
location = "logins"

[[dataset.column]]
name = "user"
type = "user_name"

[[dataset.column]]
name = "src_ip"
type = "ip"

[[dataset]]
name = "hosts"
location = "hosts"

[[dataset.column]]
name = "hostname"
type = "host"
`

// genQueueEstate draws the estate, the same for every run, and the pools
// its identifiers come from.
func genQueueEstate() (files []*estateFile, clients, users, ips []string) {
	r := rand.New(rand.NewPCG(20, 2))
	pick := func(pool []string) string { return pool[r.IntN(len(pool))] }
	for i := range 6 {
		clients = append(clients, fmt.Sprintf("%08X-C11E-4D00-8000-%012d", 0xB0+i, i))
		users = append(users, fmt.Sprintf("user.%c%d", 'a'+i, i))
		ips = append(ips, fmt.Sprintf("198.51.100.%d", 20+i))
	}
	// A client ID used as a user name too.
	users = append(users, clients[0])
	for day := 1; day <= 2; day++ {
		f := &estateFile{dataset: "custom-events", path: fmt.Sprintf("events/cust_2017-11-%02d.zip", day), header: "Timestamp,Client ID,Plan"}
		for i := range 30 {
			c := pick(clients)
			f.rows = append(f.rows, estateRow{client: c, line: fmt.Sprintf("2017-11-%02d 10:%02d:00,%s,Pro", day, i, c)})
		}
		g := &estateFile{dataset: "logins", path: fmt.Sprintf("logins/logins-2017-11-%02d.csv", day), header: "when,user,src_ip,ok"}
		for i := range 30 {
			u, ip := pick(users), pick(ips)
			if i == 0 {
				u = clients[0]
			}
			g.rows = append(g.rows, estateRow{user: u, ip: ip, line: fmt.Sprintf("2017-11-%02dT08:%02d:00Z,%s,%s,true", day, i, u, ip)})
		}
		h := &estateFile{dataset: "hosts", path: fmt.Sprintf("hosts/hosts-2017-11-%02d.csv.gz", day), header: "hostname,owner"}
		for i := range 10 {
			h.rows = append(h.rows, estateRow{host: fmt.Sprintf("host-%d", i), line: fmt.Sprintf("host-%d,%s", i, pick(clients))})
		}
		files = append(files, f, g, h)
	}
	return files, clients, users, ips
}

// queueMapTest is a queue, the estate and its map.
type queueMapTest struct {
	*queueTest
	root, mapFile string
	estate        []*estateFile
	clients       []string
	users, ips    []string
}

func newQueueMapTest(t *testing.T) *queueMapTest {
	t.Helper()
	q := &queueMapTest{queueTest: &queueTest{a: scrubtest.NewAudit(t), queue: filepath.Join(t.TempDir(), "queue"), files: t.TempDir()}}
	q.root = t.TempDir()
	q.estate, q.clients, q.users, q.ips = genQueueEstate()
	for _, f := range q.estate {
		f.write(t, q.root)
	}
	q.mapFile = filepath.Join(q.root, "datamap.toml")
	if err := os.WriteFile(q.mapFile, []byte(queueMapDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	return q
}

func (q *queueMapTest) run(t *testing.T, extra ...string) output {
	t.Helper()
	args := append([]string{"queue", "run", "--queue", q.queue, "--key", q.a.Key, "--id-key", q.a.IDKey, "--audit", q.a.Dir,
		"--no-progress", "--json", "--map", q.mapFile}, extra...)
	return runAt(t, queueClock, args...)
}

// queueMapSummary is a queue run's --json summary with a map.
type queueMapSummary struct {
	scrub.FullSummary
	Audit    *audit.Sealed `json:"audit"`
	Datasets []struct {
		Name   string   `json:"name"`
		Read   bool     `json:"read"`
		Types  []string `json:"types"`
		Reason string   `json:"reason"`
	} `json:"datasets"`
	Queue struct {
		Done       []string `json:"done"`
		Pending    []string `json:"pending"`
		Reason     string   `json:"reason"`
		PendingWhy []struct {
			Ticket, Type, Reason string
		} `json:"pending_why"`
	} `json:"queue"`
}

func decodeQueueMapRun(t *testing.T, stdout string) *queueMapSummary {
	t.Helper()
	var s queueMapSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("decode the queue run's summary: %v\n%s", err, stdout)
	}
	return &s
}

// queueRunEvent returns the queue_run event of the batch.
func queueRunEvent(t *testing.T, dir, batch string) audit.QueueRun {
	t.Helper()
	var ev audit.QueueRun
	found := 0
	audit.EachLogNewestFirst(context.Background(), local.Dir(dir), func(b *audit.BatchLog) bool {
		for _, e := range b.Events {
			if e.Type == audit.EventQueueRun && b.Name == batch {
				found++
				if err := e.Decode(&ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		return true
	})
	if found != 1 {
		t.Fatalf("batch %s has %d queue_run events", batch, found)
	}
	return ev
}

// checkEstate compares every archive's content with the test's own
// filter on the clear values: the rows drops says go are gone, every
// other byte is there.
func (q *queueMapTest) checkEstate(t *testing.T, drops func(f *estateFile, r estateRow) bool) {
	t.Helper()
	for _, f := range q.estate {
		want := f.csv(func(r estateRow) bool { return !drops(f, r) })
		if got := f.content(t, q.root); string(got) != string(want) {
			t.Errorf("%s (%s): content differs from the test's filter:\n--- got\n%s--- want\n%s", f.path, f.dataset, got, want)
		}
	}
}

// TestQueueRunMap: requests of three types, one of a type the map holds
// nowhere; queue run --map reads the two datasets that hold the pending
// types, checks each column for the requests of its type only (a client
// ID that is some login's user name stays there), names the dataset not
// read, marks the routed requests done and leaves the other pending with
// its reason; the batch records the routing and the map's hash, and the
// queue verifies against it.
func TestQueueRunMap(t *testing.T) {
	t.Parallel()
	q := newQueueMapTest(t)
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[0], q.clients[3]), "Q-C1", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "u.txt", q.users[1]), "Q-U1", "--type", "user_name")
	q.add(t, queueClock, q.ids(t, "i.txt", q.ips[2], q.ips[4]), "Q-I1", "--type", "ip")
	q.add(t, queueClock, q.ids(t, "p.txt", "447946000000"), "Q-P1", "--type", "phone")

	out := q.run(t)
	if out.err != nil {
		t.Fatalf("queue run --map: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if got := sortedJoin(s.Queue.Done); got != "Q-C1 Q-I1 Q-U1" {
		t.Errorf("done %q, want Q-C1 Q-U1 Q-I1", got)
	}
	if len(s.Queue.PendingWhy) != 1 || s.Queue.PendingWhy[0].Ticket != "Q-P1" ||
		!strings.Contains(s.Queue.PendingWhy[0].Reason, `holds no identifier of type "phone"`) || s.Queue.Reason != s.Queue.PendingWhy[0].Reason {
		t.Errorf("pending %+v, want Q-P1 for its type", s.Queue)
	}
	if !strings.Contains(out.stderr, `request Q-P1 (type phone) left pending, because the data map `) {
		t.Errorf("the summary does not say why Q-P1 stays pending:\n%s", out.stderr)
	}
	var read []string
	for _, d := range s.Datasets {
		if d.Read {
			read = append(read, d.Name+"="+strings.Join(d.Types, "+"))
		} else if d.Name != "hosts" || !strings.Contains(d.Reason, "holds none of the identifier types") {
			t.Errorf("dataset %+v not read", d)
		}
	}
	if got := strings.Join(read, " "); got != "custom-events=client_id logins=ip+user_name" {
		t.Errorf("datasets read %q", got)
	}
	for _, a := range s.Archives {
		if strings.HasPrefix(a.Key, "hosts") {
			t.Errorf("%s of the dataset hosts was read", a.Key)
		}
	}
	if !strings.Contains(out.stderr, "dataset hosts (") || !strings.Contains(out.stderr, "not read") {
		t.Errorf("the dataset not read is not named:\n%s", out.stderr)
	}
	clients := map[string]bool{q.clients[0]: true, q.clients[3]: true}
	q.checkEstate(t, func(f *estateFile, r estateRow) bool {
		switch f.dataset {
		case "custom-events":
			return clients[r.client]
		case "logins":
			return r.user == q.users[1] || r.ip == q.ips[2] || r.ip == q.ips[4]
		}
		return false
	})

	ev := queueRunEvent(t, q.a.Dir, s.Audit.Batch)
	sha := estateSHA(queueMapDoc)
	if ev.Routing != "data-map" || ev.Map != sha || len(ev.Requests) != 3 || len(ev.NotRouted) != 1 || ev.NotRouted[0].Ticket != "Q-P1" {
		t.Errorf("queue_run event %+v", ev)
	}
	for _, r := range ev.Requests {
		want := map[string]string{"client_id": "custom-events", "user_name": "logins", "ip": "logins"}[r.Type]
		if strings.Join(r.Datasets, ",") != want {
			t.Errorf("request %s of type %s reaches %q, want %q", r.Ticket, r.Type, r.Datasets, want)
		}
	}
	ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if ver.err != nil || !strings.Contains(ver.stdout, "3 done requests backed by valid") {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}
	if l := q.list(t, queueClock); !strings.Contains(l.stdout, "pending  Q-P1") {
		t.Errorf("Q-P1 is not pending:\n%s", l.stdout)
	}
	scrubtest.CheckNoIDs(t, q.queue, q.a.Dir)

	// Only Q-P1 is pending: no dataset holds its type, nothing is read.
	n := len(scrubtest.Batches(t, q.a.Dir))
	again := q.run(t)
	if again.err != nil || !strings.Contains(again.stdout, `"pending_why"`) || !strings.Contains(again.stderr, "nothing read") {
		t.Errorf("a run with only Q-P1 pending: %v\n%s%s", again.err, again.stdout, again.stderr)
	}
	if m := len(scrubtest.Batches(t, q.a.Dir)); m != n {
		t.Errorf("a run with no routed request wrote a batch")
	}
}

// TestQueueRunMapDoneByDataset: a failed archive in the logins dataset
// keeps the user_name and ip requests pending, naming the dataset, while
// the client_id request, whose type logins does not hold, is done by the
// partial batch, and queue verify accepts that; once the archive is dealt
// with, the next run marks the others done.
func TestQueueRunMapDoneByDataset(t *testing.T) {
	t.Parallel()
	q := newQueueMapTest(t)
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[1]), "Q-C2", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "u.txt", q.users[2]), "Q-U2", "--type", "user_name")
	q.add(t, queueClock, q.ids(t, "i.txt", q.ips[0]), "Q-I2", "--type", "ip")
	bad := filepath.Join(q.root, "logins", "logins-bad.csv")
	if err := os.WriteFile(bad, []byte("when,user,src_ip,ok\r\n2017-11-03T08:00:00Z,us\"er,198.51.100.20,true\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := q.run(t)
	if !errors.Is(out.err, scrub.ErrPartial) {
		t.Fatalf("queue run over a bad archive: %v, want ErrPartial\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if got := strings.Join(s.Queue.Done, " "); got != "Q-C2" {
		t.Errorf("done %q, want Q-C2", got)
	}
	if got := sortedJoin(s.Queue.Pending); got != "Q-I2 Q-U2" {
		t.Errorf("pending %q, want Q-U2 Q-I2", got)
	}
	for _, p := range s.Queue.PendingWhy {
		if !strings.Contains(p.Reason, "dataset logins, which holds type "+p.Type+", has 1 failed archives") {
			t.Errorf("pending %s: reason %q", p.Ticket, p.Reason)
		}
	}
	if !strings.Contains(out.stderr, "request Q-U2 (type user_name) left pending, because dataset logins") {
		t.Errorf("the summary does not say why Q-U2 stays pending:\n%s", out.stderr)
	}
	ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if ver.err != nil || !strings.Contains(ver.stdout, "1 done requests backed by valid") {
		t.Errorf("queue verify after a partial data-map run: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}

	// A done change for Q-U2 naming that batch is found out.
	forged := t.TempDir()
	os.CopyFS(forged, os.DirFS(q.queue))
	markDone(t, forged, q.a, s.Audit.Batch, s.Audit.Head)
	ver = runAt(t, queueClock, "queue", "verify", "--queue", forged, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if !errors.Is(ver.err, cli.ErrInvalid) || !strings.Contains(ver.stdout, "(ticket Q-U2) marked done by "+s.Audit.Batch) ||
		!strings.Contains(ver.stdout, "left unfinished in the dataset logins") {
		t.Errorf("queue verify of a request marked done despite its dataset's failed archive: %v\n%s", ver.err, ver.stdout)
	}

	os.Remove(bad)
	out = q.run(t)
	if out.err != nil {
		t.Fatalf("queue run after the bad archive went: %v\n%s", out.err, out.stderr)
	}
	s = decodeQueueMapRun(t, out.stdout)
	if got := sortedJoin(s.Queue.Done); got != "Q-I2 Q-U2" || len(s.Queue.Pending) != 0 {
		t.Errorf("second run: %+v", s.Queue)
	}
	if ev := queueRunEvent(t, q.a.Dir, s.Audit.Batch); len(ev.Requests) != 2 {
		t.Errorf("the second run worked %+v", ev.Requests)
	}
	q.checkEstate(t, func(f *estateFile, r estateRow) bool {
		switch f.dataset {
		case "custom-events":
			return r.client == q.clients[1]
		case "logins":
			return r.user == q.users[2] || r.ip == q.ips[0]
		}
		return false
	})
}

// TestQueueRunMapRefused: a pending type that the map holds as a
// composite cannot be matched by tags of single identifiers: the run is
// refused before anything is read, naming the type. (A type stored hashed
// is matched by the tags queue add --map records: TestQueueRunMapHashed.)
func TestQueueRunMapRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, typ string
		want      []string
	}{
		{"composite", "host_user", []string{`type "host_user" is a composite identifier`, "Q-H1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root, mapFile := newEstate(t, estateMap)
			q := &queueTest{a: scrubtest.NewAudit(t), queue: filepath.Join(t.TempDir(), "queue"), files: t.TempDir()}
			q.add(t, queueClock, q.ids(t, "c.txt", "A0000000-C11E-4D00-8000-000000000000"), "Q-C3", "--type", "client_id")
			q.add(t, queueClock, q.ids(t, "h.txt", "someone"), "Q-H1", "--type", c.typ)
			before := snapshot(t, root)
			out := runAt(t, queueClock, "queue", "run", "--queue", q.queue, "--key", q.a.Key, "--id-key", q.a.IDKey, "--audit", q.a.Dir,
				"--no-progress", "--map", mapFile)
			var u *cli.UsageError
			if !errors.As(out.err, &u) {
				t.Fatalf("queue run --map: %v, want a usage error\n%s", out.err, out.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(out.err.Error(), w) {
					t.Errorf("error %q lacks %q", out.err, w)
				}
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("the refused run changed the estate")
			}
			if n := len(scrubtest.Batches(t, q.a.Dir)); n != 0 {
				t.Errorf("the refused run wrote %d batches", n)
			}
		})
	}

	// A type the map holds only as a composite's part stays pending,
	// with the reason; the client_id request is worked.
	_, mapFile := newEstate(t, estateMap)
	qp := &queueTest{a: scrubtest.NewAudit(t), queue: filepath.Join(t.TempDir(), "queue"), files: t.TempDir()}
	qp.add(t, queueClock, qp.ids(t, "c.txt", genEstate()[0].rows[0].client), "Q-C5", "--type", "client_id")
	qp.add(t, queueClock, qp.ids(t, "h.txt", "host-1.corp.example"), "Q-H5", "--type", "host")
	out := runAt(t, queueClock, "queue", "run", "--queue", qp.queue, "--key", qp.a.Key, "--id-key", qp.a.IDKey, "--audit", qp.a.Dir,
		"--no-progress", "--json", "--map", mapFile)
	if out.err != nil {
		t.Fatalf("queue run --map with a part type pending: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if sortedJoin(s.Queue.Done) != "Q-C5" || len(s.Queue.PendingWhy) != 1 ||
		!strings.Contains(s.Queue.PendingWhy[0].Reason, `holds type "host" only as a part of the composite "host_user"`) {
		t.Errorf("queue outcome %+v", s.Queue)
	}

	// A SOURCE, or a flag the map sets, goes without --map.
	q := newQueueMapTest(t)
	for _, extra := range [][]string{{q.root}, {"--column", "user"}, {"--delimiter", ";"}} {
		out := q.run(t, extra...)
		var u *cli.UsageError
		if !errors.As(out.err, &u) || !strings.Contains(out.err.Error(), "map") {
			t.Errorf("queue run --map %q: %v, want a usage error", extra, out.err)
		}
	}
}

// sortedJoin joins s sorted, with spaces.
func sortedJoin(s []string) string { return strings.Join(slices.Sorted(slices.Values(s)), " ") }

// TestQueueRunMapResume: a --map run killed after it replaced an archive
// is taken up by the next --map run with the same map and requests; a
// request added since, of another type, waits for the run after.
func TestQueueRunMapResume(t *testing.T) {
	t.Parallel()
	q := newQueueMapTest(t)
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[2]), "Q-C4", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "u.txt", q.users[3]), "Q-U4", "--type", "user_name")
	orig := scrubtest.Snapshot(t, q.root)
	queueBefore := dirFiles(t, q.queue)

	out := q.run(t)
	if out.err != nil {
		t.Fatalf("queue run: %v\n%s", out.err, out.stderr)
	}
	b := decodeQueueMapRun(t, out.stdout).Audit.Batch
	// The run killed after its first archive was replaced.
	raw, err := os.ReadFile(filepath.Join(q.a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	end := strings.Index(string(raw), `"type":"verified"`)
	end += strings.IndexByte(string(raw[end:]), '\n') + 1
	var first struct{ Key string }
	line := raw[:end-1]
	json.Unmarshal(line[strings.LastIndexByte(string(line), '\n')+1:], &first)
	if first.Key == "" {
		t.Fatalf("no key in the verified step")
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
		if f.Mode.IsRegular() && !strings.HasSuffix(rel, "/"+first.Key) {
			os.WriteFile(filepath.Join(q.root, rel), f.Data, 0o644)
		}
	}

	q.add(t, queueClock, q.ids(t, "i.txt", q.ips[1]), "Q-I4", "--type", "ip")
	out = q.run(t)
	if out.err != nil {
		t.Fatalf("the run after the kill: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if s.Audit.Batch != b || sortedJoin(s.Queue.Done) != "Q-C4 Q-U4" || len(s.Queue.Pending) != 0 {
		t.Errorf("the run after the kill sealed %s (want %s taken up), queue %+v", s.Audit.Batch, b, s.Queue)
	}
	if !strings.Contains(out.stderr, "taking up the unfinished batch "+b+" with its 2 requests; the 1 added since wait") {
		t.Errorf("the run does not say it takes up the killed batch:\n%s", out.stderr)
	}
	next := q.run(t)
	if next.err != nil || sortedJoin(decodeQueueMapRun(t, next.stdout).Queue.Done) != "Q-I4" {
		t.Errorf("the next run: %v\n%s", next.err, next.stderr)
	}
	q.checkEstate(t, func(f *estateFile, r estateRow) bool {
		switch f.dataset {
		case "custom-events":
			return r.client == q.clients[2]
		case "logins":
			return r.user == q.users[3] || r.ip == q.ips[1]
		}
		return false
	})
}

// queueHashedMapDoc is queueMapDoc with the logins dataset storing user
// names as the SHA-256 of their lower-case form and source IPs as an
// HMAC-SHA256 under ip.key, as the licence register does.
var queueHashedMapDoc = strings.Replace(strings.Replace(queueMapDoc,
	"name = \"user\"\ntype = \"user_name\"\n", "name = \"user\"\ntype = \"user_name\"\nstored = \"lower,sha256\"\n", 1),
	"name = \"src_ip\"\ntype = \"ip\"\n", "name = \"src_ip\"\ntype = \"ip\"\nstored = \"hmac-sha256:ip.key\"\n", 1)

// hashedLogins rewrites the estate's logins as the hashed map stores them:
// a user name (in clear every other row in upper case) as the lower-case
// SHA-256 of its lower-case form, in upper-case hex every third row; an
// IP as its HMAC-SHA256 under ip.key. Each row keeps its clear values for
// the test's own filter.
func hashedLogins(files []*estateFile) {
	for _, f := range files {
		if f.dataset != "logins" {
			continue
		}
		for i := range f.rows {
			r := &f.rows[i]
			if i%2 == 1 {
				r.user = strings.ToUpper(r.user)
			}
			sum := sha256.Sum256([]byte(strings.ToLower(r.user)))
			u := hex.EncodeToString(sum[:])
			if i%3 == 0 {
				u = strings.ToUpper(u)
			}
			when, _, _ := strings.Cut(r.line, ",")
			r.line = fmt.Sprintf("%s,%s,%s,true", when, u, estateHMAC(r.ip))
		}
	}
}

func newHashedQueueMapTest(t *testing.T) *queueMapTest {
	t.Helper()
	q := &queueMapTest{queueTest: &queueTest{a: scrubtest.NewAudit(t), queue: filepath.Join(t.TempDir(), "queue"), files: t.TempDir()}}
	q.root = t.TempDir()
	q.estate, q.clients, q.users, q.ips = genQueueEstate()
	hashedLogins(q.estate)
	for _, f := range q.estate {
		f.write(t, q.root)
	}
	q.mapFile = filepath.Join(q.root, "datamap.toml")
	if err := os.WriteFile(q.mapFile, []byte(queueHashedMapDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(q.root, "ip.key"), []byte(ipKeyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQueueRunMapHashed: in an estate whose logins store user names as
// lower,sha256 (some rows in upper-case hex) and IPs as
// hmac-sha256:KEYFILE, requests added with --map are worked by queue run
// --map and erase exactly the rows of their identifiers, byte for byte
// against the test's own filter on the clear values; a request added
// without --map stays pending, naming the dataset, column and form, while
// the others are done; adding its identifiers again with --map, under
// another ticket, lets the next run work both. Neither the identifiers
// nor their stored values are written to the queue or the audit location.
func TestQueueRunMapHashed(t *testing.T) {
	t.Parallel()
	q := newHashedQueueMapTest(t)
	// user.b1 is in the rows in lower and in upper case; the request
	// names it in mixed case: the product lower-cases before hashing.
	userB := strings.ToUpper(q.users[1][:1]) + q.users[1][1:]
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[3]), "Q-C1", "--type", "client_id", "--map", q.mapFile)
	q.add(t, queueClock, q.ids(t, "u.txt", userB), "Q-U1", "--type", "user_name", "--map", q.mapFile)
	q.add(t, queueClock, q.ids(t, "i.txt", q.ips[2], q.ips[4]), "Q-I1", "--type", "ip", "--map", q.mapFile)
	q.add(t, queueClock, q.ids(t, "u2.txt", q.users[2]), "Q-U2", "--type", "user_name") // without --map

	out := q.run(t)
	if out.err != nil {
		t.Fatalf("queue run --map: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if got := sortedJoin(s.Queue.Done); got != "Q-C1 Q-I1 Q-U1" {
		t.Errorf("done %q, want Q-C1 Q-I1 Q-U1", got)
	}
	if len(s.Queue.PendingWhy) != 1 || s.Queue.PendingWhy[0].Ticket != "Q-U2" {
		t.Fatalf("pending %+v, want Q-U2", s.Queue)
	}
	for _, w := range []string{`dataset logins, column "user"`, "datamap.toml:", "stores it as lower,sha256", "scrub queue add --map"} {
		if !strings.Contains(s.Queue.PendingWhy[0].Reason, w) {
			t.Errorf("Q-U2's reason %q lacks %q", s.Queue.PendingWhy[0].Reason, w)
		}
	}
	if !strings.Contains(out.stderr, "request Q-U2 (type user_name) left pending, because") {
		t.Errorf("the summary does not say why Q-U2 stays pending:\n%s", out.stderr)
	}
	lower := func(u string) string { return strings.ToLower(u) }
	q.checkEstate(t, func(f *estateFile, r estateRow) bool {
		switch f.dataset {
		case "custom-events":
			return r.client == q.clients[3]
		case "logins":
			return lower(r.user) == lower(userB) || r.ip == q.ips[2] || r.ip == q.ips[4]
		}
		return false
	})
	var removed int64
	for _, a := range s.Archives {
		if a.Dataset == "logins" {
			removed += a.RowsRemoved
		}
	}
	// The rows of user.b1 include some in upper-case hex, some of the
	// name in upper case: the test covers both.
	spellings := map[string]bool{}
	for _, f := range q.estate {
		for _, r := range f.rows {
			if f.dataset == "logins" && lower(r.user) == lower(userB) {
				_, rest, _ := strings.Cut(r.line, ",")
				u, _, _ := strings.Cut(rest, ",")
				spellings[fmt.Sprint(u == strings.ToUpper(u), r.user == strings.ToUpper(r.user))] = true
			}
		}
	}
	if !spellings["true false"] || !spellings["false false"] || !spellings["false true"] && !spellings["true true"] {
		t.Errorf("the rows of %s are not in every spelling: %v", q.users[1], spellings)
	}
	if removed == 0 {
		t.Errorf("no login row removed: the test erases nothing by a stored form\n%s", out.stdout)
	}

	// The batch records the tags each stored form was checked for.
	ev := queueRunEvent(t, q.a.Dir, s.Audit.Batch)
	forms := map[string]string{}
	for _, r := range ev.Requests {
		var fs []string
		for _, f := range r.Forms {
			fs = append(fs, fmt.Sprintf("%s/%s/%d", f.Form, f.Key, len(f.Tags)))
		}
		forms[r.Ticket] = strings.Join(fs, " ")
	}
	if len(ev.NotRouted) != 1 || ev.NotRouted[0].Ticket != "Q-U2" || forms["Q-C1"] != "" || forms["Q-U1"] != "lower,sha256//1" ||
		!strings.HasPrefix(forms["Q-I1"], "hmac-sha256/sha256:") || !strings.HasSuffix(forms["Q-I1"], "/2") {
		t.Errorf("queue_run event: forms %q, not routed %+v", forms, ev.NotRouted)
	}
	ver := runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if ver.err != nil || !strings.Contains(ver.stdout, "3 done requests backed by valid") {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}

	// Q-U2's identifiers again, with --map: the next run works both.
	q.add(t, queueClock, q.ids(t, "u2m.txt", q.users[2]), "Q-U2-map", "--type", "user_name", "--map", q.mapFile)
	out = q.run(t)
	if out.err != nil {
		t.Fatalf("the second queue run: %v\n%s", out.err, out.stderr)
	}
	s = decodeQueueMapRun(t, out.stdout)
	if got := sortedJoin(s.Queue.Done); got != "Q-U2 Q-U2-map" || len(s.Queue.Pending) != 0 {
		t.Errorf("second run: %+v", s.Queue)
	}
	q.checkEstate(t, func(f *estateFile, r estateRow) bool {
		switch f.dataset {
		case "custom-events":
			return r.client == q.clients[3]
		case "logins":
			return lower(r.user) == lower(userB) || lower(r.user) == lower(q.users[2]) || r.ip == q.ips[2] || r.ip == q.ips[4]
		}
		return false
	})
	ver = runAt(t, queueClock, "queue", "verify", "--queue", q.queue, "--key", q.a.Key, "--audit", q.a.Dir, "--pub", q.a.Pub)
	if ver.err != nil || !strings.Contains(ver.stdout, "5 done requests backed by valid") {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}

	// No identifier, nor its stored value, in the queue or the log.
	var secret []string
	for _, id := range []string{q.clients[3], userB, q.users[2], q.ips[2], q.ips[4]} {
		sum := sha256.Sum256([]byte(strings.ToLower(id)))
		secret = append(secret, id, hex.EncodeToString(sum[:]), estateHMAC(id))
	}
	for _, dir := range []string{q.queue, q.a.Dir} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(p)
			for _, v := range secret {
				if bytes.Contains(bytes.ToLower(data), []byte(strings.ToLower(v))) {
					t.Errorf("%s holds an identifier or its stored value", p)
				}
			}
			return nil
		})
	}
}

// TestQueueAddMap: queue add --map records, besides the clear tags, the
// tags of each distinct stored form a column of the type uses (a digest's
// lower-case hex tagged; an HMAC form named by its key's ID, never its
// file or content); a type the map holds as a composite, only as a part,
// or nowhere is refused, naming the map.
func TestQueueAddMap(t *testing.T) {
	t.Parallel()
	q := newHashedQueueMapTest(t)
	raw, _ := os.ReadFile(q.a.IDKey)
	k, err := audit.ParseIDKey(raw, q.a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	q.add(t, queueClock, q.ids(t, "u.txt", "Alice", "alice", "BOB"), "Q-1", "--type", "user_name", "--map", q.mapFile)
	q.add(t, queueClock, q.ids(t, "i.txt", "10.0.0.1"), "Q-2", "--type", "ip", "--map", q.mapFile)
	q.add(t, queueClock, q.ids(t, "c.txt", "C-1"), "Q-3", "--type", "client_id", "--map", q.mapFile)
	qu, err := queue.Open(context.Background(), local.Dir(q.queue), k, &queue.Trust{Keys: []ed25519.PublicKey{q.a.Signer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	tags := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, k.Tag([]byte(id)))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	sha := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	keyID := "sha256:" + sha("scrub id-transform key id\n" + string(mustHex(t, ipKeyHex)))[:16]
	want := map[string][]queue.Form{
		"Q-1": {{Form: "lower,sha256", Tags: tags(sha("alice"), sha("bob"))}},
		"Q-2": {{Form: "hmac-sha256", Key: keyID, Tags: tags(estateHMAC("10.0.0.1"))}},
		"Q-3": nil,
	}
	for _, e := range qu.Requests() {
		if !slices.EqualFunc(e.Forms, want[e.Ticket], func(a, b queue.Form) bool { return a.Form == b.Form && a.Key == b.Key && slices.Equal(a.Tags, b.Tags) }) {
			t.Errorf("%s: forms %+v, want %+v", e.Ticket, e.Forms, want[e.Ticket])
		}
		if e.Ticket == "Q-1" && !slices.Equal(e.Tags, tags("Alice", "alice", "BOB")) {
			t.Errorf("Q-1: clear tags %v", e.Tags)
		}
	}
	for _, c := range dirFilesList(t, q.queue) {
		data, _ := os.ReadFile(filepath.Join(q.queue, c))
		if bytes.Contains(data, []byte("ip.key")) || bytes.Contains(data, []byte(ipKeyHex)) {
			t.Errorf("%s names the key file or holds the key", c)
		}
	}

	composite := queueHashedMapDoc + "\n[[dataset]]\nname = \"lic\"\nlocation = \"lic\"\n[[dataset.composite]]\ntype = \"host_user\"\nparts = [\n  { column = \"h\", type = \"hostpart\" },\n  { column = \"u\", type = \"userpart\" },\n]\n"
	cmap := filepath.Join(q.root, "composite.toml")
	if err := os.WriteFile(cmap, []byte(composite), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typ, mapFile, want string }{
		{"host_user", cmap, "holds it as a composite identifier"},
		{"hostpart", cmap, `only as a part of the composite "host_user"`},
		{"phone", q.mapFile, "holds no identifier of that type"},
	} {
		before := dirFiles(t, q.queue)
		out := runAt(t, queueClock, "queue", "add", "--queue", q.queue, "--ids", q.ids(t, "x.txt", "x"), "--ticket", "Q-X", "--type", c.typ,
			"--map", c.mapFile, "--key", q.a.Key, "--id-key", q.a.IDKey)
		var u *cli.UsageError
		if !errors.As(out.err, &u) || !strings.Contains(out.err.Error(), c.want) || !strings.Contains(out.err.Error(), c.mapFile) {
			t.Errorf("queue add --type %s --map: %v, want a usage error naming the map and %q", c.typ, out.err, c.want)
		}
		if !maps.Equal(before, dirFiles(t, q.queue)) {
			t.Errorf("queue add --type %s: the refused add wrote to the queue", c.typ)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dirFilesList returns the names of the files in dir, sorted.
func dirFilesList(t *testing.T, dir string) []string {
	return slices.Sorted(maps.Keys(dirFiles(t, dir)))
}

// TestQueueFixtureV1Map: the queue an earlier scrub wrote (add changes
// without forms) still opens and verifies against its audit batch; its
// pending user_name request, which holds no tags of the lower,sha256 form
// the hashed map stores user names in, stays pending with the reason, and
// nothing is read.
func TestQueueFixtureV1Map(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "queue-v1")
	if err := os.CopyFS(dir, os.DirFS("../queue/testdata/queue-v1")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"signer", "id.key"} {
		if err := os.Chmod(filepath.Join(dir, "keys", k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	at := func(p string) string { return filepath.Join(dir, p) }
	ver := runAt(t, queueClock, "queue", "verify", "--queue", at("queue"), "--queue-signers", at("keys/signer.allowed_signers"),
		"--audit", at("audit"), "--pub", at("keys/signer.pub"))
	if ver.err != nil || !strings.Contains(ver.stdout, "valid: 3 changes, 2 requests (1 pending, 1 done)") || !strings.Contains(ver.stdout, "1 done requests backed by valid") {
		t.Fatalf("queue verify of the v1 queue: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}
	q := newHashedQueueMapTest(t)
	before := snapshot(t, q.root)
	out := runAt(t, queueClock, "queue", "run", "--queue", at("queue"), "--key", at("keys/signer"), "--id-key", at("keys/id.key"),
		"--audit", at("audit"), "--no-progress", "--json", "--map", q.mapFile)
	if out.err != nil {
		t.Fatalf("queue run --map on the v1 queue: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if len(s.Queue.PendingWhy) != 1 || s.Queue.PendingWhy[0].Ticket != "FIX-2" ||
		!strings.Contains(s.Queue.PendingWhy[0].Reason, `column "user"`) || !strings.Contains(s.Queue.PendingWhy[0].Reason, "stores it as lower,sha256") {
		t.Errorf("queue outcome %+v, want FIX-2 pending for its form", s.Queue)
	}
	if !strings.Contains(out.stderr, "nothing read") || !maps.Equal(before, snapshot(t, q.root)) || len(scrubtest.Batches(t, at("audit"))) != 1 {
		t.Errorf("a run with only FIX-2 pending read or wrote something:\n%s", out.stderr)
	}
}

// TestQueueRunMapNotScanned: an archive of a dataset that holds none of
// the dataset's columns (an exporter renamed them) is not read, so the
// requests of the types that dataset holds stay pending, naming it, even
// though the batch completed; the others are done.
func TestQueueRunMapNotScanned(t *testing.T) {
	t.Parallel()
	q := newQueueMapTest(t)
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[1]), "Q-C2", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "u.txt", q.users[2]), "Q-U2", "--type", "user_name")
	renamed := filepath.Join(q.root, "logins", "logins-renamed.csv")
	if err := os.WriteFile(renamed, []byte("when,login_name,address,ok\r\n2017-11-03T08:00:00Z,"+q.users[2]+",198.51.100.20,true\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := q.run(t)
	if out.err != nil {
		t.Fatalf("queue run: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueMapRun(t, out.stdout)
	if s.Totals.NotScanned != 1 {
		t.Fatalf("totals %+v, want the renamed file not scanned", s.Totals)
	}
	if got := strings.Join(s.Queue.Done, " "); got != "Q-C2" {
		t.Errorf("done %q, want Q-C2 only: Q-U2's identifier may be in the unread file", got)
	}
	if len(s.Queue.PendingWhy) != 1 || !strings.Contains(s.Queue.PendingWhy[0].Reason, "dataset logins, which holds type user_name, has 1 not-scanned archives") {
		t.Errorf("pending %+v", s.Queue.PendingWhy)
	}
	os.Remove(renamed)
	out = q.run(t)
	if s := decodeQueueMapRun(t, out.stdout); out.err != nil || strings.Join(s.Queue.Done, " ") != "Q-U2" {
		t.Errorf("the run after the file went: %v %+v\n%s", out.err, s.Queue, out.stderr)
	}
}

// TestQueueRunMapCompositePart: a type held alone in one dataset and as a
// part of a composite in another cannot be done by requests of single
// identifiers (the composite's rows need the whole tuple): it stays
// pending with the reason, and the composite's dataset is not claimed.
func TestQueueRunMapCompositePart(t *testing.T) {
	t.Parallel()
	q := newQueueMapTest(t)
	doc := queueMapDoc + `
[[dataset.composite]]
type = "host_owner"
parts = [
  { column = "hostname", type = "host" },
  { column = "owner", type = "user_name" },
]
`
	if err := os.WriteFile(q.mapFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	q.add(t, queueClock, q.ids(t, "c.txt", q.clients[1]), "Q-C2", "--type", "client_id")
	q.add(t, queueClock, q.ids(t, "u.txt", q.users[2]), "Q-U2", "--type", "user_name")
	out := q.run(t)
	s := decodeQueueMapRun(t, out.stdout)
	if got := strings.Join(s.Queue.Done, " "); got != "Q-C2" {
		t.Errorf("done %q (%v), want Q-C2 only\n%s", got, out.err, out.stderr)
	}
	if len(s.Queue.PendingWhy) != 1 || !strings.Contains(s.Queue.PendingWhy[0].Reason, `also as a part of the composite "host_owner"`) {
		t.Errorf("pending %+v", s.Queue.PendingWhy)
	}
}
