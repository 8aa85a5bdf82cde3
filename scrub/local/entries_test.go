package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// victimArchive is an archive of the test data that holds listed IDs.
const victimArchive = "2376158762_cust_2017-11-22.zip"

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// results returns the results of sum by path below dir.
func results(t *testing.T, dir string, sum *scrub.Summary) map[string]scrub.Result {
	t.Helper()
	m := map[string]scrub.Result{}
	for _, r := range scrubtest.Results(t, sum) {
		rel, err := filepath.Rel(dir, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.ToSlash(rel)] = r
	}
	return m
}

// TestList: every entry below the root is listed, hidden ones included,
// except scrub's staged files (reported); an entry that is not a regular
// file is listed as not scanned, with what it is.
func TestList(t *testing.T) {
	dir := t.TempDir()
	const csv = "Client ID\n"
	writeFile(t, dir, "a/x.csv", []byte(csv))
	writeFile(t, dir, ".hidden/y.csv", []byte(csv))
	writeFile(t, dir, "a/.DS_Store", []byte("junk"))
	writeFile(t, dir, ".git/objects/ab/cdef01", []byte("x\x9c\x01"))
	writeFile(t, dir, "a/.x.csv.scrub-123.tmp", []byte(csv))
	want := map[string]string{
		"a/x.csv":                "",
		".hidden/y.csv":          "",
		"a/.DS_Store":            "",
		".git/objects/ab/cdef01": "",
		"a/link.csv":             "symbolic link, not followed",
		"dirlink":                "symbolic link, not followed",
		"a/pipe.csv":             "named pipe (FIFO), not a regular file",
		"sock":                   "socket, not a regular file",
	}
	if err := os.Symlink("x.csv", filepath.Join(dir, "a", "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "a", "pipe.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if os.Geteuid() == 0 {
		// /dev/null's numbers: character device 1, 3.
		if err := syscall.Mknod(filepath.Join(dir, "a", "null"), syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
			t.Fatal(err)
		}
		want["a/null"] = "character device, not a regular file"
	} else {
		t.Log("not root: no device made")
	}
	var warnings []string
	got := map[string]string{}
	st := &Store{Root: dir, Warn: func(m string) { warnings = append(warnings, m) }}
	err = st.List(context.Background(), func(o scrub.Object) error {
		if _, dup := got[o.Rel]; dup {
			t.Errorf("%s listed twice", o.Rel)
		}
		got[o.Rel] = o.NotScanned
		if o.ID == "" || o.Key != filepath.Join(dir, filepath.FromSlash(o.Rel)) {
			t.Errorf("%s: key %q, ID %q", o.Rel, o.Key, o.ID)
		}
		if o.NotScanned != "" && o.Size != 0 {
			t.Errorf("%s: size %d for an entry not scanned", o.Rel, o.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, w := range want {
		if g, ok := got[rel]; !ok || g != w {
			t.Errorf("%s: listed %v, not scanned %q; want listed, not scanned %q", rel, ok, g, w)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s listed", rel)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".x.csv.scrub-123.tmp") {
		t.Errorf("warnings %q, want one about the staged file", warnings)
	}

	// A root that is a symbolic link is followed: what is below is listed
	// under the name given, a file by the path it leads to (the ID, which
	// tells one archive reached twice, is that path).
	for link, to := range map[string]string{"rootlink": "a", "filelink": "a/x.csv"} {
		if err := os.Symlink(filepath.Join(dir, to), filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
		var objs []scrub.Object
		st = &Store{Root: filepath.Join(dir, link)}
		if err := st.List(context.Background(), func(o scrub.Object) error { objs = append(objs, o); return nil }); err != nil {
			t.Fatal(err)
		}
		x := slices.IndexFunc(objs, func(o scrub.Object) bool { return o.Rel == "x.csv" })
		key := filepath.Join(dir, "rootlink", "x.csv")
		if link == "filelink" {
			key = filepath.Join(dir, "a", "x.csv") // opened without following links
		}
		if x < 0 || objs[x].NotScanned != "" || objs[x].Key != key || objs[x].ID != filepath.Join(dir, "a", "x.csv") {
			t.Errorf("root %s: listed %+v, want x.csv as %s", link, objs, key)
			continue
		}
		if err := st.Open(context.Background(), objs[x], func(scrub.Content) error { return nil }); err != nil {
			t.Errorf("root %s: %v", link, err)
		}
	}

	// A file given as the root is listed by its name.
	var keys []string
	st = &Store{Root: filepath.Join(dir, "a", "x.csv")}
	st.List(context.Background(), func(o scrub.Object) error { keys = append(keys, o.Rel+"|"+o.Key); return nil })
	if want := "x.csv|" + filepath.Join(dir, "a", "x.csv"); len(keys) != 1 || keys[0] != want {
		t.Errorf("listed %q, want %q", keys, want)
	}
}

// TestHiddenErased: hidden files and files in hidden directories are
// erased like any other.
func TestHiddenErased(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	hidden := map[string]string{
		".late.csv":       "2376158762_cust_2017-11-25.csv",
		".cache/x.csv.gz": "2376158762_cust_2017-11-24.csv.gz",
		".git/old/.a.zip": victimArchive,
	}
	for name, from := range hidden {
		writeFile(t, dir, name, readFile(t, filepath.Join(dir, from)))
	}
	before := scrubtest.Snapshot(t, dir)
	sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	res := results(t, dir, sum)
	for name := range hidden {
		if r := res[name]; r.Status != scrub.Erased || r.RowsRemoved == 0 {
			t.Errorf("%s: %s, %d rows removed; want erased", name, r.Status, r.RowsRemoved)
		}
	}
	if sum.Totals.Erased != 13+len(hidden) {
		t.Errorf("totals %+v", sum.Totals)
	}
	checkErased(t, dir, before)
}

// TestNotRegularRecorded: a symbolic link (to an archive outside the
// source, with listed rows) and a named pipe are in the result as not
// scanned, with what they are; the link's target is not touched, and
// the batch succeeds.
func TestNotRegularRecorded(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	outside := writeFile(t, t.TempDir(), "elsewhere.zip", readFile(t, filepath.Join(dir, victimArchive)))
	orig := readFile(t, outside)
	if err := os.Symlink(outside, filepath.Join(dir, "link.zip")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	res := results(t, dir, sum)
	for name, why := range map[string]string{
		"link.zip": "symbolic link, not followed",
		"pipe.csv": "named pipe (FIFO), not a regular file",
	} {
		if r, ok := res[name]; !ok || r.Status != scrub.NotScanned || r.Reason != why {
			t.Errorf("%s: in the result %v, %s %q; want not-scanned %q", name, ok, r.Status, r.Reason, why)
		}
	}
	if sum.Totals.NotScanned != 2 || sum.Totals.Erased != 13 {
		t.Errorf("totals %+v", sum.Totals)
	}
	if !bytes.Equal(readFile(t, outside), orig) {
		t.Error("the link's target was changed")
	}
}

// TestOpenNotRegular: an archive swapped for something else after it was
// listed is not read, and opening it does not block (a named pipe with no
// writer would block open(2) for ever).
func TestOpenNotRegular(t *testing.T) {
	for _, c := range []struct {
		name string
		swap func(p string) error
		want string
	}{
		{"named pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "named pipe (FIFO), not a regular file"},
		{"symbolic link", func(p string) error { return os.Symlink(p+".other", p) }, "symbolic link, not followed"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "a.csv", []byte("Client ID\n9F3A41C07B22E8D1\n"))
			writeFile(t, dir, "a.csv.other", []byte("Client ID\n9F3A41C07B22E8D1\n"))
			st := &Store{Root: p}
			var obj scrub.Object
			if err := st.List(context.Background(), func(o scrub.Object) error { obj = o; return nil }); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := c.swap(p); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- st.Open(context.Background(), obj, func(scrub.Content) error { return errors.New("opened") })
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("Open: %v, want an error saying %q", err, c.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
}

// TestHardLinks: an archive with other names is held, not erased (the
// others would keep the rows), unless it holds no listed row.
func TestHardLinks(t *testing.T) {
	for _, c := range []struct {
		name    string
		archive string
		links   []string // other names, "out/" outside the source
		status  scrub.Status
		reason  string
	}{
		{"one outside", victimArchive, []string{"out/a.zip"}, scrub.Held, "1 other hard link to this file would keep the rows"},
		{"two outside", victimArchive, []string{"out/a.zip", "out/b.zip"}, scrub.Held, "2 other hard links to this file would keep the rows"},
		{"one inside", victimArchive, []string{"in/copy.zip"}, scrub.Held, "1 other hard link to this file would keep the rows"},
		{"no listed row", scrubtest.Unchanged, []string{"out/a.zip"}, scrub.Unchanged, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, out := scrubtest.CopyExport(t), t.TempDir()
			target := filepath.Join(dir, c.archive)
			orig := readFile(t, target)
			names := []string{target}
			for _, l := range c.links {
				p := filepath.Join(out, l)
				if rel, ok := strings.CutPrefix(l, "in/"); ok {
					p = filepath.Join(dir, rel)
				}
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.Link(target, p); err != nil {
					t.Fatal(err)
				}
				names = append(names, p)
			}
			sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range scrubtest.Results(t, sum) {
				if slices.Contains(names, r.Key) && (r.Status != c.status || !strings.Contains(r.Error, c.reason)) {
					t.Errorf("%s: %s %q, want %s %q", r.Key, r.Status, r.Error, c.status, c.reason)
				}
			}
			if held := c.status == scrub.Held; held != errors.Is(sum.Err(), scrub.ErrPartial) {
				t.Errorf("Err() = %v", sum.Err())
			}
			for _, n := range names {
				if !bytes.Equal(readFile(t, n), orig) {
					t.Errorf("%s changed", n)
				}
			}
		})
	}
}

// TestHardLinkAdded: a link made while the rewrite is written is caught
// before the rename (it changes the file's ctime).
func TestHardLinkAdded(t *testing.T) {
	dir, out := scrubtest.CopyExport(t), t.TempDir()
	target := filepath.Join(dir, victimArchive)
	orig := readFile(t, target)
	st := &Store{Root: dir, hook: func(step, p string) error {
		if step == "synced" && p == target {
			return os.Link(target, filepath.Join(out, "late.zip"))
		}
		return nil
	}}
	sum, err := run(context.Background(), t, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := results(t, dir, sum)[victimArchive]; r.Status == scrub.Erased || r.Status == scrub.ReplacedIncomplete {
		t.Errorf("%s: %s %q", victimArchive, r.Status, r.Error)
	}
	for _, p := range []string{target, filepath.Join(out, "late.zip")} {
		if !bytes.Equal(readFile(t, p), orig) {
			t.Errorf("%s changed", p)
		}
	}
}

// TestCheckReplace: what a dry run can ask before anything is written.
func TestCheckReplace(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	linked := filepath.Join(dir, victimArchive)
	if err := os.Link(linked, filepath.Join(t.TempDir(), "other.zip")); err != nil {
		t.Fatal(err)
	}
	st := &Store{Root: dir}
	for _, c := range []struct {
		name string
		held bool
	}{
		{victimArchive, true},
		{"2376158762_cust_2017-11-23.zip", false},
	} {
		p := filepath.Join(dir, c.name)
		err := st.Open(context.Background(), scrub.Object{Key: p}, func(ct scrub.Content) error {
			return ct.(interface{ CheckReplace() error }).CheckReplace()
		})
		var he *scrub.HeldError
		if errors.As(err, &he) != c.held || (!c.held && err != nil) {
			t.Errorf("%s: CheckReplace: %v, want held %v", c.name, err, c.held)
		}
	}
}

// bigCSV is a plain CSV file of more than tailLen bytes whose second line
// holds a listed ID.
func bigCSV() []byte {
	var b bytes.Buffer
	b.WriteString("Client ID,v\n9F3A41C07B22E8D1,0\n")
	for i := 0; b.Len() < 3*tailLen; i++ {
		fmt.Fprintf(&b, "AAAA%012d,%d\n", i, i)
	}
	return b.Bytes()
}

// TestConflictUnseen: changes that leave the size and the modification
// time of the archive as they were are detected before the rename.
func TestConflictUnseen(t *testing.T) {
	for _, c := range []struct {
		name string
		// change is made by another writer while the rewrite is made;
		// ctime is the archive's change time when it was read.
		change func(t *testing.T, p string, ctime time.Time)
	}{
		{"same size in place, mtime restored", func(t *testing.T, p string, was time.Time) {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Far from the end: the tail hash does not see it.
			if _, err := f.WriteAt([]byte("BBBB"), 40); err != nil {
				t.Fatal(err)
			}
			f.Close()
			ctime := func() time.Time {
				var st syscall.Stat_t
				if err := syscall.Stat(p, &st); err != nil {
					t.Fatal(err)
				}
				return stampOf(&st).ctime
			}
			// The change time moves on the kernel's coarse clock: make
			// sure it did, so that this is the case tested.
			for ; ; time.Sleep(5 * time.Millisecond) {
				if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				if !ctime().Equal(was) {
					break
				}
			}
		}},
		{"rows appended", func(t *testing.T, p string, _ time.Time) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(f, "LATE000000000001,1\n")
			f.Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "big.csv", bigCSV())
			var read syscall.Stat_t
			if err := syscall.Stat(p, &read); err != nil {
				t.Fatal(err)
			}
			var theirs []byte
			st := &Store{Root: dir, hook: func(step, _ string) error {
				if step == "synced" {
					c.change(t, p, stampOf(&read).ctime)
					theirs = readFile(t, p)
				}
				return nil
			}}
			sum, err := run(context.Background(), t, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Totals.Conflict != 1 {
				t.Errorf("totals %+v, want a conflict", sum.Totals)
			}
			if !bytes.Equal(readFile(t, p), theirs) {
				t.Error("the other writer's data was clobbered")
			}
			if n := len(scrubtest.Snapshot(t, dir)); n != 2 {
				t.Errorf("%d entries: the rewrite was left behind", n)
			}
		})
	}
}

// TestConflictTail: a change at the end of the archive that leaves its
// stamp as it was (on a file system whose times are coarser than the
// writes) is found by the tail hash.
func TestConflictTail(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "big.csv", bigCSV())
	st := &Store{Root: dir}
	err := st.Open(context.Background(), scrub.Object{Key: p}, func(ct scrub.Content) error {
		c := ct.(*content)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt([]byte("9"), c.st.size-2); err != nil {
			return err
		}
		f.Close()
		// Pretend the times did not move.
		var s syscall.Stat_t
		if err := syscall.Stat(p, &s); err != nil {
			return err
		}
		c.st = stampOf(&s)
		staged, err := c.Stage()
		if err != nil {
			return err
		}
		io.WriteString(staged, "Client ID,v\n")
		return c.Replace(context.Background(), staged)
	})
	if !errors.Is(err, scrub.ErrConflict) || !strings.Contains(err.Error(), "last bytes") {
		t.Errorf("Replace: %v, want a conflict on the last bytes", err)
	}
	if b := readFile(t, p); !bytes.HasSuffix(b, []byte("9\n")) || len(b) < tailLen {
		t.Error("the changed file was replaced")
	}
}

// TestOwnerKept: a rewrite gets the original's owner, group and mode,
// set-group-ID bit included.
func TestOwnerKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	dir := scrubtest.CopyExport(t)
	target := filepath.Join(dir, victimArchive)
	if err := os.Chown(target, 4242, 4243); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	sum, err := run(context.Background(), t, &Store{Root: dir}, nil)
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	if r := results(t, dir, sum)[victimArchive]; r.Status != scrub.Erased {
		t.Fatalf("%s: %s %s", victimArchive, r.Status, r.Error)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	s := fi.Sys().(*syscall.Stat_t)
	if s.Uid != 4242 || s.Gid != 4243 || fi.Mode() != 0o640|os.ModeSetgid {
		t.Errorf("rewrite owned by %d:%d, mode %v; want 4242:4243, %v", s.Uid, s.Gid, fi.Mode(), 0o640|os.ModeSetgid)
	}
}

// TestOwnerRefused: where the rewrite cannot be given the original's owner
// (chown(2) not permitted), the archive is held before it is rewritten,
// and nothing is left behind.
func TestOwnerRefused(t *testing.T) {
	dir := scrubtest.CopyExport(t)
	target := filepath.Join(dir, victimArchive)
	before := scrubtest.Snapshot(t, dir)
	rewritten := false
	st := &Store{Root: dir, hook: func(step, p string) error {
		if p != target {
			return nil
		}
		switch step {
		case "chown":
			return syscall.EPERM
		case "staged":
			rewritten = true
		}
		return nil
	}}
	sum, err := run(context.Background(), t, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := results(t, dir, sum)[victimArchive]
	if r.Status != scrub.Held || !strings.Contains(r.Error, "could not give the rewrite the same owner") {
		t.Errorf("%s: %s %q, want held for its owner", victimArchive, r.Status, r.Error)
	}
	if rewritten {
		t.Error("rewritten before the owner was checked")
	}
	if sum.Totals.Held != 1 || sum.Totals.Erased != 12 || !errors.Is(sum.Err(), scrub.ErrPartial) {
		t.Errorf("totals %+v, Err() = %v", sum.Totals, sum.Err())
	}
	after := scrubtest.Snapshot(t, dir)
	if !bytes.Equal(after[victimArchive].Data, before[victimArchive].Data) {
		t.Error("changed")
	}
	if len(after) != len(before) {
		t.Error("staged file left behind")
	}
}

// TestIsTemp: only the names Stage gives are taken for scrub's staged
// files; a user's file that merely looks alike is an entry like any other.
func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".a.csv.scrub-123.tmp":   true,
		".x.scrub-1.tmp":         true,
		".notes.scrub-old.tmp":   false,
		"a.csv.scrub-123.tmp":    false,
		".a.csv.scrub-123.tmp.1": false,
		".scrub-123.tmp":         false,
	} {
		if got := isTemp(name); got != want {
			t.Errorf("isTemp(%q) = %v, want %v", name, got, want)
		}
	}
}
