package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestDataMapS3 routes one request by a data map to a dataset in a
// versioned S3 bucket and to a local one with another ID column: the
// bucket ends as the erase of the flags would leave it (one version per
// key, the original minus the listed IDs' rows), the local dataset loses
// exactly its rows, and map check reads both.
func TestDataMapS3(t *testing.T) {
	c, ep := minio(t)
	bucket, orig := versionedExport(t, c, 1)
	dir := t.TempDir()
	victim := scrubtest.Victims[0]
	register := "issued;clientId;edition\n2026-01-01;" + victim + ";Team\n2026-01-02;0000000000000001;Pro\n"
	if err := os.MkdirAll(filepath.Join(dir, "register"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "register", "r.csv"), []byte(register), 0o644); err != nil {
		t.Fatal(err)
	}
	mapFile := filepath.Join(dir, "datamap.toml")
	doc := fmt.Sprintf(`[[dataset]]
name = "exports"
location = "s3://%s/exports/"

[[dataset.column]]
name = "Client ID"
type = "client_id"

[[dataset]]
name = "register"
location = "register"

[[dataset.column]]
name = "clientId"
type = "client_id"
`, bucket)
	if err := os.WriteFile(mapFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := scrubCmd(t, nil, "map", "check", "--endpoint", ep, mapFile); r.code != 0 || !strings.Contains(r.stdout, "s3://"+bucket) {
		t.Fatalf("map check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := scrubCmd(t, nil, "erase", "--map", mapFile, "--ids", "client_id="+scrubtest.IDsFile, "--endpoint", ep, "--no-progress")
	if r.code != 0 {
		t.Fatalf("erase: exit %d\n%s", r.code, r.stderr)
	}
	checkBucket(t, c, bucket, orig)
	got, err := os.ReadFile(filepath.Join(dir, "register", "r.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "issued;clientId;edition\n2026-01-02;0000000000000001;Pro\n"; string(got) != want {
		t.Errorf("register: %q, want %q", got, want)
	}
}
