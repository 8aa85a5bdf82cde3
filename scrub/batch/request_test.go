package batch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/ids"
)

// The request identity and the recorded options are what earlier releases
// wrote: those marshalled maps, built here as they built them (scrub/cli
// at 39fca86: requestSettings, recorded, and export's and unblock's
// settings). A batch an earlier release left unfinished is resumed only if
// the identity is byte for byte the same.

func legacyIdentity(r *Request, command string) string {
	delim := r.Delimiter
	var m map[string]any
	switch r.Command {
	case Export:
		m = map[string]any{"command": command, "sources": r.Sources, "out": r.Out, "columns": r.Columns,
			"include": r.Include, "exclude": r.Exclude, "delimiter": string(delim)}
	case Unblock:
		m = map[string]any{"command": command, "blocklist": r.Blocklist}
	default:
		m = map[string]any{"command": command, "sources": r.Sources, "columns": r.Columns, "include": r.Include,
			"exclude": r.Exclude, "delimiter": string(delim), "shards": r.Shards()}
		if r.Transform != nil {
			m["id_transform"] = r.Transform.String()
			if k := r.Transform.KeyID(); k != "" {
				m["id_transform_key"] = k
			}
		}
		if r.OlderThan != "" {
			m["older_than"], m["time_column"] = strings.TrimSpace(r.OlderThan), r.TimeColumn
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func legacyOptions(r *Request) string {
	delim := r.Delimiter
	var m map[string]any
	switch r.Command {
	case Export:
		m = map[string]any{"ids_file": r.IDsFile, "out": r.Out, "columns": r.Columns, "include": r.Include, "exclude": r.Exclude,
			"jobs": r.Jobs, "max_record": r.MaxRecord, "max_member_size": r.MaxMemberSize, "max_ratio": r.MaxRatio,
			"allow_invalid_utf8": r.AllowInvalidUTF8}
		if delim != 0 {
			m["delimiter"] = string(delim)
		}
		if r.Endpoint != "" {
			m["endpoint"] = r.Endpoint
		}
	case Unblock:
		m = map[string]any{"ids_file": r.IDsFile, "blocklist": r.Blocklist}
	default:
		m = map[string]any{"ids_file": r.IDsFile, "columns": r.Columns, "include": r.Include, "exclude": r.Exclude,
			"jobs": r.Jobs, "level": r.Level, "max_record": r.MaxRecord, "verify": r.Verify,
			"part_size": r.PartSize, "dry_run": r.DryRun,
			"max_member_size": r.MaxMemberSize, "max_ratio": r.MaxRatio, "allow_invalid_utf8": r.AllowInvalidUTF8}
		if delim != 0 {
			m["delimiter"] = string(delim)
		}
		if r.Shard != nil {
			m["shard"] = r.Shard.String()
		}
		if r.Endpoint != "" {
			m["endpoint"] = r.Endpoint
		}
		if r.AcceptUnconditionalWrites {
			m["accept_unconditional_writes"] = true
		}
		if r.AllowPlaceholderIDs {
			m["allow_placeholder_ids"] = true
		}
		if r.MaxShare != 0 {
			m["max_share"] = r.MaxShare
		}
		if r.Transform != nil {
			m["id_transform"] = r.Transform.String()
			if k := r.Transform.KeyID(); k != "" {
				m["id_transform_key"] = k
			}
		}
		if r.OlderThan != "" {
			m["older_than"], m["cutoff"], m["time_column"] = strings.TrimSpace(r.OlderThan), r.Cutoff.Format(time.RFC3339Nano), r.TimeColumn
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func requests(t *testing.T) map[string]*Request {
	keyFile := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hmac, err := ids.ParseTransform("lower,hmac-sha256:" + keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := ids.ParseTransform("upper,sha256")
	if err != nil {
		t.Fatal(err)
	}
	base := func() *Request {
		return &Request{Command: Erase, Sources: []string{"data", "s3://b/p"}, IDsFile: "ids.txt", Jobs: 0, Level: 1,
			MaxRecord: 1 << 20, MaxMemberSize: 1 << 30, MaxRatio: 1030, Verify: "size", PartSize: 16 << 20}
	}
	rs := map[string]*Request{}
	rs["plain erase"] = base()
	r := base()
	r.Columns, r.Include, r.Exclude, r.Delimiter, r.DryRun, r.Endpoint = []string{"Client ID", "x"}, []string{"*.zip"}, []string{"a/*"}, '\t', true, "http://127.0.0.1:9000"
	rs["selected, tab, dry run, endpoint"] = r
	r = base()
	r.Delimiter, r.Shard, r.Transform, r.AllowInvalidUTF8 = ';', &scrub.Shard{Index: 2, Count: 5}, hmac, true
	rs["shard, keyed transform"] = r
	r = base()
	r.Transform, r.OlderThan, r.TimeColumn, r.Cutoff = sha, " 365d ", "Timestamp", time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	rs["retention, digest transform"] = r
	r = base()
	r.Command, r.IDsFile = Sweep, ""
	rs["sweep"] = r
	r = base()
	r.AcceptUnconditionalWrites = true
	rs["unconditional writes accepted"] = r
	r = base()
	r.Command, r.IDsFile, r.AcceptUnconditionalWrites = Sweep, "", true
	rs["sweep, unconditional writes accepted"] = r
	r = base()
	r.AllowPlaceholderIDs, r.MaxShare = true, 0.5
	rs["placeholder IDs allowed, a share"] = r
	r = base()
	r.Command, r.Out, r.Columns = Export, "s3://out/x", []string{"clientId"}
	rs["export"] = r
	r = base()
	r.Command, r.Out, r.Delimiter, r.Endpoint = Export, "out", ',', "http://e"
	rs["export with delimiter"] = r
	rs["unblock"] = &Request{Command: Unblock, IDsFile: "-", Blocklist: "s3://b/blocklist"}
	return rs
}

func TestRequestCompatible(t *testing.T) {
	for name, r := range requests(t) {
		t.Run(name, func(t *testing.T) {
			for _, cmd := range []string{r.Command, "scope"} {
				if got, want := r.identity(cmd), legacyIdentity(r, cmd); got != want {
					t.Errorf("identity(%s)\n got %s\nwant %s", cmd, got, want)
				}
			}
			if got, want := string(r.options()), legacyOptions(r); got != want {
				t.Errorf("options\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestScope: the scope of a request differs with its share and the
// blocklist, and not with its IDs file or the options that shape how.
func TestScope(t *testing.T) {
	r := requests(t)["plain erase"]
	s := r.Scope("bl")
	other := *r
	other.IDsFile, other.Jobs, other.Level = "other.txt", 8, 9
	if other.Scope("bl") != s {
		t.Error("scope changes with the IDs file or jobs")
	}
	if r.Scope("bl2") == s {
		t.Error("scope does not change with the blocklist")
	}
	other.Shard = &scrub.Shard{Index: 0, Count: 2}
	if other.Scope("bl") == s {
		t.Error("scope does not change with the share")
	}
}

func TestRecordedCutoff(t *testing.T) {
	r := requests(t)["retention, digest transform"]
	got, err := recordedCutoff(r.options())
	if err != nil || !got.Equal(r.Cutoff) {
		t.Errorf("recordedCutoff = %v, %v; want %v", got, err, r.Cutoff)
	}
	if _, err := recordedCutoff(requests(t)["plain erase"].options()); err == nil {
		t.Error("a batch without a cutoff gave one")
	}
}

// TestRequestWithMap: a request routed by a data map records the map's
// file, hash, ID files by type and the datasets read (golden JSON), and a
// request without a map records none of it (TestRequestCompatible); the
// map's hash and the types make another request.
func TestRequestWithMap(t *testing.T) {
	r := requests(t)["plain erase"]
	r.IDsFile, r.Sources = "", []string{"exports/events", "s3://b/licences/"}
	r.Map = &MapRef{File: "ops/datamap.toml", SHA256: strings.Repeat("c", 64),
		IDsFiles: []TypedFile{{"client_id", "clients.txt"}, {"host_user", "pairs.csv"}}, Datasets: []string{"events", "licences"}}
	const wantIdentity = `{"columns":null,"command":"erase","delimiter":"\u0000","exclude":null,"id_types":["client_id","host_user"],"include":null,` +
		`"map_sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","shards":1,"sources":["exports/events","s3://b/licences/"]}`
	if got := r.identity(Erase); got != wantIdentity {
		t.Errorf("identity\n got %s\nwant %s", got, wantIdentity)
	}
	const wantOptions = `{"allow_invalid_utf8":false,"columns":null,"datasets":["events","licences"],"dry_run":false,"exclude":null,"ids_file":"",` +
		`"ids_files":[{"type":"client_id","file":"clients.txt"},{"type":"host_user","file":"pairs.csv"}],"include":null,"jobs":0,"level":1,` +
		`"map":"ops/datamap.toml","map_sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","max_member_size":1073741824,` +
		`"max_ratio":1030,"max_record":1048576,"part_size":16777216,"verify":"size"}`
	if got := string(r.options()); got != wantOptions {
		t.Errorf("options\n got %s\nwant %s", got, wantOptions)
	}
	other := *r
	m := *r.Map
	m.SHA256 = strings.Repeat("d", 64)
	other.Map = &m
	if other.identity(Erase) == r.identity(Erase) {
		t.Error("the identity does not change with the map")
	}
	m.SHA256, m.IDsFiles = r.Map.SHA256, m.IDsFiles[:1]
	if other.identity(Erase) == r.identity(Erase) {
		t.Error("the identity does not change with the types")
	}
}

// TestRecordedRetention: a resumed batch takes each dataset's cutoff from
// the options its batch_start recorded, and refuses options without one.
func TestRecordedRetention(t *testing.T) {
	r := requests(t)["plain erase"]
	at := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	r.Map = &MapRef{File: "m.toml", SHA256: "ab", Retention: []DatasetCutoff{{"licences", "365d", "issued", at}}}
	opts := r.options()
	if !strings.Contains(string(opts), `"retention":[{"cutoff":"2025-01-02T03:04:05.0000006Z","dataset":"licences","older_than":"365d","time_column":"issued"}]`) {
		t.Errorf("options %s", opts)
	}
	if !strings.Contains(r.identity(Erase), `"map_retention":true`) {
		t.Errorf("identity %s", r.identity(Erase))
	}
	now := []DatasetCutoff{{"licences", "365d", "issued", time.Now()}}
	if err := recordedRetention(opts, now); err != nil || !now[0].Cutoff.Equal(at) {
		t.Errorf("recordedRetention: %v, %v; want %v", now[0].Cutoff, err, at)
	}
	other := []DatasetCutoff{{"events", "30d", "Timestamp", time.Now()}}
	if err := recordedRetention(opts, other); err == nil {
		t.Error("a dataset without a recorded cutoff was taken up")
	}
}
