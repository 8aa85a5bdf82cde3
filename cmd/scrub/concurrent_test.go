package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// Runs of scrub at the same time on one audit location (issue 17, item
// 1): a second run of the same request (and shard) is refused at once with
// exit 1, naming the run that holds it, and touches nothing; other
// requests and other shards run; afterwards the location verifies, and
// its batches form one chain.

// started is a run of the binary, started.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func start(t *testing.T, env []string, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(bin, args...)}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	s.cmd.Env = append(os.Environ(), env...)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// wait waits for the run and returns its exit code and stderr.
func (s *started) wait(t *testing.T) (int, string) {
	t.Helper()
	err := s.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), s.stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, s.stderr.String()
}

// refused reports whether stderr is that of a run refused for the lock of
// its request, and only that: it did not start a batch.
var refusedRE = regexp.MustCompile(`^scrub: audit location \S+ is in use: (batch batch-\S+ is being written|it is held) by pid \d+ on host \S+ since \S+ \(lock \.lock-request-[0-9a-f]{16}(-shard-\d+-of-\d+)?(, lease until \S+)?\); wait for it`)

func refused(stderr string) bool {
	return refusedRE.MatchString(stderr) && strings.Count(stderr, "\n") == 1
}

// copies makes a directory of n copies of the test export.
func copies(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		if err := os.CopyFS(filepath.Join(dir, fmt.Sprintf("c%02d", i)), os.DirFS(scrubtest.ExportDir)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkChain checks that the batches in the local audit directory each
// follow a different batch: one chain, no fork.
func checkChain(t *testing.T, dir string) {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(dir, "batch-*.manifest.json"))
	follows := map[string]string{}
	for _, p := range ms {
		var m struct {
			Batch     string `json:"batch"`
			PrevBatch string `json:"prev_batch"`
		}
		data, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(data, &m) != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if other, ok := follows[m.PrevBatch]; ok {
			t.Errorf("%s and %s both follow %q: the chain forks", other, m.Batch, m.PrevBatch)
		}
		follows[m.PrevBatch] = m.Batch
	}
}

func verifyOK(t *testing.T, a *scrubtest.Audit, where string, extra ...string) {
	t.Helper()
	r := scrubCmd(t, nil, append(append([]string{"verify", "--pub", a.Pub}, extra...), where)...)
	if r.code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestConcurrentRuns: four identical erasures over one data directory and
// a fifth over another, started together on one audit directory. One of
// the four erases; each other one is refused at once (exit 1) and writes
// nothing, or, started after the first was sealed, finds nothing to do;
// the fifth, another request, runs beside them.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	orig := copies(t, 8)
	data := filepath.Join(t.TempDir(), "data")
	other := filepath.Join(t.TempDir(), "other")
	for _, d := range []string{data, other} {
		if err := os.CopyFS(d, os.DirFS(orig)); err != nil {
			t.Fatal(err)
		}
	}
	var runs []*started
	for range 4 {
		runs = append(runs, start(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", data})...))
	}
	runs = append(runs, start(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", other})...))
	erased, nothing, refusals := 0, 0, 0
	for i, r := range runs {
		code, stderr := r.wait(t)
		switch {
		case code == 0 && strings.Contains(stderr, fmt.Sprintf("%d of %d rows removed", 8*343, 8*4625)):
			erased++
		case code == 0 && strings.Contains(stderr, "nothing to erase") && i < 4:
			nothing++
		case code == 1 && refused(stderr) && i < 4:
			refusals++
		default:
			t.Errorf("run %d: exit %d\n%s", i, code, stderr)
		}
	}
	if erased != 2 || refusals == 0 {
		t.Errorf("%d runs erased, %d found nothing to do, %d refused; want 2 erasing and some refused", erased, nothing, refusals)
	}
	// Refused runs wrote no batch.
	if n := len(scrubtest.Batches(t, a.Dir)); n != erased+nothing {
		t.Errorf("%d batches in the audit directory, want %d", n, erased+nothing)
	}
	checkArchives(t, orig, data, false)
	checkArchives(t, orig, other, false)
	verifyOK(t, a, a.Dir)
	checkChain(t, a.Dir)
	if locks, _ := filepath.Glob(filepath.Join(a.Dir, ".lock-*")); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
}

// TestKilledThenResumedTwice: a batch killed part way is resumed by the
// same command started twice at once: one run resumes it, the other is
// refused, and the batch verifies.
func TestKilledThenResumedTwice(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	orig := copies(t, 8)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(data, os.DirFS(orig)); err != nil {
		t.Fatal(err)
	}
	args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", data})
	killPartWay(t, args, nil, func() bool {
		js, _ := filepath.Glob(filepath.Join(a.Dir, "batch-*.journal"))
		if len(js) != 1 {
			return false
		}
		j, _ := os.ReadFile(js[0])
		return bytes.Count(j, []byte(`"type":"archive"`)) >= 3
	})
	resumed, refusals := resumeTwice(t, args, nil)
	if resumed != 1 || refusals != 1 {
		t.Fatalf("%d runs resumed, %d refused; want one of each", resumed, refusals)
	}
	checkArchives(t, orig, data, false)
	if n := len(scrubtest.Batches(t, a.Dir)); n != 1 {
		t.Errorf("%d batches, want 1", n)
	}
	verifyOK(t, a, a.Dir)
}

// killPartWay starts args, kills it (SIGKILL) once ready reports true,
// and waits for it.
func killPartWay(t *testing.T, args, env []string, ready func() bool) {
	t.Helper()
	s := start(t, env, args...)
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			s.wait(t)
			t.Fatalf("the run was not part way in 30s:\n%s", s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	if !s.cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("the run ended before it was killed:\n%s", s.stderr.String())
	}
}

// resumeTwice starts args twice at once and counts the runs that resumed
// the killed batch and finished, and those refused.
func resumeTwice(t *testing.T, args, env []string) (resumed, refusals int) {
	t.Helper()
	runs := []*started{start(t, env, args...), start(t, env, args...)}
	for i, r := range runs {
		code, stderr := r.wait(t)
		switch {
		case code == 0 && strings.Contains(stderr, "scrub: resuming batch-"):
			resumed++
		case code == 1 && refused(stderr):
			refusals++
		default:
			t.Errorf("run %d: exit %d\n%s", i, code, stderr)
		}
	}
	return resumed, refusals
}

// TestShardsTogether: the three shards of one request, at once on one
// local audit directory, all complete, and their batches chain.
func TestShardsTogether(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	orig := copies(t, 6)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(data, os.DirFS(orig)); err != nil {
		t.Fatal(err)
	}
	var runs []*started
	for i := range 3 {
		runs = append(runs, start(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", "--shard", fmt.Sprintf("%d/3", i), data})...))
	}
	for i, r := range runs {
		if code, stderr := r.wait(t); code != 0 {
			t.Errorf("shard %d/3: exit %d\n%s", i, code, stderr)
		}
	}
	checkArchives(t, orig, data, false)
	r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, "3/3 batches valid") || !strings.Contains(r.stdout, "complete: 3/3 shares") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkChain(t, a.Dir)
}

// s3Audit makes an audit bucket beside bucket and returns its location.
func s3Audit(t *testing.T, c *s3.Client, bucket string) (auditBucket, where string) {
	t.Helper()
	auditBucket = bucket + "-audit"
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &auditBucket}); err != nil {
		t.Fatal(err)
	}
	return auditBucket, "s3://" + auditBucket + "/audit"
}

// s3Objects lists the names below prefix in bucket.
func s3Objects(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range out.Contents {
		names = append(names, strings.TrimPrefix(aws.ToString(o.Key), prefix))
	}
	return names
}

// TestConcurrentRunsS3: TestConcurrentRuns with the archives and the audit
// location in MinIO.
func TestConcurrentRunsS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	bucket, orig := versionedExport(t, c, 4)
	auditBucket, where := s3Audit(t, c, bucket)
	a := scrubtest.NewAudit(t)
	args := []string{"erase", "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey, "--audit", where,
		"--endpoint", ep, "--no-progress", "--jobs", "1", "s3://" + bucket + "/exports"}
	var runs []*started
	for range 4 {
		runs = append(runs, start(t, nil, args...))
	}
	erased, nothing, refusals := 0, 0, 0
	for i, r := range runs {
		code, stderr := r.wait(t)
		switch {
		case code == 0 && strings.Contains(stderr, fmt.Sprintf("%d of %d rows removed", 4*343, 4*4625)):
			erased++
		case code == 0 && strings.Contains(stderr, "nothing to erase"):
			nothing++
		case code == 1 && refused(stderr):
			refusals++
		default:
			t.Errorf("run %d: exit %d\n%s", i, code, stderr)
		}
	}
	if erased != 1 || refusals == 0 {
		t.Errorf("%d runs erased, %d found nothing to do, %d refused; want one erasing and some refused", erased, nothing, refusals)
	}
	checkBucket(t, c, bucket, orig)
	verifyOK(t, a, where, "--endpoint", ep)
	for _, name := range s3Objects(t, c, auditBucket, "audit/") {
		if strings.HasPrefix(name, ".lock-") {
			t.Errorf("lock left: %s", name)
		}
	}
}

// TestStaleLockS3: a killed run's batch whose lock object says another
// host, with its lease run out, is not resumed without --take-over-lock
// (exit 1, naming the holder, its host and start; nothing changed), and is
// with it. The same command started twice at once after a kill of this
// host's run: one resumes, the other is refused.
func TestStaleLockS3(t *testing.T) {
	c, ep := minio(t)
	t.Parallel()
	ctx := context.Background()
	bucket, orig := versionedExport(t, c, 4)
	auditBucket, where := s3Audit(t, c, bucket)
	a := scrubtest.NewAudit(t)
	args := []string{"erase", "--ids", scrubtest.IDsFile, "--key", a.Key, "--id-key", a.IDKey, "--audit", where,
		"--endpoint", ep, "--no-progress", "--jobs", "1", "s3://" + bucket + "/exports"}
	lockName := func() string {
		for _, n := range s3Objects(t, c, auditBucket, "audit/") {
			if strings.HasPrefix(n, ".lock-request-") {
				return n
			}
		}
		return ""
	}
	// Killed once its lock is there and it has erased something (the
	// journal goes up every 10s; the lock at once).
	spool := t.TempDir()
	env := []string{"TMPDIR=" + spool}
	killPartWay(t, args, env, func() bool {
		if lockName() == "" {
			return false
		}
		js, _ := filepath.Glob(filepath.Join(spool, "batch-*.journal"))
		if len(js) != 1 {
			return false
		}
		j, _ := os.ReadFile(js[0])
		return bytes.Count(j, []byte(`"type":"archive"`)) >= 2
	})
	name := lockName()
	key := "audit/" + name
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &auditBucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(out.Body).Decode(&h)
	out.Body.Close()

	// The same request twice at once: the run of this host is dead, so
	// one takes its lock over; the other is refused.
	resumed, refusals := resumeTwice(t, args, env)
	if resumed != 1 || refusals != 1 {
		t.Fatalf("%d runs resumed, %d refused; want one of each", resumed, refusals)
	}
	checkBucket(t, c, bucket, orig)
	verifyOK(t, a, where, "--endpoint", ep)

	// A lock of a run on another host whose lease ran out.
	h["host"], h["pid"], h["lease_until"] = "worker-7", 4242, "2026-01-02T03:06:05.000Z"
	h["started"], h["batch"] = "2026-01-02T03:04:05.000Z", "batch-20260102T030405.000Z-0123456789ab"
	data, _ := json.Marshal(h)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &auditBucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	before := s3Objects(t, c, auditBucket, "audit/")
	s := start(t, env, args...)
	code, stderr := s.wait(t)
	want := fmt.Sprintf("scrub: audit location %s/: the lock %s is stale: batch batch-20260102T030405.000Z-0123456789ab was being written by pid 4242 on host worker-7 since 2026-01-02T03:04:05.000Z, and its lease ran out at 2026-01-02T03:06:05.000Z; if that run is dead, run again with --take-over-lock\n", where, name)
	if code != 1 || stderr != want {
		t.Fatalf("stale lock: exit %d\n got %q\nwant %q", code, stderr, want)
	}
	if after := s3Objects(t, c, auditBucket, "audit/"); !slicesEqual(before, after) {
		t.Errorf("the refused run changed the audit location: %v, then %v", before, after)
	}
	s = start(t, env, append([]string{args[0], "--take-over-lock"}, args[1:]...)...)
	code, stderr = s.wait(t)
	if code != 0 || !strings.Contains(stderr, "scrub: took over the stale lock "+name+" in "+where+"/ (held by pid 4242 on host worker-7 since 2026-01-02T03:04:05.000Z") {
		t.Fatalf("--take-over-lock: exit %d\n%s", code, stderr)
	}
	checkBucket(t, c, bucket, orig)
	verifyOK(t, a, where, "--endpoint", ep)
	if lockName() != "" {
		t.Error("the lock is left after the run")
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
