package audit

import (
	"fmt"
	"slices"
	"strings"
)

// SplitRequest is a request split into shares with --shard I/N: N workers,
// each with its own batch (or batches: a share that ended partial is run
// again) under the same request fingerprint.
type SplitRequest struct {
	Request string `json:"request"` // Start.Request, the same for every share
	Command string `json:"command"`
	Ticket  string `json:"ticket,omitempty"`
	Count   int    `json:"count"` // N
	// Shares holds, per index 0..N-1, the valid batches of that share,
	// oldest first; Done the index's newest batch that ended complete,
	// or "".
	Shares []Share `json:"shares"`
}

// Share is one worker's part of a split request.
type Share struct {
	Batches []string `json:"batches"`
	Results []string `json:"results"`        // the result of each batch
	Done    string   `json:"done,omitempty"` // a batch that ended complete
}

// Complete reports whether every share has a batch that ended complete.
func (s *SplitRequest) Complete() bool { return len(s.Missing()) == 0 }

// Missing lists the shares without a complete batch.
func (s *SplitRequest) Missing() []int {
	var m []int
	for i, sh := range s.Shares {
		if sh.Done == "" {
			m = append(m, i)
		}
	}
	return m
}

// Status is the request's status as scrub verify prints it.
func (s *SplitRequest) Status() string {
	done := s.Count - len(s.Missing())
	if s.Complete() {
		return fmt.Sprintf("complete: %d/%d shares", done, s.Count)
	}
	var why []string
	for _, i := range s.Missing() {
		sh := s.Shares[i]
		if len(sh.Batches) == 0 {
			why = append(why, fmt.Sprintf("%d/%d missing", i, s.Count))
		} else {
			why = append(why, fmt.Sprintf("%d/%d %s (%s)", i, s.Count, sh.Results[len(sh.Results)-1], sh.Batches[len(sh.Batches)-1]))
		}
	}
	return fmt.Sprintf("INCOMPLETE: %d/%d shares complete; %s", done, s.Count, strings.Join(why, ", "))
}

// splitRequests groups the valid batches of split requests. Only valid
// batches count: an invalid one's claims are not to be trusted, and it is
// reported as invalid already.
func splitRequests(batches []*BatchStatus) []*SplitRequest {
	byReq := map[string]*SplitRequest{}
	var out []*SplitRequest
	for _, b := range batches {
		st, m := b.Start, b.Manifest
		if !b.Valid() || st == nil || st.Shard == nil || st.Request == "" || st.DryRun {
			continue
		}
		key := fmt.Sprintf("%s %d", st.Request, st.Shard.Count)
		r := byReq[key]
		if r == nil {
			r = &SplitRequest{Request: st.Request, Command: st.Command, Ticket: st.Ticket, Count: st.Shard.Count,
				Shares: make([]Share, st.Shard.Count)}
			byReq[key] = r
			out = append(out, r)
		}
		i := st.Shard.Index
		if i < 0 || i >= r.Count {
			continue
		}
		sh := &r.Shares[i]
		sh.Batches = append(sh.Batches, b.Batch)
		sh.Results = append(sh.Results, m.Result)
		if m.Result == ResultComplete {
			sh.Done = b.Batch
		}
	}
	slices.SortFunc(out, func(a, b *SplitRequest) int { return strings.Compare(a.Request, b.Request) })
	return out
}
