package scrub_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
)

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipped(t *testing.T, members ...string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := 0; i < len(members); i += 2 {
		fw, err := w.Create(members[i])
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(members[i+1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unzip returns the members of an archive by name, in order.
func unzip(t *testing.T, data []byte) (map[string]string, []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], names = string(b), append(names, f.Name)
	}
	return out, names
}

// TestExportNames checks the members' names with two SOURCEs of the same
// base name, a plain and a gzip file of the same name, a misnamed file and
// zip members, and that a record naming two listed IDs goes to both.
func TestExportNames(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "one", "data"), filepath.Join(root, "two", "data")
	hdr := "Timestamp,Client ID,client_id\n"
	write(t, filepath.Join(a, "d", "x.csv"), []byte(hdr+"t1,A1,Z\nt2,B2,Z\n"))
	write(t, filepath.Join(a, "d", "x.csv.gz"), gzipped(t, hdr+"t3,A1,Z\n"))
	write(t, filepath.Join(a, "y.zip"), gzipped(t, hdr+"t4,Z,A1\n")) // a gzip file named .zip
	write(t, filepath.Join(b, "d", "x.csv"), []byte(hdr+"t5,A1,B2\n"))
	write(t, filepath.Join(b, "m.zip"), zipped(t, "a/in.csv", hdr+"t6,A1,Z\n", "notes.txt", "A1", "none.csv", hdr+"t7,Z,Z\n"))
	opt := scrub.ExportOptions{Filter: &filter.Filter{IDs: ids.New("A1", "B2", "C3"), Columns: []string{"Client ID", "client_id"}}, SpoolDir: t.TempDir()}
	ex, err := scrub.Export(context.Background(), opt, []scrub.Source{{Name: a, Store: &local.Store{Root: a}}, {Name: b + "/", Store: &local.Store{Root: b}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"A1": {
			"data/d/x.csv":          hdr + "t1,A1,Z\n",
			"data/d/x~2.csv":        hdr + "t3,A1,Z\n",
			"data/y.zip.csv":        hdr + "t4,Z,A1\n",
			"data-2/d/x.csv":        hdr + "t5,A1,B2\n",
			"data-2/m.zip/a/in.csv": hdr + "t6,A1,Z\n",
		},
		"B2": {
			"data/d/x.csv":   hdr + "t2,B2,Z\n",
			"data-2/d/x.csv": hdr + "t5,A1,B2\n",
		},
		"C3": {},
	}
	for id, members := range want {
		var buf bytes.Buffer
		var listed []scrub.ExportMember
		got, err := ex.WriteZip(&buf, id, time.Now(), func(m []scrub.ExportMember) ([]byte, error) {
			listed = m
			return []byte("{}"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		files, order := unzip(t, buf.Bytes())
		if files["manifest.json"] != "{}" || order[len(order)-1] != "manifest.json" {
			t.Errorf("%s: manifest.json is not the last member: %q", id, order)
		}
		delete(files, "manifest.json")
		if !maps.Equal(files, members) {
			t.Errorf("%s: members\n%q\nwant\n%q", id, files, members)
		}
		if !slices.IsSortedFunc(got, func(a, b scrub.ExportMember) int { return strings.Compare(a.Name, b.Name) }) || !slices.Equal(got, listed) {
			t.Errorf("%s: members %+v, manifest given %+v", id, got, listed)
		}
		for _, m := range got {
			if m.Rows != 1 || m.Size != int64(len(members[m.Name])) || m.SHA256 == "" || !strings.HasPrefix(m.Archive, root) {
				t.Errorf("%s: member %+v", id, m)
			}
		}
		if rows, n := ex.Found(id); rows != int64(len(members)) || n != len(members) {
			t.Errorf("%s: Found = %d rows in %d members", id, rows, n)
		}
	}
	if len(ex.Archives) != 5 || !slices.IsSortedFunc(ex.Archives, func(a, b scrub.ScannedArchive) int { return strings.Compare(a.Key, b.Key) }) {
		t.Errorf("archives not all there, sorted by key: %v", ex.Archives)
	}
	spool := ex.Dir()
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Errorf("spool %s left after Close: %v", spool, err)
	}
}

// TestExportSpoolsInBatches checks a subject whose rows exceed what a
// worker buffers: they are appended to the spool in several batches, in
// order.
func TestExportSpoolsInBatches(t *testing.T) {
	dir := t.TempDir()
	var in, want strings.Builder
	in.WriteString("Client ID,Payload\r\n")
	want.WriteString("Client ID,Payload\r\n")
	pad := strings.Repeat("x", 100)
	for i := range 80000 {
		id := []string{"A1", "B2"}[i%2]
		line := fmt.Sprintf("%s,\"%d %s\"\r\n", id, i, pad)
		in.WriteString(line)
		if id == "A1" {
			want.WriteString(line)
		}
	}
	write(t, filepath.Join(dir, "big.csv.gz"), gzipped(t, in.String()))
	opt := scrub.ExportOptions{Filter: &filter.Filter{IDs: ids.New("A1", "B2")}, SpoolDir: t.TempDir()}
	ex, err := scrub.Export(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var buf bytes.Buffer
	if _, err := ex.WriteZip(&buf, "A1", time.Now(), func([]scrub.ExportMember) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	files, _ := unzip(t, buf.Bytes())
	if got := files["big.csv"]; got != want.String() {
		t.Errorf("member of %d bytes, want %d", len(got), want.Len())
	}
	if a := ex.Archives[0]; a.Rows != 80000 || a.Exported != 80000 || a.Format != "gzip" {
		t.Errorf("archive %+v", a)
	}
}

// TestExportCanceled checks that a canceled export stops and removes its
// spool.
func TestExportCanceled(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.csv"), []byte("Client ID\nA1\n"))
	spool := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := scrub.Export(ctx, scrub.ExportOptions{Filter: &filter.Filter{IDs: ids.New("A1")}, SpoolDir: spool},
		[]scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
	if err == nil {
		t.Fatal("a canceled export succeeded")
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("a canceled export left %s", ents[0].Name())
	}
}

// TestStaging: a staging directory is 0700, holds its owner, and is stale
// only once its run let go of it; StaleStaging touches nothing else.
func TestStaging(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "out")
	live, err := scrub.NewStaging(parent, "s3://b/out/")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if fi, err := os.Stat(live.Dir); err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(live.Dir), scrub.StagingPrefix) {
		t.Fatalf("staging %s: %v, %v", live.Dir, fi, err)
	}
	dead, err := scrub.NewStaging(parent, "s3://b/other/")
	if err != nil {
		t.Fatal(err)
	}
	dead.Unlock() // as a kill does
	write(t, filepath.Join(parent, scrub.StagingPrefix+"file"), []byte("not a directory"))
	write(t, filepath.Join(parent, ".scrub-export-other", "x"), []byte("not ours"))
	stale, err := scrub.StaleStaging(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].Dir != dead.Dir || stale[0].Owner != "s3://b/other/" {
		t.Fatalf("stale %+v, want %s alone", stale, dead.Dir)
	}
	if err := stale[0].Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(parent)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{scrub.StagingPrefix + "file", filepath.Base(live.Dir), ".scrub-export-other"}; !slices.Equal(names, slices.Sorted(slices.Values(want))) {
		t.Errorf("left %q, want %q", names, want)
	}
	// No default spool directory, which would be os.TempDir.
	src := t.TempDir()
	write(t, filepath.Join(src, "a.csv"), []byte("Client ID\nA1\n"))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err = scrub.Export(context.Background(), scrub.ExportOptions{Filter: &filter.Filter{IDs: ids.New("A1")}},
		[]scrub.Source{{Name: src, Store: &local.Store{Root: src}}})
	if ents, _ := os.ReadDir(tmp); err == nil || len(ents) > 0 {
		t.Errorf("an export without a spool directory: %v, %d entries in $TMPDIR", err, len(ents))
	}
}
