package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestQueueS3 keeps the queue in an S3 prefix (created only if absent,
// with If-None-Match): queue add calls made at once lose nothing, queue
// run erases every request from an s3:// source in one batch, with the
// audit bundles in the bucket too, and marks them done; the queue
// verifies against them, and no object of the queue or the audit location
// holds an identifier in clear.
func TestQueueS3(t *testing.T) {
	ep := scrubtest.S3Endpoint(t)
	ctx := context.Background()
	c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("scrub-queue-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(scrubtest.ExportDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(scrubtest.ExportDir, p)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("exports/" + filepath.ToSlash(rel)), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	src, qloc, where := "s3://"+bucket+"/exports", "s3://"+bucket+"/queue", "s3://"+bucket+"/audit"
	a := scrubtest.NewAudit(t)
	files := t.TempDir()

	// Every victim a request of its own, and decoys, added at once.
	ids := append(slices.Clone(scrubtest.Victims), "DECOY00000000001", "DECOY00000000002", "DECOY00000000003")
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		f := filepath.Join(files, fmt.Sprintf("ids-%d.txt", i))
		os.WriteFile(f, []byte(id+"\n"), 0o600)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			errs[i] = cli.Run(ctx, []string{"queue", "add", "--queue", qloc, "--endpoint", ep, "--ids", f, "--ticket", fmt.Sprintf("S3-%d", i),
				"--key", a.Key, "--id-key", a.IDKey}, cli.Env{Stdout: io.Discard, Stderr: &stderr, Now: func() time.Time { return queueClock }})
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%w\n%s", errs[i], stderr.String())
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	list := func() (l struct{ Pending, Done int }) {
		t.Helper()
		out := runAt(t, queueClock, "queue", "list", "--queue", qloc, "--endpoint", ep, "--key", a.Key, "--json")
		if out.err != nil {
			t.Fatalf("queue list: %v\n%s", out.err, out.stderr)
		}
		json.Unmarshal([]byte(out.stdout), &l)
		return l
	}
	if l := list(); l.Pending != len(ids) {
		t.Fatalf("%d pending after %d adds at once", l.Pending, len(ids))
	}

	out := runAt(t, queueClock, "queue", "run", "--queue", qloc, "--endpoint", ep, "--key", a.Key, "--id-key", a.IDKey, "--audit", where, "--no-progress", "--json", src)
	if out.err != nil {
		t.Fatalf("queue run: %v\n%s", out.err, out.stderr)
	}
	s := decodeQueueRun(t, out.stdout)
	if len(s.Queue.Done) != len(ids) || s.Totals.Erased != 13 || s.Totals.RowsRemoved != 343 {
		t.Errorf("queue run: %d done, totals %+v", len(s.Queue.Done), s.Totals)
	}
	if l := list(); l.Pending != 0 || l.Done != len(ids) {
		t.Errorf("after the run: %+v", l)
	}
	ver := runAt(t, queueClock, "queue", "verify", "--queue", qloc, "--endpoint", ep, "--key", a.Key, "--audit", where, "--pub", a.Pub)
	if ver.err != nil {
		t.Errorf("queue verify: %v\n%s%s", ver.err, ver.stdout, ver.stderr)
	}

	// No object of the queue or the audit location holds a victim.
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if strings.HasPrefix(*o.Key, "exports/") {
				continue
			}
			n++
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			for _, id := range ids {
				if bytes.Contains(bytes.ToUpper(data), []byte(id)) {
					t.Errorf("%s holds the identifier %s in clear", *o.Key, id)
				}
			}
		}
	}
	if n < 2*len(ids)+3 {
		t.Errorf("only %d objects of the queue and the audit location read", n)
	}
}
