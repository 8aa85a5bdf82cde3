package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestExportNotScanned: files beside the exports that hold no table with
// an ID column (a manifest, a checksum list, a README member) do not fail
// an access export, and are named on stderr and in its export_archive
// events with the reason, so the record says what the answer does not
// cover.
func TestExportNotScanned(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	src := scrubtest.CopyExport(t)
	if err := os.WriteFile(filepath.Join(src, "manifest.json"), []byte(`{"files": 14}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	res := runPlain(t, nil, exportArgs(a, out, src)...)
	if res.err != nil {
		t.Fatalf("export: %v\n%s", res.err, res.stderr)
	}
	for _, want := range []string{
		"not-scanned " + filepath.Join(src, "manifest.json") + " not scanned",
		"2376158762_cust_2017-11-01_to_2017-11-23.zip: member README.txt not scanned",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	batches := scrubtest.Batches(t, a.Dir)
	f, err := os.Open(filepath.Join(a.Dir, batches[0]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	named := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Key               string             `json:"key"`
				MembersNotScanned []scrub.MemberNote `json:"members_not_scanned"`
			} `json:"data"`
		}
		json.Unmarshal(sc.Bytes(), &ev)
		for _, m := range ev.Data.MembersNotScanned {
			named[filepath.Base(ev.Data.Key)+":"+m.Name] = m.Reason
		}
	}
	for _, k := range []string{"manifest.json:", "2376158762_cust_2017-11-01_to_2017-11-23.zip:README.txt"} {
		if named[k] == "" {
			t.Errorf("the log does not name %s as not scanned, with a reason: %v", k, named)
		}
	}
}
