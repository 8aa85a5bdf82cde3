package datamap_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/datamap"
)

var update = flag.Bool("update", false, "rewrite the golden file testdata/errors.golden")

const good = `[[dataset]]
name = "events"
location = "exports/events"

[[dataset.column]]
name = "Client ID"
type = "client_id"
`

// TestParseErrors checks the message, with file and line, of each kind of
// bad map against testdata/errors.golden.
func TestParseErrors(t *testing.T) {
	cases := []struct{ name, doc string }{
		{"syntax", "[[dataset]]\nname = \"a\n"},
		{"unknown key", good + "colour = \"red\"\n"},
		{"unknown column key", good + "typ = \"x\"\n"},
		{"wrong type", "[[dataset]]\nname = 3\n"},
		{"no dataset", "# nothing\n"},
		{"no name", "[[dataset]]\nlocation = \"x\"\n"},
		{"bad name", "[[dataset]]\nname = \"Events\"\n"},
		{"twice", good + "\n" + good},
		{"no location", "[[dataset]]\nname = \"a\"\n[[dataset.column]]\nname = \"c\"\ntype = \"t\"\n"},
		{"no columns", "[[dataset]]\nname = \"a\"\nlocation = \"x\"\n"},
		{"bad type", strings.Replace(good, `"client_id"`, `"Client ID"`, 1)},
		{"bad stored", good + "stored = \"sha512\"\n"},
		{"missing key file", good + "stored = \"hmac-sha256:no-such.key\"\n"},
		{"bad glob", strings.Replace(good, "location", "include = [\"[\"]\nlocation", 1)},
		{"bad delimiter", strings.Replace(good, "location", "delimiter = \"|\"\nlocation", 1)},
		{"column twice", good + "\n[[dataset.column]]\nname = \"client id\"\ntype = \"x\"\n"},
		{"one part", good + "\n[[dataset.composite]]\ntype = \"pair\"\nparts = [ { column = \"a\", type = \"b\" } ]\n"},
		{"part type twice", good + "\n[[dataset.composite]]\ntype = \"pair\"\nparts = [\n  { column = \"a\", type = \"b\" },\n  { column = \"c\", type = \"b\" },\n]\n"},
		{"composite type is a column's", good + "\n[[dataset.composite]]\ntype = \"client_id\"\nparts = [\n  { column = \"a\", type = \"b\" },\n  { column = \"c\", type = \"d\" },\n]\n"},
		{"bad retention", strings.Replace(good, "location", "retention = \"soon\"\nlocation", 1)},
	}
	var out strings.Builder
	for _, c := range cases {
		_, err := datamap.Parse([]byte(c.doc), "map.toml", datamap.Options{Retention: func(s string) error {
			if s != "365d" {
				return errors.New("want a duration like 365d")
			}
			return nil
		}})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		var le *datamap.LineError
		if !errors.As(err, &le) || le.File != "map.toml" {
			t.Errorf("%s: %v is not a LineError of map.toml", c.name, err)
		}
		out.WriteString(c.name + ": " + err.Error() + "\n")
	}
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("errors differ from %s (go test -update to rewrite):\n%s", golden, out.String())
	}
}

// TestParse checks what a good map gives: types, columns by type, a key
// file below the map's directory, the file's hash.
func TestParse(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ip.key"), []byte("00ff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := good + `
[[dataset]]
name = "licences"
location = "s3://bucket/licences/"
delimiter = "tab"

[[dataset.column]]
name = "ip"
type = "ip"
stored = "hmac-sha256:ip.key"

[[dataset.composite]]
type = "host_user"
parts = [
  { column = "user", type = "user_name", stored = "lower,sha256" },
  { column = "host", type = "host" },
]
`
	m, err := datamap.Parse([]byte(doc), filepath.Join(dir, "map.toml"), datamap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Types(), " "); got != "client_id host_user ip" {
		t.Errorf("types %q", got)
	}
	if parts, ok := m.Composite("host_user"); !ok || strings.Join(parts, " ") != "host user_name" {
		t.Errorf("parts of host_user: %v %v", parts, ok)
	}
	if cs := m.Columns("ip"); len(cs) != 1 || cs[0].Dataset.Name != "licences" || cs[0].Column.Transform.String() != "hmac-sha256" {
		t.Errorf("columns of ip: %+v", cs)
	}
	if d := m.Dataset("licences"); d.Delimiter != '\t' || d.Line != 9 || !d.Holds("host_user") || d.Holds("client_id") {
		t.Errorf("licences: %+v", d)
	}
	if len(m.SHA256) != 64 {
		t.Errorf("SHA256 %q", m.SHA256)
	}
}

// TestReadTuples checks the tuple file of a composite type.
func TestReadTuples(t *testing.T) {
	parts := []string{"host", "user_name"}
	got, err := datamap.ReadTuples(strings.NewReader("# pairs\nuser_name, host\n\nalice,h1\n bob , h2\n"), "pairs.csv", parts)
	if err != nil || len(got) != 2 || got[0][0] != "h1" || got[0][1] != "alice" || got[1][0] != "h2" || got[1][1] != "bob" {
		t.Fatalf("%q %v", got, err)
	}
	for doc, want := range map[string]string{
		"host\nh1\n":                  "pairs.csv:1: want a header naming each part type once: host,user_name",
		"host,user_name\nh1\n":        "pairs.csv:2: 1 values, want 2 (host,user_name)",
		"host,user_name\nh1,\"x\"\n":  "pairs.csv:2: value 2 is empty or holds a quote or a control character",
		"host,user_name\n":            "pairs.csv: no tuples",
		"host,host\nh1,h2\n":          "pairs.csv:1: want a header naming each part type once: host,user_name",
		"host,user_name\nsecret-h,\n": "pairs.csv:2: value 2 is empty or holds a quote or a control character",
	} {
		_, err := datamap.ReadTuples(strings.NewReader(doc), "pairs.csv", parts)
		if err == nil || !strings.HasSuffix(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: %v, want %s", doc, err, want)
		}
	}
}

// FuzzParse checks that no input makes the parser panic, and that every
// error names the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[[dataset]]\nname = \"a\"\n[[dataset.composite]]\nparts = [{column=\"x\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := datamap.Parse(data, "f.toml", datamap.Options{})
		if err != nil && !strings.HasPrefix(err.Error(), "f.toml") {
			t.Errorf("error without the file: %v", err)
		}
	})
}
