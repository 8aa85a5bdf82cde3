package scrubtest

import (
	"testing"

	"github.com/scrubtool/scrub/scrub"
)

// Results returns every archive's result of a batch's summary, in the
// order of their keys, read back from its spool; it fails the test if they
// cannot be read.
func Results(t testing.TB, sum *scrub.Summary) []scrub.Result {
	t.Helper()
	rs, err := sum.Results()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
