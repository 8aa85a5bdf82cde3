package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestDeleteAndBlockS3 runs erase --block and incremental sweeps of an
// s3:// source, with the blocklist and the audit bundles in the bucket too.
// The store's LastModified decides what a sweep reads, so the test waits
// out --overlap (1s) between the batches instead of setting times.
func TestDeleteAndBlockS3(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-block-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) []byte {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		data, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	exported := 0
	filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		put("exports/"+filepath.ToSlash(rel), data)
		exported++
		return nil
	})
	src := "s3://" + bucket + "/exports"
	bl := "s3://" + bucket + "/blocklist"
	where := "s3://" + bucket + "/audit"
	a := scrubtest.NewAudit(t)
	flags := []string{"--key", a.Key, "--id-key", a.IDKey, "--audit", where, "--endpoint", ep, "--no-progress"}
	sweep := func(extra ...string) *scrub.FullSummary {
		t.Helper()
		out := runPlain(t, nil, slices.Concat([]string{"sweep", "--blocklist", bl, "--overlap", "1s", "--json"}, flags, extra, []string{src})...)
		if out.err != nil {
			t.Fatalf("sweep %v: %v\n%s", extra, out.err, out.stderr)
		}
		return summary(t, out.stdout)
	}
	wait := func() { time.Sleep(2500 * time.Millisecond) } // more than --overlap and a second of LastModified rounding

	wait()
	out := runPlain(t, nil, slices.Concat([]string{"erase", "--block", "--blocklist", bl, "--ids", scrubtest.IDsFile}, flags, []string{src})...)
	if out.err != nil {
		t.Fatalf("erase --block: %v\n%s", out.err, out.stderr)
	}
	wait()
	csvData := readTestdata(t, "2376158762_cust_2017-11-25.csv")
	gzData := readTestdata(t, "2376158762_cust_2017-11-24.csv.gz")
	put("exports/"+newCSV, csvData)

	// The first sweep reads what the erase rewrote and the new archive,
	// not the one archive the erase left alone.
	sum := sweep()
	if r := result(t, sum, newCSV); r.Status != scrub.Erased || sum.Totals.Archives != exported || sum.Totals.Erased != 1 {
		t.Errorf("first sweep: %s %s, %+v; want %d archives (all but the unchanged one), 1 erased", newCSV, r.Status, sum.Totals, exported)
	}
	if slices.Contains(base(sum), unchanged) {
		t.Errorf("first sweep read %s, unchanged since before the erase", unchanged)
	}
	if n := scrubtest.CheckArchive(t, newCSV, csvData, get("exports/"+newCSV)); n == 0 {
		t.Errorf("%s: no victim rows removed", newCSV)
	}
	wait()
	put("exports/"+newGzip, gzData)
	sum = sweep()
	if got, want := base(sum), []string{newCSV, newGzip}; !slices.Equal(got, want) || sum.Totals.Erased != 1 {
		t.Errorf("second sweep read %v (%+v), want %v (the first sweep's rewrite and the new one), 1 erased", got, sum.Totals, want)
	}
	if n := scrubtest.CheckArchive(t, newGzip, gzData, get("exports/"+newGzip)); n == 0 {
		t.Errorf("%s: no victim rows removed", newGzip)
	}
	if sum = sweep("--full"); sum.Totals.Archives != exported+2 || sum.Totals.Erased != 0 {
		t.Errorf("--full sweep: %+v, want %d archives, none erased", sum.Totals, exported+2)
	}

	idFile := writeFile(t, "unblock.txt", unblockV+"\n")
	out = runPlain(t, nil, "unblock", "--ids", idFile, "--blocklist", bl, "--key", a.Key, "--id-key", a.IDKey, "--audit", where, "--endpoint", ep)
	if out.err != nil {
		t.Fatalf("unblock: %v\n%s", out.err, out.stderr)
	}
	data, _ := os.ReadFile(a.IDKey)
	k, _ := audit.ParseIDKey(data, a.IDKey)
	blDir, auditDir := s3store.NewDir(c, bucket, "blocklist"), s3store.NewDir(c, bucket, "audit")
	list, err := blocklist.Open(ctx, blDir, k, trust(a))
	if err != nil {
		t.Fatal(err)
	}
	if list.Len() != len(scrubtest.Listed)-1 || list.Has(k.Tag([]byte(unblockV))) || len(list.Changes()) != 2 {
		t.Errorf("blocklist in S3: %d tags, %d changes; want %d tags without the unblocked one, 2 changes", list.Len(), len(list.Changes()), len(scrubtest.Listed)-1)
	}

	out = runPlain(t, nil, "verify", "--allowed-signers", a.AllowedSigners, "--endpoint", ep, where)
	if out.err != nil || !strings.Contains(out.stdout, "5/5 batches valid") {
		t.Errorf("verify: %v\n%s", out.err, out.stdout)
	}
	for _, dir := range []audit.Location{blDir, auditDir} {
		names, err := dir.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			data, err := dir.ReadFile(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range scrubtest.Listed {
				if bytes.Contains(bytes.ToUpper(data), []byte(id)) {
					t.Errorf("%s/%s holds the listed ID %s", dir, n, id)
				}
			}
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(scrubtest.ExportDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
