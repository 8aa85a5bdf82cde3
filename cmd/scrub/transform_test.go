package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
	"github.com/scrubtool/scrub/scrub/scrubtest/faultproxy"
)

// checkBucketFunc checks that each key holds exactly one version: the
// original without the rows drop chooses.
func checkBucketFunc(t *testing.T, c *s3.Client, bucket string, orig map[string][]byte, drop scrubtest.Drop) {
	t.Helper()
	ctx := context.Background()
	for key, data := range orig {
		vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs.Versions {
			if aws.ToString(v.Key) == key {
				n++
			}
		}
		if n != 1 || len(vs.DeleteMarkers) > 0 {
			t.Errorf("%s: %d versions and %d delete markers, want 1 version", key, n, len(vs.DeleteMarkers))
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		now, _ := io.ReadAll(out.Body)
		out.Body.Close()
		scrubtest.CheckArchiveFunc(t, key, data, now, drop)
	}
}

// TestRetentionS3 purges by age, with and without IDs, in a versioned
// bucket: the old versions that held the rows go too.
func TestRetentionS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	cut := time.Date(2017, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		args []string
		drop scrubtest.Drop
	}{
		{"by age", []string{"--older-than", "2017-11-22T12:00:00Z"}, scrubtest.OlderThan(cut, nil)},
		{"by age or ID", []string{"--older-than", "2017-11-22 12:00:00", "--ids", scrubtest.IDsFile}, scrubtest.OlderThan(cut, scrubtest.Victim)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bucket, orig := versionedExport(t, c, 1)
			a := scrubtest.NewAudit(t)
			args := a.WithAudit(append([]string{"erase", "--no-progress", "--endpoint", ep, "s3://" + bucket + "/exports"}, tt.args...))
			r := scrubCmd(t, nil, args...)
			if r.code != 0 || !strings.Contains(r.stderr, "is before 2017-11-22T12:00:00Z go") {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			checkBucketFunc(t, c, bucket, orig, tt.drop)
			if r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); r.code != 0 {
				t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

// TestRetentionResumeS3 kills a purge with a relative cutoff midway and
// runs the same command again more than a second later: the resumed batch
// keeps the cutoff its journal recorded, not a new one.
func TestRetentionResumeS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	bucket, orig := versionedExport(t, c, 1)
	held, release := make(chan struct{}), make(chan struct{})
	armed := make(chan struct{}, 1)
	armed <- struct{}{}
	proxy := faultproxy.Start(t, ep, func(r *faultproxy.Request) faultproxy.Action {
		if r.Bucket() != bucket || r.Op() != "PutObject" {
			return faultproxy.Action{}
		}
		select {
		case <-armed:
		default:
			return faultproxy.Action{}
		}
		return faultproxy.Action{Hold: func() {
			close(held)
			<-release
		}}
	})
	a := scrubtest.NewAudit(t)
	args := a.WithAudit([]string{"erase", "--older-than", "1d", "--no-progress", "--jobs", "1", "--endpoint", proxy.URL(), "s3://" + bucket + "/exports"})
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		t.Fatalf("never reached an upload:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(release)
	cutoff := regexp.MustCompile(`is before (\S+) go`)
	first := cutoff.FindStringSubmatch(stderr.String())
	if first == nil {
		t.Fatalf("the first run printed no cutoff:\n%s", stderr.String())
	}
	time.Sleep(1100 * time.Millisecond) // a new cutoff would differ
	r := scrubCmd(t, nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "scrub: resuming batch-") {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	if again := cutoff.FindStringSubmatch(r.stderr); again == nil || again[1] != first[1] {
		t.Errorf("the resumed batch has cutoff %v, the interrupted run had %s", again, first[1])
	}
	checkBucketFunc(t, c, bucket, orig, scrubtest.OlderThan(time.Now(), nil))
	logs, _ := filepath.Glob(filepath.Join(a.Dir, "batch-*.jsonl"))
	if len(logs) != 1 {
		t.Fatalf("%d batches, want the one resumed", len(logs))
	}
	data, _ := os.ReadFile(logs[0])
	if n := strings.Count(string(data), `"cutoff":"`); n != 1 || !strings.Contains(string(data), `"cutoff":"`+first[1]+`"`) {
		t.Errorf("the log records %d cutoffs, want the one %s", n, first[1])
	}
	if r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); r.code != 0 {
		t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
	}
}

// TestIDTransformS3 erases hashed user names from a bucket, given their
// clear names, and looks them up afterwards.
func TestIDTransformS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	bucket, _ := versionedExport(t, c, 0)
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	csv := "Timestamp,User\n" +
		"2017-11-20 10:00:00," + hash("alice") + "\n" +
		"2017-11-20 10:00:01," + strings.ToUpper(hash("bob")) + "\n" +
		"2017-11-20 10:00:02,\"" + hash("carol") + "\"\n"
	key := "exports/users.csv"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(csv)}); err != nil {
		t.Fatal(err)
	}
	ids := filepath.Join(t.TempDir(), "ids.txt")
	os.WriteFile(ids, []byte("Alice\nBob\n"), 0o600)
	a := scrubtest.NewAudit(t)
	r := scrubCmd(t, nil, a.WithAudit([]string{"erase", "--ids", ids, "--id-transform", "lower,sha256", "--column", "User",
		"--no-progress", "--endpoint", ep, "s3://" + bucket + "/exports"})...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if want := "Timestamp,User\n2017-11-20 10:00:02,\"" + hash("carol") + "\"\n"; string(got) != want {
		t.Errorf("users.csv:\n%q\nwant\n%q", got, want)
	}
	r = scrubCmd(t, nil, "audit", "lookup", "--id-key", a.IDKey, "--ids", ids, "--id-transform", "lower,sha256", "--pub", a.Pub, a.Dir)
	if r.code != 0 || strings.Count(r.stdout, ": listed; rows in 1 archives") != 2 {
		t.Errorf("lookup: exit %d\n%s", r.code, r.stdout)
	}
}

// TestTransformAndRetentionExitCodes checks that bad specs are usage errors
// (exit 2) that change nothing.
func TestTransformAndRetentionExitCodes(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	before := scrubtest.Snapshot(t, dir)
	for _, args := range [][]string{
		{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "sha512", dir},
		{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "hmac-sha256:" + filepath.Join(dir, "nokey"), dir},
		{"erase", "--older-than", "soon", dir},
		{"erase", "--older-than", "2999-12-31", dir},
		{"audit", "lookup", "--id-key", scrubtest.IDsFile, "--ids", scrubtest.IDsFile, "--id-transform", "md4", t.TempDir()},
	} {
		if r := scrubCmd(t, nil, args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, dir), nil)
}
