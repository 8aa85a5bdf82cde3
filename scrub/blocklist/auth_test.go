package blocklist_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/local"
)

// honest makes a list of three changes: add A B, remove A, add C.
func honest(t *testing.T, k *audit.IDKey) (dir string, changes []*blocklist.Pending) {
	t.Helper()
	dir = t.TempDir()
	l := open(t, local.Dir(dir), k)
	for _, c := range []struct {
		op  string
		ids []string
	}{{blocklist.OpAdd, []string{"A", "B"}}, {blocklist.OpRemove, []string{"A"}}, {blocklist.OpAdd, []string{"C"}}} {
		changes = append(changes, change(t, l, c.op, tags(k, c.ids...)...))
	}
	return dir, changes
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAuthentication tampers with an honest list in each way one who can
// write its location, but holds no trusted key, could: Open refuses the
// list with an error that names the change and says what is wrong.
func TestAuthentication(t *testing.T) {
	k := newKey(t)
	other := newSigner()
	const forged = "change-20991231T000000.000Z-deadbeef.json"
	tests := []struct {
		name string
		// tamper returns the name of the change the error must name.
		tamper func(t *testing.T, dir string, cs []*blocklist.Pending) string
		trust  *blocklist.Trust
		want   string
		err    error
	}{
		{"unsigned change", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			os.Remove(filepath.Join(dir, cs[1].Name+blocklist.SigSuffix))
			return cs[1].Name
		}, nil, "unsigned (no " + "change-", blocklist.ErrUnauthenticated},
		{"content altered", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			p := filepath.Join(dir, cs[0].Name)
			writeFile(t, p, bytes.Replace(readFile(t, p), []byte(`"op":"add"`), []byte(`"op":"remove"`), 1))
			return cs[0].Name
		}, nil, "bad signature", blocklist.ErrUnauthenticated},
		{"signature of another change", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			writeFile(t, filepath.Join(dir, cs[2].Name+blocklist.SigSuffix), readFile(t, filepath.Join(dir, cs[1].Name+blocklist.SigSuffix)))
			return cs[2].Name
		}, nil, "bad signature", blocklist.ErrUnauthenticated},
		{"signed in the audit namespace", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			sig, err := sshsig.Sign(signer, audit.Namespace, bytes.NewReader(readFile(t, filepath.Join(dir, cs[2].Name))))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, cs[2].Name+blocklist.SigSuffix), sig)
			return cs[2].Name
		}, nil, "namespace", blocklist.ErrUnauthenticated},
		{"re-signed by another key", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			sig, err := sshsig.Sign(other, blocklist.Namespace, bytes.NewReader(readFile(t, filepath.Join(dir, cs[1].Name))))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, cs[1].Name+blocklist.SigSuffix), sig)
			return cs[1].Name
		}, nil, "not a trusted blocklist signer", blocklist.ErrUnauthenticated},
		{"another key, allowed for the audit namespace only", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			sig, _ := sshsig.Sign(other, blocklist.Namespace, bytes.NewReader(readFile(t, filepath.Join(dir, cs[1].Name))))
			writeFile(t, filepath.Join(dir, cs[1].Name+blocklist.SigSuffix), sig)
			return cs[1].Name
		}, withKeys(allowing(t, `audit namespaces="scrub-audit" `, other), signer), "not a trusted blocklist signer", blocklist.ErrUnauthenticated},
		{"middle change deleted", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			os.Remove(filepath.Join(dir, cs[1].Name))
			return cs[2].Name
		}, nil, "chain broken: it follows a change with SHA-256 " + "", blocklist.ErrUnauthenticated},
		{"first change deleted", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			os.Remove(filepath.Join(dir, cs[0].Name))
			return cs[1].Name
		}, nil, "chain broken", blocklist.ErrUnauthenticated},
		{"change renamed to apply later", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			for _, suf := range []string{"", blocklist.SigSuffix} {
				os.Rename(filepath.Join(dir, cs[1].Name+suf), filepath.Join(dir, forged+suf))
			}
			return forged
		}, nil, "names itself " + "change-", blocklist.ErrUnauthenticated},
		{"change replayed under a new name", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			for _, suf := range []string{"", blocklist.SigSuffix} {
				writeFile(t, filepath.Join(dir, forged+suf), readFile(t, filepath.Join(dir, cs[1].Name+suf)))
			}
			return forged
		}, nil, "names itself", blocklist.ErrUnauthenticated},
		{"change of another list", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			// A signed remove of another list by the same key (it also
			// follows changes this list does not have).
			odir, ocs := honest(t, k)
			for _, suf := range []string{"", blocklist.SigSuffix} {
				writeFile(t, filepath.Join(dir, ocs[1].Name+suf), readFile(t, filepath.Join(odir, ocs[1].Name+suf)))
			}
			return ocs[1].Name
		}, nil, "from another list", blocklist.ErrUnauthenticated},
		{"identity replaced", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			writeFile(t, filepath.Join(dir, blocklist.ListFile), []byte(`{"format":3,"list":"00000000000000000000000000000000"}`+"\n"))
			return blocklist.ListFile
		}, nil, "replaced?", blocklist.ErrUnauthenticated},
		{"identity of another list", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			odir, _ := honest(t, k)
			writeFile(t, filepath.Join(dir, blocklist.ListFile), readFile(t, filepath.Join(odir, blocklist.ListFile)))
			return blocklist.ListFile
		}, nil, "replaced?", blocklist.ErrUnauthenticated},
		{"identity deleted", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			os.Remove(filepath.Join(dir, blocklist.ListFile))
			return blocklist.ListFile
		}, nil, "is missing", blocklist.ErrUnauthenticated},
		{"identity malformed", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			writeFile(t, filepath.Join(dir, blocklist.ListFile), []byte(`{"format":3,"list":"x"}`))
			return blocklist.ListFile
		}, nil, "not the list's identity", blocklist.ErrUnauthenticated},
		{"forged change of an earlier release", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			c := fmt.Sprintf(`{"format":1,"op":"remove","id_key":%q,"tags":[%q],"batch":"batch-x","time":"2099-12-31T00:00:00.000Z"}`, k.ID(), tags(k, "B")[0])
			writeFile(t, filepath.Join(dir, forged), []byte(c))
			return forged
		}, nil, "unsigned (no " + forged + blocklist.SigSuffix + "), in a list of signed changes", blocklist.ErrUnauthenticated},
		{"forged adopt", func(t *testing.T, dir string, cs []*blocklist.Pending) string {
			c := fmt.Sprintf(`{"format":3,"name":%q,"list":"00000000000000000000000000000000","op":"adopt","id_key":%q,"tags":[],"batch":"batch-x","time":"2099-12-31T00:00:00.000Z"}`, forged, k.ID())
			writeFile(t, filepath.Join(dir, forged), []byte(c))
			return forged
		}, nil, "unsigned", blocklist.ErrUnauthenticated},
		{"no trusted key", func(t *testing.T, dir string, cs []*blocklist.Pending) string { return "" },
			&blocklist.Trust{}, "no trusted key", blocklist.ErrNoTrust},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, cs := honest(t, k)
			named := tt.tamper(t, dir, cs)
			trust := tt.trust
			if trust == nil {
				trust = trusting(signer)
			}
			l, err := blocklist.Open(context.Background(), local.Dir(dir), k, trust)
			switch {
			case err == nil:
				t.Fatalf("Open succeeded: %d tags", l.Len())
			case !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not name %s and say %q", err, named, tt.want)
			case !errors.Is(err, tt.err):
				t.Errorf("error %v is not %v", err, tt.err)
			}
		})
	}
}

func allowing(t *testing.T, prefix string, k ed25519.PrivateKey) *blocklist.Trust {
	t.Helper()
	s, err := sshsig.ParseAllowedSigners(strings.NewReader(prefix + string(sshsig.MarshalAuthorizedKey(k.Public().(ed25519.PublicKey), ""))))
	if err != nil || len(s) != 1 {
		t.Fatal(s, err)
	}
	return &blocklist.Trust{Signers: s}
}

func withKeys(t *blocklist.Trust, keys ...ed25519.PrivateKey) *blocklist.Trust {
	t.Keys = append(t.Keys, trusting(keys...).Keys...)
	return t
}

// TestChain checks the links: each change follows the last, changes made
// at once follow the same one and apply in name order, and the next
// change follows them all; several keys sign through an allowed_signers
// file.
func TestChain(t *testing.T) {
	k := newKey(t)
	other := newSigner()
	trust := withKeys(allowing(t, `dpo namespaces="scrub-blocklist" `, other), signer)
	loc := local.Dir(t.TempDir())
	ctx := context.Background()
	opened := func() *blocklist.List {
		t.Helper()
		l, err := blocklist.Open(ctx, loc, k, trust)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := opened()
	first := change(t, l, blocklist.OpAdd, tags(k, "A", "B")...)
	if len(first.Change.Prev) != 0 {
		t.Errorf("the first change follows %v", first.Change.Prev)
	}
	// Two writers at once, from the same view: one adds C, the other
	// (another key) removes A.
	w1, w2 := opened(), opened()
	p1, err := w1.Prepare(context.Background(), signer, blocklist.OpAdd, "batch-1", "", "", tags(k, "C"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := w2.Prepare(context.Background(), other, blocklist.OpRemove, "batch-2", "", "", tags(k, "A"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*blocklist.Pending{p2, p1} {
		if !slices.Equal(p.Change.Prev, []string{first.SHA256}) {
			t.Errorf("%s follows %v, want the first change", p.Name, p.Change.Prev)
		}
		if err := p.Store(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l = opened()
	if l.Heads() != 2 {
		t.Errorf("%d heads after two changes at once, want 2", l.Heads())
	}
	if got, want := l.Tags(), slices.Sorted(slices.Values(tags(k, "B", "C"))); !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	var names []string
	for _, c := range l.Changes() {
		names = append(names, c.Name)
	}
	if !slices.IsSorted(names) || names[0] != first.Name {
		t.Errorf("replay order %v, want name order", names)
	}
	merge := change(t, l, blocklist.OpRemove, tags(k, "C")...)
	if want := slices.Sorted(slices.Values([]string{p1.SHA256, p2.SHA256})); !slices.Equal(merge.Change.Prev, want) {
		t.Errorf("the next change follows %v, want both %v", merge.Change.Prev, want)
	}
	if l = opened(); l.Heads() != 1 || !slices.Equal(l.Tags(), tags(k, "B")) {
		t.Errorf("after the merge: %d heads, tags %v", l.Heads(), l.Tags())
	}
	// Signers: a list by two keys is refused by a reader trusting one.
	if _, err := blocklist.Open(ctx, loc, k, trusting(signer)); !errors.Is(err, blocklist.ErrUnauthenticated) || !strings.Contains(err.Error(), p2.Name) {
		t.Errorf("Open trusting one of two signers: %v, want a refusal naming %s", err, p2.Name)
	}
	// A writer whose key the list does not trust writes nothing.
	if _, err := l.Prepare(context.Background(), newSigner(), blocklist.OpAdd, "b", "", "", tags(k, "D")); err == nil || !strings.Contains(err.Error(), "not a trusted blocklist signer") {
		t.Errorf("Prepare with an untrusted key: %v", err)
	}
	// A signature without its change (a writer that died between the
	// two) is no part of the list.
	writeFile(t, filepath.Join(string(loc), "change-20991231T000000.000Z-00000000.json"+blocklist.SigSuffix), []byte("junk"))
	if l = opened(); len(l.Changes()) != 4 {
		t.Errorf("%d changes, want 4", len(l.Changes()))
	}
}

// TestAdopt brings a list of an earlier release under signatures.
func TestAdopt(t *testing.T) {
	k := newKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	loc := local.Dir(dir)
	legacy := func(name, op string, ids ...string) {
		c := fmt.Sprintf(`{"format":1,"op":%q,"id_key":%q,"tags":["%s"],"batch":"batch-old","time":"2017-12-01T10:15:02.311Z"}`+"\n",
			op, k.ID(), strings.Join(slices.Sorted(slices.Values(tags(k, ids...))), `","`))
		writeFile(t, filepath.Join(dir, name), []byte(c))
	}
	legacy("change-20171201T101502.311Z-9c41e2a7.json", blocklist.OpAdd, "A", "B")
	legacy("change-20180214T083011.902Z-03bd55f0.json", blocklist.OpRemove, "A")
	if _, err := blocklist.Open(ctx, loc, k, trusting(signer)); !errors.Is(err, blocklist.ErrUnsigned) || !strings.Contains(err.Error(), "change-20171201T101502.311Z-9c41e2a7.json") {
		t.Fatalf("Open of an unadopted list: %v, want ErrUnsigned naming its first change", err)
	}
	l, err := blocklist.OpenUnsigned(ctx, loc, k, trusting(signer))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Prepare(context.Background(), signer, blocklist.OpAdd, "b", "", "", tags(k, "C")); !errors.Is(err, blocklist.ErrUnsigned) {
		t.Errorf("Prepare on an unadopted list: %v", err)
	}
	p, err := l.Adopt(context.Background(), signer, "batch-adopt", "dpo", "DPO-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Change.Legacy) != 2 || !slices.Equal(p.Change.Tags, tags(k, "B")) {
		t.Errorf("adopt change: %+v", p.Change)
	}
	if id := readFile(t, filepath.Join(dir, blocklist.ListFile)); p.Change.List == "" || !strings.Contains(string(id), p.Change.List) {
		t.Errorf("adopt change of list %q, identity file %s", p.Change.List, id)
	}
	if err := p.Store(ctx); err != nil {
		t.Fatal(err)
	}
	l = open(t, loc, k)
	change(t, l, blocklist.OpAdd, tags(k, "C")...)
	if got, want := open(t, loc, k).Tags(), slices.Sorted(slices.Values(tags(k, "B", "C"))); !slices.Equal(got, want) {
		t.Errorf("adopted list: %v, want %v", got, want)
	}
	if _, err := blocklist.OpenUnsigned(ctx, loc, k, trusting(signer)); err == nil || !strings.Contains(err.Error(), "adopted already") {
		t.Errorf("OpenUnsigned of an adopted list: %v", err)
	}
	// An adopted change may go (it is in the adopt change); a new one
	// and an altered one are refused.
	os.Remove(filepath.Join(dir, "change-20180214T083011.902Z-03bd55f0.json"))
	if got := open(t, loc, k).Tags(); len(got) != 2 {
		t.Errorf("without an adopted change: %d tags, want 2", len(got))
	}
	legacy("change-20180214T083011.902Z-03bd55f0.json", blocklist.OpRemove, "B")
	if _, err := blocklist.Open(ctx, loc, k, trusting(signer)); !errors.Is(err, blocklist.ErrUnauthenticated) || !strings.Contains(err.Error(), "differs from what the adopt change") {
		t.Errorf("altered adopted change: %v", err)
	}
	os.Remove(filepath.Join(dir, "change-20180214T083011.902Z-03bd55f0.json"))
	legacy("change-20180301T000000.000Z-00000001.json", blocklist.OpRemove, "B")
	if _, err := blocklist.Open(ctx, loc, k, trusting(signer)); !errors.Is(err, blocklist.ErrUnauthenticated) || !strings.Contains(err.Error(), "not among the changes the adopt change") {
		t.Errorf("unsigned change added after the adoption: %v", err)
	}
	os.Remove(filepath.Join(dir, "change-20180301T000000.000Z-00000001.json"))

	// A list that holds signed changes cannot be adopted: an unsigned
	// change there is a forgery, not a change of an earlier release.
	sdir, _ := honest(t, k)
	legacy2 := fmt.Sprintf(`{"format":1,"op":"remove","id_key":%q,"tags":[%q],"batch":"batch-x","time":"2099-12-31T00:00:00.000Z"}`, k.ID(), tags(k, "B")[0])
	writeFile(t, filepath.Join(sdir, "change-20991231T000000.000Z-deadbeef.json"), []byte(legacy2))
	if _, err := blocklist.OpenUnsigned(ctx, local.Dir(sdir), k, trusting(signer)); !errors.Is(err, blocklist.ErrUnauthenticated) {
		t.Errorf("OpenUnsigned of a signed list with a forged change: %v", err)
	}
}

// FuzzChange replaces the content of an honest list's last change: Open
// must refuse anything but the signed bytes, and never panic.
func FuzzChange(f *testing.F) {
	k := newKey(f)
	dir := f.TempDir()
	l, err := blocklist.Open(context.Background(), local.Dir(dir), k, trusting(signer))
	if err != nil {
		f.Fatal(err)
	}
	var last *blocklist.Pending
	for _, op := range []string{blocklist.OpAdd, blocklist.OpRemove} {
		if last, err = l.Prepare(context.Background(), signer, op, "batch-fuzz", "", "", tags(k, "A")); err == nil {
			err = last.Store(context.Background())
		}
		if err != nil {
			f.Fatal(err)
		}
	}
	name := filepath.Join(dir, last.Name)
	orig, err := os.ReadFile(name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(bytes.Replace(orig, []byte(`"remove"`), []byte(`"add"`), 1))
	f.Add([]byte(`{"format":1,"op":"remove","id_key":"` + k.ID() + `","tags":["` + tags(k, "A")[0] + `"],"batch":"b","time":"2026-01-02T03:04:05.678Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := blocklist.Open(context.Background(), local.Dir(dir), k, trusting(signer))
		switch {
		case bytes.Equal(data, orig):
			if err != nil || l.Len() != 0 {
				t.Errorf("the signed content: %v", err)
			}
		case err == nil:
			t.Errorf("Open accepted altered content %q", data)
		case !strings.Contains(err.Error(), last.Name):
			t.Errorf("error %v does not name %s", err, last.Name)
		}
	})
}

// TestAnotherList copies signed changes from another list made with the
// same signing key and ID key (staging, an older list): an "add X" and
// "remove X" pair with their signatures, names kept. The list refuses
// them, naming the first and saying they are from another list, however
// they are copied, and an honest writer changes nothing on such a list.
func TestAnotherList(t *testing.T) {
	k := newKey(t)
	ctx := context.Background()
	prodDir, _ := honest(t, k) // B and C on the list
	stagingDir := t.TempDir()
	staging := open(t, local.Dir(stagingDir), k)
	add := change(t, staging, blocklist.OpAdd, tags(k, "B")...)
	remove := change(t, staging, blocklist.OpRemove, tags(k, "B")...)
	for _, p := range []*blocklist.Pending{add, remove} {
		for _, f := range []string{p.Name, p.Name + blocklist.SigSuffix} {
			writeFile(t, filepath.Join(prodDir, f), readFile(t, filepath.Join(stagingDir, f)))
		}
	}
	l, err := blocklist.Open(ctx, local.Dir(prodDir), k, trusting(signer))
	if !errors.Is(err, blocklist.ErrUnauthenticated) || !strings.Contains(err.Error(), add.Name) || !strings.Contains(err.Error(), "from another list") {
		t.Fatalf("Open with changes copied from another list: %v (list %v), want a refusal naming %s, from another list", err, l.Tags(), add.Name)
	}
	// With the other list's identity file copied too, the list's own
	// changes are the ones of another list: refused all the same.
	writeFile(t, filepath.Join(prodDir, blocklist.ListFile), readFile(t, filepath.Join(stagingDir, blocklist.ListFile)))
	if _, err := blocklist.Open(ctx, local.Dir(prodDir), k, trusting(signer)); !errors.Is(err, blocklist.ErrUnauthenticated) || !strings.Contains(err.Error(), "from another list") {
		t.Errorf("Open with the other list's changes and identity: %v, want a refusal, from another list", err)
	}
}
