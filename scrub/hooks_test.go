package scrub

import "os"

// OnStaged has a batch of opt call fn with each staged file once its
// rewrite is written, before it is verified: for tests that change it.
func OnStaged(opt *Options, fn func(f *os.File)) { opt.staged = fn }

// EraseJobs is eraseJobs, for tests.
var EraseJobs = eraseJobs
