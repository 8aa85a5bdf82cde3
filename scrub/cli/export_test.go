package cli_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// exportArgs are the arguments of an export of the test IDs with a's keys
// and audit directory.
func exportArgs(a *scrubtest.Audit, out string, more ...string) []string {
	return slices.Concat([]string{"export", "--ids", scrubtest.IDsFile, "--out", out, "--no-progress"}, a.Flags(), more)
}

// idKey reads a test audit's ID key.
func idKey(t *testing.T, a *scrubtest.Audit) *audit.IDKey {
	t.Helper()
	data, err := os.ReadFile(a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, a.IDKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// subjectFile is the name of an ID's export archive.
func subjectFile(k *audit.IDKey, id string) string {
	return "subject-" + k.Tag([]byte(id))[:16] + ".zip"
}

type manifestMember struct {
	Name, Archive, Stream, SHA256 string
	Rows, Size                    int64
}

type exportManifest struct {
	Format   string           `json:"format"`
	Tag      string           `json:"id_hmac"`
	Batch    string           `json:"audit_batch"`
	Ticket   string           `json:"ticket"`
	Rows     int64            `json:"rows"`
	Note     string           `json:"note"`
	Members  []manifestMember `json:"members"`
	Archives []struct {
		Key     string `json:"key"`
		SHA256  string `json:"sha256"`
		Rows    int64  `json:"rows_scanned"`
		Subject int64  `json:"rows_of_subject"`
	} `json:"archives_searched"`
}

// readExport opens an export archive and returns its CSV members by name
// and its decoded manifest, checking that the manifest comes last and
// describes the members.
func readExport(t *testing.T, data []byte) (map[string][]byte, exportManifest) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	members := map[string][]byte{}
	var m exportManifest
	for i, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "manifest.json" {
			if i != len(zr.File)-1 {
				t.Errorf("manifest.json is member %d of %d", i+1, len(zr.File))
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			for _, id := range scrubtest.Listed {
				if bytes.Contains(bytes.ToUpper(b), []byte(id)) {
					t.Errorf("manifest.json holds the listed ID %s", id)
				}
			}
			continue
		}
		members[f.Name] = b
	}
	if m.Format != "scrub-export/1" {
		t.Fatalf("manifest format %q", m.Format)
	}
	var rows int64
	for _, mm := range m.Members {
		sum := sha256.Sum256(members[mm.Name])
		if members[mm.Name] == nil || hex.EncodeToString(sum[:]) != mm.SHA256 || int64(len(members[mm.Name])) != mm.Size {
			t.Errorf("manifest member %s (%d bytes, %s) does not describe the member", mm.Name, mm.Size, mm.SHA256)
		}
		rows += mm.Rows
	}
	if len(m.Members) != len(members) || rows != m.Rows {
		t.Errorf("manifest lists %d members and %d rows (says %d); the archive holds %d members", len(m.Members), rows, m.Rows, len(members))
	}
	return members, m
}

// checkExport checks the archives in out against what the standard
// library finds in src for each test ID, and returns the archives' data
// by file name.
func checkExport(t *testing.T, k *audit.IDKey, src string, zips map[string][]byte) {
	t.Helper()
	if len(zips) != len(scrubtest.Listed) {
		t.Errorf("%d archives, want one per listed ID (%d): %v", len(zips), len(scrubtest.Listed), slices.Sorted(maps.Keys(zips)))
	}
	for _, id := range scrubtest.Listed {
		name := subjectFile(k, id)
		data, ok := zips[name]
		if !ok {
			t.Errorf("no archive %s", name)
			continue
		}
		got, m := readExport(t, data)
		want, n := scrubtest.ExpectedExport(t, src, id)
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("%s: members %v, want %v", name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			for mn, w := range want {
				if !bytes.Equal(got[mn], w) {
					t.Errorf("%s: member %s differs from the oracle's (%d vs %d bytes)", name, mn, len(got[mn]), len(w))
				}
			}
		}
		if m.Rows != int64(n) || m.Tag != k.Tag([]byte(id)) || len(m.Archives) != 14 {
			t.Errorf("%s: manifest says %d rows of %s in %d archives searched, want %d rows, 14 archives", name, m.Rows, m.Tag, len(m.Archives), n)
		}
		if n == 0 && (len(got) != 0 || !strings.Contains(m.Note, "No row")) {
			t.Errorf("%s: a subject without rows: %d members, note %q", name, len(got), m.Note)
		}
		if slices.Contains(scrubtest.Victims, id) && n == 0 {
			t.Errorf("degenerate test data: no rows of a victim")
		}
	}
}

// readDir reads the regular files of a directory by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

type exportEvent struct {
	Type string `json:"type"`
	Data struct {
		Key      string   `json:"key"`
		SHA256   string   `json:"sha256"`
		Rows     int64    `json:"rows_scanned"`
		Exported int64    `json:"rows_exported"`
		Tags     []string `json:"id_hmacs"`
		Error    string   `json:"error"`
		Tag      string   `json:"id_hmac"`
		File     string   `json:"file"`
		Size     int64    `json:"size"`
		Total    int64    `json:"rows"`
	} `json:"data"`
	Command string `json:"command"`
	Result  string `json:"result"`
}

func readEvents(t *testing.T, dir string) map[string][]exportEvent {
	t.Helper()
	batches := scrubtest.Batches(t, dir)
	if len(batches) != 1 {
		t.Fatalf("%d audit batches, want 1", len(batches))
	}
	f, err := os.Open(filepath.Join(dir, batches[0]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]exportEvent{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev exportEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.Type] = append(out[ev.Type], ev)
	}
	return out
}

func TestExport(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	k := idKey(t, a)
	src := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, src)
	out := filepath.Join(t.TempDir(), "out")
	res := runPlain(t, nil, exportArgs(a, out, "--ticket", "DPO-2017-0412", "--jobs", "3", src)...)
	if res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
	zips := readDir(t, out)
	checkExport(t, k, src, zips)
	for name, data := range zips {
		for _, id := range scrubtest.Listed {
			if strings.Contains(strings.ToUpper(name), id) {
				t.Errorf("file name %s holds a listed ID", name)
			}
		}
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; an archive of personal data is 0600", name, err, fi.Mode())
		}
		_, m := readExport(t, data)
		if m.Ticket != "DPO-2017-0412" || m.Batch != scrubtest.Batches(t, a.Dir)[0] {
			t.Errorf("%s: manifest ticket %q, batch %q", name, m.Ticket, m.Batch)
		}
	}
	// Standard output names each ID by its line: ids.txt has them on
	// lines 2, 4, 5 and 6.
	for i, line := range []string{"2", "4", "5", "6"} {
		want := scrubtest.IDsFile + ":" + line + "  " + subjectFile(k, scrubtest.Listed[i]) + "  "
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout has no line %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, subjectFile(k, scrubtest.Listed[3])+"  no rows found") {
		t.Errorf("stdout does not say that the last ID has no rows:\n%s", res.stdout)
	}

	// The audit log: the command, one event per archive with the hash of
	// what was read, one per archive written with its hash.
	scrubtest.CheckNoIDs(t, a.Dir)
	ev := readEvents(t, a.Dir)
	if start := ev["batch_start"]; len(start) != 1 || start[0].Command != "export" {
		t.Errorf("batch_start %+v", start)
	}
	if end := ev["batch_end"]; len(end) != 1 || end[0].Result != "complete" {
		t.Errorf("batch_end %+v", end)
	}
	if len(ev["export_archive"]) != len(before)-2 { // the snapshot holds the directory and monthly/
		t.Errorf("%d export_archive events for %d archives", len(ev["export_archive"]), len(before)-2)
	}
	var exported int64
	for _, e := range ev["export_archive"] {
		rel, _ := filepath.Rel(src, e.Data.Key)
		if e.Data.SHA256 != sha256File(t, e.Data.Key) || e.Data.Error != "" || e.Data.Rows == 0 {
			t.Errorf("export_archive %s: %+v", rel, e.Data)
		}
		if (e.Data.Exported == 0) != (len(e.Data.Tags) == 0) || (rel == scrubtest.Unchanged) != (e.Data.Exported == 0) {
			t.Errorf("export_archive %s: %d rows exported, of %d IDs", rel, e.Data.Exported, len(e.Data.Tags))
		}
		exported += e.Data.Exported
	}
	files := ev["export_file"]
	if len(files) != len(scrubtest.Listed) {
		t.Fatalf("%d export_file events", len(files))
	}
	var rows int64
	for _, e := range files {
		sum := sha256.Sum256(zips[e.Data.File])
		if e.Data.File != "subject-"+e.Data.Tag[:16]+".zip" || hex.EncodeToString(sum[:]) != e.Data.SHA256 || int64(len(zips[e.Data.File])) != e.Data.Size {
			t.Errorf("export_file %+v does not describe the archive written", e.Data)
		}
		rows += e.Data.Total
	}
	if rows != exported || rows == 0 {
		t.Errorf("%d rows in the archives, %d exported from the sources", rows, exported)
	}
	v := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
	if v.err != nil || !strings.Contains(v.stdout, "1/1 batches valid") {
		t.Errorf("verify: %v\n%s", v.err, v.stdout)
	}

	// A second export to the same place overwrites nothing, and reads
	// nothing: no batch either.
	res = runPlain(t, nil, exportArgs(a, out, src)...)
	if res.err == nil || !strings.Contains(res.err.Error(), "exists") || !strings.Contains(res.err.Error(), scrubtest.IDsFile+":2") {
		t.Errorf("export over an earlier one: %v", res.err)
	}
	if again := readDir(t, out); !maps.EqualFunc(again, zips, bytes.Equal) {
		t.Errorf("the earlier export's archives changed")
	}
	if n := len(scrubtest.Batches(t, a.Dir)); n != 1 {
		t.Errorf("%d batches after a refused export", n)
	}
}

// TestExportFailures checks that an export that cannot read an archive in
// full fails naming it, leaves no archive and no spool behind, and has its
// failure on record.
func TestExportFailures(t *testing.T) {
	for _, tt := range []struct {
		name, bad string
		write     func(t *testing.T, dir string)
		want      string
	}{
		{name: "truncated gzip", bad: "bad.csv.gz", write: func(t *testing.T, dir string) { scrubtest.Corrupt(t, dir, "bad.csv.gz") },
			want: "bad.csv.gz: gzip: truncated"},
		{name: "no ID column", bad: "other.csv", write: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "other.csv"), []byte("a,b\n1,2\n"), 0o644)
		}, want: "other.csv: line 1, column 1: no ID column"},
		{name: "bad quote", bad: "monthly/quote.csv", write: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "monthly", "quote.csv"), []byte("Client ID,v\n9F3A41C07B22E8D1,1\nx\"y,2\n"), 0o644)
		}, want: "quote.csv: line 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := scrubtest.NewAudit(t)
			src := scrubtest.CopyExport(t)
			tt.write(t, src)
			before := scrubtest.Snapshot(t, src)
			out := filepath.Join(t.TempDir(), "out")
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			res := runPlain(t, nil, exportArgs(a, out, "--jobs", "1", src)...)
			if res.err == nil || !strings.Contains(res.err.Error(), tt.want) {
				t.Fatalf("err = %v, want one with %q", res.err, tt.want)
			}
			scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
			if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
				t.Errorf("a failed export left %d files in --out", len(ents))
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("a failed export left %s in the temporary directory", ents[0].Name())
			}
			scrubtest.CheckNoIDs(t, a.Dir)
			ev := readEvents(t, a.Dir)
			if end := ev["batch_end"]; len(end) != 1 || end[0].Result != "failed" {
				t.Errorf("batch_end %+v", end)
			}
			failed := false
			for _, e := range ev["export_archive"] {
				failed = failed || strings.HasSuffix(e.Data.Key, tt.bad) && e.Data.Error != ""
			}
			if !failed || len(ev["export_file"]) != 0 {
				t.Errorf("the log does not show %s failing, or shows archives written", tt.bad)
			}
			v := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir)
			if v.err != nil || !strings.Contains(v.stdout, "1/1 batches valid") {
				t.Errorf("verify: %v\n%s", v.err, v.stdout)
			}
		})
	}
}

func TestExportUsage(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no ids", []string{"export", "--out", out, src}, "--ids FILE is required"},
		{"no out", []string{"export", "--ids", scrubtest.IDsFile, src}, "--out DIR"},
		{"no source", []string{"export", "--ids", scrubtest.IDsFile, "--out", out}, "no SOURCE"},
		{"no keys", []string{"export", "--ids", scrubtest.IDsFile, "--out", out, "--audit", a.Dir, src}, "needs a key"},
		{"no id key", []string{"export", "--ids", scrubtest.IDsFile, "--out", out, "--key", a.Key, "--audit", a.Dir, src}, "needs an ID key"},
		{"out in source", exportArgs(a, filepath.Join(src, "answers"), src), "overlap"},
		{"source in out", exportArgs(a, filepath.Dir(src), src), "overlap"},
		{"out is the audit dir", exportArgs(a, a.Dir, src), "overlap"},
		{"bad out", exportArgs(a, "ftp://host/x", src), "only local paths and s3://"},
		{"bad glob", exportArgs(a, out, "--include", "[", src), "pattern"},
		{"dry run is erase's", exportArgs(a, out, "--dry-run", src), "flag provided but not defined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runPlain(t, nil, tt.args...)
			if !isUsage(res.err) || !strings.Contains(res.err.Error(), tt.want) {
				t.Errorf("err = %v, want a usage error with %q", res.err, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused export created --out")
	}
	if n := len(scrubtest.Batches(t, a.Dir)); n != 0 {
		t.Errorf("%d batches after refused exports", n)
	}
	help := runPlain(t, nil, "export", "--help")
	if !strings.Contains(help.stderr, "--out DIR") || !strings.Contains(help.stderr, "--id-key") {
		t.Errorf("export --help:\n%s", help.stderr)
	}
}
