package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Hit is one batch's record of one ID.
type Hit struct {
	Batch  string
	DryRun bool
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

// Lookup answers, for each tag (IDKey.Tag of an ID), which batches in loc
// listed it and which archives held its rows. Batches whose tags are under
// another key are reported in other, since they cannot answer. Lookup does
// not verify the bundles; scrub verify does.
func Lookup(ctx context.Context, loc Location, key *IDKey, tags []string) (hits map[string][]Hit, other []string, err error) {
	names, err := logNames(ctx, loc)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	hits = map[string][]Hit{}
	for _, name := range names {
		data, err := loc.ReadFile(ctx, name+logSuffix)
		if err != nil {
			return nil, nil, fmt.Errorf("audit location %s: %w", loc, err)
		}
		found, keyID, err := scanLog(data, want)
		if err != nil {
			return nil, nil, fmt.Errorf("%s%s: %w", name, logSuffix, err)
		}
		if keyID != key.ID() {
			other = append(other, name)
			continue
		}
		for tag, h := range found {
			h.Batch = name
			hits[tag] = append(hits[tag], *h)
		}
	}
	return hits, other, nil
}

// scanLog collects the events of one log that name a wanted tag.
func scanLog(data []byte, want map[string]bool) (map[string]*Hit, string, error) {
	found := map[string]*Hit{}
	var dryRun bool
	keyID := ""
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
			IDKey           string   `json:"id_key"`
			Tags            []string `json:"id_hmacs"`
			Key             string   `json:"key"`
			Status          string   `json:"status"`
			VersionsDeleted []string `json:"versions_deleted"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, "", fmt.Errorf("line %d: %w", line, err)
		}
		switch ev.Type {
		case "batch_start":
			dryRun, keyID = ev.DryRun, ev.IDKey
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
		return nil, "", err
	}
	for _, h := range found {
		slices.SortFunc(h.Archives, func(a, b ArchiveHit) int { return strings.Compare(a.Key, b.Key) })
	}
	return found, keyID, nil
}
