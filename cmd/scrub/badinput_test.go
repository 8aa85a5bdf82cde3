package main_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestBadInputs runs scrub over the test data with every kind of bad input
// beside it (scrubtest.BadInputs), on local disk and in a bucket. Each bad
// archive fails with a message that names it and says what is wrong (and
// where), and is left as it was; the good archives are erased; the exit
// code is 3; the audit log records every failure and verifies.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	bad := scrubtest.BadInputs(t)
	check := func(t *testing.T, r result, key func(name string) string) {
		t.Helper()
		if r.code != 3 {
			t.Errorf("exit %d, want 3", r.code)
		}
		for name := range bad {
			want := "FAILED      " + key(name) + ": "
			if scrubtest.NotTables[name] {
				want = "not-scanned " + key(name) + ": "
			}
			i := strings.Index(r.stderr, want)
			if i < 0 {
				t.Errorf("%s: not reported as failed", name)
				continue
			}
			line, _, _ := strings.Cut(r.stderr[i:], "\n")
			if !strings.Contains(line, scrubtest.BadInputWant[name]) {
				t.Errorf("%s: %q does not say %q", name, line, scrubtest.BadInputWant[name])
			}
		}
		if !strings.Contains(r.stderr, "13 erased, 1 unchanged") {
			t.Errorf("the good archives were not all done:\n%s", r.stderr)
		}
	}

	t.Run("local", func(t *testing.T) {
		t.Parallel()
		dir := scrubtest.CopyExport(t)
		for name, data := range bad {
			if err := os.WriteFile(filepath.Join(dir, "bad", name), data, 0o644); err != nil {
				os.MkdirAll(filepath.Join(dir, "bad"), 0o755)
				os.WriteFile(filepath.Join(dir, "bad", name), data, 0o644)
			}
		}
		before := scrubtest.Snapshot(t, filepath.Join(dir, "bad"))
		a := scrubtest.NewAudit(t)
		r := scrubCmd(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", dir})...)
		check(t, r, func(name string) string { return filepath.Join(dir, "bad", name) })
		scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, filepath.Join(dir, "bad")), nil)
		if v := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); v.code != 0 {
			t.Errorf("verify: exit %d\n%s", v.code, v.stdout)
		}
		log, _ := os.ReadFile(filepath.Join(a.Dir, scrubtest.Batches(t, a.Dir)[0]+".jsonl"))
		if n := strings.Count(string(log), `"status":"failed"`); n != len(bad)-len(scrubtest.NotTables) {
			t.Errorf("%d failed archives in the log, want %d", n, len(bad)-len(scrubtest.NotTables))
		}
		if n := strings.Count(string(log), `"status":"not-scanned"`); n != len(scrubtest.NotTables) {
			t.Errorf("%d not-scanned archives in the log, want %d", n, len(scrubtest.NotTables))
		}
	})

	t.Run("s3", func(t *testing.T) {
		c, ep := minio(t)
		t.Parallel()
		bucket, _ := versionedExport(t, c, 1)
		ctx := context.Background()
		for name, data := range bad {
			key := "exports/bad/" + name
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
		}
		a := scrubtest.NewAudit(t)
		r := scrubCmd(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--endpoint", ep, "s3://" + bucket + "/exports"})...)
		check(t, r, func(name string) string { return "s3://" + bucket + "/exports/bad/" + name })
		for name, data := range bad {
			key := "exports/bad/" + name
			out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, v := range out.Versions {
				if *v.Key == key {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: %d versions, want the 1 it had", name, n)
				continue
			}
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			now, _ := io.ReadAll(g.Body)
			g.Body.Close()
			if !bytes.Equal(now, data) {
				t.Errorf("%s changed", name)
			}
		}
	})
}

// TestLimitFlags: the limits that refuse some bad inputs are the user's to
// raise, for honest data that needs it.
func TestLimitFlags(t *testing.T) {
	t.Parallel()
	bad := scrubtest.BadInputs(t)
	for _, tt := range []struct {
		file string
		args []string
	}{
		{"bomb.csv.gz", []string{"--max-ratio", "1100"}},
		{"latin1.csv", []string{"--allow-invalid-utf8"}},
		{"too-long-line.csv", []string{"--max-record", "17000000"}},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, tt.file), bad[tt.file], 0o644)
		args := append([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--dry-run"}, tt.args...)
		if r := scrubCmd(t, nil, append(args, dir)...); r.code != 0 {
			t.Errorf("%s with %v: exit %d\n%s", tt.file, tt.args, r.code, r.stderr)
		}
		if r := scrubCmd(t, nil, "erase", "--ids", scrubtest.IDsFile, "--no-progress", "--dry-run", dir); r.code != 1 {
			t.Errorf("%s without %v: exit %d, want 1 (its one archive failed)", tt.file, tt.args, r.code)
		}
	}
}
