//go:build race

package scrub_test

// raceEnabled: the race detector makes sync.Pool drop what it is given
// now and then, so that allocation counts say nothing.
const raceEnabled = true
