package scrub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// preparing is a local store that checks itself before the first write
// (scrub.Preparer): it counts the calls, fails them with err, and counts
// the archives opened.
type preparing struct {
	*local.Store
	err      error
	prepared int
	opened   atomic.Int64
}

func (p *preparing) Prepare(ctx context.Context) error {
	p.prepared++
	return p.err
}

func (p *preparing) Open(ctx context.Context, obj scrub.Object, fn func(scrub.Content) error) error {
	p.opened.Add(1)
	return p.Store.Open(ctx, obj, fn)
}

// TestPrepare: Run lets every source with archives to process check its
// store once, after the listing and before any archive is opened, except
// in a dry run; an error stops the batch before any archive is touched,
// and names the source.
func TestPrepare(t *testing.T) {
	refused := errors.New("the store ignores If-Match")
	for _, tc := range []struct {
		name     string
		errs     [2]error // of the two sources
		dryRun   bool
		onlyA    bool // the archives of b are not selected
		prepared [2]int
		err      string
	}{
		{name: "both ready", prepared: [2]int{1, 1}},
		{name: "second refuses", errs: [2]error{nil, refused}, prepared: [2]int{1, 1}, err: "b: the store ignores If-Match"},
		{name: "first refuses", errs: [2]error{refused, nil}, prepared: [2]int{1, 0}, err: "a: the store ignores If-Match"},
		{name: "dry run", errs: [2]error{refused, refused}, dryRun: true},
		{name: "nothing selected in one", errs: [2]error{nil, refused}, onlyA: true, prepared: [2]int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stores [2]*preparing
			var sources []scrub.Source
			for i, name := range []string{"a", "b"} {
				stores[i] = &preparing{Store: &local.Store{Root: scrubtest.CopyExport(t)}, err: tc.errs[i]}
				sources = append(sources, scrub.Source{Name: name, Store: stores[i]})
			}
			listed := false
			opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, DryRun: tc.dryRun,
				Listed: func([]string) error { listed = true; return nil }}
			if tc.onlyA {
				a := stores[0].Root
				opt.Select = func(o scrub.Object) bool { return strings.HasPrefix(o.Key, a) }
			}
			sum, err := scrub.Run(context.Background(), opt, sources)
			if fmt.Sprint(err) != fmt.Sprint(errOrNil(tc.err)) {
				t.Errorf("Run: %v, want %s", err, tc.err)
			}
			for i, st := range stores {
				if st.prepared != tc.prepared[i] {
					t.Errorf("source %d prepared %d times, want %d", i, st.prepared, tc.prepared[i])
				}
			}
			if tc.err != "" {
				if !errors.Is(err, refused) || sum != nil || listed || stores[0].opened.Load()+stores[1].opened.Load() != 0 {
					t.Errorf("after a refusal: %v, summary %v, listed %v, %d archives opened", err, sum, listed, stores[0].opened.Load()+stores[1].opened.Load())
				}
				return
			}
			want := 26 // 13 archives with listed IDs in each source
			if tc.onlyA {
				want = 13
			}
			if err != nil || sum == nil {
				t.Fatalf("Run: %v", err)
			}
			if sum.Err() != nil || sum.Totals.Erased+sum.Totals.WouldErase != want {
				t.Errorf("totals %+v: %v", sum.Totals, sum.Err())
			}
		})
	}
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}
