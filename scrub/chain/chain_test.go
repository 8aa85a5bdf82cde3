package chain_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/chain"
	"github.com/scrubtool/scrub/scrub/local"
)

func TestOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		nodes   []chain.Node
		order   []int
		heads   []string
		missing string // of a BrokenError
		circle  bool
	}{
		{"empty", nil, []int{}, nil, "", false},
		{"a chain", []chain.Node{{"a", "1", nil}, {"b", "2", []string{"1"}}, {"c", "3", []string{"2"}}}, []int{0, 1, 2}, []string{"3"}, "", false},
		{"stored out of order", []chain.Node{{"a", "3", []string{"2"}}, {"b", "2", []string{"1"}}, {"c", "1", nil}}, []int{2, 1, 0}, []string{"3"}, "", false},
		{"writers at once", []chain.Node{{"a", "1", nil}, {"b", "2", []string{"1"}}, {"c", "3", []string{"1"}}}, []int{0, 1, 2}, []string{"2", "3"}, "", false},
		{"joined again", []chain.Node{{"a", "1", nil}, {"b", "2", []string{"1"}}, {"c", "3", []string{"1"}}, {"d", "4", []string{"2", "3"}}}, []int{0, 1, 2, 3}, []string{"4"}, "", false},
		{"a change deleted", []chain.Node{{"a", "1", nil}, {"c", "3", []string{"2"}}}, nil, nil, "2", false},
		{"a circle", []chain.Node{{"a", "1", []string{"2"}}, {"b", "2", []string{"1"}}}, nil, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, heads, err := chain.Order(tt.nodes)
			var broken *chain.BrokenError
			switch {
			case tt.missing != "" || tt.circle:
				if !errors.As(err, &broken) || broken.Missing != tt.missing {
					t.Fatalf("Order = %v, want a BrokenError missing %q", err, tt.missing)
				}
			case err != nil:
				t.Fatal(err)
			case !slices.Equal(order, tt.order) || !slices.Equal(heads, tt.heads):
				t.Errorf("Order = %v %v, want %v %v", order, heads, tt.order, tt.heads)
			}
		})
	}
}

func TestNewName(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 20, 15, 0, 123e6, time.FixedZone("CET", 3600))
	a, b := chain.NewName("queue-", now), chain.NewName("queue-", now)
	if !regexp.MustCompile(`^queue-20261203T191500\.123Z-[0-9a-f]{8}\.json$`).MatchString(a) || a == b {
		t.Errorf("names %s %s", a, b)
	}
}

// TestCreateOnce: of writers that create a file at once, exactly one does.
func TestCreateOnce(t *testing.T) {
	t.Parallel()
	loc := local.Dir(t.TempDir())
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := chain.CreateOnce(context.Background(), loc, "id.json", fmt.Appendf(nil, "%d\n", i))
			if err != nil {
				t.Error(err)
			}
			created[i] = ok
		}()
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(created, func(b bool) bool { return !b })); n != 1 {
		t.Errorf("%d writers created the file, want 1", n)
	}
}

// TestClassify: a log's directory sorted into its identity file, change
// files in name order and the changes that have a signature; a signature
// without its change, and other names, are none of the log's.
func TestClassify(t *testing.T) {
	change := regexp.MustCompile(`^c-[0-9]+\.json$`)
	got := chain.Classify([]string{"c-2.json", "id.json", "c-1.json.sig", "c-1.json", "c-3.json.sig", "notes.txt", "c-x.json"}, "id.json", change)
	if !got.HasID || !slices.Equal(got.Changes, []string{"c-1.json", "c-2.json"}) ||
		!got.Signed["c-1.json"] || got.Signed["c-2.json"] || !got.Signed["c-3.json"] || len(got.Signed) != 2 {
		t.Errorf("Classify = %+v", got)
	}
	if got := chain.Classify([]string{"c-1.json"}, "id.json", change); got.HasID {
		t.Errorf("no identity file: %+v", got)
	}
}
