package main_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// fixtureV2 holds an audit location that scrub f3176d3 (the main before
// issue 17) wrote: a complete erase, a signed and an unsigned dry run, a
// request in two shares, an erase --block, a sweep, an unblock, an export
// and a retention purge, with the blocklist, the data and the export they
// left. Its README.md says how it was made.
const fixtureV2 = "../../testdata/audit-v2"

// TestFixtureV2 runs today's scrub on a copy of the audit bundles scrub
// f3176d3 wrote: verify with the fixture's signer passes (exit 0), verify
// without one checks consistency only (exit 4), audit lookup answers for
// every listed ID, and a dry-run sweep against f3176d3's unsigned
// blocklist is refused until the list is adopted, then reads it. The
// outputs are the golden files of the fixture (go test -run FixtureV2
// -update rewrites them).
func TestFixtureV2(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "audit-v2")
	if err := os.CopyFS(dir, os.DirFS(fixtureV2)); err != nil {
		t.Fatal(err)
	}
	privateKeys(t, dir)
	audit := filepath.Join(dir, "audit")
	verify := []string{"verify", "--allowed-signers", "keys/signer.allowed_signers", "audit"}
	lookup := []string{"audit", "lookup", "--id-key", "keys/id.key", "--ids", "ids.txt", "--allowed-signers", "keys/signer.allowed_signers", "audit"}

	// What the fixture holds: nine sealed, signed batches and one
	// unsigned dry run, no journal; a blocklist of two unsigned changes.
	signed := auditFiles(t, audit, "batch-*-SHA256SUMS.sig")
	sums := auditFiles(t, audit, "batch-*-SHA256SUMS")
	if j := auditFiles(t, audit, "batch-*.journal"); len(j) != 0 || len(signed) != 9 || len(sums) != 10 {
		t.Fatalf("the fixture should hold 9 signed batches, 1 unsigned dry run and no journal; it has %d, %d and %d",
			len(signed), len(sums)-len(signed), len(j))
	}
	changes := auditFiles(t, filepath.Join(dir, "blocklist"), "*")
	if len(changes) != 2 {
		t.Fatalf("the fixture's blocklist should hold 2 unsigned changes, not %q", changes)
	}
	var heads []string // of the signed batches, oldest first
	for _, s := range signed {
		heads = append(heads, hexSHA256(mustReadFile(t, filepath.Join(audit, strings.TrimSuffix(s, ".sig")))))
	}
	newest := heads[len(heads)-1]

	t.Run("verify", func(t *testing.T) {
		// Every batch valid, the two shares one complete request.
		r := runInDir(t, dir, verify...)
		checkGoldenIn(t, fixtureV2, "FixtureV2", "verify.golden", r.transcript())
		if r.code != 0 || !strings.Contains(r.stdout, "\n9/9 batches valid\n") ||
			!strings.Contains(r.stdout, "(erase in 2 shares, ticket DPO-2018-0102): complete: 2/2 shares\n") ||
			!strings.HasSuffix(r.stdout, "head "+newest+"\n") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		// Each signed batch's head is one --expect-head accepts.
		for _, h := range heads {
			if r := runInDir(t, dir, slices.Concat(verify, []string{"--expect-head", h})...); r.code != 0 {
				t.Errorf("--expect-head %s: exit %d\n%s%s", h, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("verify untrusted", func(t *testing.T) {
		// Without a trusted signer: the same report, consistency only.
		r := runInDir(t, dir, "verify", "audit")
		checkGoldenIn(t, fixtureV2, "FixtureV2", "verify-untrusted.golden", r.transcript())
		if r.code != 4 || !strings.Contains(r.stderr, "consistency only") || !strings.Contains(r.stdout, "\n9/9 batches valid\n") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("lookup", func(t *testing.T) {
		r := runInDir(t, dir, lookup...)
		checkGoldenIn(t, fixtureV2, "FixtureV2", "lookup.golden", r.transcript())
		if r.code != 0 || !strings.Contains(r.stdout, "ids.txt:2  erased: ") || !strings.Contains(r.stdout, "ids.txt:6  listed, no rows found: ") ||
			!strings.Contains(r.stderr, "not part of the record") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		// The archives of data/ written after any watermark in the
		// fixture, whatever the clock of the machine that made it or the
		// checkout's: an incremental sweep reads them all.
		late := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
		err := filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return os.Chtimes(p, late, late)
		})
		if err != nil {
			t.Fatal(err)
		}
		sweep := []string{"sweep", "--dry-run", "--blocklist", "blocklist", "--key", "keys/signer", "--id-key", "keys/id.key", "--audit", "audit",
			"--jobs", "1", "--no-progress", "data"}
		// f3176d3's blocklist changes are unsigned: refused, naming the
		// command that adopts them.
		r := runInDir(t, dir, sweep...)
		checkGoldenIn(t, fixtureV2, "FixtureV2", "sweep-refused.golden", r.transcript())
		if r.code == 0 || !strings.Contains(r.stderr, "scrub unblock --adopt-unsigned") {
			t.Errorf("sweep of an unsigned f3176d3 list: exit %d\n%s", r.code, r.stderr)
		}
		r = runInDir(t, dir, "unblock", "--adopt-unsigned", "--blocklist", "blocklist", "--key", "keys/signer", "--id-key", "keys/id.key", "--audit", "audit")
		// The adopting change is new with each run.
		adopt := withoutNewBatch(r.transcript())
		for _, c := range auditFiles(t, filepath.Join(dir, "blocklist"), "*") {
			if !slices.Contains(changes, c) && !strings.HasSuffix(c, ".sig") {
				adopt = strings.ReplaceAll(adopt, c, "<the adopting change>")
			}
		}
		checkGoldenIn(t, fixtureV2, "FixtureV2", "adopt.golden", adopt)
		if r.code != 0 {
			t.Fatalf("adopt f3176d3's blocklist: exit %d\n%s", r.code, r.stderr)
		}
		r = runInDir(t, dir, sweep...)
		checkGoldenIn(t, fixtureV2, "FixtureV2", "sweep.golden", withoutNewBatch(r.transcript()))
		if r.code != 0 || !strings.Contains(r.stderr, "would-erase data/purge/2376158762_cust_2017-11-23.zip: ") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
		// The adopting unblock and the dry-run sweep are signed batches
		// of the same chain.
		if r := runInDir(t, dir, verify...); r.code != 0 || !strings.Contains(r.stdout, "\n11/11 batches valid\n") {
			t.Errorf("verify after the sweep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	scrubtest.CheckNoIDs(t, audit, filepath.Join(dir, "blocklist"))
}

// checkGoldenIn compares got with the golden file name in the fixture
// directory fixture, or with -update writes it there; test names the test
// that -update is to be run for.
func checkGoldenIn(t *testing.T, fixture, test, name, got string) {
	t.Helper()
	path := filepath.Join(fixture, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := string(mustReadFile(t, path))
	if got == want {
		return
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		wl, gl := "(end)", "(end)"
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			t.Errorf("%s differs at line %d (go test -run %s -update rewrites it):\nwant %s\n got %s\nwhole output:\n%s", path, i+1, test, wl, gl, got)
			return
		}
	}
}
