package ids

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	set := New("ab12cd", "9F3A41C07B22E8D1", "42", "c4f1e2a0-7d3b-4e5f-9a8b-0c1d2e3f4a5b")
	r := set.Redactor(func(id []byte) string { return "tag-of-" + strings.Repeat("x", 20) + string(id) })
	for _, tt := range []struct{ in, want string }{
		{"exports/client=ab12cd/2017-11-20.csv.gz", "exports/client=[id:tag-of-xxxxx]/2017-11-20.csv.gz"},
		{"DPO-9F3A41C07B22E8D1", "DPO-[id:tag-of-xxxxx]"},
		{"events_9F3A41C07B22E8D1.csv", "events_[id:tag-of-xxxxx].csv"},
		{"9F3A41C07B22E8D1", "[id:tag-of-xxxxx]"},
		{"9F3A41C07B22E8D1x and x9F3A41C07B22E8D1", "9F3A41C07B22E8D1x and x9F3A41C07B22E8D1"}, // inside words
		{"2376158762_cust_2017-11-42.zip", "2376158762_cust_2017-11-[id:tag-of-xxxxx].zip"},
		{"product 2376158742", "product 2376158742"}, // 42 inside a number
		{"u/c4f1e2a0-7d3b-4e5f-9a8b-0c1d2e3f4a5b/x", "u/[id:tag-of-xxxxx]/x"},
		{"ab12cd/ab12cd", "[id:tag-of-xxxxx]/[id:tag-of-xxxxx]"},
		{"é42é", "é42é"}, // not on its own between letters
		{"", ""},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := set.Redactor(nil).String("a/ab12cd"); got != "a/[listed ID]" {
		t.Errorf("without tags: %q", got)
	}
	// A digest set redacts the hex of its digests, in either case.
	tr, err := ParseTransform("sha256")
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Set(New("alice"))
	var hexID string
	d.Each(func(id string) { hexID = id })
	if got := d.Redactor(nil).String("u=" + strings.ToUpper(hexID)); got != "u=[listed ID]" {
		t.Errorf("digest: %q", got)
	}
}

func TestRedactingWriter(t *testing.T) {
	var out bytes.Buffer
	w := New("9F3A41C07B22E8D1").Redactor(nil).Writer(&out)
	for _, p := range []string{"erased a/9F3A41C0", "7B22E8D1.csv: 3 rows\n", "progress 9F3A41C07B22E8D1\r", "last 9F3A41C07B22E8D1"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "erased a/[listed ID].csv: 3 rows\nprogress [listed ID]\rlast [listed ID]"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestRedactJSON: an ID that JSON spells otherwise (a backslash, &, <, >)
// is found in a JSON document too.
func TestRedactJSON(t *testing.T) {
	r := New(`CORP\jdoe`, "smith&sons", "a<b>").Redactor(nil)
	for _, id := range []string{`CORP\jdoe`, "smith&sons", "a<b>"} {
		line, _ := json.Marshal(map[string]string{"key": "x/" + id + "/y.csv", "ticket": id})
		got := string(r.Bytes(line))
		if strings.Contains(got, id) || strings.Count(got, "[listed ID]") != 2 {
			t.Errorf("%s: %s", id, got)
		}
		if raw := r.String("x/" + id); raw != "x/[listed ID]" {
			t.Errorf("%s raw: %s", id, raw)
		}
	}
}

// TestKeepsTags: when KeepsTags says so, redacting a log line that lists
// tags gives the same bytes as redacting what is around the list and
// leaving the list as it is; lists that hold IDs of 64 bytes, quotes or
// commas say otherwise (an ID that is a whole tag is redacted in it).
func TestKeepsTags(t *testing.T) {
	tag := strings.Repeat("0123456789abcdef", 4)
	other := strings.Repeat("fedcba9876543210", 4)
	list := `"` + tag + `","` + other + `","` + tag + `"`
	head, tail := `{"seq":3,"prev":"`+other+`","type":"ids","note":"client=ab12cd, 42","tags":[`, `],"end":"9F3A41C07B22E8D1"}`
	for _, tt := range []struct {
		name  string
		ids   []string
		keeps bool
	}{
		{"short IDs", []string{"ab12cd", "9F3A41C07B22E8D1", "42", "0123", "def"}, true},
		{"UUIDs", []string{"c4f1e2a0-7d3b-4e5f-9a8b-0c1d2e3f4a5b", "01234567-89ab-cdef-0123-456789abcdef"}, true},
		{"an ID that is a tag", []string{"ab12cd", tag}, false},
		{"a digest list", []string{other}, false},
		{"a quote", []string{`a"b`, "ab12cd"}, false},
		{"a comma", []string{`,`, "ab12cd"}, false},
		{"an ID of 64 bytes, escaped", []string{strings.Repeat("<", 10) + strings.Repeat("x", 4)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.ids...).Redactor(func(id []byte) string { return "tag-of-" + string(id) })
			if got := r.KeepsTags(); got != tt.keeps {
				t.Fatalf("KeepsTags() = %v, want %v", got, tt.keeps)
			}
			whole := string(r.Bytes([]byte(head + list + tail)))
			split := string(r.Bytes([]byte(head))) + list + string(r.Bytes([]byte(tail)))
			if tt.keeps && whole != split {
				t.Errorf("redacted whole:\n%s\nredacted around the list:\n%s", whole, split)
			}
			if !tt.keeps && strings.Contains(tt.name, "tag") && !strings.Contains(whole, "[id:") {
				t.Errorf("the ID that is a tag was not redacted: %s", whole)
			}
		})
	}
}
