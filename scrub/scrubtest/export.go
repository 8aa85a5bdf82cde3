package scrubtest

import (
	"bytes"
	"encoding/csv"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Selected returns what an export must hold of one CSV stream for id: the
// stream's header record (after its byte order mark, if any) and the
// records whose "Client ID" is id, byte for byte, cut out with
// encoding/csv's record offsets; and how many records that is. Blank lines
// are dropped.
func Selected(t testing.TB, in []byte, id string) ([]byte, int) {
	t.Helper()
	body := bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	r := csv.NewReader(bytes.NewReader(body))
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(header, "Client ID")
	if col < 0 {
		t.Fatalf("no Client ID column in %q", header)
	}
	out := append(bytes.Clone(in[:len(in)-len(body)]), bytes.TrimLeft(body[:r.InputOffset()], "\r\n")...)
	prev, n := r.InputOffset(), 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, n
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec[col] == id {
			out = append(out, bytes.TrimLeft(body[prev:r.InputOffset()], "\r\n")...)
			n++
		}
		prev = r.InputOffset()
	}
}

// ExpectedExport returns the CSV members that scrub export must put in the
// archive of id for the archives below dir, by member name, computed with
// the standard library's decoders and encoding/csv: for each CSV stream
// that holds a record of id, its header and those records. A zip member is
// named after its archive's path and its own name, a gzip file after its
// path without .gz, and ".csv" is added to a stream named otherwise. It
// also returns the number of records.
func ExpectedExport(t testing.TB, dir, id string) (map[string][]byte, int) {
	t.Helper()
	want := map[string][]byte{}
	total := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		for member, stream := range Streams(t, data) {
			name := rel
			switch {
			case member != "":
				if !strings.HasSuffix(strings.ToLower(member), ".csv") {
					continue
				}
				name += "/" + member
			case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
				name = strings.TrimSuffix(name, ".gz")
				fallthrough
			default:
				if path.Ext(name) != ".csv" {
					name += ".csv"
				}
			}
			got, n := Selected(t, stream, id)
			if n > 0 {
				want[name] = got
				total += n
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want, total
}
