package local

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

func victimSet(t testing.TB) *ids.Set {
	f, err := os.Open(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, err := ids.Read(f, "ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// checkErased checks that every archive below dir is its original with
// exactly the victims' records removed, or, where it held none, the original
// file untouched, with its permissions.
func checkErased(t *testing.T, dir string, before map[string]scrubtest.File) {
	t.Helper()
	after := scrubtest.Snapshot(t, dir)
	for name, b := range before {
		if b.Mode.IsDir() {
			continue
		}
		a, ok := after[name]
		if !ok {
			t.Errorf("%s: gone", name)
			continue
		}
		if scrubtest.CheckArchive(t, name, b.Data, a.Data) == 0 && !a.ModTime.Equal(b.ModTime) {
			t.Errorf("%s: held no victim but was rewritten", name)
		}
		if a.Mode != b.Mode {
			t.Errorf("%s: mode %v, was %v", name, a.Mode, b.Mode)
		}
	}
}

func run(ctx context.Context, t testing.TB, st *Store, mod func(*scrub.Options)) (*scrub.Summary, error) {
	opt := scrub.Options{Filter: &filter.Filter{IDs: victimSet(t)}, Jobs: 4}
	if mod != nil {
		mod(&opt)
	}
	return scrub.Run(ctx, opt, []scrub.Source{{Name: st.Root, Store: st}})
}

func TestEraseTestdata(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	if err := os.Chmod(filepath.Join(dir, "2376158762_cust_2017-11-22.zip"), 0o640); err != nil {
		t.Fatal(err)
	}
	before := scrubtest.Snapshot(t, dir)
	sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	want := scrub.Totals{Archives: 14, Erased: 13, Unchanged: 1, RowsScanned: 4625, RowsRemoved: 343}
	got := sum.Totals
	got.BytesBefore, got.BytesAfter = 0, 0
	if got != want {
		t.Errorf("totals %+v\nwant %+v", got, want)
	}
	for _, r := range scrubtest.Results(t, sum) {
		if (r.Status == scrub.Unchanged) != strings.HasSuffix(r.Key, "cust_2017-11-21.zip") {
			t.Errorf("%s: %s", r.Key, r.Status)
		}
		if fi, err := os.Stat(r.Key); err != nil || fi.Size() != *r.BytesAfter {
			t.Errorf("%s: size %v, reported %d", r.Key, fi, *r.BytesAfter)
		}
	}
	checkErased(t, dir, before)
	if after := scrubtest.Snapshot(t, dir); len(after) != len(before) {
		t.Errorf("%d files after, %d before (temporary files left?)", len(after), len(before))
	}

	// A second run finds nothing and touches nothing.
	once := scrubtest.Snapshot(t, dir)
	sum, err = run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil || sum.Totals.Unchanged != 14 {
		t.Fatalf("second run: %v %+v", err, sum.Totals)
	}
	for name, s := range scrubtest.Snapshot(t, dir) {
		if o := once[name]; !bytes.Equal(s.Data, o.Data) || !s.ModTime.Equal(o.ModTime) {
			t.Errorf("second run touched %s", name)
		}
	}
}

func TestJobsDeterministic(t *testing.T) {
	var outs []map[string]scrubtest.File
	for _, jobs := range []int{1, 8} {
		dir := scrubtest.CopyExport(t)
		if _, err := run(context.Background(), t, &Store{Root: dir}, func(o *scrub.Options) { o.Jobs = jobs }); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, scrubtest.Snapshot(t, dir))
	}
	for name, a := range outs[0] {
		if !bytes.Equal(a.Data, outs[1][name].Data) {
			t.Errorf("%s differs between --jobs 1 and 8", name)
		}
	}
}

func TestDryRun(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	sum, err := run(context.Background(), t, &Store{Root: dir}, func(o *scrub.Options) { o.DryRun = true })
	if err != nil || sum.Err() != nil {
		t.Fatal(err)
	}
	if sum.Totals.WouldErase != 13 || sum.Totals.RowsRemoved != 343 || sum.Totals.RowsScanned != 4625 {
		t.Errorf("totals %+v", sum.Totals)
	}
	after := scrubtest.Snapshot(t, dir)
	for name, b := range before {
		if a := after[name]; !bytes.Equal(a.Data, b.Data) || !a.ModTime.Equal(b.ModTime) {
			t.Errorf("dry run changed %s", name)
		}
	}
	if len(after) != len(before) {
		t.Error("dry run left files behind")
	}
}

func TestBadInputLeftUntouched(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	good, err := os.ReadFile(filepath.Join(dir, "2376158762_cust_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zgood, err := os.ReadFile(filepath.Join(dir, "2376158762_exc_2017-11-22.zip"))
	if err != nil {
		t.Fatal(err)
	}
	crc := append([]byte(nil), good...)
	crc[len(crc)-8] ^= 0x55
	bad := map[string]struct {
		data []byte
		want string
	}{
		"bad/truncated.csv.gz":  {good[:len(good)-100], "gzip: truncated"},
		"bad/crc.csv.gz":        {crc, "gzip: "},
		"bad/truncated.zip":     {zgood[:len(zgood)/2], "zip: "},
		"bad/quote.csv":         {[]byte("Client ID,v\n9F3A41C07B22E8D1,1\nX,\"open\n"), "line 3, column 3"},
		"bad/ragged.csv":        {[]byte("Client ID,v\n9F3A41C07B22E8D1,1\nX\n"), "line 3, column 1: wrong number of fields"},
		"bad/empty.csv":         {nil, "empty file"},
		"bad/export.csv.bz2":    {[]byte("BZh91AY&SY...."), "unsupported format: bzip2"},
		"bad/nested-member.zip": {nil, "member inner.csv.gz: archive nested"},
	}
	mkzip := func(name, body string) []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		f, _ := w.Create(name)
		io.WriteString(f, body)
		w.Close()
		return b.Bytes()
	}
	// Not tables: reported not-scanned, with the reason, not failed.
	notTables := map[string][]byte{
		"bad/noid.csv":       []byte("User,v\n9F3A41C07B22E8D1,1\n"),
		"bad/zip-noid/a.zip": mkzip("a.csv", "x,y\n1,2\n"),
	}
	for name, data := range notTables {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad["bad/nested-member.zip"] = struct {
		data []byte
		want string
	}{mkzip("inner.csv.gz", "x"), "member inner.csv.gz: archive nested in a zip member"}
	for name, b := range bad {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := scrubtest.Snapshot(t, dir)
	sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(sum.Err(), scrub.ErrPartial) {
		t.Errorf("Err() = %v, want ErrPartial", sum.Err())
	}
	if sum.Totals.Failed != len(bad) || sum.Totals.NotScanned != len(notTables) || sum.Totals.Erased != 13 {
		t.Errorf("totals %+v", sum.Totals)
	}
	after := scrubtest.Snapshot(t, dir)
	for _, r := range scrubtest.Results(t, sum) {
		rel, _ := filepath.Rel(dir, r.Key)
		if notTables[rel] != nil {
			why := r.Reason
			for _, m := range r.MembersNotScanned {
				why += "; " + m.Reason
			}
			if r.Status != scrub.NotScanned || !strings.Contains(why, "no ID column") {
				t.Errorf("%s: %s %q, want not-scanned for no ID column", rel, r.Status, why)
			}
		}
		b, isBad := bad[rel]
		if !isBad {
			continue
		}
		if r.Status != scrub.Failed || !strings.Contains(r.Error, b.want) {
			t.Errorf("%s: %s %q, want failed with %q", rel, r.Status, r.Error, b.want)
		}
		for _, v := range scrubtest.Victims {
			if strings.Contains(r.Error, v) {
				t.Errorf("%s: error message contains a listed ID", rel)
			}
		}
		if !bytes.Equal(after[rel].Data, before[rel].Data) || !after[rel].ModTime.Equal(before[rel].ModTime) {
			t.Errorf("%s was modified", rel)
		}
	}
	if len(after) != len(before) {
		t.Error("temporary files left behind")
	}
}

// TestReplaceFailures injects an error at each step of a replacement: before
// the rename the original stays, whole; after it the new archive is in place.
func TestReplaceFailures(t *testing.T) {
	for _, step := range []string{"staged", "synced", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := scrubtest.CopyExport(t)
			before := scrubtest.Snapshot(t, dir)
			boom := errors.New("injected")
			st := &Store{Root: dir, hook: func(s, _ string) error {
				if s == step {
					return boom
				}
				return nil
			}}
			sum, err := run(context.Background(), t, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Before the rename an archive is left as it was: failed.
			// After it, the rewrite is in place: replaced, not finished.
			got, want := sum.Totals.Failed, 13
			if step == "renamed" {
				got, want = sum.Totals.ReplacedIncomplete, 13+sum.Totals.Failed
			}
			if got != want || !errors.Is(sum.Err(), scrub.ErrPartial) {
				t.Fatalf("totals %+v", sum.Totals)
			}
			after := scrubtest.Snapshot(t, dir)
			if len(after) != len(before) {
				t.Errorf("%d files, want %d: staged files left behind", len(after), len(before))
			}
			if step != "renamed" {
				for name, b := range before {
					if !bytes.Equal(after[name].Data, b.Data) {
						t.Errorf("%s changed", name)
					}
				}
				return
			}
			checkErased(t, dir, before)
		})
	}
}

func TestConflict(t *testing.T) {
	const theirs = "Client ID\nC41D07E2A95B3F68\n"
	for _, how := range []string{"replaced", "modified in place"} {
		t.Run(how, func(t *testing.T) {
			dir := scrubtest.CopyExport(t)
			target := filepath.Join(dir, "2376158762_cust_2017-11-22.zip")
			st := &Store{Root: dir}
			st.hook = func(step, path string) error {
				if step != "synced" || path != target {
					return nil
				}
				// Someone else writes the archive meanwhile.
				if how == "replaced" {
					os.WriteFile(target+".new", []byte(theirs), 0o644)
					return os.Rename(target+".new", target)
				}
				f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					return err
				}
				io.WriteString(f, theirs)
				return f.Close()
			}
			sum, err := run(context.Background(), t, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Totals.Conflict != 1 || sum.Totals.Erased != 12 || !errors.Is(sum.Err(), scrub.ErrPartial) {
				t.Errorf("totals %+v", sum.Totals)
			}
			for _, r := range scrubtest.Results(t, sum) {
				if (r.Status == scrub.Conflict) != (r.Key == target) {
					t.Errorf("%s: %s", r.Key, r.Status)
				}
			}
			if b, _ := os.ReadFile(target); string(b) != theirs {
				t.Errorf("the concurrent writer's data was clobbered: %q", b)
			}
		})
	}
}

// TestCrash kills the process (no deferred cleanup runs) at each step of a
// replacement, then checks that every archive is whole, the old one or the
// new one, and that running again finishes the job.
func TestCrash(t *testing.T) {
	if step := os.Getenv("SCRUB_TEST_CRASH_STEP"); step != "" {
		crashChild(t, step, os.Getenv("SCRUB_TEST_CRASH_DIR"))
		return
	}
	for _, step := range []string{"staged", "synced", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := scrubtest.CopyExport(t)
			before := scrubtest.Snapshot(t, dir)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SCRUB_TEST_CRASH_STEP="+step, "SCRUB_TEST_CRASH_DIR="+dir)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 37 {
				t.Fatalf("child did not crash as planned: %v\n%s", err, out)
			}
			// Every archive is whole: the original, or the erased version.
			after := scrubtest.Snapshot(t, dir)
			changed := 0
			for name, b := range before {
				a := after[name]
				if bytes.Equal(a.Data, b.Data) {
					continue
				}
				changed++
				checkErased(t, dir, map[string]scrubtest.File{name: b})
			}
			if (step == "renamed") != (changed == 1) {
				t.Errorf("%d archives changed by the crashed run", changed)
			}
			var warnings []string
			st := &Store{Root: dir, Warn: func(m string) { warnings = append(warnings, m) }}
			sum, err := run(context.Background(), t, st, nil)
			if err != nil || sum.Err() != nil {
				t.Fatal(err, sum.Err())
			}
			if step != "renamed" && len(warnings) != 1 {
				t.Errorf("warnings %q, want one about the staged file", warnings)
			}
			for name := range after {
				if isTemp(filepath.Base(name)) {
					delete(after, name)
					os.Remove(filepath.Join(dir, name))
				}
			}
			checkErased(t, dir, before)
		})
	}
}

func crashChild(t *testing.T, step, dir string) {
	st := &Store{Root: dir, hook: func(s, _ string) error {
		if s == step {
			os.Exit(37)
		}
		return nil
	}}
	run(context.Background(), t, st, func(o *scrub.Options) { o.Jobs = 1 })
	t.Fatal("no crash")
}

func TestCancel(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	st := &Store{Root: dir, hook: func(step, _ string) error {
		if step == "staged" {
			cancel() // Ctrl-C while an archive is in flight
		}
		return nil
	}}
	sum, err := run(ctx, t, st, func(o *scrub.Options) { o.Jobs = 2 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if sum.Totals.Skipped == 0 || sum.Totals.Erased != 0 {
		t.Errorf("totals %+v", sum.Totals)
	}
	after := scrubtest.Snapshot(t, dir)
	for name, b := range before {
		if !bytes.Equal(after[name].Data, b.Data) {
			t.Errorf("%s changed after cancellation", name)
		}
	}
	if len(after) != len(before) {
		t.Error("staged files left behind")
	}
}

// TestVerifyFull reads each replaced archive back from disk: a rewrite that
// is damaged once in place is reported, not counted as erased.
func TestVerifyFull(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	target := filepath.Join(dir, "2376158762_cust_2017-11-22.zip")
	st := &Store{Root: dir, hook: func(step, path string) error {
		if step == "renamed" && path == target {
			return os.WriteFile(target, []byte("PK\x03\x04 damaged after the rename"), 0o644)
		}
		return nil
	}}
	sum, err := run(context.Background(), t, st, func(o *scrub.Options) { o.VerifyFull = true })
	if err != nil {
		t.Fatal(err)
	}
	// Replaced, so not "failed" (which means left as it was), and not
	// done.
	if sum.Totals.ReplacedIncomplete != 1 || sum.Totals.Failed != 0 || sum.Totals.Erased != 12 || sum.Err() == nil {
		t.Fatalf("totals %+v", sum.Totals)
	}
	for _, r := range scrubtest.Results(t, sum) {
		if r.Key == target && (r.Status != scrub.ReplacedIncomplete || !strings.Contains(r.Error, "stored archive failed verification") ||
			r.RowsRemoved == 0 || r.BytesAfter == nil) {
			t.Errorf("%+v", r)
		}
	}
}

// TestCleanSince: List removes the staged files of a resumed batch (those
// written since it began), only of the archives CleanOnly names, and
// warns about the rest.
func TestCleanSince(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a.csv", "sub/b.csv", ".a.csv.scrub-1.tmp", "sub/.b.csv.scrub-22.tmp", ".c.csv.scrub-3.tmp", ".old.csv.scrub-4.tmp"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("Client ID\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Now().Add(-time.Minute)
	old := since.Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".old.csv.scrub-4.tmp"), old, old); err != nil {
		t.Fatal(err)
	}
	var warned []string
	var asked []string
	s := &Store{Root: dir, CleanSince: since, Warn: func(msg string) { warned = append(warned, msg) },
		CleanOnly: func(rel string) bool { asked = append(asked, rel); return rel != "c.csv" }}
	var listed []string
	if err := s.List(context.Background(), func(o scrub.Object) error { listed = append(listed, o.Rel); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.csv", "sub/b.csv"}; !slices.Equal(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}
	if want := []string{"a.csv", "c.csv", "sub/b.csv"}; !slices.Equal(asked, want) {
		t.Errorf("CleanOnly asked about %v, want %v", asked, want)
	}
	for p, want := range map[string]bool{".a.csv.scrub-1.tmp": false, "sub/.b.csv.scrub-22.tmp": false, ".c.csv.scrub-3.tmp": true, ".old.csv.scrub-4.tmp": true} {
		_, err := os.Stat(filepath.Join(dir, p))
		if got := err == nil; got != want {
			t.Errorf("%s: present %v, want %v", p, got, want)
		}
	}
	if len(warned) != 2 {
		t.Errorf("warnings %q, want 2 (c and old)", warned)
	}
}

// TestIdentityWrittenWhileOpen: a file written after it was opened has no
// identity, so that no index entry binds what was read of it (part old,
// part new) to the stamp it had when opened; one left alone keeps the
// identity its listing gave.
func TestIdentityWrittenWhileOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(p, []byte("Client ID\nKEEP\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Store{Root: dir}
	var objs []scrub.Object
	if err := s.List(context.Background(), func(o scrub.Object) error { objs = append(objs, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Identity == "" {
		t.Fatalf("listed %+v", objs)
	}
	for _, write := range []bool{false, true} {
		err := s.Open(context.Background(), objs[0], func(c scrub.Content) error {
			if write {
				// Another size: a stamp that differs whatever the clock's grain.
				if err := os.WriteFile(p, []byte("Client ID\nVICTIM\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := c.(scrub.Identifier).Identity()
			switch {
			case write && got != "":
				t.Errorf("written while open: identity %q, want none", got)
			case !write && got != objs[0].Identity:
				t.Errorf("left alone: identity %q, want the listed %q", got, objs[0].Identity)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
