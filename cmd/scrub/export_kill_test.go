package main_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestExportKilled kills `scrub export` with SIGKILL at random points,
// again and again, re-running the same command each time until a run
// completes. After every kill, nothing holding the subjects' rows is
// anywhere but --out ($TMPDIR, set for the child, stays empty, and
// nothing appears beside --out), and what is staged inside --out is
// mode 0700. The re-runs are not refused by what a killed one left in
// --out; the export they finish is the one an uninterrupted run makes,
// with no staging directory left, and its batch verifies.
func TestExportKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a process many times")
	}
	t.Parallel()
	a := scrubtest.NewAudit(t)
	data := filepath.Join(t.TempDir(), "data")
	for i := range 20 {
		if err := os.CopyFS(filepath.Join(data, "d"+string(rune('a'+i))), os.DirFS(scrubtest.ExportDir)); err != nil {
			t.Fatal(err)
		}
	}
	export := func(out string) []string {
		return slices.Concat([]string{"export", "--ids", scrubtest.IDsFile, "--out", out, "--no-progress", "--jobs", "2"}, a.Flags(), []string{data})
	}

	// The reference: an export that nobody interrupts.
	refOut := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	if r := scrubCmd(t, nil, export(refOut)...); r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	took := time.Since(start)
	t.Logf("an uninterrupted export takes %v", took)
	want := readExports(t, refOut)
	if len(want) != len(scrubtest.Listed) {
		t.Fatalf("%d archives in the reference export, want %d", len(want), len(scrubtest.Listed))
	}

	root := t.TempDir()
	out := filepath.Join(root, "out")
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	args := export(out)
	rng := rand.New(rand.NewPCG(seed(t, 16), 10))
	kills, partial, done := 0, 0, false
	for attempt := 0; attempt < 40 && !done; attempt++ {
		kept := subjects(out) // what a killed run left, which this one removes first
		old, _ := filepath.Glob(filepath.Join(out, ".scrub-export-staging-*"))
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Even attempts die while reading, once k rows files are spooled
		// (in the staging directory, or where the code before it spooled,
		// $TMPDIR); odd ones once this run has begun to build its m-th
		// archive (so m-1 are in --out), or the code before it put one
		// more in --out. Events, not timers: the machine's load does not
		// move them.
		stop := make(chan struct{})
		if attempt < 25 { // then enough kills: let it finish
			k, m := 1+rng.IntN(100), 1+rng.IntN(len(scrubtest.Listed))
			after := time.Duration(rng.Int64N(int64(2 * time.Millisecond)))
			reached := func() bool { return spooled(out, tmp, old) >= k }
			if attempt%2 == 1 {
				reached = func() bool { return subjects(out) > kept || staged(out, old) >= m }
			}
			go func() {
				for !reached() {
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Microsecond):
					}
				}
				time.Sleep(after)
				cmd.Process.Signal(syscall.SIGKILL)
			}()
		}
		err := cmd.Wait()
		close(stop)
		switch {
		case err == nil:
			done = true
		case cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled():
			kills++
			if n := subjects(out); n > 0 {
				partial++
			}
		case strings.Contains(stderr.String(), "exists in") && complete(t, out):
			// Killed after its batch was sealed, as it removed its
			// staging: the export was complete, and is not redone.
			done = true
		default:
			t.Fatalf("attempt %d, after %d kills: %v\n%s", attempt, kills, err, stderr.String())
		}
		checkOnlyOut(t, root, tmp, out)
	}
	if !done || kills < 5 || partial == 0 {
		t.Fatalf("done %v after %d kills, %d of them with archives in --out; want a finished export after at least 5 kills, some after archives were written",
			done, kills, partial)
	}
	t.Logf("finished after %d kills, %d of them with archives in --out", kills, partial)

	if ents, _ := os.ReadDir(out); len(ents) != len(scrubtest.Listed) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("--out holds %q; want the %d archives alone", names, len(scrubtest.Listed))
	}
	got := readExports(t, out)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !maps.EqualFunc(got[name], want[name], bytes.Equal) {
			t.Errorf("%s differs from the uninterrupted export's", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d archives, want %d", len(got), len(want))
	}
	scrubtest.CheckNoIDs(t, a.Dir)
	// Every batch verifies: the reference, each killed run's (sealed as
	// failed by the next) and the one that finished.
	n := len(scrubtest.Batches(t, a.Dir))
	r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d/%d batches valid", n, n)) {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// checkOnlyOut fails the test if anything but --out was written below
// root: $TMPDIR (tmp) stays empty. A staging directory in --out is mode
// 0700 and its files 0600.
func checkOnlyOut(t *testing.T, root, tmp, out string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root || p == tmp {
			return err
		}
		if p == out {
			return fs.SkipDir
		}
		t.Errorf("%s left outside --out", p)
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		p := filepath.Join(out, e.Name())
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			continue // removed meanwhile
		case e.IsDir() && strings.HasPrefix(e.Name(), ".scrub-export-staging-"):
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", p, fi.Mode().Perm())
			}
			filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, err := d.Info(); err == nil && fi.Mode().Perm() != 0o600 {
						t.Errorf("%s: mode %v, want 0600", q, fi.Mode().Perm())
					}
				}
				return nil
			})
		case !fi.Mode().IsRegular() || !strings.HasPrefix(e.Name(), "subject-"):
			t.Errorf("%s in --out", p)
		}
	}
}

// subjects counts the subjects' archives in out.
func subjects(out string) int {
	ents, _ := os.ReadDir(out)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "subject-") {
			n++
		}
	}
	return n
}

// spooled counts the rows files of runs that started after old was
// listed: in their staging directories in out, or in $TMPDIR (tmp).
func spooled(out, tmp string, old []string) int {
	n := 0
	dirs, _ := filepath.Glob(filepath.Join(out, ".scrub-export-staging-*", "spool-*"))
	more, _ := filepath.Glob(filepath.Join(tmp, "scrub-export-*"))
	for _, d := range append(dirs, more...) {
		if slices.Contains(old, filepath.Dir(d)) {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d, "*.csv"))
		n += len(files)
	}
	return n
}

// staged counts the archives in the staging directories in out that are
// not in old.
func staged(out string, old []string) int {
	dirs, _ := filepath.Glob(filepath.Join(out, ".scrub-export-staging-*"))
	n := 0
	for _, d := range dirs {
		if !slices.Contains(old, d) {
			zips, _ := filepath.Glob(filepath.Join(d, "subject-*.zip"))
			n += len(zips)
		}
	}
	return n
}

// complete reports whether --out holds every subject's archive and no
// staging directory.
func complete(t *testing.T, out string) bool {
	ents, _ := os.ReadDir(out)
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			return false
		}
		n++
	}
	return n == len(scrubtest.Listed)
}

// readExports reads the subjects' archives in dir: by file name, the
// members of each, with the manifest reduced to what does not change from
// one run to the next (the batch and the time do).
func readExports(t *testing.T, dir string) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "subject-") {
			continue
		}
		zr, err := zip.OpenReader(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		members := map[string][]byte{}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s/%s: %v", e.Name(), f.Name, err)
			}
			if f.Name == "manifest.json" {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				delete(m, "audit_batch")
				delete(m, "created")
				b, _ = json.Marshal(m)
			}
			members[f.Name] = b
		}
		zr.Close()
		out[e.Name()] = members
	}
	return out
}
