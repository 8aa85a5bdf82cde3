package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/local"
)

// TestForksHonest: histories a writer makes honestly are not forks: the
// first batch of a location sealed on a host whose clock is ahead, just
// before another batch; and a batch of an earlier release (linked to the
// newest by name, the chain tip left alone) between batches linked in seal
// order.
func TestForksHonest(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	trust := &Trust{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}
	idKey, err := ParseIDKey(NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	seal := func(t *testing.T, dir string, skew time.Duration, old bool) *Sealed {
		st := Start{Command: "erase", Tool: Tool{Name: "scrub", Version: "test"}, Sources: []string{"exports"}, IDs: 1, IDKey: idKey.ID()}
		w, err := Begin(local.Dir(dir), dir, key, st)
		if err != nil {
			t.Fatal(err)
		}
		w.now = func() time.Time { return time.Now().UTC().Add(skew) }
		w.started = w.started.Add(skew)
		w.oldChain = old
		if err := w.IDs([]string{idKey.Tag([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
		s, err := w.Finish(context.Background(), ResultComplete, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(t *testing.T, dir, head string) {
		rep, err := Verify(context.Background(), local.Dir(dir), trust, []string{head})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			for _, st := range rep.Batches {
				t.Errorf("%s: %s %s", st.Batch, st.Status(), st.Detail)
			}
		}
	}
	t.Run("clock ahead", func(t *testing.T) {
		dir := t.TempDir()
		seal(t, dir, 30*time.Second, false)
		check(t, dir, seal(t, dir, 0, false).Head)
	})
	t.Run("an earlier release between", func(t *testing.T) {
		dir := t.TempDir()
		seal(t, dir, 0, false)
		seal(t, dir, 0, false)
		tip, err := os.ReadFile(filepath.Join(dir, chainTipFile))
		if err != nil {
			t.Fatal(err)
		}
		seal(t, dir, 0, true) // links to the newest; an earlier release leaves the tip as it was
		if err := os.WriteFile(filepath.Join(dir, chainTipFile), tip, 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, dir, seal(t, dir, 0, false).Head)
	})
}
