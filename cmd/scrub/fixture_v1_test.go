package main_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/audit-v1 with what the binary prints")

// fixtureV1 holds the audit bundles that scrub 39fca86 wrote, among them
// one unfinished batch, with the data that batch was interrupted on. Its
// README.md says how it was made.
const fixtureV1 = "../../testdata/audit-v1"

// interruptedV1 is the erase that was killed midway while making the
// fixture, exactly as it was run in the fixture's directory: a batch's
// request is fingerprinted by its SOURCE strings as given.
var interruptedV1 = []string{"erase", "--ids", "ids.txt", "--key", "keys/signer", "--id-key", "keys/id.key",
	"--audit", "audit", "--jobs", "1", "--no-progress", "--ticket", "DPO-2017-0420", "data"}

// TestFixtureV1 runs today's scrub on a copy of the audit bundles scrub
// 39fca86 wrote: verify and audit lookup say exactly what v1 said (the
// golden files), the unfinished batch v1 left resumes, finishes the
// archives v1 did not and leaves those it did alone, and then every batch
// verifies. A sweep against v1's blocklist and logs reads what they say.
func TestFixtureV1(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "audit-v1")
	if err := os.CopyFS(dir, os.DirFS(fixtureV1)); err != nil {
		t.Fatal(err)
	}
	privateKeys(t, dir)
	audit, data := filepath.Join(dir, "audit"), filepath.Join(dir, "data")
	verify := []string{"verify", "--allowed-signers", "keys/signer.allowed_signers", "audit"}
	lookup := []string{"audit", "lookup", "--id-key", "keys/id.key", "--ids", "ids.txt", "--allowed-signers", "keys/signer.allowed_signers", "audit"}

	// What the fixture holds: sealed batches, an unsigned dry run, and
	// one journal, of a batch that finished some of its archives.
	journals := auditFiles(t, audit, "batch-*.journal")
	signed := auditFiles(t, audit, "batch-*-SHA256SUMS.sig")
	sums := auditFiles(t, audit, "batch-*-SHA256SUMS")
	if len(journals) != 1 || len(signed) < 2 || len(sums) == len(signed) {
		t.Fatalf("the fixture should hold one journal, signed batches and an unsigned dry run; it has %d, %d and %d",
			len(journals), len(signed), len(sums)-len(signed))
	}
	batch := strings.TrimSuffix(journals[0], ".journal")
	journal := mustReadFile(t, filepath.Join(audit, journals[0]))
	var heads []string // of the signed batches, oldest first
	for _, s := range signed {
		heads = append(heads, hexSHA256(mustReadFile(t, filepath.Join(audit, strings.TrimSuffix(s, ".sig")))))
	}
	newest := heads[len(heads)-1]
	archives := archivesIn(t, data)
	done := doneIn(t, journal)
	if len(done) == 0 || len(done) == len(archives) {
		t.Fatalf("the fixture's batch should have finished some of its %d archives, not %d", len(archives), len(done))
	}

	t.Run("verify", func(t *testing.T) {
		// Every sealed batch valid, the unfinished one reported as
		// such, exit 1.
		r := runInDir(t, dir, verify...)
		checkGolden(t, "verify.golden", r.transcript())
		if r.code != 1 || !strings.Contains(r.stdout, batch+"  INVALID: missing  (unfinished") ||
			!strings.Contains(r.stdout, fmt.Sprintf("\n%d/%d batches valid\nhead %s\n", len(signed), len(signed)+1, newest)) {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("expect-head", func(t *testing.T) {
		// Each signed batch's head is one --expect-head accepts, and
		// the report stays the same; a head of no batch is missing.
		want := runInDir(t, dir, verify...).transcript()
		for _, h := range heads {
			if r := runInDir(t, dir, slices.Concat(verify, []string{"--expect-head", h})...); r.transcript() != want {
				t.Errorf("--expect-head %s: the report changed:\n%s", h, r.transcript())
			}
		}
		wrong := newest[:63] + "0"
		if newest[63] == '0' {
			wrong = newest[:63] + "1"
		}
		r := runInDir(t, dir, slices.Concat(verify, []string{"--expect-head", wrong})...)
		if r.code != 1 || !strings.Contains(r.stdout, "expected head "+wrong+"  INVALID: missing  (no batch has this SHA256SUMS hash)\n") ||
			!strings.Contains(r.stdout, fmt.Sprintf("\n%d/%d batches valid\n", len(signed), len(signed)+2)) {
			t.Errorf("--expect-head of no batch: exit %d\n%s", r.code, r.stdout)
		}
	})
	t.Run("lookup", func(t *testing.T) {
		// The unfinished batch does not verify: lookup cannot answer
		// until it is resumed.
		r := runInDir(t, dir, lookup...)
		checkGolden(t, "lookup.golden", r.transcript())
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "cannot answer: the audit bundle does not verify: "+batch+": INVALID: missing (unfinished") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	// The head of the resumed batch and the time it was sealed, which
	// are new with each run.
	head, finished := "", ""
	resumed := func(s string) string {
		if head == "" {
			return s
		}
		s = strings.ReplaceAll(s, head, "<head of the resumed batch>")
		if finished != "" {
			s = strings.ReplaceAll(s, "(finished "+finished+")", "(finished <when the resumed batch was sealed>)")
		}
		return s
	}
	if !t.Run("resume", func(t *testing.T) {
		snap := scrubtest.Snapshot(t, data)
		r := runInDir(t, dir, interruptedV1...)
		if b, err := os.ReadFile(filepath.Join(audit, batch+"-SHA256SUMS")); err == nil {
			head = hexSHA256(b)
		}
		var m struct{ Finished string }
		if b, err := os.ReadFile(filepath.Join(audit, batch+"-manifest.json")); err == nil && json.Unmarshal(b, &m) == nil {
			finished = m.Finished
		}
		checkGolden(t, "resume.golden", resumed(diagnostics(r)))
		if r.code != 0 || !strings.Contains(r.stderr, "scrub: resuming "+batch+": ") || head == "" {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		// The archives v1 finished are left alone; every archive is
		// now its original minus the victims' rows, and nothing else is
		// in data/ (the staged file of the killed run is gone).
		scrubtest.SameFiles(t, snap, scrubtest.Snapshot(t, data), func(rel string) bool { return done["data/"+filepath.ToSlash(rel)] })
		if got := archivesIn(t, data); !slices.Equal(got, archives) {
			t.Errorf("data/ holds %q, want %q", got, archives)
		}
		err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".") {
				t.Errorf("%s is left in data/", d.Name())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, rel := range archives {
			orig := mustReadFile(t, filepath.Join(scrubtest.ExportDir, filepath.FromSlash(rel)))
			scrubtest.CheckArchive(t, rel, orig, mustReadFile(t, filepath.Join(data, filepath.FromSlash(rel))))
		}
		// The batch is sealed as one chain: v1's lines as they were,
		// then the resume, with one final event per archive.
		if _, err := os.Stat(filepath.Join(audit, journals[0])); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the journal is still there (%v)", err)
		}
		sealedLog := mustReadFile(t, filepath.Join(audit, batch+".jsonl"))
		if !bytes.HasPrefix(sealedLog, journal) {
			t.Errorf("the sealed log does not begin with v1's journal, byte for byte")
		} else if ev := logEvents(t, sealedLog[len(journal):]); len(ev) == 0 || ev[0].Type != "resume" {
			t.Errorf("the resumed part of the log does not begin with a resume event: %+v", ev)
		}
		final := map[string]int{}
		for _, ev := range logEvents(t, sealedLog) {
			if ev.Type == "archive" {
				final[ev.Key]++
				if ev.Status != "erased" && ev.Status != "unchanged" {
					t.Errorf("%s: %s", ev.Key, ev.Status)
				}
			}
		}
		for _, rel := range archives {
			if n := final["data/"+rel]; n != 1 {
				t.Errorf("data/%s: %d archive events, want 1", rel, n)
			}
		}
		if len(final) != len(archives) {
			t.Errorf("archive events for %d keys, want %d: %v", len(final), len(archives), final)
		}
	}) {
		return
	}

	t.Run("verify resumed", func(t *testing.T) {
		// Every batch verifies now, and the resumed batch's head and
		// v1's newest are both expected heads that hold.
		r := runInDir(t, dir, verify...)
		checkGolden(t, "verify-resumed.golden", resumed(r.transcript()))
		if r.code != 0 || !strings.Contains(r.stdout, batch+"  valid  (erase, complete;") ||
			!strings.Contains(r.stdout, fmt.Sprintf("\n%d/%d batches valid\nhead %s\n", len(signed)+1, len(signed)+1, head)) {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := runInDir(t, dir, slices.Concat(verify, []string{"--expect-head", newest, "--expect-head", head})...); r.code != 0 {
			t.Errorf("--expect-head: exit %d\n%s", r.code, r.stdout)
		}
	})
	t.Run("lookup resumed", func(t *testing.T) {
		r := runInDir(t, dir, lookup...)
		checkGolden(t, "lookup-resumed.golden", resumed(r.transcript()))
		if r.code != 0 || !strings.Contains(r.stdout, batch+": listed;") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		// A dry-run sweep of the sources v1's sweep covered replays
		// v1's blocklist (an add, then an unblock) and takes up from
		// v1's sweep watermark: it reads the archives written since
		// (new here), not the older ones.
		exports := filepath.Join(dir, "exports")
		if err := os.CopyFS(exports, os.DirFS(scrubtest.ExportDir)); err != nil {
			t.Fatal(err)
		}
		// After any watermark in the fixture, whatever the clock of
		// the machine that made it; monthly/ long before.
		late, early := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2017, 11, 30, 0, 0, 0, 0, time.UTC)
		err := filepath.WalkDir(exports, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			mt := late
			if filepath.Base(filepath.Dir(p)) == "monthly" {
				mt = early
			}
			return os.Chtimes(p, mt, mt)
		})
		if err != nil {
			t.Fatal(err)
		}
		sweep := []string{"sweep", "--dry-run", "--blocklist", "blocklist", "--key", "keys/signer", "--id-key", "keys/id.key", "--audit", "audit",
			"--jobs", "1", "--no-progress", "exports"}
		// v1's blocklist changes are unsigned: refused, naming the way
		// to bring the list under signatures, until it is adopted.
		r := runInDir(t, dir, sweep...)
		if r.code == 0 || !strings.Contains(r.stderr, "--adopt-unsigned") {
			t.Errorf("sweep of an unsigned v1 list: exit %d\n%s", r.code, r.stderr)
		}
		r = runInDir(t, dir, "unblock", "--adopt-unsigned", "--blocklist", "blocklist", "--key", "keys/signer", "--id-key", "keys/id.key", "--audit", "audit")
		if r.code != 0 {
			t.Fatalf("adopt v1's blocklist: exit %d\n%s", r.code, r.stderr)
		}
		r = runInDir(t, dir, sweep...)
		checkGolden(t, "sweep.golden", withoutNewBatch(r.transcript()))
		if r.code != 0 || !strings.Contains(r.stderr, ", incremental: archives written since ") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	scrubtest.CheckNoIDs(t, audit, filepath.Join(dir, "blocklist"))
}

// fixtureBin is the binary TestFixtureV1 runs: the one TestMain built, or
// $SCRUB_FIXTURE_BIN. The golden files were recorded with the v1 binary
// there and -update.
func fixtureBin(t *testing.T) string {
	b := os.Getenv("SCRUB_FIXTURE_BIN")
	if b == "" {
		return bin
	}
	b, err := filepath.Abs(b)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runInDir runs the binary in dir and returns its exit code and output. It
// fails the test if a listed ID shows up in the output.
func runInDir(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(fixtureBin(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	r := result{code, stdout.String(), stderr.String()}
	for _, id := range scrubtest.Listed {
		if strings.Contains(r.stdout, id) || strings.Contains(r.stderr, id) {
			t.Errorf("output of %q contains the listed ID %s", args, id)
		}
	}
	return r
}

// transcript is a run's exit code and output, as the golden files hold it.
func (r result) transcript() string {
	return fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", r.code, r.stdout, r.stderr)
}

// diagnostics is the transcript of an erase without the lines of single
// archives, whose sizes are those of the compressor.
func diagnostics(r result) string {
	var b strings.Builder
	for line := range strings.Lines(r.stderr) {
		if strings.HasPrefix(line, "scrub: ") {
			b.WriteString(line)
		}
	}
	return result{r.code, r.stdout, b.String()}.transcript()
}

// withoutNewBatch drops the lines that name the batch a run made, whose
// name and head are new each time.
func withoutNewBatch(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(line, "scrub: audit bundle ") && !strings.HasPrefix(line, "scrub: audit head ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// checkGolden compares got with the golden file name in the fixture, or
// with -update writes it there.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	checkGoldenIn(t, fixtureV1, "FixtureV1", name, got)
}

// glob returns the names of the files in dir that match pattern, sorted.
func auditFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	return names
}

// archivesIn returns the paths below dir ('/'-separated, sorted) of the
// files that are not hidden.
func archivesIn(t *testing.T, dir string) []string {
	t.Helper()
	var rels []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		rels = append(rels, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rels)
	return rels
}

type logEvent struct{ Type, Key, Status string }

// events decodes the type, key and status of each line of a log.
func logEvents(t *testing.T, log []byte) []logEvent {
	t.Helper()
	var out []logEvent
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev logEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line %d: %v", len(out)+1, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// doneIn returns the keys of the archives a journal has a final event for.
func doneIn(t *testing.T, journal []byte) map[string]bool {
	t.Helper()
	done := map[string]bool{}
	for _, ev := range logEvents(t, journal) {
		if ev.Type == "archive" {
			done[ev.Key] = true
		}
	}
	return done
}

func mustReadFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// privateKeys makes the fixture's private keys readable by their owner
// only, as scrub keygen left them: a clone (and os.CopyFS) gives them
// 0644, for which scrub warns.
func privateKeys(t *testing.T, dir string) {
	t.Helper()
	for _, k := range []string{"signer", "id.key"} {
		if err := os.Chmod(filepath.Join(dir, "keys", k), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}
