package cli_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestNothingSkippedInSilence is the rule behind issue 16 as a property:
// for random trees of the entries found beside real exports (CSV named
// or not as such, hidden files and directories, zip members of any name,
// JSON and checksum lists, prose, empty files, broken CSV, symbolic
// links, named pipes, hard links inside and outside the source), after an
// erase every regular file and zip member below the source either was
// read and holds no listed ID (erased or unchanged), or is named in the
// summary, in --json and in the signed log with another status and a
// reason. And nothing scrub did not remove is lost: an entry not erased
// is byte for byte what it was, a hard link outside the source too, and
// an erased file keeps every row that is not a listed ID's.
func TestNothingSkippedInSilence(t *testing.T) {
	t.Parallel()
	runs := 12
	if testing.Short() {
		runs = 3
	}
	for i := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(i), 16))
			tr := buildTree(t, rng)
			a := scrubtest.NewAudit(t)
			out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--json", tr.root})...)
			if out.stdout == "" {
				t.Fatalf("no summary: %v\n%s", out.err, out.stderr)
			}
			sum := summary(t, out.stdout)
			logged := loggedArchives(t, a.Dir)
			tr.check(t, sum, logged, out.stderr)
		})
	}
}

// tree is a random directory of entries, and what each was.
type tree struct {
	root    string
	before  map[string][]byte // regular files below root, by path
	outside map[string][]byte // hard links outside root, by path
	special map[string]string // non-regular entries: what they are
	// linked are files with listed rows that have another name outside
	// the source: replacing them by rename would leave the rows there.
	linked map[string]bool
}

const ruleHeader = "Timestamp,Client ID,Value\n"

// rows returns CSV rows, some of a listed ID when listed is set.
func rows(rng *rand.Rand, listed bool) string {
	var b strings.Builder
	n := 1 + rng.IntN(6)
	for j := range n {
		id := fmt.Sprintf("AA%014X", rng.Uint64()>>8)
		if listed && (j == 0 || rng.IntN(3) == 0) {
			id = scrubtest.Victims[rng.IntN(len(scrubtest.Victims))]
		}
		fmt.Fprintf(&b, "2017-11-2%dT10:00:00Z,%s,v%d\n", rng.IntN(9), id, j)
	}
	return b.String()
}

// content returns the bytes of one kind of file.
func content(t *testing.T, rng *rand.Rand, kind string) []byte {
	switch kind {
	case "csv":
		return []byte(ruleHeader + rows(rng, rng.IntN(2) == 0))
	case "gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(ruleHeader + rows(rng, rng.IntN(2) == 0)))
		zw.Close()
		return b.Bytes()
	case "zip":
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		names := []string{"events.csv", "data.txt", "events", "export.tsv", "README.txt", "manifest.json", "sub/more.csv"}
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for _, name := range names[:1+rng.IntN(len(names))] {
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			switch name {
			case "README.txt":
				fmt.Fprintf(w, "Exported for %s by the analytics platform.\n", scrubtest.Victims[0])
			case "manifest.json":
				fmt.Fprintf(w, "{\"files\": [\"events.csv\"], \"rows\": %d}\n", rng.IntN(100))
			default:
				w.Write([]byte(ruleHeader + rows(rng, rng.IntN(2) == 0)))
			}
		}
		zw.Close()
		return b.Bytes()
	case "json":
		return []byte(`{"export": "2376158762", "files": 3}` + "\n")
	case "sums":
		return []byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.csv.gz\n")
	case "prose":
		return []byte("Notes on this export.\nNothing here is a table.\n")
	case "broken":
		return []byte(ruleHeader + "2017-11-20T10:00:00Z,\"" + scrubtest.Victims[1] + ",v\"x\n")
	case "empty":
		return nil
	case "clean":
		return []byte(ruleHeader + rows(rng, false))
	}
	t.Fatalf("kind %s", kind)
	return nil
}

func buildTree(t *testing.T, rng *rand.Rand) *tree {
	base := t.TempDir()
	tr := &tree{root: filepath.Join(base, "data"), before: map[string][]byte{}, outside: map[string][]byte{}, special: map[string]string{}, linked: map[string]bool{}}
	dirs := []string{"", "daily", ".cache", "monthly/.hidden", "deep/er"}
	names := map[string][]string{
		"csv":    {"a.csv", "events", ".late.csv", "export.txt"},
		"gzip":   {"b.csv.gz", "c.gz", ".x.csv.gz"},
		"zip":    {"d.zip", "e.ZIP", "bundle"},
		"json":   {"manifest.json"},
		"sums":   {"SHA256SUMS"},
		"prose":  {"README", "notes.txt"},
		"broken": {"broken.csv"},
		"empty":  {"empty.csv"},
		"clean":  {"clean.csv"},
	}
	kinds := []string{"csv", "gzip", "zip", "json", "sums", "prose", "broken", "empty", "clean"}
	put := func(p string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var regular []string
	for range 4 + rng.IntN(8) {
		kind := kinds[rng.IntN(len(kinds))]
		ns := names[kind]
		p := filepath.Join(tr.root, dirs[rng.IntN(len(dirs))], fmt.Sprintf("%d-%s", len(tr.before), ns[rng.IntN(len(ns))]))
		if strings.HasPrefix(filepath.Base(p), fmt.Sprintf("%d-.", len(tr.before))) {
			// keep hidden names hidden
			p = filepath.Join(filepath.Dir(p), "."+strings.Replace(filepath.Base(p), "-.", "-", 1))
		}
		data := content(t, rng, kind)
		put(p, data)
		tr.before[p] = data
		regular = append(regular, p)
	}
	// Entries that are not regular files, and hard links.
	if rng.IntN(2) == 0 {
		p := filepath.Join(tr.root, "link-inside.csv")
		if err := os.Symlink(regular[0], p); err != nil {
			t.Fatal(err)
		}
		tr.special[p] = "symlink"
	}
	if rng.IntN(2) == 0 {
		target := filepath.Join(base, "outside.csv")
		put(target, []byte(ruleHeader+rows(rng, true)))
		p := filepath.Join(tr.root, "daily", "link-outside.csv")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		tr.special[p] = "symlink"
		tr.outside[target] = mustRead(t, target)
	}
	if rng.IntN(2) == 0 {
		p := filepath.Join(tr.root, "pipe.csv")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		tr.special[p] = "fifo"
	}
	if rng.IntN(2) == 0 {
		// A second name of a file with listed rows, outside the source.
		p := filepath.Join(tr.root, "linked.csv")
		data := []byte(ruleHeader + rows(rng, true))
		put(p, data)
		tr.before[p] = data
		out := filepath.Join(base, "other-name.csv")
		if err := os.Link(p, out); err != nil {
			t.Fatal(err)
		}
		tr.outside[out] = data
		tr.linked[p] = true
	}
	if rng.IntN(2) == 0 {
		// Two names of one file, both inside the source.
		p := filepath.Join(tr.root, "twin-a.csv")
		data := []byte(ruleHeader + rows(rng, true))
		put(p, data)
		q := filepath.Join(tr.root, "deep", "twin-b.csv")
		os.MkdirAll(filepath.Dir(q), 0o755)
		if err := os.Link(p, q); err != nil {
			t.Fatal(err)
		}
		tr.before[p], tr.before[q] = data, data
	}
	return tr
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logEntry is an archive event of the signed log.
type logEntry struct {
	Status            string             `json:"status"`
	Reason            string             `json:"reason"`
	Error             string             `json:"error"`
	MembersNotScanned []scrub.MemberNote `json:"members_not_scanned"`
}

// loggedArchives returns the last archive event of each key in the one
// batch in dir, after checking that the batch verifies.
func loggedArchives(t *testing.T, dir string) map[string]logEntry {
	t.Helper()
	batches := scrubtest.Batches(t, dir)
	if len(batches) != 1 {
		t.Fatalf("%d batches", len(batches))
	}
	f, err := os.Open(filepath.Join(dir, batches[0]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]logEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Type string `json:"type"`
			Key  string `json:"key"`
			logEntry
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "archive" {
			out[ev.Key] = ev.logEntry
		}
	}
	return out
}

// streams returns the decompressed streams of a file scrub read: the
// file, a gzip's content, or each zip member by name.
func streams(data []byte) map[string][]byte {
	if r, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if b, err := io.ReadAll(r); err == nil {
			return map[string][]byte{"": b}
		}
	}
	if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err == nil {
		out := map[string][]byte{}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out[f.Name] = b
		}
		return out
	}
	return map[string][]byte{"": data}
}

func holdsListed(b []byte) bool {
	for _, id := range scrubtest.Victims {
		if bytes.Contains(b, []byte(id)) {
			return true
		}
	}
	return false
}

func (tr *tree) check(t *testing.T, sum *scrub.FullSummary, logged map[string]logEntry, stderr string) {
	t.Helper()
	results := map[string]scrub.Result{}
	for _, r := range sum.Archives {
		results[r.Key] = r
	}
	named := func(p, what string) (scrub.Result, bool) {
		r, ok := results[p]
		if !ok {
			t.Errorf("%s (%s): not in --json", p, what)
			return r, false
		}
		l, ok := logged[p]
		if !ok {
			t.Errorf("%s (%s): not in the signed log", p, what)
			return r, false
		}
		if l.Status != string(r.Status) {
			t.Errorf("%s: --json says %s, the log %s", p, r.Status, l.Status)
		}
		if !strings.Contains(stderr, p) && r.Status != scrub.Unchanged {
			t.Errorf("%s (%s, %s): not in the summary", p, what, r.Status)
		}
		return r, true
	}
	err := filepath.WalkDir(tr.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			r, ok := named(p, tr.special[p])
			if ok && (r.Status != scrub.NotScanned || r.Reason == "" || logged[p].Reason == "") {
				t.Errorf("%s (%s): %s %q, want not-scanned with a reason", p, tr.special[p], r.Status, r.Reason)
			}
			return nil
		}
		if strings.Contains(d.Name(), ".scrub-") {
			t.Errorf("%s: a staged file is left", p)
			return nil
		}
		now := mustRead(t, p)
		r, ok := named(p, "file")
		if !ok {
			return nil
		}
		if tr.linked[p] && r.Status == scrub.Erased {
			t.Errorf("%s: erased, while another name of the file outside the source keeps its rows", p)
		}
		switch r.Status {
		case scrub.Erased, scrub.Unchanged:
			notes := map[string]string{}
			for _, m := range r.MembersNotScanned {
				notes[m.Name] = m.Reason
			}
			lnotes := map[string]bool{}
			for _, m := range logged[p].MembersNotScanned {
				lnotes[m.Name] = m.Reason != ""
			}
			for name, b := range streams(now) {
				if _, skipped := notes[name]; skipped {
					if notes[name] == "" || !lnotes[name] {
						t.Errorf("%s: member %s not scanned without a reason in --json and the log", p, name)
					}
					continue
				}
				if holdsListed(b) {
					t.Errorf("%s (%s): member %q still holds a listed ID", p, r.Status, name)
				}
			}
			if r.Status == scrub.Unchanged && !bytes.Equal(now, tr.before[p]) {
				t.Errorf("%s: unchanged, but its bytes changed", p)
			}
			if r.Status == scrub.Erased {
				checkKept(t, p, tr.before[p], now)
			}
		default:
			if r.Reason == "" && r.Error == "" {
				t.Errorf("%s: %s without a reason", p, r.Status)
			}
			if l := logged[p]; l.Reason == "" && l.Error == "" {
				t.Errorf("%s: %s without a reason in the log", p, r.Status)
			}
			if !bytes.Equal(now, tr.before[p]) {
				t.Errorf("%s: %s, but its bytes changed", p, r.Status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range tr.outside {
		if now := mustRead(t, p); !bytes.Equal(now, data) {
			t.Errorf("%s, outside the source, changed", p)
		}
	}
}

// checkKept checks that an erased file keeps every line of every stream
// that does not hold a listed ID.
func checkKept(t *testing.T, p string, before, after []byte) {
	t.Helper()
	was, now := streams(before), streams(after)
	for name, b := range was {
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if line != "" && !holdsListed([]byte(line)) && !strings.Contains(string(now[name]), line) {
				t.Errorf("%s: member %q lost the line %q", p, name, line)
			}
		}
	}
}
