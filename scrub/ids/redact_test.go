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
