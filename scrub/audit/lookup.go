package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrCannotAnswer is wrapped by the errors of Lookup that mean the
// location cannot say whether an ID was erased: it holds no sealed batch,
// it does not verify, or no batch names IDs under the key given.
var ErrCannotAnswer = errors.New("cannot answer")

// Hit is one batch's record of one ID.
type Hit struct {
	Batch    string
	Command  string // erase, sweep, export, … (of batch_start)
	DryRun   bool
	Finished string // when the batch was sealed (of its manifest)
	// Requested reports that the ID was on the batch's list.
	Requested bool
	// Archives are the archives whose rows of the ID were removed (or,
	// in a dry run, would have been), with their status.
	Archives []ArchiveHit
}

// ArchiveHit is an archive that held rows of a looked-up ID.
type ArchiveHit struct {
	Key    string
	Status string
	// VersionsDeleted counts the old versions deleted with it.
	VersionsDeleted int
}

// What the record says of one ID, from the strongest answer down.
const (
	OutcomeErased       = "erased"                 // rows removed by a batch that was not a dry run
	OutcomeNotErased    = "rows found, not erased" // rows found by a real batch, none of its archives erased
	OutcomeDryRunOnly   = "found in a dry run only"
	OutcomeListedNoRows = "listed, no rows found"
	OutcomeNotMentioned = "not in any batch"
)

// Outcome sums up the hits of one ID as one of the constants above.
func Outcome(hits []Hit) string {
	rows, dry, listed := false, false, false
	for _, h := range hits {
		listed = listed || h.Requested
		for _, a := range h.Archives {
			switch {
			case h.DryRun:
				dry = true
			case a.Status == StatusErased:
				return OutcomeErased
			default:
				rows = true
			}
		}
	}
	switch {
	case rows:
		return OutcomeNotErased
	case dry:
		return OutcomeDryRunOnly
	case listed:
		return OutcomeListedNoRows
	}
	return OutcomeNotMentioned
}

// Answer is what Lookup found.
type Answer struct {
	// Hits are, for each looked-up tag, the batches that name it,
	// oldest first.
	Hits map[string][]Hit
	// Batches counts the batches asked: valid, under the key given.
	Batches int
	// Other are valid batches that name IDs under another ID key, which
	// cannot answer for the key given; OtherKeys are those keys' IDs.
	Other, OtherKeys []string
	// Unsigned are unsigned dry runs, which are not part of the record
	// and were not asked.
	Unsigned []string
	// Pinned and Signers are as in Report: without a trusted signer the
	// answer rests on the bundle's consistency only.
	Pinned  bool
	Signers []string
}

// Lookup answers, for each tag (IDKey.Tag of an ID), which batches in loc
// listed it and which archives held its rows. It first verifies loc as
// Verify does, with trust and expectHeads, and answers only from a record
// that verifies in full; otherwise, or when loc holds no sealed batch, or
// no batch names IDs under key (but some under another), its error wraps
// ErrCannotAnswer and says why.
func Lookup(ctx context.Context, loc Location, trust *Trust, expectHeads []string, key *IDKey, tags []string) (*Answer, error) {
	rep, err := Verify(ctx, loc, trust, expectHeads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCannotAnswer, err)
	}
	if rep.Total == 0 {
		return nil, fmt.Errorf("%w: no sealed audit batch in %s", ErrCannotAnswer, loc)
	}
	if !rep.OK() {
		var bad []string
		for _, st := range rep.Batches {
			if !st.Unsigned && !st.Valid() {
				s := st.Batch + ": " + st.Status()
				if st.Detail != "" {
					s += " (" + st.Detail + ")"
				}
				bad = append(bad, s)
			}
		}
		for _, r := range rep.Split {
			if !r.Complete() {
				bad = append(bad, fmt.Sprintf("request %s split into %d shares: %s", r.Request[:16], r.Count, r.Status()))
			}
		}
		return nil, fmt.Errorf("%w: the audit bundle does not verify: %s", ErrCannotAnswer, strings.Join(bad, "; "))
	}
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	ans := &Answer{Hits: map[string][]Hit{}, Pinned: rep.Pinned, Signers: rep.Signers}
	otherKeys := map[string]bool{}
	for _, st := range rep.Batches {
		switch {
		case st.Unsigned:
			ans.Unsigned = append(ans.Unsigned, st.Batch)
			continue
		case st.Start == nil:
			return nil, fmt.Errorf("%w: %s: its batch_start event cannot be read", ErrCannotAnswer, st.Batch)
		case st.Start.IDKey == "" && st.Start.IDs == 0:
			continue // names no ID (a retention-only run)
		case st.Start.IDKey != key.ID():
			ans.Other = append(ans.Other, st.Batch)
			if !otherKeys[st.Start.IDKey] {
				otherKeys[st.Start.IDKey] = true
				ans.OtherKeys = append(ans.OtherKeys, orNone(st.Start.IDKey))
			}
			continue
		}
		data, err := loc.ReadFile(ctx, st.Batch+logSuffix)
		if err != nil {
			return nil, fmt.Errorf("%w: audit location %s: %w", ErrCannotAnswer, loc, err)
		}
		// The log is read again: it must still be the one verified.
		if sha256Hex(data) != st.Manifest.LogSHA256 {
			return nil, fmt.Errorf("%w: %s%s changed after it was verified", ErrCannotAnswer, st.Batch, logSuffix)
		}
		found, err := scanLog(data, want)
		if err != nil {
			return nil, fmt.Errorf("%w: %s%s: %w", ErrCannotAnswer, st.Batch, logSuffix, err)
		}
		ans.Batches++
		for tag, h := range found {
			h.Batch, h.Command, h.Finished = st.Batch, st.Start.Command, st.Manifest.Finished
			ans.Hits[tag] = append(ans.Hits[tag], *h)
		}
	}
	if ans.Batches == 0 && len(ans.Other) > 0 {
		return nil, fmt.Errorf("%w: no batch names IDs under the ID key given (%s); the batches name them under %s (%d batches): is it the right --id-key?",
			ErrCannotAnswer, key.ID(), strings.Join(ans.OtherKeys, ", "), len(ans.Other))
	}
	return ans, nil
}

func orNone(keyID string) string {
	if keyID == "" {
		return "no ID key"
	}
	return keyID
}

// scanLog collects the events of one log that name a wanted tag.
func scanLog(data []byte, want map[string]bool) (map[string]*Hit, error) {
	found := map[string]*Hit{}
	var dryRun bool
	hit := func(tag string) *Hit {
		h := found[tag]
		if h == nil {
			h = &Hit{DryRun: dryRun}
			found[tag] = h
		}
		return h
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<30)
	for line := 1; sc.Scan(); line++ {
		var ev struct {
			Type            string   `json:"type"`
			DryRun          bool     `json:"dry_run"`
			Tags            []string `json:"id_hmacs"`
			Key             string   `json:"key"`
			Status          string   `json:"status"`
			VersionsDeleted []string `json:"versions_deleted"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch ev.Type {
		case "batch_start":
			dryRun = ev.DryRun
		case "ids":
			for _, t := range ev.Tags {
				if want[t] {
					hit(t).Requested = true
				}
			}
		case "archive":
			// An archive retried after a resume has another event; the
			// last one counts.
			for _, h := range found {
				h.Archives = slices.DeleteFunc(h.Archives, func(a ArchiveHit) bool { return a.Key == ev.Key })
			}
			for _, t := range ev.Tags {
				if want[t] {
					h := hit(t)
					h.Archives = append(h.Archives, ArchiveHit{Key: ev.Key, Status: ev.Status, VersionsDeleted: len(ev.VersionsDeleted)})
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, h := range found {
		slices.SortFunc(h.Archives, func(a, b ArchiveHit) int { return strings.Compare(a.Key, b.Key) })
	}
	return found, nil
}
