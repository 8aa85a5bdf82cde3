package scrub

import "errors"

// FailSpool makes every write to the summary's spool of a batch run with
// o fail, as a full disk would (for the tests of package scrub_test).
func FailSpool(o *Options) {
	o.spooled = func(s *resultSpool) { s.err = errors.New("write spool: no space left on device") }
}
