package cli_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestShards splits one request into four shares run at once on the same
// source and audit directory, as the workers of an Indexed Job would:
// together they do exactly what one erase does, each archive once, and
// scrub verify reports the request complete only when every share is.
func TestShards(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	a := scrubtest.NewAudit(t)
	defer scrubtest.CheckNoIDs(t, a.Dir)
	erase := func(shard string, extra ...string) output {
		args := slices.Concat([]string{"erase", "--ids", scrubtest.IDsFile, "--json", "--no-progress", "--ticket", "GDPR-7", "--shard", shard}, extra, []string{dir})
		return runPlain(t, nil, a.WithAudit(args)...)
	}
	verify := func() output { return runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir) }

	// Shares 0-2 at once; the request is incomplete without share 3.
	sums := make([]*scrub.FullSummary, 4)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			out := erase(fmt.Sprintf("%d/4", i))
			if out.err != nil {
				t.Errorf("shard %d/4: %v\n%s", i, out.err, out.stderr)
				return
			}
			sums[i] = summary(t, out.stdout)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	out := verify()
	if !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, "3/3 batches valid") ||
		!strings.Contains(out.stdout, "(erase in 4 shares, ticket GDPR-7): INCOMPLETE: 3/4 shares complete; 3/4 missing") {
		t.Errorf("verify without share 3: %v\n%s", out.err, out.stdout)
	}

	out = erase("3/4")
	if out.err != nil {
		t.Fatalf("shard 3/4: %v\n%s", out.err, out.stderr)
	}
	sums[3] = summary(t, out.stdout)
	out = verify()
	if out.err != nil || !strings.Contains(out.stdout, "4/4 batches valid") || !strings.Contains(out.stdout, "complete: 4/4 shares") {
		t.Errorf("verify with all shares: %v\n%s", out.err, out.stdout)
	}
	for i := range 4 {
		if !strings.Contains(out.stdout, fmt.Sprintf("(erase shard %d/4, complete;", i)) {
			t.Errorf("verify does not show share %d/4:\n%s", i, out.stdout)
		}
	}

	// Each archive in exactly one share, the one ShardOf names; the
	// shares add up to a whole erase.
	var total scrub.Totals
	seen := map[string]int{}
	for i, sum := range sums {
		for _, r := range sum.Archives {
			seen[r.Key]++
			rel, _ := filepath.Rel(dir, r.Key)
			if want := scrub.ShardOf(filepath.ToSlash(rel), 4); want != i {
				t.Errorf("%s processed by share %d, belongs to %d", rel, i, want)
			}
			total.Add(r)
		}
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("%s processed %d times", key, n)
		}
	}
	checkFullErase(t, &scrub.FullSummary{Archives: slices.Concat(sums[0].Archives, sums[1].Archives, sums[2].Archives, sums[3].Archives), Totals: total})
	checkClean(t, dir)
}

// TestShardPartial: a share that ends partial leaves the request
// incomplete until the share is run again and completes.
func TestShardPartial(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	a := scrubtest.NewAudit(t)
	// A corrupt archive in the share that holds it.
	bad := "2376158762_cust_2017-11-30.csv.gz"
	scrubtest.Corrupt(t, dir, bad)
	share := scrub.ShardOf(bad, 2)
	args := func(i int) []string {
		return a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--shard", fmt.Sprintf("%d/2", i), dir})
	}
	if out := runPlain(t, nil, args(1-share)...); out.err != nil {
		t.Fatalf("the share without the corrupt archive: %v\n%s", out.err, out.stderr)
	}
	out := runPlain(t, nil, args(share)...)
	if !errors.Is(out.err, scrub.ErrPartial) {
		t.Fatalf("the share with the corrupt archive: %v, want a partial failure\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if want := fmt.Sprintf("INCOMPLETE: 1/2 shares complete; %d/2 partial (batch-", share); !errors.Is(out.err, cli.ErrInvalid) || !strings.Contains(out.stdout, want) {
		t.Errorf("verify after a partial share: %v, want %q\n%s", out.err, want, out.stdout)
	}
	// The archive is repaired (here: removed) and the share run again.
	if err := os.Remove(filepath.Join(dir, bad)); err != nil {
		t.Fatal(err)
	}
	if out := runPlain(t, nil, args(share)...); out.err != nil {
		t.Fatalf("share run again: %v\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if out.err != nil || !strings.Contains(out.stdout, "complete: 2/2 shares") {
		t.Errorf("verify after the share completed: %v\n%s", out.err, out.stdout)
	}
}

// TestShardEmptyShare: with more shares than archives some shares are
// empty; such a worker succeeds and its batch counts.
func TestShardEmptyShare(t *testing.T) {
	t.Parallel()
	dir := scrubtest.CopyExport(t)
	a := scrubtest.NewAudit(t)
	const n = 40
	have := map[int]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			have[scrub.ShardOf(filepath.ToSlash(rel), n)] = true
		}
		return nil
	})
	empty := -1
	for i := range n {
		if !have[i] {
			empty = i
			break
		}
	}
	if empty < 0 {
		t.Fatal("no empty share")
	}
	out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--shard", fmt.Sprintf("%d/%d", empty, n), dir})...)
	if out.err != nil || !strings.Contains(out.stderr, "none of the 14 archives falls to this share") {
		t.Fatalf("empty share: %v\n%s", out.err, out.stderr)
	}
	out = runPlain(t, nil, "verify", "--pub", a.Pub, a.Dir)
	if want := fmt.Sprintf("INCOMPLETE: 1/%d shares complete", n); !strings.Contains(out.stdout, want) {
		t.Errorf("verify: want %q\n%s", want, out.stdout)
	}
}

// TestShardFromEnvironment: --shard auto/N takes the index from the
// variable a Kubernetes Indexed Job or an AWS Batch array job sets.
func TestShardFromEnvironment(t *testing.T) {
	for _, env := range []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("JOB_COMPLETION_INDEX", "")
			t.Setenv("AWS_BATCH_JOB_ARRAY_INDEX", "")
			t.Setenv(env, "1")
			dir := scrubtest.CopyExport(t)
			out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--json", "--no-progress", "--shard", "auto/2", dir)
			if out.err != nil {
				t.Fatalf("%v\n%s", out.err, out.stderr)
			}
			for _, r := range summary(t, out.stdout).Archives {
				rel, _ := filepath.Rel(dir, r.Key)
				if scrub.ShardOf(filepath.ToSlash(rel), 2) != 1 {
					t.Errorf("%s is not in share 1/2", rel)
				}
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		t.Setenv("JOB_COMPLETION_INDEX", "")
		t.Setenv("AWS_BATCH_JOB_ARRAY_INDEX", "")
		out := run(t, nil, "erase", "--ids", scrubtest.IDsFile, "--shard", "auto/2", scrubtest.CopyExport(t))
		if !isUsage(out.err) || !strings.Contains(errString(out.err), "JOB_COMPLETION_INDEX") {
			t.Errorf("auto without an index: %v", out.err)
		}
	})
}
