// Package scrubtest holds what the tests of several packages share about
// the bundled test data (testdata/export, testdata/ids.txt) and about
// checking that a run left files as they were.
package scrubtest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// The repository's test data, by absolute path.
var (
	ExportDir = filepath.Join(root(), "testdata", "export")
	IDsFile   = filepath.Join(root(), "testdata", "ids.txt")
)

// Victims are the listed IDs that occur in the test data; Listed adds one
// that occurs nowhere. No output of any run may contain any of them.
var (
	Victims = []string{"9F3A41C07B22E8D1", "C41D07E2A95B3F68", "5B0E92D4F7A16C3E"}
	Listed  = append(Victims[:len(Victims):len(Victims)], "0D5E7A9C3B1F4826")
)

// Unchanged is the one archive of the test data without a listed ID.
const Unchanged = "2376158762_cust_2017-11-21.zip"

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CopyExport copies the test data to a new directory and returns it. The
// copies get an old modification time, so that any rewrite shows.
func CopyExport(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "export")
	if err := os.CopyFS(dir, os.DirFS(ExportDir)); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2017, 11, 30, 0, 0, 0, 0, time.UTC)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Corrupt writes a truncated copy of a gzip archive of the test data as
// dir/name.
func Corrupt(t testing.TB, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ExportDir, "2376158762_cust_2017-11-24.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
}

// File is what a run must not change about a file it leaves alone.
type File struct {
	Data    []byte
	Mode    fs.FileMode
	ModTime time.Time
}

// Snapshot records every entry below dir, directories included, by path
// relative to dir.
func Snapshot(t testing.TB, dir string) map[string]File {
	t.Helper()
	m := map[string]File{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := File{Mode: info.Mode(), ModTime: info.ModTime()}
		if d.Type().IsRegular() {
			if f.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// SameFiles reports the differences between two snapshots, for the entries
// accepted by keep (all if nil).
func SameFiles(t testing.TB, before, after map[string]File, keep func(rel string) bool) {
	t.Helper()
	for rel, b := range before {
		if keep != nil && !keep(rel) {
			continue
		}
		a, ok := after[rel]
		switch {
		case !ok:
			t.Errorf("%s: removed", rel)
		case string(a.Data) != string(b.Data):
			t.Errorf("%s: content changed", rel)
		case a.Mode != b.Mode:
			t.Errorf("%s: mode changed from %v to %v", rel, b.Mode, a.Mode)
		case !a.ModTime.Equal(b.ModTime):
			t.Errorf("%s: modification time changed from %v to %v", rel, b.ModTime, a.ModTime)
		}
	}
	for rel := range after {
		if _, ok := before[rel]; !ok && (keep == nil || keep(rel)) {
			t.Errorf("%s: created", rel)
		}
	}
}

// Streams decodes an archive with the standard library's decoders (an
// implementation independent of scrub's) into its streams by zip member
// name, "" for plain CSV and gzip.
func Streams(t testing.TB, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[""] = b
	case bytes.HasPrefix(data, []byte("PK")):
		r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			out[f.Name] = b
		}
	default:
		out[""] = data
	}
	return out
}

// Expected cuts the records of the victims out of a CSV stream with a
// "Client ID" column, using encoding/csv's record offsets, and counts them.
func Expected(t testing.TB, in []byte) ([]byte, int) {
	t.Helper()
	return ExpectedFunc(t, in, Victim)
}

// CheckArchive checks that after is the archive before with exactly the
// victims' records removed from every CSV stream and every other zip member
// unchanged, and returns how many records that was. An archive without
// victims must be byte-identical.
func CheckArchive(t testing.TB, name string, before, after []byte) int {
	t.Helper()
	return CheckArchiveFunc(t, name, before, after, Victim)
}

// S3Endpoint returns the endpoint of the test MinIO that `make test`
// starts (cmd/withminio sets SCRUB_TEST_S3_ENDPOINT). Without one the
// test skips, but under CI=true it fails: the integration tier must never
// silently vanish.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("SCRUB_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no MinIO: run the tests through `make test` (cmd/withminio sets SCRUB_TEST_S3_ENDPOINT)")
		}
		t.Skip("no MinIO (SCRUB_TEST_S3_ENDPOINT unset); `make test` starts one")
	}
	return ep
}
