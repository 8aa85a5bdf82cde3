package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// forgedName sorts after every change a test makes.
const forgedName = "change-20991231T000000.000Z-deadbeef.json"

// signersFile writes an allowed_signers file that lets the keys of as sign
// blocklist changes.
func signersFile(t *testing.T, as ...*scrubtest.Audit) string {
	t.Helper()
	var b strings.Builder
	for _, a := range as {
		pub, err := os.ReadFile(a.Pub)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(`dpo namespaces="scrub-blocklist" ` + string(pub))
	}
	return writeFile(t, "allowed_signers", b.String())
}

// legacyChange is a change file as releases before signed changes wrote it.
func legacyChange(op, keyID string, tags []string, at string) string {
	return fmt.Sprintf(`{"format":1,"op":%q,"id_key":%q,"tags":["%s"],"batch":"batch-legacy","time":%q}`+"\n",
		op, keyID, strings.Join(tags, `","`), at)
}

// blockedList makes the life of a list through the commands: erase
// --block of the listed IDs, an unblock of one, and an erase --block that
// blocks it again. It returns the source, the list and its change files
// in order.
func blockedList(t *testing.T, a *scrubtest.Audit) (src, bl string, changes []string) {
	t.Helper()
	src = scrubtest.CopyExport(t)
	bl = filepath.Join(t.TempDir(), "blocklist")
	again := writeFile(t, "again.txt", unblockV+"\n")
	for _, args := range [][]string{
		slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{src}),
		slices.Concat([]string{"unblock", "--ids", again, "--blocklist", bl}, a.Flags()),
		slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", again, "--no-progress"}, a.Flags(), []string{src}),
	} {
		if out := runPlain(t, nil, args...); out.err != nil {
			t.Fatalf("%s: %v\n%s", args[0], out.err, out.stderr)
		}
	}
	changes = changeFiles(t, bl)
	if len(changes) != 3 {
		t.Fatalf("%d change files, want 3", len(changes))
	}
	age(t, src)
	addArchive(t, src, newCSV, "2376158762_cust_2017-11-25.csv")
	return src, bl, changes
}

func changeSum(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBlocklistForged tampers with a list made by the commands, as one who
// can write its location but holds no signing key would, and checks that
// sweep, unblock and erase --block refuse it, naming the change and what
// is wrong, before anything is erased or logged.
func TestBlocklistForged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// tamper changes the list; it returns the change to be named.
		tamper func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string
		want   string
	}{
		{"forged remove, as an earlier release wrote", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			first, _ := os.ReadFile(changes[0])
			keyID := strings.SplitN(strings.SplitN(string(first), `"id_key":"`, 2)[1], `"`, 2)[0]
			os.WriteFile(filepath.Join(bl, forgedName), []byte(legacyChange("remove", keyID, tagsOf(t, a.IDKey, scrubtest.Listed...), "2099-12-31T00:00:00.000Z")), 0o644)
			return forgedName
		}, "unsigned"},
		{"forged remove, unsigned", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			first, _ := os.ReadFile(changes[0])
			keyID := strings.SplitN(strings.SplitN(string(first), `"id_key":"`, 2)[1], `"`, 2)[0]
			id, _ := os.ReadFile(filepath.Join(bl, "blocklist.json"))
			list := strings.SplitN(strings.SplitN(string(id), `"list":"`, 2)[1], `"`, 2)[0]
			c := fmt.Sprintf(`{"format":3,"name":%q,"list":%q,"prev":[%q],"op":"remove","id_key":%q,"tags":["%s"],"batch":"batch-x","time":"2099-12-31T00:00:00.000Z"}`+"\n",
				forgedName, list, changeSum(t, changes[2]), keyID, strings.Join(tagsOf(t, a.IDKey, scrubtest.Listed...), `","`))
			os.WriteFile(filepath.Join(bl, forgedName), []byte(c), 0o644)
			return forgedName
		}, "unsigned"},
		{"signature deleted", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			os.Remove(changes[2] + ".sig")
			return filepath.Base(changes[2])
		}, "unsigned"},
		{"an add turned into a remove", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			data, _ := os.ReadFile(changes[0])
			os.WriteFile(changes[0], []byte(strings.Replace(string(data), `"op":"add"`, `"op":"remove"`, 1)), 0o644)
			return filepath.Base(changes[0])
		}, "bad signature"},
		{"middle change deleted", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			os.Remove(changes[1])
			os.Remove(changes[1] + ".sig")
			return filepath.Base(changes[2])
		}, "chain broken"},
		{"block and unblock copied from another list", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			// Another list by the same keys (staging, an older list):
			// its erase --block and unblock, signatures and names kept.
			_, _, ochanges := blockedList(t, a)
			for _, c := range ochanges[:2] {
				for _, suf := range []string{"", ".sig"} {
					copyFile(t, c+suf, filepath.Join(bl, filepath.Base(c)+suf))
				}
			}
			return filepath.Base(ochanges[0])
		}, "from another list"},
		{"remove replayed after the re-block", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			copyFile(t, changes[1], filepath.Join(bl, forgedName))
			if _, err := os.Stat(changes[1] + ".sig"); err == nil {
				copyFile(t, changes[1]+".sig", filepath.Join(bl, forgedName+".sig"))
			}
			return forgedName
		}, "names itself"},
		{"signed by another key", func(t *testing.T, a *scrubtest.Audit, bl string, changes []string) string {
			other := scrubtest.NewAudit(t)
			ids := writeFile(t, "ids.txt", strings.Join(scrubtest.Listed, "\n")+"\n")
			// Another key's holder, who trusts a's changes, unblocks.
			out := runPlain(t, nil, "unblock", "--ids", ids, "--blocklist", bl, "--blocklist-signers", signersFile(t, a),
				"--key", other.Key, "--id-key", a.IDKey, "--audit", other.Dir)
			if out.err != nil {
				t.Fatalf("unblock with another key: %v\n%s", out.err, out.stderr)
			}
			names := changeFiles(t, bl)
			return filepath.Base(names[len(names)-1])
		}, "not a trusted blocklist signer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := scrubtest.NewAudit(t)
			src, bl, changes := blockedList(t, a)
			named := tt.tamper(t, a, bl, changes)
			before := scrubtest.Snapshot(t, src)
			batches := len(scrubtest.Batches(t, a.Dir))
			ids := writeFile(t, "ids.txt", unblockV+"\n")
			for _, args := range [][]string{
				slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress"}, a.Flags(), []string{src}),
				slices.Concat([]string{"sweep", "--full", "--blocklist", bl, "--no-progress"}, a.Flags(), []string{src}),
				slices.Concat([]string{"unblock", "--ids", ids, "--blocklist", bl}, a.Flags()),
				slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", ids, "--no-progress"}, a.Flags(), []string{src}),
			} {
				out := runPlain(t, nil, args...)
				if out.err == nil || !strings.Contains(out.err.Error(), named) || !strings.Contains(out.err.Error(), tt.want) {
					t.Errorf("%s: err = %v, want one naming %s and saying %q\n%s", strings.Join(args[:2], " "), out.err, named, tt.want, out.stderr)
				}
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
			if n := len(scrubtest.Batches(t, a.Dir)); n != batches {
				t.Errorf("%d audit batches written by refused runs", n-batches)
			}
		})
	}
}

// TestBlocklistSigned runs an honest list: block, unblock, block again,
// then sweeps, with the run's key and with several keys trusted through
// --blocklist-signers; and a dry-run sweep, which has no --key to trust.
func TestBlocklistSigned(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src, bl, changes := blockedList(t, a)
	for _, c := range changes {
		if _, err := os.Stat(c + ".sig"); err != nil {
			t.Errorf("change %s has no signature: %v", filepath.Base(c), err)
		}
	}
	// The dry run checks the list against --blocklist-signers, or refuses.
	dry := slices.Concat([]string{"sweep", "--dry-run", "--blocklist", bl, "--no-progress", "--id-key", a.IDKey, "--audit", t.TempDir()})
	out := runPlain(t, nil, append(dry, src)...)
	if out.err == nil || !strings.Contains(out.err.Error(), "--blocklist-signers") {
		t.Errorf("dry-run sweep without --key or --blocklist-signers: %v, want a refusal naming --blocklist-signers", out.err)
	}
	out = runPlain(t, nil, append(dry, "--blocklist-signers", signersFile(t, a), src)...)
	if out.err != nil || !strings.Contains(out.stderr, "sweep of 4 blocked IDs") {
		t.Errorf("dry-run sweep with --blocklist-signers: %v\n%s", out.err, out.stderr)
	}
	// A change by a second operator, trusted through --blocklist-signers.
	other := scrubtest.NewAudit(t)
	both := signersFile(t, a, other)
	ids := writeFile(t, "ids.txt", unblockV+"\n")
	out = runPlain(t, nil, "unblock", "--ids", ids, "--blocklist", bl, "--blocklist-signers", both,
		"--key", other.Key, "--id-key", a.IDKey, "--audit", a.Dir)
	if out.err != nil {
		t.Fatalf("unblock by a second key: %v\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, slices.Concat([]string{"sweep", "--blocklist", bl, "--blocklist-signers", both, "--no-progress", "--json"}, a.Flags(), []string{src})...)
	if out.err != nil || !strings.Contains(out.stderr, "sweep of 3 blocked IDs") {
		t.Fatalf("sweep: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.Totals.Erased != 0 {
		t.Errorf("sweep erased %d archives; the new one holds only the unblocked ID", sum.Totals.Erased)
	}
}

// TestBlocklistAdoptUnsigned takes a list written by an earlier release
// under signatures: refused until adopted, adopted by one command, then
// used; an unsigned change added or altered afterwards is refused.
func TestBlocklistAdoptUnsigned(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	bl := t.TempDir()
	// The ID key's name as change files record it, from a list made now.
	probe := filepath.Join(t.TempDir(), "probe")
	out := runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", probe, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{scrubtest.CopyExport(t)})...)
	if out.err != nil {
		t.Fatal(out.err, out.stderr)
	}
	first, _ := os.ReadFile(changeFiles(t, probe)[0])
	keyID := strings.SplitN(strings.SplitN(string(first), `"id_key":"`, 2)[1], `"`, 2)[0]
	legacy := []string{"change-20171201T101502.311Z-9c41e2a7.json", "change-20180214T083011.902Z-03bd55f0.json"}
	os.WriteFile(filepath.Join(bl, legacy[0]), []byte(legacyChange("add", keyID, tagsOf(t, a.IDKey, scrubtest.Listed...), "2017-12-01T10:15:02.311Z")), 0o644)
	os.WriteFile(filepath.Join(bl, legacy[1]), []byte(legacyChange("remove", keyID, tagsOf(t, a.IDKey, unblockV), "2018-02-14T08:30:11.902Z")), 0o644)

	sweep := slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress"}, a.Flags(), []string{src})
	out = runPlain(t, nil, sweep...)
	if out.err == nil || !strings.Contains(out.err.Error(), legacy[0]) || !strings.Contains(out.err.Error(), "--adopt-unsigned") {
		t.Fatalf("sweep of an unadopted list: %v, want a refusal naming %s and --adopt-unsigned", out.err, legacy[0])
	}
	adopt := slices.Concat([]string{"unblock", "--adopt-unsigned", "--blocklist", bl}, a.Flags())
	out = runPlain(t, nil, adopt...)
	if out.err != nil || !strings.Contains(out.stderr, "2 unsigned changes of an earlier scrub, 3 IDs on the list") {
		t.Fatalf("adopt: %v\n%s", out.err, out.stderr)
	}
	if out = runPlain(t, nil, adopt...); out.err == nil || !strings.Contains(out.err.Error(), "adopted already") {
		t.Errorf("second adopt: %v", out.err)
	}
	out = runPlain(t, nil, sweep...)
	if out.err != nil || !strings.Contains(out.stderr, "sweep of 3 blocked IDs") {
		t.Fatalf("sweep of the adopted list: %v\n%s", out.err, out.stderr)
	}
	// An unblock after adoption is an ordinary signed change.
	ids := writeFile(t, "ids.txt", scrubtest.Victims[0]+"\n")
	if out = runPlain(t, nil, slices.Concat([]string{"unblock", "--ids", ids, "--blocklist", bl}, a.Flags())...); out.err != nil {
		t.Fatalf("unblock: %v\n%s", out.err, out.stderr)
	}

	// An unsigned change is accepted only as adopted.
	for _, tt := range []struct {
		name   string
		tamper func() (restore func())
		named  string
		want   string
	}{
		{"added later", func() func() {
			p := filepath.Join(bl, "change-20180301T000000.000Z-00000001.json")
			os.WriteFile(p, []byte(legacyChange("remove", keyID, tagsOf(t, a.IDKey, scrubtest.Listed...), "2018-03-01T00:00:00.000Z")), 0o644)
			return func() { os.Remove(p) }
		}, "change-20180301T000000.000Z-00000001.json", "not among the changes the adopt change"},
		{"altered", func() func() {
			p := filepath.Join(bl, legacy[0])
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), `"op":"add"`, `"op":"remove"`, 1)), 0o644)
			return func() { os.WriteFile(p, data, 0o644) }
		}, legacy[0], "differs from what the adopt change"},
	} {
		restore := tt.tamper()
		before := scrubtest.Snapshot(t, src)
		out = runPlain(t, nil, sweep...)
		if out.err == nil || !strings.Contains(out.err.Error(), tt.named) || !strings.Contains(out.err.Error(), tt.want) {
			t.Errorf("%s: sweep: %v, want a refusal naming %s and saying %q", tt.name, out.err, tt.named, tt.want)
		}
		scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
		restore()
	}
	if out = runPlain(t, nil, sweep...); out.err != nil || !strings.Contains(out.stderr, "sweep of 2 blocked IDs") {
		t.Errorf("sweep after restoring: %v\n%s", out.err, out.stderr)
	}
}

// TestBlocklistAdoptResumed: an adoption interrupted after its adopt
// change was stored, before its batch was sealed, is sealed by running the
// same command again; the change is not made twice.
func TestBlocklistAdoptResumed(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	bl := t.TempDir()
	data, err := os.ReadFile(a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	legacy := "change-20171201T101502.311Z-9c41e2a7.json"
	if err := os.WriteFile(filepath.Join(bl, legacy), []byte(legacyChange("add", k.ID(), tagsOf(t, a.IDKey, scrubtest.Listed...), "2017-12-01T10:15:02.311Z")), 0o644); err != nil {
		t.Fatal(err)
	}
	adopt := slices.Concat([]string{"unblock", "--adopt-unsigned", "--blocklist", bl, "--ticket", "DPO-1"}, a.Flags())
	if out := runPlain(t, nil, adopt...); out.err != nil {
		t.Fatalf("adopt: %v\n%s", out.err, out.stderr)
	}
	// Interrupted after the adopt change was stored: the batch is left
	// as its journal, up to the blocklist_adopt event.
	batches := scrubtest.Batches(t, a.Dir)
	if len(batches) != 1 {
		t.Fatalf("%d batches", len(batches))
	}
	name := batches[0]
	log, err := os.ReadFile(filepath.Join(a.Dir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(log, []byte("\n"))
	n := slices.IndexFunc(lines, func(l []byte) bool { return bytes.Contains(l, []byte(`"type":"blocklist_adopt"`)) })
	if n < 0 {
		t.Fatal("no blocklist_adopt event in the log")
	}
	for _, suf := range []string{".jsonl", "-manifest.json", "-SHA256SUMS", "-SHA256SUMS.sig"} {
		if err := os.Remove(filepath.Join(a.Dir, name+suf)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a.Dir, name+".journal"), bytes.Join(lines[:n+1], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	changes := changeFiles(t, bl)

	out := runPlain(t, nil, adopt...)
	if out.err != nil || !strings.Contains(out.stderr, "resuming "+name) || !strings.Contains(out.stderr, "is in already") {
		t.Fatalf("adopt again after the interruption: %v\n%s", out.err, out.stderr)
	}
	if got := changeFiles(t, bl); !slices.Equal(got, changes) {
		t.Errorf("change files after the resumed adoption: %v, want %v", got, changes)
	}
	if got := scrubtest.Batches(t, a.Dir); !slices.Equal(got, []string{name}) {
		t.Errorf("batches after the resumed adoption: %v, want %s", got, name)
	}
	out = runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
	if out.err != nil || !strings.Contains(out.stdout, "1/1 batches valid") {
		t.Errorf("verify: %v\n%s", out.err, out.stdout)
	}
	// Once sealed, the adoption is done: running it again is refused
	// before any batch begins.
	if out = runPlain(t, nil, adopt...); out.err == nil || !strings.Contains(out.err.Error(), "adopted already") {
		t.Errorf("third adopt: %v", out.err)
	}
	if got := scrubtest.Batches(t, a.Dir); len(got) != 1 {
		t.Errorf("batches after a refused adoption: %v", got)
	}
}
