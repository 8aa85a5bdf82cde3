package batch_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/batch"
	"github.com/scrubtool/scrub/scrub/local"
)

// TestSameRequestRefused: while a run of a request has its batch open, a
// second run of the same request and shard is refused at once, before it
// writes anything, with a message naming the batch and its run; another
// shard of it, or another request, runs. Once the first is sealed, the
// same request runs again.
func TestSameRequestRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	loc := local.Dir(dir)
	key, idKey := keys(t)
	req := func(shard *scrub.Shard) *batch.Request {
		return &batch.Request{Command: batch.Erase, Sources: []string{"data"}, Verify: "size", Level: 1, Shard: shard}
	}
	cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: "test"}
	first, err := batch.Begin(ctx, req(nil), listed("A1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	_, err = batch.Begin(ctx, req(nil), listed("A1"), cfg)
	var le *audit.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second run of the same request: %v, want a LockedError", err)
	}
	want := fmt.Sprintf("audit location %s is in use: batch %s is being written by pid %d on host ", dir, first.Name(), os.Getpid())
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; wait for it to finish") {
		t.Errorf("message %q, want it to start %q", err, want)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("the refused run changed the audit location: %v, then %v", before, after)
	}
	// --resume=false is the same request all the same.
	nr := cfg
	nr.NoResume = true
	if _, err := batch.Begin(ctx, req(nil), listed("A1"), nr); !errors.As(err, &le) {
		t.Errorf("with NoResume: %v, want a LockedError", err)
	}

	var others []*batch.Batch
	for i := range 2 {
		b, err := batch.Begin(ctx, req(&scrub.Shard{Index: i, Count: 2}), listed("A1"), cfg)
		if err != nil {
			t.Fatalf("shard %d/2 beside the unsharded run: %v", i, err)
		}
		others = append(others, b)
	}
	b, err := batch.Begin(ctx, req(nil), listed("B2"), cfg)
	if err != nil {
		t.Fatalf("another request: %v", err)
	}
	others = append(others, b)
	for _, b := range append(others, first) {
		if _, err := b.Seal(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	again, err := batch.Begin(ctx, req(nil), listed("A1"), cfg)
	if err != nil {
		t.Fatalf("after the seal: %v", err)
	}
	if _, err := again.Seal(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if locks, _ := filepath.Glob(filepath.Join(dir, ".lock-*")); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
}

// TestSealsChain: batches sealed at the same time (shards of one request,
// other requests) each link to a different predecessor: the batches form
// one chain, not a fork.
func TestSealsChain(t *testing.T) {
	ctx := context.Background()
	loc := local.Dir(t.TempDir())
	key, idKey := keys(t)
	cfg := batch.Config{Location: loc, Key: key, IDKey: idKey, Version: "test"}
	const n = 8
	var bs []*batch.Batch
	for i := range n {
		req := &batch.Request{Command: batch.Erase, Sources: []string{"data"}, Verify: "size", Level: 1, Shard: &scrub.Shard{Index: i, Count: n}}
		b, err := batch.Begin(ctx, req, listed("A1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			if _, err := b.Seal(ctx, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rep, err := audit.Verify(ctx, loc, &audit.Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Valid != n {
		t.Fatalf("verify: %d of %d valid", rep.Valid, rep.Total)
	}
	prev := map[string]string{}
	for _, st := range rep.Batches {
		p := st.Manifest.PrevBatch
		if q, ok := prev[p]; ok {
			t.Errorf("%s and %s both follow %q: the chain forks", q, st.Batch, p)
		}
		prev[p] = st.Batch
	}
}
