package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// The archives the block tests add to an export, as copies of bundled ones:
// the plain CSV holds only the victim unblocked below, the gzip two others.
const (
	newCSV   = "2376158762_cust_2017-11-27.csv"    // 2376158762_cust_2017-11-25.csv
	newGzip  = "2376158762_cust_2017-11-28.csv.gz" // 2376158762_cust_2017-11-24.csv.gz
	laterCSV = "2376158762_cust_2017-11-29.csv"    // 2376158762_cust_2017-11-25.csv
	unblockV = "5B0E92D4F7A16C3E"                  // the one victim of 2017-11-25.csv
)

// addArchive copies the bundled archive from to name in dir, written now.
func addArchive(t *testing.T, dir, name, from string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, from))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// age gives every archive in dir an old modification time, as if the
// sweeps and erasures so far had run long ago.
func age(t *testing.T, dir string) {
	t.Helper()
	old := time.Date(2017, 12, 1, 0, 0, 0, 0, time.UTC)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func changeFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "change-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// trust trusts a's signing key for blocklist changes.
func trust(a *scrubtest.Audit) *blocklist.Trust {
	return &blocklist.Trust{Keys: []ed25519.PublicKey{a.Signer.Public().(ed25519.PublicKey)}}
}

// listTags loads the blocklist in dir under a's ID key, trusting a's
// signing key.
func listTags(t *testing.T, dir string, a *scrubtest.Audit) []string {
	t.Helper()
	data, err := os.ReadFile(a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := blocklist.Open(context.Background(), local.Dir(dir), k, trust(a))
	if err != nil {
		t.Fatal(err)
	}
	return l.Tags()
}

func tagsOf(t *testing.T, keyFile string, ids ...string) []string {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		out = append(out, k.Tag([]byte(id)))
	}
	slices.Sort(out)
	return out
}

// sweepEvents returns the data of the sweep event of each sweep batch in
// the audit directory, oldest first.
func sweepEvents(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var logs []*audit.BatchLog
	err := audit.EachLogNewestFirst(context.Background(), local.Dir(dir), func(b *audit.BatchLog) bool {
		logs = append(logs, b)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, b := range slices.Backward(logs) {
		for _, e := range b.Events {
			if e.Type == "sweep" {
				var m map[string]any
				if err := json.Unmarshal(e.Data, &m); err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
			}
		}
	}
	return out
}

// TestDeleteAndBlock runs the life of a blocklist on a local export:
// erase --block, sweeps of new archives (incremental, then --full), an
// unblock, a block of another scope, a sweep with nothing new, and checks
// that every batch verifies and no clear ID is stored anywhere.
func TestDeleteAndBlock(t *testing.T) {
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	bl := filepath.Join(t.TempDir(), "blocklist")
	defer scrubtest.CheckNoIDs(t, a.Dir, bl)
	exported := 0
	for _, f := range scrubtest.Snapshot(t, src) {
		if f.Mode.IsRegular() {
			exported++
		}
	}
	sweep := func(extra ...string) (*scrub.FullSummary, output) {
		t.Helper()
		args := slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress", "--json"}, a.Flags(), extra, []string{src})
		out := runPlain(t, nil, args...)
		if out.err != nil {
			t.Fatalf("sweep %v: %v\n%s", extra, out.err, out.stderr)
		}
		return summary(t, out.stdout), out
	}

	// erase --block erases and puts all 4 listed IDs on the list.
	out := runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile,
		"--ticket", "DPO-7", "--no-progress", "--json"}, a.Flags(), []string{src})...)
	if out.err != nil {
		t.Fatalf("erase --block: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.Totals.Erased != exported-1 {
		t.Fatalf("erase --block erased %d archives, want %d", sum.Totals.Erased, exported-1)
	}
	if got, want := listTags(t, bl, a), tagsOf(t, a.IDKey, scrubtest.Listed...); !slices.Equal(got, want) {
		t.Fatalf("blocklist after erase --block: %v, want the tags of the 4 listed IDs %v", got, want)
	}
	if n := len(changeFiles(t, bl)); n != 1 {
		t.Fatalf("%d change files, want 1", n)
	}
	// The same request again finds every ID on the list: no second change.
	out = runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{src})...)
	if out.err != nil || !strings.Contains(out.stderr, "all 4 IDs are on the blocklist") {
		t.Fatalf("second erase --block: %v\n%s", out.err, out.stderr)
	}
	if n := len(changeFiles(t, bl)); n != 1 {
		t.Fatalf("%d change files after a second erase --block of the same IDs, want 1", n)
	}
	age(t, src)

	// New exports arrive with blocked IDs: the sweep reads only them.
	csvData := addArchive(t, src, newCSV, "2376158762_cust_2017-11-25.csv")
	gzData := addArchive(t, src, newGzip, "2376158762_cust_2017-11-24.csv.gz")
	sum, out := sweep()
	if got, want := base(sum), []string{newCSV, newGzip}; !slices.Equal(got, want) {
		t.Fatalf("first sweep read %v, want only the new %v\n%s", got, want, out.stderr)
	}
	if sum.Totals.Erased != 2 || !strings.Contains(out.stderr, "incremental") {
		t.Errorf("first sweep: %+v\n%s", sum.Totals, out.stderr)
	}
	for name, before := range map[string][]byte{newCSV: csvData, newGzip: gzData} {
		after, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if n := scrubtest.CheckArchive(t, name, before, after); n == 0 || int64(n) != result(t, sum, name).RowsRemoved {
			t.Errorf("%s: %d victim rows, sweep removed %d", name, n, result(t, sum, name).RowsRemoved)
		}
	}

	// The next sweep reads only what changed since the first: the two
	// archives the first rewrote.
	sum, _ = sweep()
	if got, want := base(sum), []string{newCSV, newGzip}; !slices.Equal(got, want) || sum.Totals.Unchanged != 2 {
		t.Errorf("second sweep read %v (%+v), want %v unchanged", got, sum.Totals, want)
	}
	sum, out = sweep("--full")
	if sum.Totals.Archives != exported+2 || sum.Totals.Erased != 0 || !strings.Contains(out.stderr, "full: --full") {
		t.Errorf("--full sweep: %+v, want %d archives, none erased\n%s", sum.Totals, exported+2, out.stderr)
	}
	age(t, src)

	// Nothing new: a success of no archives, audited.
	sum, out = sweep()
	if sum.Totals.Archives != 0 || !strings.Contains(out.stderr, "not read") {
		t.Errorf("sweep with nothing new: %+v\n%s", sum.Totals, out.stderr)
	}

	// Unblock one victim: a new archive holding only its rows is kept.
	idFile := writeFile(t, "unblock.txt", unblockV+"\nFFFFFFFFFFFFFFFF\n")
	out = runPlain(t, nil, "unblock", "--ids", idFile, "--blocklist", bl, "--key", a.Key, "--id-key", a.IDKey, "--audit", a.Dir, "--ticket", "DPO-8")
	if out.err != nil || !strings.Contains(out.stderr, "1 IDs taken off") || !strings.Contains(out.stderr, "1 of the listed IDs were not on it") {
		t.Fatalf("unblock: %v\n%s", out.err, out.stderr)
	}
	if got, want := listTags(t, bl, a), tagsOf(t, a.IDKey, slices.DeleteFunc(slices.Clone(scrubtest.Listed), func(s string) bool { return s == unblockV })...); !slices.Equal(got, want) {
		t.Errorf("blocklist after unblock: %v, want %v", got, want)
	}
	kept := addArchive(t, src, laterCSV, "2376158762_cust_2017-11-25.csv")
	sum, _ = sweep()
	if got := base(sum); !slices.Equal(got, []string{laterCSV}) || sum.Totals.Unchanged != 1 {
		t.Errorf("sweep after unblock read %v (%+v), want %s unchanged", got, sum.Totals, laterCSV)
	}
	if after, _ := os.ReadFile(filepath.Join(src, laterCSV)); !bytes.Equal(after, kept) {
		t.Errorf("%s changed, though its only listed ID was unblocked", laterCSV)
	}
	// Unblocking it again changes nothing, and says so.
	out = runPlain(t, nil, "unblock", "--ids", idFile, "--blocklist", bl, "--key", a.Key, "--id-key", a.IDKey, "--audit", a.Dir)
	if out.err != nil || !strings.Contains(out.stderr, "none of the 2 IDs is on the blocklist") {
		t.Errorf("second unblock: %v\n%s", out.err, out.stderr)
	}

	// Blocked again (by an erase of the zips only): the list's sweeps
	// covered it up to the sweep before the unblock, so the next sweep
	// reads what was written since, the kept archive included.
	again := writeFile(t, "again.txt", unblockV+"\n")
	out = runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", again, "--include", "*.zip", "--no-progress"}, a.Flags(), []string{src})...)
	if out.err != nil {
		t.Fatalf("erase --block --include: %v\n%s", out.err, out.stderr)
	}
	sum, out = sweep()
	if r := result(t, sum, laterCSV); r.Status != scrub.Erased || sum.Totals.Archives >= exported+3 {
		t.Errorf("sweep after blocking again: %s %s, %+v\n%s", laterCSV, r.Status, sum.Totals, out.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(src, laterCSV)); scrubtest.CheckArchive(t, laterCSV, kept, after) == 0 {
		t.Errorf("%s: no rows of the blocked-again ID removed", laterCSV)
	}

	// An ID blocked by a batch that did not cover the whole export (its
	// --include differs): the next sweep reads every archive.
	const newID = "0A0B0C0D0E0F1011"
	out = runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", writeFile(t, "new.txt", newID+"\n"), "--include", "*.zip", "--no-progress"}, a.Flags(), []string{src})...)
	if out.err != nil {
		t.Fatalf("erase --block of a new ID: %v\n%s", out.err, out.stderr)
	}
	sum, out = sweep()
	if sum.Totals.Archives != exported+3 || !strings.Contains(out.stderr, "1 of the 5 blocked IDs have no complete sweep") {
		t.Errorf("sweep after a new ID of another scope: %+v, want all %d archives\n%s", sum.Totals, exported+3, out.stderr)
	}
	for _, dir := range []string{bl, a.Dir} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if data, _ := os.ReadFile(p); err == nil && !d.IsDir() && bytes.Contains(data, []byte(newID)) {
				t.Errorf("%s holds the clear ID %s", p, newID)
			}
			return nil
		})
	}

	// The sweeps' own record: since, watermark and the list's state.
	evs := sweepEvents(t, a.Dir)
	if len(evs) != 7 {
		t.Fatalf("%d sweep events, want 7", len(evs))
	}
	for i, want := range []string{"incremental", "incremental", "full", "incremental", "incremental", "incremental", "full"} {
		ev := evs[i]
		if ev["mode"] != want || ev["watermark"] == "" || ev["list_state"] == "" {
			t.Errorf("sweep %d: %v, want mode %s", i+1, ev, want)
		}
		if (want == "incremental") != (ev["since"] != nil) {
			t.Errorf("sweep %d: since %v in mode %s", i+1, ev["since"], want)
		}
	}
	if evs[1]["since"].(string) >= evs[1]["watermark"].(string) || evs[1]["list_tags"].(float64) != 4 {
		t.Errorf("second sweep: since %v, watermark %v, %v tags", evs[1]["since"], evs[1]["watermark"], evs[1]["list_tags"])
	}

	out = runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
	batches := len(scrubtest.Batches(t, a.Dir))
	if out.err != nil || !strings.Contains(out.stdout, "13/13 batches valid") || batches != 13 {
		t.Errorf("verify of %d batches: %v\n%s", batches, out.err, out.stdout)
	}
	if n := len(changeFiles(t, bl)); n != 4 {
		t.Errorf("%d change files, want 4 (block, unblock, block, block)", n)
	}
}

// TestBlockUsage checks the command lines that must be refused before any
// archive, list or audit file is touched.
func TestBlockUsage(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	bl := filepath.Join(t.TempDir(), "bl")
	before := scrubtest.Snapshot(t, src)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"block without list", []string{"erase", "--block", "--ids", scrubtest.IDsFile, src}, "--block needs --blocklist"},
		{"list without block", []string{"erase", "--blocklist", bl, "--ids", scrubtest.IDsFile, src}, "--blocklist without --block"},
		{"block without id key", []string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--dry-run", src}, "--block needs the ID key"},
		{"list in the source", []string{"erase", "--block", "--blocklist", filepath.Join(src, "bl"), "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey, src}, "overlap"},
		{"sweep without list", []string{"sweep", "--key", a.Key, "--id-key", a.IDKey, src}, "--blocklist"},
		{"sweep with ids", []string{"sweep", "--blocklist", bl, "--ids", scrubtest.IDsFile, src}, "flag provided but not defined: -ids"},
		{"sweep negative overlap", []string{"sweep", "--blocklist", bl, "--overlap", "-1h", src}, "--overlap"},
		{"sweep without id key", []string{"sweep", "--blocklist", bl, "--key", a.Key, src}, "ID key"},
		{"sweep without source", []string{"sweep", "--blocklist", bl}, "no SOURCE"},
		{"unblock without ids", []string{"unblock", "--blocklist", bl, "--key", a.Key, "--id-key", a.IDKey}, "--ids"},
		{"unblock without list", []string{"unblock", "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey}, "--blocklist"},
		{"unblock without key", []string{"unblock", "--ids", scrubtest.IDsFile, "--blocklist", bl, "--id-key", a.IDKey}, "to sign"},
		{"unblock with source", []string{"unblock", "--ids", scrubtest.IDsFile, "--blocklist", bl, src}, "touches no archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runPlain(t, nil, slices.Concat(tt.args, []string{"--audit", a.Dir})...)
			var ue *cli.UsageError
			if !errors.As(out.err, &ue) || !strings.Contains(out.err.Error(), tt.want) {
				t.Errorf("err = %v, want a usage error saying %q", out.err, tt.want)
			}
		})
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
	for _, dir := range []string{bl, a.Dir} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created: %v", dir, err)
		}
	}
	out := runPlain(t, nil, "sweep", "--help")
	if !errors.Is(out.err, cli.ErrHelp) || !strings.Contains(out.stderr, "--overlap") || strings.Contains(out.stderr, "--ids") {
		t.Errorf("sweep --help: %v\n%s", out.err, out.stderr)
	}
}

// TestBadBlocklist checks that a blocklist with a malformed change file or
// one under another ID key stops erase --block, sweep and unblock before
// they touch anything, with an error naming the file.
func TestBadBlocklist(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	other := scrubtest.NewAudit(t)
	mk := func(t *testing.T, content func(keyID string) string) string {
		dir := t.TempDir()
		good := `{"format":1,"op":"add","id_key":%q,"tags":["` + tagsOf(t, a.IDKey, "X")[0] + `"],"batch":"batch-1","time":"2026-01-02T03:04:05.678Z"}`
		os.WriteFile(filepath.Join(dir, "change-20260102T030405.678Z-0123abcd.json"), []byte(content(good)), 0o644)
		return dir
	}
	keyID := func(file string) string {
		data, _ := os.ReadFile(file)
		k, err := audit.ParseIDKey(data, file)
		if err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	tests := []struct {
		name    string
		content func(good string) string
		want    string
	}{
		{"malformed", func(string) string { return `{"format":1,"op":"add"` }, "not a change file"},
		{"other key", func(good string) string { return strings.Replace(good, "%q", `"`+keyID(other.IDKey)+`"`, 1) }, "another ID key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bl := mk(t, tt.content)
			src := scrubtest.CopyExport(t)
			before := scrubtest.Snapshot(t, src)
			for _, args := range [][]string{
				slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile}, a.Flags(), []string{src}),
				slices.Concat([]string{"sweep", "--blocklist", bl}, a.Flags(), []string{src}),
				{"unblock", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey, "--audit", a.Dir},
			} {
				out := runPlain(t, nil, args...)
				if out.err == nil || !strings.Contains(out.err.Error(), "change-20260102T030405.678Z-0123abcd.json") || !strings.Contains(out.err.Error(), tt.want) {
					t.Errorf("%s: err = %v, want one naming the change file and saying %q", args[0], out.err, tt.want)
				}
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
			if n := len(scrubtest.Batches(t, a.Dir)); n != 0 {
				t.Errorf("%d audit batches written", n)
			}
		})
	}
}

// TestConcurrentBlock runs two erase --block at once into one blocklist:
// both changes survive.
func TestConcurrentBlock(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	bl := filepath.Join(t.TempDir(), "blocklist")
	lists := []string{writeFile(t, "one.txt", scrubtest.Victims[0]+"\n"), writeFile(t, "two.txt", scrubtest.Victims[1]+"\n"+scrubtest.Victims[2]+"\n")}
	var wg sync.WaitGroup
	errs := make([]error, len(lists))
	for i, ids := range lists {
		src := scrubtest.CopyExport(t)
		auditDir := filepath.Join(t.TempDir(), "audit")
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			errs[i] = cli.Run(context.Background(), []string{"erase", "--block", "--blocklist", bl, "--ids", ids, "--no-progress",
				"--key", a.Key, "--id-key", a.IDKey, "--audit", auditDir, src}, cli.Env{Stdout: &stdout, Stderr: &stderr, Version: "test"})
			if errs[i] != nil {
				errs[i] = errors.New(errs[i].Error() + "\n" + stderr.String())
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := listTags(t, bl, a), tagsOf(t, a.IDKey, scrubtest.Victims...); !slices.Equal(got, want) {
		t.Errorf("after two concurrent blocks the list holds %d tags, want the 3 of both", len(got))
	}
	if n := len(changeFiles(t, bl)); n != 2 {
		t.Errorf("%d change files, want 2", n)
	}
	scrubtest.CheckNoIDs(t, bl)
}

// TestBlockDryRun checks that erase --block --dry-run leaves the list as
// it was, and that a sweep of an empty list reads nothing and succeeds.
func TestBlockDryRun(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	bl := filepath.Join(t.TempDir(), "blocklist")
	out := runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--dry-run", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{src})...)
	if out.err != nil || !strings.Contains(out.stderr, "dry run: would add 4 IDs") {
		t.Fatalf("dry run: %v\n%s", out.err, out.stderr)
	}
	if n := len(changeFiles(t, bl)); n != 0 {
		t.Errorf("a dry run wrote %d change files", n)
	}
	before := scrubtest.Snapshot(t, src)
	out = runPlain(t, nil, slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress", "--json"}, a.Flags(), []string{src})...)
	if out.err != nil || !strings.Contains(out.stderr, "the blocklist is empty") {
		t.Fatalf("sweep of an empty list: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.Totals.Archives != 0 {
		t.Errorf("sweep of an empty list read %d archives", sum.Totals.Archives)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
	// A source without archives is an error, as for erase.
	out = runPlain(t, nil, slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress"}, a.Flags(), []string{t.TempDir()})...)
	if !errors.Is(out.err, scrub.ErrNoArchives) {
		t.Errorf("sweep of an empty source: %v", out.err)
	}
}

// TestBlockResumed turns a finished erase --block back into the journal a
// crash would have left right after its blocklist_add event (with and
// without the change file stored), and runs the same command again: the
// resumed batch adds the IDs exactly once.
func TestBlockResumed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		fileStored bool
		wantEvents int
	}{
		{"change stored", true, 1},
		{"killed between the event and the change", false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := scrubtest.NewAudit(t)
			src := scrubtest.CopyExport(t)
			bl := filepath.Join(t.TempDir(), "blocklist")
			args := slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{src})
			if out := runPlain(t, nil, args...); out.err != nil {
				t.Fatalf("erase --block: %v\n%s", out.err, out.stderr)
			}
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
			n := slices.IndexFunc(lines, func(l []byte) bool { return bytes.Contains(l, []byte(`"type":"blocklist_add"`)) })
			if n < 0 {
				t.Fatal("no blocklist_add event in the log")
			}
			for _, suf := range []string{".jsonl", "-manifest.json", "-SHA256SUMS", "-SHA256SUMS.sig"} {
				if err := os.Remove(filepath.Join(a.Dir, name+suf)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(a.Dir, name+".journal"), bytes.Join(lines[:n+1], nil), 0o644); err != nil {
				t.Fatal(err)
			}
			if !tt.fileStored {
				for _, f := range changeFiles(t, bl) {
					os.Remove(f)
				}
			}
			out := runPlain(t, nil, args...)
			if out.err != nil || !strings.Contains(out.stderr, "resuming "+name) {
				t.Fatalf("resumed erase --block: %v\n%s", out.err, out.stderr)
			}
			if n := len(changeFiles(t, bl)); n != 1 {
				t.Errorf("%d change files after the resumed batch, want 1", n)
			}
			if got, want := listTags(t, bl, a), tagsOf(t, a.IDKey, scrubtest.Listed...); !slices.Equal(got, want) {
				t.Errorf("list after the resumed batch: %v, want %v", got, want)
			}
			log, err = os.ReadFile(filepath.Join(a.Dir, name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(log, []byte(`"type":"blocklist_add"`)); n != tt.wantEvents {
				t.Errorf("%d blocklist_add events in the resumed batch, want %d", n, tt.wantEvents)
			}
			out = runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
			if out.err != nil || !strings.Contains(out.stdout, "1/1 batches valid") {
				t.Errorf("verify: %v\n%s", out.err, out.stdout)
			}
			scrubtest.CheckNoIDs(t, a.Dir, bl)
		})
	}
}

// TestSweepShards: the shares of a sharded sweep keep their own
// watermarks. A share's sweep covers only its own archives, so another
// share's later sweep must not make it skip an archive that arrived in
// between.
func TestSweepShards(t *testing.T) {
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	bl := filepath.Join(t.TempDir(), "blocklist")
	defer scrubtest.CheckNoIDs(t, a.Dir, bl)
	out := runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags(), []string{src})...)
	if out.err != nil {
		t.Fatalf("erase --block: %v\n%s", out.err, out.stderr)
	}
	age(t, src)
	sweep := func(shard string) *scrub.FullSummary {
		t.Helper()
		args := slices.Concat([]string{"sweep", "--blocklist", bl, "--no-progress", "--json", "--overlap", "0s", "--shard", shard}, a.Flags(), []string{src})
		out := runPlain(t, nil, args...)
		if out.err != nil {
			t.Fatalf("sweep --shard %s: %v\n%s", shard, out.err, out.stderr)
		}
		return summary(t, out.stdout)
	}
	// A new archive of share 1, between share 1's sweep and share 0's.
	name := ""
	for d := 27; d < 60 && name == ""; d++ {
		if n := fmt.Sprintf("2376158762_cust_2017-12-%02d.csv", d); scrub.ShardOf(n, 2) == 1 {
			name = n
		}
	}
	sweep("1/2")
	time.Sleep(20 * time.Millisecond)
	data := addArchive(t, src, name, "2376158762_cust_2017-11-25.csv")
	time.Sleep(20 * time.Millisecond)
	sweep("0/2")
	sum := sweep("1/2")
	if got := base(sum); !slices.Contains(got, name) {
		t.Fatalf("share 1's sweep read %v, not the new %s", got, name)
	}
	after, err := os.ReadFile(filepath.Join(src, name))
	if err != nil {
		t.Fatal(err)
	}
	if n := scrubtest.CheckArchive(t, name, data, after); n == 0 || result(t, sum, name).Status != scrub.Erased {
		t.Errorf("%s: %d victim rows, status %s", name, n, result(t, sum, name).Status)
	}
}
