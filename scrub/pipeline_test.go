package scrub

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// remoteStore is a Store that says it is Remote.
type remoteStore struct{ Store }

func (remoteStore) Remote() bool { return true }

// TestJobsAndSlots: the archives in flight, by default and as given, and
// how many of them may be scanned or rewritten at once.
func TestJobsAndSlots(t *testing.T) {
	cpus := runtime.NumCPU()
	local := []Source{{Name: "local"}}
	remote := []Source{{Name: "local"}, {Name: "s3", Store: remoteStore{}}}
	tests := []struct {
		name              string
		sources           []Source
		jobs              int
		wantJobs, wantFor int
	}{
		{"local default", local, 0, cpus, cpus},
		{"local given", local, 3 * cpus, 3 * cpus, cpus},
		{"remote default", remote, 0, DefaultRemoteJobs, min(2*cpus, DefaultRemoteJobs)},
		{"remote given few", remote, 1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs := tc.jobs
			if jobs == 0 {
				jobs = defaultJobs(tc.sources)
			}
			if jobs != tc.wantJobs {
				t.Errorf("jobs %d, want %d", jobs, tc.wantJobs)
			}
			if got := workSlots(tc.sources, jobs); got != tc.wantFor {
				t.Errorf("work slots %d, want %d", got, tc.wantFor)
			}
		})
	}
}

// TestSlots: a slot given back twice is given back once, and a canceled
// wait for a slot returns the context's error.
func TestSlots(t *testing.T) {
	s := make(slots, 1)
	release, err := s.take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.take(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("take with every slot busy and a canceled context: %v", err)
	}
	release()
	release()
	if s.busy() != 0 {
		t.Errorf("%d slots busy after release", s.busy())
	}
}
