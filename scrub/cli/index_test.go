package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestIndexErase: scrub index build, then erase with --index: the
// archive without a listed ID is not read and is recorded absent-by-index,
// with its entry, in the summary, --json and the signed log; every other
// archive is erased as without the index, and gets a new entry for its
// rewrite, so that the same request again reads nothing; --no-index reads
// everything; scrub verify --index finds each entry for the identity the
// batch listed.
func TestIndexErase(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	a := scrubtest.NewAudit(t)
	// A fixed ID key: the index's hashes, and so its false positives (1
	// in 256 for each listed ID an entry is asked about), are the same
	// on every run.
	if err := os.WriteFile(a.IDKey, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(t.TempDir(), "index")

	out := runPlain(t, nil, "index", "build", "--index", idx, "--id-key", a.IDKey, "--json", dir)
	if out.err != nil {
		t.Fatalf("index build: %v\n%s", out.err, out.stderr)
	}
	// The monthly zip with a README member is not indexed: a member of it
	// was not read as CSV.
	if !strings.Contains(out.stderr, "13 entries (0 before)") {
		t.Errorf("index build:\n%s", out.stderr)
	}

	erase := func(extra ...string) (*scrub.FullSummary, string) {
		t.Helper()
		args := append([]string{"erase"}, a.Flags()...)
		args = append(args, "--ids", scrubtest.IDsFile, "--json", "--no-progress", "--index", idx)
		args = append(append(args, extra...), dir)
		out := runPlain(t, nil, args...)
		if out.err != nil {
			t.Fatalf("erase %q: %v\n%s", extra, out.err, out.stderr)
		}
		return summary(t, out.stdout), out.stderr
	}
	sum, stderr := erase()
	if sum.Totals.RowsRemoved != 343 {
		t.Errorf("%d rows removed, want 343 (as without the index)", sum.Totals.RowsRemoved)
	}
	r := result(t, sum, filepath.Base(unchanged))
	if r.Status != scrub.AbsentByIndex || len(r.IndexEntry) != 64 || r.Identity == "" || r.RowsScanned != 0 {
		t.Errorf("the archive without a listed ID: %+v", r)
	}
	if !strings.Contains(stderr, "absent-by-index "+filepath.Join(dir, unchanged)+": not read: its index entry "+r.IndexEntry[:16]) {
		t.Errorf("summary does not name the archive absent-by-index:\n%s", stderr)
	}
	if sum.Totals.AbsentByIndex != 1 || sum.Totals.Erased != 13 {
		t.Errorf("totals %+v", sum.Totals)
	}
	checkClean(t, dir)

	// The rewrites got entries: the same request reads nothing but the
	// archive with a member that is not CSV, which has no entry.
	again, _ := erase()
	if again.Totals.AbsentByIndex != 13 || again.Totals.Unchanged != 1 || again.Totals.RowsRemoved != 0 {
		t.Errorf("the same request again: %+v", again.Totals)
	}
	full, _ := erase("--no-index")
	if full.Totals.AbsentByIndex != 0 || full.Totals.Unchanged != 14 {
		t.Errorf("--no-index: %+v", full.Totals)
	}

	// The signed log records it, and verify checks the entries.
	rep, err := audit.Verify(t.Context(), local.Dir(a.Dir), nil, nil)
	if err != nil || rep.Valid != 3 {
		t.Fatalf("verify: %v, %+v", err, rep)
	}
	as, err := audit.ReadArchives(t.Context(), local.Dir(a.Dir), rep.Batches[0])
	if err != nil {
		t.Fatal(err)
	}
	logged := 0
	for _, la := range as {
		if la.Status == audit.StatusAbsentByIndex {
			logged++
			if la.IndexEntry != r.IndexEntry || la.Identity != r.Identity {
				t.Errorf("logged %+v, summary said %+v", la, r)
			}
		}
	}
	if logged != 1 {
		t.Errorf("%d archives logged absent-by-index in the first batch, want 1", logged)
	}
	v := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, "--index", idx, a.Dir)
	if v.err != nil || !strings.Contains(v.stderr, "14 archives are recorded absent-by-index: 14 index entries found") {
		t.Errorf("verify --index: %v\n%s%s", v.err, v.stdout, v.stderr)
	}
	v = runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
	if v.err != nil || !strings.Contains(v.stderr, "their entries were not checked: give --index LOCATION") {
		t.Errorf("verify without --index: %v\n%s%s", v.err, v.stdout, v.stderr)
	}
}

// TestIndexUsage: --index needs the ID key, and a place apart from the
// data; an index written under another ID key is not used.
func TestIndexUsage(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	out := runPlain(t, nil, "erase", "--dry-run", "--ids", scrubtest.IDsFile, "--audit", t.TempDir(), "--index", t.TempDir(), dir)
	if !isUsage(out.err) || !strings.Contains(out.err.Error(), "--index needs the ID key") {
		t.Errorf("--index without an ID key: %v", out.err)
	}
	a := scrubtest.NewAudit(t)
	out = runPlain(t, nil, "index", "build", "--index", filepath.Join(dir, "idx"), "--id-key", a.IDKey, dir)
	if !isUsage(out.err) || !strings.Contains(out.err.Error(), "overlap") {
		t.Errorf("index inside the source: %v", out.err)
	}

	idx := t.TempDir()
	if out := runPlain(t, nil, "index", "build", "--index", idx, "--id-key", a.IDKey, dir); out.err != nil {
		t.Fatal(out.err)
	}
	other := scrubtest.NewAudit(t)
	out = runPlain(t, nil, append(append([]string{"erase"}, other.Flags()...), "--ids", scrubtest.IDsFile, "--json", "--no-progress", "--index", idx, dir)...)
	if out.err != nil {
		t.Fatal(out.err)
	}
	if sum := summary(t, out.stdout); sum.Totals.AbsentByIndex != 0 || sum.Totals.Erased != 13 {
		t.Errorf("an index under another ID key was used: %+v", sum.Totals)
	}
	if !strings.Contains(out.stderr, "MAC does not verify") {
		t.Errorf("no warning about the index under another key:\n%s", out.stderr)
	}

	// An index that cannot be read: a warning, and full reads.
	notDir := writeFile(t, "index", "not a directory\n")
	fresh := scrubtest.CopyExport(t)
	out = runPlain(t, nil, append(append([]string{"erase"}, a.Flags()...), "--ids", scrubtest.IDsFile, "--json", "--no-progress", "--index", notDir, fresh)...)
	if out.err != nil {
		t.Fatalf("erase with an unreadable index: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); sum.Totals.Erased != 13 || sum.Totals.Unchanged != 1 || !strings.Contains(out.stderr, "the index cannot be read, every archive is read in full") {
		t.Errorf("an unreadable index: %+v\n%s", sum.Totals, out.stderr)
	}
}

// TestVerifyAbsentByIndex: a signed batch whose absent-by-index record
// names an index entry made for another archive identity, or names no
// entry at all, or claims rows for an archive it did not read, is not
// valid: verify exits 1 naming the archive.
func TestVerifyAbsentByIndex(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	a := scrubtest.NewAudit(t)
	idx := t.TempDir()
	if out := runPlain(t, nil, "index", "build", "--index", idx, "--id-key", a.IDKey, dir); out.err != nil {
		t.Fatal(out.err)
	}
	entries, err := index.All(t.Context(), local.Dir(idx))
	if err != nil || len(entries) == 0 {
		t.Fatalf("index.All: %d entries, %v", len(entries), err)
	}
	var hash string
	for h := range entries {
		hash = h
		break
	}
	size := int64(100)
	tests := []struct {
		name    string
		archive audit.Archive
		index   bool
		detail  string
	}{
		{"another identity", audit.Archive{IndexEntry: hash, Identity: "local dev=1 ino=2 size=100 mtime=0 ctime=0"}, true, "is for another archive identity"},
		{"no entry", audit.Archive{Identity: "local dev=1 ino=2 size=100 mtime=0 ctime=0"}, false, "no index entry or identity"},
		{"rows of an archive not read", audit.Archive{IndexEntry: hash, Identity: "x", RowsScanned: 5}, false, "rows or sizes recorded for an archive not read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := t.TempDir()
			w, err := audit.Begin(local.Dir(loc), loc, a.Signer, audit.Start{Command: "erase", Tool: audit.Tool{Name: "scrub", Version: "test"}, Sources: []string{dir}, IDs: 1})
			if err != nil {
				t.Fatal(err)
			}
			r := tt.archive
			r.Key, r.Status, r.SizeBefore, r.SizeAfter = filepath.Join(dir, unchanged), audit.StatusAbsentByIndex, size, &size
			if err := w.Archive(r); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Finish(t.Context(), audit.ResultComplete, nil); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "--allowed-signers", a.AllowedSigners}
			if tt.index {
				args = append(args, "--index", idx)
			}
			out := runPlain(t, nil, append(args, loc)...)
			if out.err == nil || !strings.Contains(out.stdout, "INVALID: absent-by-index record does not hold") {
				t.Fatalf("verify: %v\n%s%s", out.err, out.stdout, out.stderr)
			}
			if !strings.Contains(out.stdout+out.stderr, tt.detail) {
				t.Errorf("verify does not say %q:\n%s%s", tt.detail, out.stdout, out.stderr)
			}
		})
	}
}
