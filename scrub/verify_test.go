package scrub_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestStagedChangedCaught: a staged file that changes between the rewrite
// and its verification (a byte of its header, its data or its end; cut
// short; a byte more) is caught: the archive fails and is left as it was,
// although the read-back of the rewrite found nothing wrong with what was
// written. Fault injection, for the gzip file and the zip member read back
// as they are written (archive.Reread), and a plain file. Before the
// staged file's SHA-256 was checked, a changed byte that the format does
// not notice (in a zip's end record, in a plain file's kept row) passed,
// and the log recorded as sha256_after the hash of bytes no longer there.
func TestStagedChangedCaught(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("Timestamp,Client ID\n")
	for i := range 20000 {
		id := fmt.Sprintf("C%07d", i)
		if i%10 == 0 {
			id = "VICTIM"
		}
		fmt.Fprintf(&csv, "2017-11-24T00:00:%02dZ,%s\n", i%60, id)
	}
	var gz, zp bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(csv.Bytes())
	zw.Close()
	z := zip.NewWriter(&zp)
	m, _ := z.Create("export.csv")
	m.Write(csv.Bytes())
	z.Close()
	changes := map[string]func(t *testing.T, f *os.File){
		"cut short": func(t *testing.T, f *os.File) {
			fi, _ := f.Stat()
			if err := f.Truncate(fi.Size() - 1); err != nil {
				t.Fatal(err)
			}
		},
		"a byte more": func(t *testing.T, f *os.File) {
			fi, _ := f.Stat()
			if _, err := f.WriteAt([]byte{0}, fi.Size()); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, where := range []float64{0.001, 0.5, 0.999} {
		changes[fmt.Sprintf("byte at %.1f%% changed", 100*where)] = func(t *testing.T, f *os.File) {
			fi, _ := f.Stat()
			at := int64(float64(fi.Size()) * where)
			b := []byte{0}
			if _, err := f.ReadAt(b, at); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x04
			if _, err := f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	for format, data := range map[string][]byte{"export.csv.gz": gz.Bytes(), "export.zip": zp.Bytes(), "export.csv": csv.Bytes()} {
		for name, change := range changes {
			t.Run(format+" "+name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, format)
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New("VICTIM")}}
				changed := 0
				scrub.OnStaged(&opt, func(f *os.File) { changed++; change(t, f) })
				sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: dir, Store: &local.Store{Root: dir}}})
				if err != nil {
					t.Fatal(err)
				}
				rs := scrubtest.Results(t, sum)
				if changed != 1 || len(rs) != 1 || rs[0].Status != scrub.Failed {
					t.Fatalf("staged %d times; results %+v", changed, rs)
				}
				t.Logf("%s", rs[0].Error)
				if !strings.Contains(rs[0].Error, "verif") {
					t.Errorf("error %q does not say the verification failed", rs[0].Error)
				}
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
					t.Errorf("the archive changed (%v)", err)
				}
				if es, _ := os.ReadDir(dir); len(es) != 1 {
					t.Errorf("%d entries left in the directory, want the archive alone", len(es))
				}
			})
		}
	}
}
