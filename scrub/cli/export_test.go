package cli_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/s3store"
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
		{name: "ragged", bad: "other.csv", write: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "other.csv"), []byte("Client ID,b\n1\n"), 0o644)
		}, want: "other.csv: line 2, column 1: wrong number of fields"},
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
		{"s3 out without spool", exportArgs(a, "s3://bucket/answers", src), "--spool DIR is required with an s3:// --out"},
		{"spool with a local out", exportArgs(a, out, "--spool", t.TempDir(), src), "--spool is for an s3:// --out"},
		{"spool on s3", exportArgs(a, "s3://bucket/answers", "--spool", "s3://bucket/spool", src), "--spool must be a local directory"},
		{"spool in source", exportArgs(a, "s3://bucket/answers", "--spool", filepath.Join(src, "spool"), src), "overlap"},
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

// stagingPrefix begins the names of export's staging directories
// (scrub.StagingPrefix, spelt out: the name is what a killed run leaves).
const stagingPrefix = ".scrub-export-staging-"

// liveStaging makes a staging directory in out and holds its lock, as a
// running export does, until the test ends.
func liveStaging(t *testing.T, out string) string {
	t.Helper()
	dir := filepath.Join(out, stagingPrefix+"live")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return dir
}

// killedRun leaves in out what an export killed at some point leaves
// there: its staging directory, with rows spooled, and of the archives of
// a finished export in done (by the same keys) those named in placed,
// linked into place from the staging directory, as the run does.
func killedRun(t *testing.T, out, done string, placed ...string) string {
	t.Helper()
	staging := filepath.Join(out, stagingPrefix+"killed")
	if err := os.MkdirAll(filepath.Join(staging, "spool-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "spool-1", "1.csv"), []byte("Client ID,v\n"+scrubtest.Victims[0]+",1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range placed {
		if err := os.Link(filepath.Join(done, name), filepath.Join(staging, name)); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(staging, name), filepath.Join(out, name)); err != nil {
			t.Fatal(err)
		}
	}
	return staging
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestExportAfterKill runs an export over what a killed run of it left in
// --out: the staging directory is removed, the archives the killed run had
// put in place are replaced (and that is logged), and the export is
// complete. A staging directory that a live run holds is left alone.
func TestExportAfterKill(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	k := idKey(t, a)
	src := scrubtest.CopyExport(t)
	done := filepath.Join(t.TempDir(), "done")
	if res := runPlain(t, nil, exportArgs(a, done, "--audit", t.TempDir(), src)...); res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	first, second := subjectFile(k, scrubtest.Listed[0]), subjectFile(k, scrubtest.Listed[1])
	for _, tt := range []struct {
		name   string
		placed []string // archives the killed run had put in place
		live   bool     // another run holds a staging directory meanwhile
	}{
		{name: "killed while reading"},
		{name: "killed after one archive", placed: []string{first}},
		{name: "killed after two archives", placed: []string{first, second}},
		{name: "beside a live run", placed: []string{first}, live: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			stale := killedRun(t, out, done, tt.placed...)
			live := ""
			if tt.live {
				live = liveStaging(t, out)
			}
			ad := t.TempDir()
			res := runPlain(t, nil, exportArgs(a, out, "--audit", ad, src)...)
			if res.err != nil {
				t.Fatalf("export after a killed run: %v\n%s", res.err, res.stderr)
			}
			if _, err := os.Stat(stale); err == nil {
				t.Errorf("the stale staging directory is left")
			}
			zips := map[string][]byte{}
			for _, name := range entries(t, out) {
				if live != "" && name == filepath.Base(live) {
					continue
				}
				data, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatalf("%s in --out: %v", name, err)
				}
				zips[name] = data
			}
			checkExport(t, k, src, zips)
			batch := scrubtest.Batches(t, ad)[0]
			for name, data := range zips {
				if _, m := readExport(t, data); m.Batch != batch {
					t.Errorf("%s is from batch %s, not this run's %s", name, m.Batch, batch)
				}
			}
			if live != "" {
				if _, err := os.Stat(live); err != nil {
					t.Errorf("the live run's staging directory: %v", err)
				}
			}
			ev := readEvents(t, ad)
			var removed []string
			for _, e := range ev["export_file_removed"] {
				removed = append(removed, e.Data.File)
			}
			if slices.Sort(removed); !slices.Equal(removed, slices.Sorted(slices.Values(tt.placed))) {
				t.Errorf("export_file_removed for %q, want %q", removed, tt.placed)
			}
			if end := ev["batch_end"]; len(end) != 1 || end[0].Result != "complete" {
				t.Errorf("batch_end %+v", end)
			}
		})
	}
}

// TestExportRefusesOthersFiles: a file in --out that no killed export
// left is never overwritten or removed, whatever scrub's staging
// directories hold; and only scrub's own staging directories are removed.
func TestExportRefusesOthersFiles(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	k := idKey(t, a)
	src := scrubtest.CopyExport(t)
	name := subjectFile(k, scrubtest.Listed[0])
	user := []byte("the user's own file\n")
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, out string)
	}{
		{"a file of the same name", func(t *testing.T, out string) {}},
		{"a stale staging directory with another file of the name", func(t *testing.T, out string) {
			staging := filepath.Join(out, stagingPrefix+"killed")
			os.Mkdir(staging, 0o700)
			if err := os.WriteFile(filepath.Join(staging, name), []byte("PK other"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a stale staging directory with a copy, not the file", func(t *testing.T, out string) {
			staging := filepath.Join(out, stagingPrefix+"killed")
			os.Mkdir(staging, 0o700)
			if err := os.WriteFile(filepath.Join(staging, name), user, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			os.MkdirAll(out, 0o755)
			if err := os.WriteFile(filepath.Join(out, name), user, 0o644); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, out)
			ad := t.TempDir()
			res := runPlain(t, nil, exportArgs(a, out, "--audit", ad, src)...)
			if res.err == nil || !strings.Contains(res.err.Error(), name+" exists in") || !strings.Contains(res.err.Error(), "never overwrites") {
				t.Errorf("export over a user's file: %v", res.err)
			}
			if data, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(data, user) {
				t.Errorf("the user's file: %q, %v", data, err)
			}
			if n := len(scrubtest.Batches(t, ad)); n != 0 {
				t.Errorf("%d batches after a refused export", n)
			}
		})
	}

	// Only scrub's own staging directories go: not files of that name,
	// nor other hidden entries.
	out := filepath.Join(t.TempDir(), "out")
	keep := []string{".hidden", "notes.txt", stagingPrefix + "file", ".scrub-export-other"}
	os.MkdirAll(filepath.Join(out, ".hidden"), 0o755)
	os.MkdirAll(filepath.Join(out, ".scrub-export-other"), 0o755)
	os.WriteFile(filepath.Join(out, "notes.txt"), user, 0o644)
	os.WriteFile(filepath.Join(out, stagingPrefix+"file"), user, 0o644)
	if res := runPlain(t, nil, exportArgs(a, out, "--audit", t.TempDir(), src)...); res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	got := entries(t, out)
	for _, n := range keep {
		if !slices.Contains(got, n) {
			t.Errorf("%s was removed from --out", n)
		}
	}
	if len(got) != len(keep)+len(scrubtest.Listed) {
		t.Errorf("--out holds %q", got)
	}
}

// TestExportS3AfterKill: with an s3:// --out, the rows and archives wait
// in a staging directory inside --spool DIR, and nowhere else locally; a
// killed run's archives in the bucket are told by the copy its staging
// directory still holds, and replaced by the re-run, while an object of
// the same name that is not that copy is refused.
func TestExportS3AfterKill(t *testing.T) {
	ep := scrubtest.S3Endpoint(t) // not parallel: it sets $TMPDIR
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-export-kill-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	get := func(key string) []byte {
		t.Helper()
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Body.Close()
		data, err := io.ReadAll(obj.Body)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	a := scrubtest.NewAudit(t)
	k := idKey(t, a)
	src := scrubtest.CopyExport(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	spool := t.TempDir()
	if res := runPlain(t, nil, exportArgs(a, "s3://"+bucket+"/done", "--endpoint", ep, "--spool", spool, "--audit", t.TempDir(), src)...); res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("the export left %s in --spool", ents[0].Name())
	}
	name := subjectFile(k, scrubtest.Listed[0])
	placed := get("done/" + name)

	// A killed run had uploaded one archive.
	staging := filepath.Join(spool, stagingPrefix+"killed")
	os.Mkdir(staging, 0o700)
	if err := os.WriteFile(filepath.Join(staging, name), placed, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(staging, "owner"), []byte("s3://"+bucket+"/out/"), 0o600)
	// And one of another output sharing --spool, which stays.
	another := filepath.Join(spool, stagingPrefix+"another")
	os.Mkdir(another, 0o700)
	os.WriteFile(filepath.Join(another, "owner"), []byte("s3://"+bucket+"/another/"), 0o600)
	put("out/"+name, placed)
	// Elsewhere, an object of that name that the killed run did not put.
	put("other/"+name, []byte("the user's own"))
	res := runPlain(t, nil, exportArgs(a, "s3://"+bucket+"/other", "--endpoint", ep, "--spool", spool, "--audit", t.TempDir(), src)...)
	if res.err == nil || !strings.Contains(res.err.Error(), "never overwrites") {
		t.Errorf("export over a user's object: %v", res.err)
	}
	if got := get("other/" + name); string(got) != "the user's own" {
		t.Errorf("the user's object was overwritten")
	}

	ad := t.TempDir()
	if res := runPlain(t, nil, exportArgs(a, "s3://"+bucket+"/out", "--endpoint", ep, "--spool", spool, "--audit", ad, src)...); res.err != nil {
		t.Fatalf("export after a killed run: %v\n%s", res.err, res.stderr)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("out/")})
	if err != nil {
		t.Fatal(err)
	}
	zips := map[string][]byte{}
	for _, o := range list.Contents {
		zips[strings.TrimPrefix(aws.ToString(o.Key), "out/")] = get(aws.ToString(o.Key))
	}
	checkExport(t, k, src, zips)
	if bytes.Equal(zips[name], placed) {
		t.Errorf("%s is still the killed run's", name)
	}
	if ev := readEvents(t, ad); len(ev["export_file_removed"]) != 1 || ev["export_file_removed"][0].Data.File != name {
		t.Errorf("export_file_removed %+v", ev["export_file_removed"])
	}
	if got := entries(t, spool); !slices.Equal(got, []string{filepath.Base(another)}) {
		t.Errorf("--spool holds %q; want only the other output's staging directory", got)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("%s left in $TMPDIR", ents[0].Name())
	}
}
