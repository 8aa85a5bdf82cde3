package cli_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// The generated estate of three datasets: custom events (zip, "Client
// ID"), exceptions (gzip, ';'-separated, "clientId") and a licence register
// (plain CSV) that stores hashed user names (lower,sha256), host names
// (sha256, some rows in upper-case hex) and IP addresses (HMAC-SHA256),
// with a composite host + user name identifier.
//
// Each row is kept in clear beside what is written, so that the test's
// own filter, on the clear values, says which rows must remain: the
// production filter is checked against it byte for byte.

// estateRow is one row of the estate, with the clear identifiers it holds.
type estateRow struct {
	client, user, host, ip string
	line                   string // the CSV record, without its line break
}

// estateFile is one archive of the estate.
type estateFile struct {
	dataset string
	path    string // below the estate's root
	header  string
	rows    []estateRow
}

const ipKeyHex = "8f1c2a7d5e3b90461f2e8a7c6d5b4a3928171605f4e3d2c1b0a9988776655443"

func estateSHA(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func estateHMAC(s string) string {
	key, _ := hex.DecodeString(ipKeyHex)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// genEstate draws the estate's archives, the same for every run.
func genEstate() []*estateFile {
	r := rand.New(rand.NewPCG(20, 1))
	pick := func(pool []string) string { return pool[r.IntN(len(pool))] }
	var clients, users, hosts, ips []string
	for i := range 12 {
		clients = append(clients, fmt.Sprintf("%08X-C11E-4D00-8000-%012d", 0xA0+i, i))
	}
	for i := range 8 {
		users = append(users, fmt.Sprintf("User.%c%d", 'A'+i, i))
		hosts = append(hosts, fmt.Sprintf("host-%d.corp.example", i))
		ips = append(ips, fmt.Sprintf("192.0.2.%d", 10+i))
	}
	hosts = hosts[:5]
	var files []*estateFile
	for day := 1; day <= 3; day++ {
		f := &estateFile{dataset: "custom-events", path: fmt.Sprintf("events/2376158762_cust_2017-11-%02d.zip", day),
			header: "Timestamp,Client ID,Edition,Custom Values"}
		for i := range 40 {
			c := pick(clients)
			f.rows = append(f.rows, estateRow{client: c,
				line: fmt.Sprintf(`2017-11-%02d 10:%02d:00,%s,Pro,"(Plan,%s)&&(Seats,%d)"`, day, i, c, pick([]string{"a", "b"}), i)})
		}
		files = append(files, f)
		g := &estateFile{dataset: "exceptions", path: fmt.Sprintf("exceptions/2376158762_exc_2017-11-%02d.csv.gz", day),
			header: "time;clientId;message"}
		for i := range 30 {
			c := pick(clients)
			g.rows = append(g.rows, estateRow{client: c, line: fmt.Sprintf(`2017-11-%02dT09:%02d:00Z;%s;"failed; code %d"`, day, i, c, i)})
		}
		files = append(files, g)
	}
	for year := 2024; year <= 2025; year++ {
		f := &estateFile{dataset: "licences", path: fmt.Sprintf("licences/register-%d.csv", year),
			header: "issued,user_sha256,host_sha256,ip_hmac,edition"}
		for i := range 50 {
			u, h, ip := pick(users), pick(hosts), pick(ips)
			hh := estateSHA(h)
			if i%3 == 0 {
				hh = strings.ToUpper(hh) // some writers store upper-case hex
			}
			f.rows = append(f.rows, estateRow{user: u, host: h, ip: ip,
				line: fmt.Sprintf("%d-03-%02d,%s,%s,%s,Team", year, 1+i%28, estateSHA(strings.ToLower(u)), hh, estateHMAC(ip))})
		}
		files = append(files, f)
	}
	return files
}

// csv is the file's CSV content with only the rows keep keeps.
func (f *estateFile) csv(keep func(estateRow) bool) []byte {
	var b bytes.Buffer
	b.WriteString(f.header + "\r\n")
	for _, r := range f.rows {
		if keep(r) {
			b.WriteString(r.line + "\r\n")
		}
	}
	return b.Bytes()
}

// write writes the file below root, in its format.
func (f *estateFile) write(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, f.path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	data := f.csv(func(estateRow) bool { return true })
	var b bytes.Buffer
	switch {
	case strings.HasSuffix(p, ".zip"):
		zw := zip.NewWriter(&b)
		w, _ := zw.Create(strings.TrimSuffix(filepath.Base(p), ".zip") + ".csv")
		w.Write(data)
		zw.Close()
	case strings.HasSuffix(p, ".gz"):
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
	default:
		b.Write(data)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// content reads the CSV content of the file's archive below root.
func (f *estateFile) content(t *testing.T, root string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, f.path))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(f.path, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil || len(zr.File) != 1 {
			t.Fatalf("%s: %v (%d members)", f.path, err, len(zr.File))
		}
		rc, err := zr.File[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		r = rc
	case strings.HasSuffix(f.path, ".gz"):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		r = bytes.NewReader(data)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", f.path, err)
	}
	return out
}

// estateMap is the estate's data map (the key file is beside it).
const estateMap = `# The estate of TestDataMapEstate.
[[dataset]]
name = "custom-events"
location = "events"
include = ["*_cust_*.zip"]

[[dataset.column]]
name = "Client ID"
type = "client_id"

[[dataset]]
name = "exceptions"
location = "exceptions"
delimiter = ";"

[[dataset.column]]
name = "clientId"
type = "client_id"

[[dataset]]
name = "licences"
location = "licences"
time_column = "issued"
retention = "365d"

[[dataset.column]]
name = "user_sha256"
type = "user_name"
stored = "lower,sha256"

[[dataset.column]]
name = "ip_hmac"
type = "ip"
stored = "hmac-sha256:ip.key"

[[dataset.composite]]
type = "host_user"
parts = [
  { column = "host_sha256", type = "host", stored = "sha256" },
  { column = "user_sha256", type = "user_name", stored = "lower,sha256" },
]
`

// TestDataMapEstate erases, one request per identifier type, from the
// generated estate of three datasets, and checks every archive's content
// byte for byte against the test's own filter on the clear values.
func TestDataMapEstate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := genEstate()
	for _, f := range files {
		f.write(t, root)
	}
	mapFile := filepath.Join(root, "datamap.toml")
	if err := os.WriteFile(mapFile, []byte(estateMap), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ip.key"), []byte(ipKeyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lists := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(lists, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Some of each pool, and one of each that is in no row.
	byClient := map[string]bool{files[0].rows[0].client: true, files[1].rows[3].client: true, "FFFFFFFF-0000-0000-0000-000000000000": true}
	lic := files[len(files)-1].rows
	byUser := map[string]bool{lic[0].user: true}
	byIP := map[string]bool{lic[1].ip: true, lic[7].ip: true}
	type pair struct{ host, user string }
	byPair := map[pair]bool{{lic[2].host, lic[2].user}: true, {lic[5].host, lic[5].user}: true}
	requests := []struct {
		typ, file string
		drops     func(estateRow) bool
		read      []string // the datasets read
	}{
		{"client_id", write("clients.txt", strings.Join(slices.Sorted(maps.Keys(byClient)), "\n")),
			func(r estateRow) bool { return byClient[r.client] }, []string{"custom-events", "exceptions"}},
		// The map stores lower-cased user names' digests: a request in
		// another case matches.
		{"user_name", write("users.txt", strings.ToUpper(lic[0].user)+"\n"),
			func(r estateRow) bool { return r.user != "" && byUser[r.user] }, []string{"licences"}},
		{"ip", write("ips.txt", strings.Join(slices.Sorted(maps.Keys(byIP)), "\n")),
			func(r estateRow) bool { return byIP[r.ip] }, []string{"licences"}},
		// Parts in the other order than the map's: the header says which.
		{"host_user", write("pairs.csv", fmt.Sprintf("user_name,host\n%s,%s\n%s,%s\n", lic[2].user, lic[2].host, lic[5].user, lic[5].host)),
			func(r estateRow) bool { return byPair[pair{r.host, r.user}] }, []string{"licences"}},
	}
	dropped := func(r estateRow, upto int) bool {
		for _, q := range requests[:upto+1] {
			if q.drops(r) {
				return true
			}
		}
		return false
	}
	a := scrubtest.NewAudit(t)
	for i, q := range requests {
		out := runPlain(t, nil, a.WithAudit([]string{"erase", "--map", mapFile, "--ids", q.typ + "=" + q.file, "--json", "--no-progress"})...)
		if out.err != nil {
			t.Fatalf("%s: %v\n%s", q.typ, out.err, out.stderr)
		}
		var res struct {
			Archives []struct {
				Key, Status, Dataset string
				RowsRemoved          int64 `json:"rows_removed"`
			} `json:"archives"`
			Datasets []struct {
				Name string
				Read bool
			} `json:"datasets"`
			Audit        struct{ Batch string } `json:"audit"`
			IDsUnmatched *int                   `json:"ids_unmatched"`
		}
		if err := json.Unmarshal([]byte(out.stdout), &res); err != nil {
			t.Fatal(err)
		}
		// The client_id list holds one ID in no row, each other list none.
		if wantUnmatched := boolInt(q.typ == "client_id"); res.IDsUnmatched == nil || *res.IDsUnmatched != wantUnmatched {
			t.Errorf("%s: ids_unmatched %v, want %d", q.typ, res.IDsUnmatched, wantUnmatched)
		} else if wantUnmatched > 0 && !strings.Contains(out.stderr, "client_id (clear): 1 of 3") {
			t.Errorf("%s: no hint about the unmatched ID:\n%s", q.typ, out.stderr)
		}
		var read []string
		for _, d := range res.Datasets {
			if d.Read {
				read = append(read, d.Name)
			} else if !strings.Contains(out.stderr, "dataset "+d.Name+" ") || !strings.Contains(out.stderr, "not read") {
				t.Errorf("%s: the summary does not say dataset %s is not read:\n%s", q.typ, d.Name, out.stderr)
			}
		}
		if !slices.Equal(read, q.read) {
			t.Errorf("%s: datasets read %v, want %v", q.typ, read, q.read)
		}
		removed := map[string]int64{}
		for _, ar := range res.Archives {
			if !slices.Contains(q.read, ar.Dataset) {
				t.Errorf("%s: archive %s of dataset %q", q.typ, ar.Key, ar.Dataset)
			}
			removed[filepath.Base(ar.Key)] = ar.RowsRemoved
		}
		for _, f := range files {
			want := f.csv(func(r estateRow) bool { return !dropped(r, i) })
			if got := f.content(t, root); !bytes.Equal(got, want) {
				t.Errorf("after the %s request, %s holds %d bytes, want %d:\n%s\nwant\n%s", q.typ, f.path, len(got), len(want), got, want)
			}
			if !slices.Contains(q.read, f.dataset) {
				continue
			}
			n := int64(0)
			for _, r := range f.rows {
				if q.drops(r) && (i == 0 || !dropped(r, i-1)) {
					n++
				}
			}
			if removed[filepath.Base(f.path)] != n {
				t.Errorf("%s: %s: %d rows removed, want %d", q.typ, f.path, removed[filepath.Base(f.path)], n)
			}
		}
		// The log records the map's hash and each archive's dataset.
		sum := sha256.Sum256([]byte(estateMap))
		logData, err := os.ReadFile(filepath.Join(a.Dir, res.Audit.Batch+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(logData, []byte(`"map_sha256":"`+hex.EncodeToString(sum[:])+`"`)) {
			t.Errorf("%s: the log does not record the map's SHA-256", q.typ)
		}
		if !bytes.Contains(logData, []byte(`"dataset":"`+q.read[0]+`"`)) {
			t.Errorf("%s: the log does not name the dataset %s", q.typ, q.read[0])
		}
	}
	if out := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir); out.err != nil {
		t.Fatalf("verify: %v\n%s", out.err, out.stderr)
	}
	// Every request dropped some rows of each dataset it read (the
	// test would prove little otherwise).
	for _, q := range requests {
		n := 0
		for _, f := range files {
			for _, r := range f.rows {
				if q.drops(r) {
					n++
				}
			}
		}
		if n == 0 {
			t.Errorf("request %s drops no row of the estate", q.typ)
		}
	}
}

// newEstate writes the generated estate and its map, and returns the map.
func newEstate(t *testing.T, doc string) (root, mapFile string) {
	t.Helper()
	root = t.TempDir()
	for _, f := range genEstate() {
		f.write(t, root)
	}
	mapFile = filepath.Join(root, "datamap.toml")
	if err := os.WriteFile(mapFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ip.key"), []byte(ipKeyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root, mapFile
}

// TestDataMapBadInput checks that a request the map cannot route, a map
// whose datasets overlap, and a column missing in an archive are each a
// clear error, with nothing written.
func TestDataMapBadInput(t *testing.T) {
	t.Parallel()
	ids := writeFile(t, "ids.txt", "FFFFFFFF-0000-0000-0000-000000000000\n")
	overlap := estateMap + "\n[[dataset]]\nname = \"all-events\"\nlocation = \"events\"\n[[dataset.column]]\nname = \"Client ID\"\ntype = \"client_id\"\n"
	missing := strings.Replace(estateMap, `name = "clientId"`, `name = "client_id"`, 1)
	for _, c := range []struct {
		name, doc string
		args      []string
		want      string
		usage     bool
	}{
		{"unknown type", estateMap, []string{"--ids", "email=" + ids}, `holds no identifier of type "email" (it knows client_id, host_user, ip, user_name)`, true},
		{"no type", estateMap, []string{"--ids", ids}, "with --map give TYPE=FILE", true},
		{"source", estateMap, []string{"--ids", "client_id=" + ids, "somewhere"}, "give no SOURCE", true},
		{"column flag", estateMap, []string{"--ids", "client_id=" + ids, "--column", "x"}, "--column goes without --map", true},
		{"index flag", estateMap, []string{"--ids", "client_id=" + ids, "--index", filepath.Join(t.TempDir(), "index")}, "--index goes without --map", true},
		{"bad map", "[[dataset]]\nname = 1\n", []string{"--ids", "client_id=" + ids}, "datamap.toml:2: dataset.name: want a string, not an integer", true},
		{"overlap", overlap, []string{"--ids", "client_id=" + ids}, `is in the datasets "custom-events" and "all-events" of the data map`, false},
		{"missing column", missing, []string{"--ids", "client_id=" + ids}, `missing "client_id"`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, mapFile := newEstate(t, c.doc)
			before := snapshot(t, root)
			out := run(t, nil, append([]string{"erase", "--map", mapFile, "--no-progress"}, c.args...)...)
			var u *cli.UsageError
			switch {
			case out.err == nil:
				t.Fatalf("no error:\n%s", out.stderr)
			case errors.As(out.err, &u) != c.usage:
				t.Errorf("usage error %v, want %v: %v", !c.usage, c.usage, out.err)
			case !strings.Contains(out.err.Error()+out.stderr, c.want):
				t.Errorf("error %v\n%s\nwant %q", out.err, out.stderr, c.want)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("the estate changed")
			}
		})
	}
}

// snapshot returns the SHA-256 of every file below root.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[p] = sha256File(t, p)
		}
		return err
	})
	return out
}

// TestMapCheck checks scrub map check on the estate: a consistent map
// gives the table; a missing column, an archive in two datasets and one in
// none are each named, and the exit is an error.
func TestMapCheck(t *testing.T) {
	t.Parallel()
	root, mapFile := newEstate(t, estateMap)
	out := runPlain(t, nil, "map", "check", mapFile)
	if out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	for _, want := range []string{"DATASET", "custom-events", "licences", "host_user = host_sha256 (host, sha256) + user_sha256 (user_name, lower,sha256)"} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("table without %q:\n%s", want, out.stdout)
		}
	}
	if strings.Contains(out.stdout, "ip.key") || !strings.Contains(out.stdout, "ip_hmac (ip, hmac-sha256)") {
		t.Errorf("the table names the key file, or not the stored form:\n%s", out.stdout)
	}
	if !regexp.MustCompile(`exceptions\s+\S+\s+3\s+3\s+clientId \(client_id, clear\)`).MatchString(out.stdout) {
		t.Errorf("table:\n%s", out.stdout)
	}
	// An archive in no dataset, one in two, a missing column.
	if err := os.WriteFile(filepath.Join(root, "events", "notes.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(estateMap, `name = "clientId"`, `name = "client_id"`, 1) +
		"\n[[dataset]]\nname = \"all-licences\"\nlocation = \"licences\"\n[[dataset.column]]\nname = \"ip_hmac\"\ntype = \"ip\"\n"
	if err := os.WriteFile(mapFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runPlain(t, nil, "map", "check", "--sample", "1", mapFile)
	if out.err == nil {
		t.Fatalf("no error:\n%s", out.stderr)
	}
	for _, want := range []string{
		"notes.csv is in no dataset",
		"register-2024.csv is in the datasets licences and all-licences",
		`dataset exceptions (line 11):`, `missing "client_id"`,
	} {
		if !strings.Contains(out.stderr, want) {
			t.Errorf("no %q in:\n%s", want, out.stderr)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDataMapResume cuts a map-routed batch back to what a run killed
// after its first replacement leaves (the journal up to the first verified
// step, no bundle): the same command takes it up, with each dataset's own
// columns, and the estate ends exactly as one run leaves it.
func TestDataMapResume(t *testing.T) {
	t.Parallel()
	root, mapFile := newEstate(t, estateMap)
	files := genEstate()
	ids := writeFile(t, "ids.txt", files[0].rows[0].client+"\n"+files[1].rows[0].client+"\n")
	drop := map[string]bool{files[0].rows[0].client: true, files[1].rows[0].client: true}
	a := scrubtest.NewAudit(t)
	args := a.WithAudit([]string{"erase", "--map", mapFile, "--ids", "client_id=" + ids, "--no-progress", "--json"})
	if out := runPlain(t, nil, args...); out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	b := scrubtest.Batches(t, a.Dir)[0]
	raw, err := os.ReadFile(filepath.Join(a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.Index(raw, []byte(`"type":"verified"`))
	end += bytes.IndexByte(raw[end:], '\n') + 1
	entries, _ := os.ReadDir(a.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), b) {
			os.Remove(filepath.Join(a.Dir, e.Name()))
		}
	}
	if err := os.WriteFile(filepath.Join(a.Dir, b+".journal"), raw[:end], 0o600); err != nil {
		t.Fatal(err)
	}
	// The archives after the first replaced one were not reached.
	var first struct{ Key string }
	line := raw[bytes.LastIndexByte(raw[:end-1], '\n')+1 : end]
	if err := json.Unmarshal(line, &first); err != nil || first.Key == "" {
		t.Fatalf("verified step %s: %v", line, err)
	}
	for _, f := range files {
		if filepath.Join(root, f.path) != first.Key {
			f.write(t, root)
		}
	}
	out := runPlain(t, nil, args...)
	if out.err != nil || !strings.Contains(out.stderr, "resuming") {
		t.Fatalf("resume: %v\n%s", out.err, out.stderr)
	}
	var res struct {
		Archives []struct{ Key, Status, Dataset string } `json:"archives"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &res); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, f := range files {
		status[filepath.Base(f.path)] = "unchanged"
		if slices.ContainsFunc(f.rows, func(r estateRow) bool { return drop[r.client] }) {
			status[filepath.Base(f.path)] = "erased"
		}
	}
	if len(res.Archives) != 6 {
		t.Errorf("%d archives, want the 6 of the two datasets read", len(res.Archives))
	}
	for _, ar := range res.Archives {
		if ar.Status != status[filepath.Base(ar.Key)] || ar.Dataset == "" ||
			!strings.Contains(ar.Key, "/"+map[string]string{"custom-events": "events", "exceptions": "exceptions"}[ar.Dataset]+"/") {
			t.Errorf("archive %+v, want %s", ar, status[filepath.Base(ar.Key)])
		}
	}
	for _, f := range files {
		if want, got := f.csv(func(r estateRow) bool { return !drop[r.client] }), f.content(t, root); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d", f.path, len(got), len(want))
		}
	}
	if out := runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, a.Dir); out.err != nil {
		t.Fatalf("verify: %v\n%s", out.err, out.stderr)
	}
}

// TestDataMapRetention: with --retention, each dataset with a retention
// loses its rows older than it, read from its own time column, besides
// the request's identifiers; datasets with neither are not read; the log
// records each cutoff.
func TestDataMapRetention(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(estateMap, `retention = "365d"`, `retention = "2025-01-01"`, 1)
	root, mapFile := newEstate(t, doc)
	files := genEstate()
	a := scrubtest.NewAudit(t)

	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--map", mapFile, "--retention", "--no-progress", "--json"})...)
	if out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	for _, want := range []string{"dataset custom-events", "not read", "dataset licences", "rows whose issued is before 2025-01-01T00:00:00Z go (retention 2025-01-01)"} {
		if !strings.Contains(out.stderr, want) {
			t.Errorf("no %q in:\n%s", want, out.stderr)
		}
	}
	kept := func(f *estateFile, r estateRow) bool {
		return f.dataset != "licences" || !strings.HasPrefix(r.line, "2024-")
	}
	for _, f := range files {
		if got, want := f.content(t, root), f.csv(func(r estateRow) bool { return kept(f, r) }); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d", f.path, len(got), len(want))
		}
	}
	b := scrubtest.Batches(t, a.Dir)[0]
	logData, err := os.ReadFile(filepath.Join(a.Dir, b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"retention":[{"cutoff":"2025-01-01T00:00:00Z","dataset":"licences","older_than":"2025-01-01","time_column":"issued"}]`; !bytes.Contains(logData, []byte(want)) {
		t.Errorf("the log does not record %s", want)
	}

	// With identifiers too: every dataset holding client IDs is read.
	ids := writeFile(t, "ids.txt", files[0].rows[0].client+"\n")
	out = runPlain(t, nil, a.WithAudit([]string{"erase", "--map", mapFile, "--retention", "--ids", "client_id=" + ids, "--no-progress"})...)
	if out.err != nil {
		t.Fatalf("%v\n%s", out.err, out.stderr)
	}
	for _, f := range files {
		want := f.csv(func(r estateRow) bool { return kept(f, r) && r.client != files[0].rows[0].client })
		if got := f.content(t, root); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d", f.path, len(got), len(want))
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"erase", "--retention", "--ids", ids, root}, "--retention goes with --map"},
		{[]string{"erase", "--map", mapFile, "--older-than", "30d"}, "--older-than goes without --map"},
	} {
		if out := runPlain(t, nil, a.WithAudit(c.args)...); out.err == nil || !strings.Contains(out.err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, out.err, c.want)
		}
	}
}
