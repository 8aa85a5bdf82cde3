package s3store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestReplacedIncomplete: an archive whose upload is in place but whose
// later step fails (the upload's check, deleting the old versions) is not
// "failed", which means left as it was: it is replaced-incomplete, with
// what remains in its error, counted as not done; a second run finishes
// it.
func TestReplacedIncomplete(t *testing.T) {
	c := testClient(t)
	for _, tt := range []struct{ step, want string }{
		{"uploaded", "replaced, but"},
		{"purge", "older versions still hold the rows"},
	} {
		t.Run(tt.step, func(t *testing.T) {
			bucket := newBucket(t, c, versioned)
			before := uploadExport(t, c, bucket, "e")
			st := newStore(c, bucket, "e")
			st.hook = func(s, _ string) error {
				if s == tt.step {
					return errors.New("injected")
				}
				return nil
			}
			sum := erase(context.Background(), t, st, nil)
			if sum.Totals.ReplacedIncomplete == 0 || sum.Totals.Failed != 0 || sum.Err() == nil {
				t.Fatalf("totals %+v", sum.Totals)
			}
			for _, r := range scrubtest.Results(t, sum) {
				if r.Status != scrub.ReplacedIncomplete {
					continue
				}
				if !strings.Contains(r.Error, tt.want) || r.RowsRemoved == 0 || r.BytesAfter == nil || r.SHA256After == "" {
					t.Errorf("%s: %+v", r.Key, r)
				}
				// It was replaced: the current version is the rewrite.
				key := strings.TrimPrefix(r.Key, "s3://"+bucket+"/")
				orig, ok := before[key]
				if !ok {
					t.Fatalf("%s: not an uploaded key", key)
				}
				if bytes.Equal(get(t, c, bucket, key, ""), orig) {
					t.Errorf("%s: reported replaced, still the original", key)
				}
			}
			sum = erase(context.Background(), t, newStore(c, bucket, "e"), nil)
			if sum.Err() != nil {
				t.Fatalf("second run: %v", sum.Err())
			}
			checkNoVictims(t, c, bucket)
		})
	}
}
