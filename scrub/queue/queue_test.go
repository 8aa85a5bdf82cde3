package queue_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/queue"
)

var day = time.Date(2026, 12, 3, 20, 15, 0, 0, time.UTC)

func newSigner(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func trustOf(keys ...ed25519.PrivateKey) *queue.Trust {
	t := &queue.Trust{}
	for _, k := range keys {
		t.Keys = append(t.Keys, k.Public().(ed25519.PublicKey))
	}
	return t
}

func newKey(t testing.TB) *audit.IDKey {
	t.Helper()
	k, err := audit.ParseIDKey(audit.NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func request(k *audit.IDKey, ticket string, ids ...string) queue.Request {
	r := queue.Request{Ticket: ticket, Type: queue.DefaultType, Received: "2026-12-03", Due: "2027-01-02"}
	for _, id := range ids {
		r.Tags = append(r.Tags, k.Tag([]byte(id)))
	}
	return r
}

func open(t testing.TB, dir string, k *audit.IDKey, trust *queue.Trust) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), local.Dir(dir), k, trust)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// honest makes a queue of three changes: add R1 (A, B), add R2 (C), done
// R1; it returns the change files' names in order.
func honest(t testing.TB, dir string, k *audit.IDKey, signer ed25519.PrivateKey) []string {
	t.Helper()
	ctx := context.Background()
	q := open(t, dir, k, trustOf(signer))
	r1, err := q.Add(ctx, signer, day, "dpo", request(k, "R1", "A", "B"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := q.Add(ctx, signer, day.Add(time.Second), "dpo", request(k, "R2", "C"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := q.MarkDone(ctx, signer, day.Add(time.Hour), "nightly", "batch-20261203T211500.000Z-0123456789ab", strings.Repeat("ab", 32), []string{r1.ID})
	if err != nil {
		t.Fatal(err)
	}
	return []string{r1.ID + ".json", r2.ID + ".json", d.Name}
}

// TestRoundTrip: what is added and marked done is what Open replays, and
// the files hold tags, never the identifiers.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	names := honest(t, dir, k, signer)
	q := open(t, dir, k, trustOf(signer))
	reqs := q.Requests()
	if len(reqs) != 2 || reqs[0].Ticket != "R1" || reqs[1].Ticket != "R2" {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[0].Pending() || reqs[0].Done.Batch != "batch-20261203T211500.000Z-0123456789ab" || reqs[0].Done.Change != names[2] {
		t.Errorf("R1: %+v", reqs[0].Done)
	}
	if p := q.Pending(); len(p) != 1 || p[0].Ticket != "R2" || !slices.Equal(p[0].Tags, []string{k.Tag([]byte("C"))}) {
		t.Errorf("pending %+v", p)
	}
	if len(q.Changes()) != 3 || len(q.Heads()) != 1 || q.Heads()[0] != q.Changes()[2].SHA256 {
		t.Errorf("changes %d, heads %v", len(q.Changes()), q.Heads())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, id := range []string{`"A"`, `"B"`, `"C"`} {
			if bytes.Contains(data, []byte(id)) {
				t.Errorf("%s holds the identifier %s in clear", e.Name(), id)
			}
		}
	}
	// A reader without the ID key sees the same queue.
	if q := open(t, dir, nil, trustOf(signer)); len(q.Requests()) != 2 {
		t.Errorf("without the ID key: %d requests", len(q.Requests()))
	}
}

// TestRefused tampers with an honest queue in each way one who can write
// its location, but holds no trusted key, could; Open refuses the queue
// with an error naming the change.
func TestRefused(t *testing.T) {
	t.Parallel()
	k, signer, other := newKey(t), newSigner(t), newSigner(t)
	resign := func(t *testing.T, dir, name string, edit func([]byte) []byte, key ed25519.PrivateKey, ns string) {
		p := filepath.Join(dir, name)
		data, _ := os.ReadFile(p)
		data = edit(data)
		sig, err := sshsig.Sign(key, ns, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, data, 0o644)
		os.WriteFile(p+".sig", sig, 0o644)
	}
	same := func(b []byte) []byte { return b }
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, names []string) string // the change the error names
		key    *audit.IDKey
		want   string
	}{
		{"unsigned", func(t *testing.T, dir string, n []string) string {
			os.Remove(filepath.Join(dir, n[1]+".sig"))
			return n[1]
		}, k, "unsigned (no "},
		{"content altered", func(t *testing.T, dir string, n []string) string {
			p := filepath.Join(dir, n[1])
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"due":"2027-01-02"`), []byte(`"due":"2027-06-02"`), 1), 0o644)
			return n[1]
		}, k, "bad signature"},
		{"signed by a key not trusted", func(t *testing.T, dir string, n []string) string {
			resign(t, dir, n[1], same, other, queue.Namespace)
			return n[1]
		}, k, "not a trusted queue signer"},
		{"signed in the blocklist's namespace", func(t *testing.T, dir string, n []string) string {
			resign(t, dir, n[1], same, signer, "scrub-blocklist")
			return n[1]
		}, k, "bad signature"},
		{"a change deleted from the middle", func(t *testing.T, dir string, n []string) string {
			os.Remove(filepath.Join(dir, n[1]))
			return n[2]
		}, k, "chain broken"},
		{"a change renamed", func(t *testing.T, dir string, n []string) string {
			const to = "queue-20991231T000000.000Z-deadbeef.json"
			os.Rename(filepath.Join(dir, n[2]), filepath.Join(dir, to))
			os.Rename(filepath.Join(dir, n[2]+".sig"), filepath.Join(dir, to+".sig"))
			return to
		}, k, "it names itself"},
		{"the identity replaced", func(t *testing.T, dir string, n []string) string {
			os.WriteFile(filepath.Join(dir, queue.File), []byte(`{"format":1,"queue":"00000000000000000000000000000000"}`+"\n"), 0o644)
			return n[0]
		}, k, "from another queue"},
		{"the identity deleted", func(t *testing.T, dir string, n []string) string {
			os.Remove(filepath.Join(dir, queue.File))
			return queue.File
		}, k, "is missing"},
		{"a done change of a request not added", func(t *testing.T, dir string, n []string) string {
			resign(t, dir, n[2], func(b []byte) []byte {
				return bytes.Replace(b, []byte(strings.TrimSuffix(n[0], ".json")), []byte("queue-20200101T000000.000Z-00000000"), 1)
			}, signer, queue.Namespace)
			return n[2]
		}, k, "which no change before it added"},
		{"another ID key", func(t *testing.T, dir string, n []string) string { return "queue-" }, newKey(t), "another ID key"}, // any change
		{"a clear ID pasted as a tag", func(t *testing.T, dir string, n []string) string {
			resign(t, dir, n[1], func(b []byte) []byte {
				return bytes.Replace(b, []byte(k.Tag([]byte("C"))), []byte("CLIENT-0042"), 1)
			}, signer, queue.Namespace)
			return n[1]
		}, k, "tag 1 is not a hex HMAC-SHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			names := honest(t, dir, k, signer)
			named := tt.tamper(t, dir, names)
			_, err := queue.Open(context.Background(), local.Dir(dir), tt.key, trustOf(signer))
			if err == nil || !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error naming %s with %q", err, named, tt.want)
			}
			if strings.Contains(err.Error(), "CLIENT-0042") {
				t.Errorf("the error quotes the pasted ID: %v", err)
			}
		})
	}
}

// TestNoTrust: a queue with changes is not opened without a trusted key.
func TestNoTrust(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	honest(t, dir, k, signer)
	if _, err := queue.Open(context.Background(), local.Dir(dir), k, &queue.Trust{}); !errors.Is(err, queue.ErrNoTrust) {
		t.Errorf("Open without trust: %v", err)
	}
	// An untrusted signer cannot add either.
	q := open(t, dir, k, trustOf(signer))
	if _, err := q.Add(context.Background(), newSigner(t), day, "", request(k, "R3", "D")); err == nil {
		t.Errorf("a change by a key the queue does not trust was written")
	}
}

// TestConcurrentAdds: writers that each loaded the queue before any
// wrote (an empty location included) lose nothing; the next change
// follows every head.
func TestConcurrentAdds(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	const n = 16
	qs := make([]*queue.Queue, n)
	for i := range n {
		qs[i] = open(t, dir, k, trustOf(signer))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := qs[i].Add(context.Background(), signer, day, "", request(k, fmt.Sprintf("T%02d", i), fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	q := open(t, dir, k, trustOf(signer))
	if len(q.Requests()) != n || len(q.Heads()) != n {
		t.Fatalf("%d requests, %d heads, want %d of each", len(q.Requests()), len(q.Heads()), n)
	}
	var ids []string
	for _, e := range q.Requests() {
		ids = append(ids, e.ID)
	}
	d, err := q.MarkDone(context.Background(), signer, day, "", "batch-20261203T211500.000Z-0123456789ab", strings.Repeat("cd", 32), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Prev) != n {
		t.Errorf("the done change follows %d changes, want %d", len(d.Prev), n)
	}
	q = open(t, dir, k, trustOf(signer))
	if len(q.Pending()) != 0 || len(q.Heads()) != 1 {
		t.Errorf("after the done change: %d pending, %d heads", len(q.Pending()), len(q.Heads()))
	}
}

// TestByTypeAndMatcher: tags are grouped by type; the matcher of all
// types matches every request's IDs, the one of a type only its own.
func TestByTypeAndMatcher(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	q := open(t, dir, k, trustOf(signer))
	ctx := context.Background()
	for _, r := range []queue.Request{request(k, "A", "alice", "bob"), request(k, "B", "bob"), request(k, "C", "10.0.0.1")} {
		if r.Ticket == "C" {
			r.Type = "ip"
		}
		if _, err := q.Add(ctx, signer, day, "", r); err != nil {
			t.Fatal(err)
		}
	}
	by := queue.ByType(q.Pending())
	if len(by["client_id"]) != 2 || len(by["ip"]) != 1 {
		t.Fatalf("ByType %v", by)
	}
	m, err := queue.NewMatcher(k, by)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  string
		id   string
		want bool
	}{
		{"all", "alice", true}, {"all", "10.0.0.1", true}, {"all", "carol", false},
		{"client_id", "bob", true}, {"client_id", "10.0.0.1", false},
		{"ip", "10.0.0.1", true}, {"ip", "alice", false},
		{"user_name", "alice", false},
	} {
		set := m.All()
		if c.set != "all" {
			set = m.Type(c.set)
		}
		if got := set.Contains([]byte(c.id)); got != c.want {
			t.Errorf("%s contains %s: %v, want %v", c.set, c.id, got, c.want)
		}
	}
	if got := m.Types(); !slices.Equal(got, []string{"client_id", "ip"}) {
		t.Errorf("Types %v", got)
	}
}

// TestChangeFormat pins the JSON of an add change: what auditors read.
func TestChangeFormat(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	q := open(t, dir, k, trustOf(signer))
	e, err := q.Add(context.Background(), signer, day, "dpo", request(k, "DPO-7", "A"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, e.ID+".json"))
	var c map[string]json.RawMessage
	json.Unmarshal(data, &c)
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "format,id_key,name,op,operator,queue,request,time" {
		t.Errorf("an add change's fields: %s", got)
	}
	want := fmt.Sprintf(`{"ticket":"DPO-7","type":"client_id","id_hmacs":["%s"],"received":"2026-12-03","due":"2027-01-02"}`, k.Tag([]byte("A")))
	if string(c["request"]) != want {
		t.Errorf("request %s, want %s", c["request"], want)
	}
}

// FuzzChange: a queue change altered in any way is refused, with an error
// naming it; the signed content is accepted.
func FuzzChange(f *testing.F) {
	k, signer := newKey(f), newSigner(f)
	dir := f.TempDir()
	names := honest(f, dir, k, signer)
	name := filepath.Join(dir, names[2])
	orig, err := os.ReadFile(name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(bytes.Replace(orig, []byte(`"done"`), []byte(`"add"`), 1))
	f.Add([]byte(`{"format":1,"op":"done"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		q, err := queue.Open(context.Background(), local.Dir(dir), k, trustOf(signer))
		switch {
		case bytes.Equal(data, orig):
			if err != nil || len(q.Pending()) != 1 {
				t.Errorf("the signed content: %v", err)
			}
		case err == nil:
			t.Errorf("Open accepted altered content %q", data)
		case !strings.Contains(err.Error(), names[2]):
			t.Errorf("error %v does not name %s", err, names[2])
		}
	})
}
