package cli_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestIDsInPaths: listed IDs in the archives' paths (a Hive-style
// partition client=ID), in the ticket and in the ID file's name reach no
// output and no byte of the audit bundle in clear: each is recorded by a
// short form of its tag. A failed archive's error says so too, the bundle
// verifies, and a resumed batch still knows the archives its interrupted
// attempt finished (by their recorded keys).
func TestIDsInPaths(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data := filepath.Join(root, "exports", "client="+scrubtest.Victims[0])
	if err := os.CopyFS(data, os.DirFS(scrubtest.ExportDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "bad-"+scrubtest.Victims[2]+".csv"), []byte("Client ID,v\n\"x,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := os.ReadFile(scrubtest.IDsFile)
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "request-"+scrubtest.Victims[1]+".txt")
	if err := os.WriteFile(list, ids, 0o600); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	args := a.WithAudit([]string{"erase", "--ids", list, "--ticket", "DPO-17 " + scrubtest.Victims[0], "--no-progress", "--json", "--jobs", "1", filepath.Join(root, "exports")})
	out := runPlain(t, nil, args...) // checks stdout, stderr and the error for the IDs
	if out.err == nil || !strings.Contains(out.err.Error(), "1 of 15 archives failed") {
		t.Fatalf("erase: %v\n%s", out.err, out.stderr)
	}
	for _, want := range []string{"client=[id:", "bad-[id:"} {
		if !strings.Contains(out.stderr, want) || !strings.Contains(out.stdout, want) {
			t.Errorf("the outputs lack %q:\n%s", want, out.stderr)
		}
	}
	scrubtest.CheckNoIDs(t, a.Dir)
	if v := runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir); v.err != nil {
		t.Errorf("verify: %v\n%s", v.err, v.stdout)
	}

	// As if killed after its first archives: the journal cut after the
	// third archive event. The resumed run skips those three.
	b := scrubtest.Batches(t, a.Dir)[0]
	raw, err := os.ReadFile(filepath.Join(a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	var keep strings.Builder
	for n := 0; n < 3 && len(lines) > 0; lines = lines[1:] {
		keep.WriteString(lines[0])
		if strings.Contains(lines[0], `"type":"archive"`) {
			n++
		}
	}
	entries, _ := os.ReadDir(a.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), b) {
			os.Remove(filepath.Join(a.Dir, e.Name()))
		}
	}
	if err := os.WriteFile(filepath.Join(a.Dir, b+".journal"), []byte(keep.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out = runPlain(t, nil, args...)
	if !strings.Contains(out.stderr, "3 archives done before") {
		t.Errorf("resume: %v\n%s", out.err, out.stderr)
	}
	if sum := summary(t, out.stdout); len(sum.Archives) != 12 {
		t.Errorf("the resumed run processed %d archives, want the 12 not done before", len(sum.Archives))
	}
	scrubtest.CheckNoIDs(t, a.Dir)
}

// TestExportOtherSubjectInPath: an export answers two subjects from
// archives below client=ID partitions and from a zip member named after
// one of them; neither's archive names the other's ID, in its members'
// names, its manifest's archive keys and streams or the ticket.
func TestExportOtherSubjectInPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, id := range scrubtest.Victims[:2] {
		if err := os.CopyFS(filepath.Join(root, "client="+id), os.DirFS(scrubtest.ExportDir)); err != nil {
			t.Fatal(err)
		}
	}
	// A zip member named after one subject holds rows of both.
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("rows_" + scrubtest.Victims[1] + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "Client ID,v\n%s,1\n%s,2\n", scrubtest.Victims[0], scrubtest.Victims[1])
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data.zip"), zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(list, []byte(strings.Join(scrubtest.Victims[:2], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := scrubtest.NewAudit(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runPlain(t, nil, append([]string{"export", "--ids", list, "--out", out, "--no-progress", "--ticket", "both " + scrubtest.Victims[0] + " " + scrubtest.Victims[1]}, append(a.Flags(), root)...)...)
	if r.err != nil {
		t.Fatalf("export: %v\n%s", r.err, r.stderr)
	}
	k := idKey(t, a)
	for i, id := range scrubtest.Victims[:2] {
		other := scrubtest.Victims[1-i]
		data, err := os.ReadFile(filepath.Join(out, subjectFile(k, id)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if strings.Contains(f.Name, other) || f.Name == "manifest.json" && strings.Contains(string(b), other) {
				t.Errorf("%s's export names %s in %s", id, other, f.Name)
			}
		}
	}
	scrubtest.CheckNoIDs(t, a.Dir)
}
