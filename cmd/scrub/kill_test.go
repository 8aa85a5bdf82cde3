package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestKillAndResume kills scrub with SIGKILL at random points of a batch
// over many archives, again and again, re-running the same command each
// time until a run completes. Afterwards every archive is exactly the
// original minus the victims' rows, no temporary file is left, the batch is
// one audit bundle that verifies, with each archive's final event exactly
// once, and a further run changes nothing and says so.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a process many times")
	}
	t.Parallel()
	a := scrubtest.NewAudit(t)
	orig := t.TempDir()
	for i := range 20 {
		if err := os.CopyFS(filepath.Join(orig, "d"+string(rune('a'+i))), os.DirFS(scrubtest.ExportDir)); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(data, os.DirFS(orig)); err != nil {
		t.Fatal(err)
	}
	args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "2", data})
	killUntilDone(t, args, seed(t, 7), 11, 20*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond, false)

	// Every archive is right, and nothing else is in the data directory.
	n := checkArchives(t, orig, data, false)
	if n != 20*14 {
		t.Errorf("%d files in the data directory, want %d", n, 20*14)
	}

	// The batch verifies, with each archive's final event exactly once.
	// (A kill after the batch was sealed leaves a further batch, which
	// found nothing to do.)
	batches := scrubtest.Batches(t, a.Dir)
	r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d/%d batches valid", len(batches), len(batches))) {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f, _ := os.Open(filepath.Join(a.Dir, batches[0]+".jsonl"))
	defer f.Close()
	final := map[string]int{}
	resumes, erased := 0, 0
	var removed int64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Type, Key, Status string
			RowsRemoved       int64 `json:"rows_removed"`
		}
		json.Unmarshal(sc.Bytes(), &ev)
		switch ev.Type {
		case "archive":
			final[ev.Key]++
			if ev.Status != "erased" && ev.Status != "unchanged" {
				t.Errorf("%s: %s", ev.Key, ev.Status)
			}
			if ev.Status == "erased" {
				erased++
			}
			removed += ev.RowsRemoved
		case "resume":
			resumes++
		}
	}
	if len(final) != 20*14 || resumes == 0 {
		t.Errorf("%d archives with a final event, %d resumes; want %d and some", len(final), resumes, 20*14)
	}
	for k, c := range final {
		if c != 1 {
			t.Errorf("%s: %d final events", k, c)
		}
	}
	// An archive a killed attempt replaced is erased by this batch, with
	// the rows that attempt removed: not unchanged when the resumed run
	// finds it without listed rows.
	if erased != 20*13 || removed != 20*343 {
		t.Errorf("the batch records %d archives erased, %d rows removed; want %d and %d", erased, removed, 20*13, 20*343)
	}

	// Idempotent: the same command again changes nothing and says so.
	before := scrubtest.Snapshot(t, data)
	r = scrubCmd(t, nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to erase") {
		t.Errorf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, data), nil)
	scrubtest.CheckNoIDs(t, a.Dir)
}

// seed returns the kill tests' random seed: def, or $SCRUB_TEST_SEED to
// explore others (go test -count=N with a varying seed).
func seed(t *testing.T, def uint64) uint64 {
	if s := os.Getenv("SCRUB_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		def = n
	}
	t.Logf("seed %d (set SCRUB_TEST_SEED to change it)", def)
	return def
}

// killUntilDone runs scrub with args again and again, killing each of the
// first 25 attempts with SIGKILL after a random delay: up to base + n*step
// for attempt n, plus min, so that early attempts die soon and later ones
// get further. Then it lets a run finish. It fails the test unless a run
// exits 0 after at least 5 kills. partial allows exit 3 (some archives not
// done) on the way, which the same command again finishes.
func killUntilDone(t *testing.T, args []string, seed, stream uint64, base, step, least time.Duration, partial bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, stream))
	kills, done := 0, false
	for attempt := 0; attempt < 40 && !done; attempt++ {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(base)+int64(attempt)*int64(step))) + least
		if attempt >= 25 {
			delay = time.Hour // enough kills: let it finish
		}
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		switch {
		case err == nil:
			done = true
		case cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled():
			kills++
		case partial && cmd.ProcessState.ExitCode() == 3:
			t.Logf("attempt %d: exit 3:\n%s", attempt, stderr.String())
		default:
			t.Fatalf("attempt %d: %v\n%s", attempt, err, stderr.String())
		}
		if strings.Contains(stderr.String(), "could not be stored") {
			t.Fatalf("attempt %d:\n%s", attempt, stderr.String())
		}
	}
	if !done || kills < 5 {
		t.Fatalf("done %v after %d kills; want a finished batch after at least 5 kills", done, kills)
	}
	t.Logf("finished after %d kills", kills)
}
