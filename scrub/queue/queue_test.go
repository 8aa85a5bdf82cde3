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
	m, err := queue.NewMatcher(k, by, nil)
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

	// The tags of a stored form are matched by Form of that type, form
	// and key only, never by the clear matchers.
	fk := queue.FormKey{Type: "ip", Form: "hmac-sha256", Key: "sha256:0123456789abcdef"}
	m, err = queue.NewMatcher(k, by, map[queue.FormKey][]string{fk: {k.Tag([]byte("c0ffee"))}})
	if err != nil {
		t.Fatal(err)
	}
	other := fk
	other.Key = "sha256:ffffffffffffffff"
	for _, c := range []struct {
		name string
		set  interface{ Contains([]byte) bool }
		want bool
	}{
		{"form", m.Form(fk), true}, {"form of another key", m.Form(other), false},
		{"all", m.All(), false}, {"ip", m.Type("ip"), false},
	} {
		if got := c.set.Contains([]byte("c0ffee")); got != c.want {
			t.Errorf("%s contains the stored value: %v, want %v", c.name, got, c.want)
		}
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

// TestChangeFormatForms pins the JSON of an add change with the optional
// forms (queue add --map): a request's fields, then forms sorted by form
// and key, each with its tags sorted.
func TestChangeFormatForms(t *testing.T) {
	t.Parallel()
	k, signer, dir := newKey(t), newSigner(t), t.TempDir()
	q := open(t, dir, k, trustOf(signer))
	r := request(k, "DPO-8", "A", "B")
	r.Type = "user_name"
	ha, hb := k.Tag([]byte("a-hex")), k.Tag([]byte("b-hex"))
	r.Forms = []queue.Form{
		{Form: "lower,sha256", Tags: []string{k.Tag([]byte("a-low"))}},
		{Form: "hmac-sha256", Key: "sha256:0123456789abcdef", Tags: []string{max(ha, hb), min(ha, hb)}},
	}
	e, err := q.Add(context.Background(), signer, day, "dpo", r)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, e.ID+".json"))
	var c map[string]json.RawMessage
	json.Unmarshal(data, &c)
	ta, tb := k.Tag([]byte("A")), k.Tag([]byte("B"))
	want := fmt.Sprintf(`{"ticket":"DPO-8","type":"user_name","id_hmacs":["%s","%s"],"received":"2026-12-03","due":"2027-01-02",`+
		`"forms":[{"form":"hmac-sha256","key_id":"sha256:0123456789abcdef","id_hmacs":["%s","%s"]},{"form":"lower,sha256","id_hmacs":["%s"]}]}`,
		min(ta, tb), max(ta, tb), min(ha, hb), max(ha, hb), k.Tag([]byte("a-low")))
	if string(c["request"]) != want {
		t.Errorf("request %s, want %s", c["request"], want)
	}
	got := open(t, dir, k, trustOf(signer)).Requests()[0]
	if tags, ok := got.Form("hmac-sha256", "sha256:0123456789abcdef"); !ok || len(tags) != 2 {
		t.Errorf("Form(hmac-sha256) = %v, %v", tags, ok)
	}
	if _, ok := got.Form("hmac-sha256", "sha256:ffffffffffffffff"); ok {
		t.Errorf("Form of another key found")
	}
	if by := queue.ByForm([]*queue.Entry{got}); len(by[queue.FormKey{Type: "user_name", Form: "lower,sha256"}]) != 1 || len(by) != 2 {
		t.Errorf("ByForm %v", by)
	}
}

// TestFormsRefused: forms that are not a stored form's tags are refused
// before anything is written, never quoting a tag.
func TestFormsRefused(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	tag := k.Tag([]byte("x"))
	for _, c := range []struct {
		name string
		form queue.Form
		want string
	}{
		{"clear", queue.Form{Form: "clear", Tags: []string{tag}}, "is not a stored form"},
		{"a key file named", queue.Form{Form: "hmac-sha256:/etc/scrub/ip.key", Key: "sha256:0123456789abcdef", Tags: []string{tag}}, "is not a stored form"},
		{"hmac without its key", queue.Form{Form: "lower,hmac-sha256", Tags: []string{tag}}, "names its key"},
		{"a key without hmac", queue.Form{Form: "sha256", Key: "sha256:0123456789abcdef", Tags: []string{tag}}, "names its key"},
		{"a key that is not a key ID", queue.Form{Form: "hmac-sha256", Key: "00112233445566778899aabbccddeeff", Tags: []string{tag}}, "want sha256: and 16 hex digits"},
		{"no tags", queue.Form{Form: "sha256"}, "want from 1 to 1 tags"},
		{"more tags than identifiers", queue.Form{Form: "sha256", Tags: []string{tag, k.Tag([]byte("y"))}}, "want from 1 to 1 tags"},
		{"a stored value pasted as a tag", queue.Form{Form: "sha256", Tags: []string{"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982"}}, "form 1: tag 1 is not a hex HMAC-SHA256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			signer, dir := newSigner(t), t.TempDir()
			q := open(t, dir, k, trustOf(signer))
			r := request(k, "R1", "A")
			r.Forms = []queue.Form{c.form}
			_, err := q.Add(context.Background(), signer, day, "", r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Add = %v, want %q", err, c.want)
			}
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Errorf("a refused add wrote %d files", len(files))
			}
		})
	}
	// Two forms alike.
	signer, dir := newSigner(t), t.TempDir()
	r := request(k, "R1", "A")
	r.Forms = []queue.Form{{Form: "sha256", Tags: []string{tag}}, {Form: "sha256", Tags: []string{tag}}}
	if _, err := open(t, dir, k, trustOf(signer)).Add(context.Background(), signer, day, "", r); err == nil || !strings.Contains(err.Error(), "form 2 is out of order or repeated") {
		t.Errorf("Add of a form twice = %v", err)
	}
}

// fixtureV1 is a queue scrub ee9545d wrote, before the add change's
// optional forms; its README says how.
const fixtureV1 = "testdata/queue-v1"

// TestFixtureV1: the queue an earlier scrub wrote opens and verifies with
// its keys (an add change without forms is the same request it was), and
// a change with forms follows its changes.
func TestFixtureV1(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(fixtureV1, "keys", "id.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(raw, "id.key")
	if err != nil {
		t.Fatal(err)
	}
	pubLine, _ := os.ReadFile(filepath.Join(fixtureV1, "keys", "signer.pub"))
	pub, _, err := sshsig.ParseAuthorizedKey(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	trust := &queue.Trust{Keys: []ed25519.PublicKey{pub}}
	dir := filepath.Join(t.TempDir(), "queue")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(fixtureV1, "queue"))); err != nil {
		t.Fatal(err)
	}
	q := open(t, dir, k, trust)
	reqs := q.Requests()
	tag := func(file string) []string {
		data, _ := os.ReadFile(filepath.Join(fixtureV1, file))
		return []string{k.Tag(bytes.TrimSpace(data))}
	}
	if len(reqs) != 2 || reqs[0].Ticket != "FIX-1" || reqs[0].Pending() || reqs[1].Ticket != "FIX-2" || !reqs[1].Pending() ||
		reqs[1].Type != "user_name" || !slices.Equal(reqs[0].Tags, tag("client-ids.txt")) || !slices.Equal(reqs[1].Tags, tag("user-names.txt")) {
		t.Fatalf("the fixture's requests: %+v", reqs)
	}
	for _, e := range reqs {
		if e.Forms != nil {
			t.Errorf("%s: forms %+v in a change that has none", e.Ticket, e.Forms)
		}
		if _, ok := e.Form("lower,sha256", ""); ok {
			t.Errorf("%s: a form found", e.Ticket)
		}
	}
	if heads := q.Heads(); len(heads) != 1 || heads[0] != "5bf396aeda15579acfaf6ccc56bbd4fc383443ecbc2302de2393012e8c773b9e" {
		t.Errorf("heads %v, want the head scrub ee9545d printed", heads)
	}

	keyFile, _ := os.ReadFile(filepath.Join(fixtureV1, "keys", "signer"))
	signer, _, err := sshsig.ParsePrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	r := request(k, "FIX-3", "user.A")
	r.Type, r.Forms = "user_name", []queue.Form{{Form: "lower,sha256", Tags: []string{k.Tag([]byte("0f00"))}}}
	if _, err := q.Add(context.Background(), signer, day, "", r); err != nil {
		t.Fatal(err)
	}
	reqs = open(t, dir, k, trust).Requests()
	if len(reqs) != 3 || len(reqs[2].Forms) != 1 || reqs[0].Forms != nil {
		t.Errorf("after an add with forms: %+v", reqs)
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
