// Package chain is the storage shared by the blocklist (package blocklist)
// and the request queue (package queue): append-only change files in an
// audit.Location, each created under a new name and never rewritten, each
// with a detached SSH signature beside it (PROTOCOL.sshsig), each naming
// the SHA-256 of the changes no other change followed when it was written
// (its prev). The changes form a chain, or a graph where writers ran at
// once, so a change deleted from the middle breaks it, and since nothing
// is read, changed and written back, two writers at once cannot lose each
// other's changes: the next change follows both.
//
// The package knows no change's content: its owner parses the files (the
// load function given to LoadAll) and gives Order the name, SHA-256 and
// prev of each. It sorts a log's directory (Classify), loads the changes a
// few at once, orders them, names new ones, stores a change and its
// signature, and creates a log's identity file once.
package chain

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
)

// Node is one change as Order sees it: its file name, the hex SHA-256 of
// its content and those of the changes it follows.
type Node struct {
	Name   string
	SHA256 string
	Prev   []string
}

// BrokenError reports a change that follows one not in the log (Missing is
// its SHA-256), or, with Missing empty, changes that follow one another in
// a circle.
type BrokenError struct {
	Name    string
	Missing string
}

func (e *BrokenError) Error() string {
	if e.Missing == "" {
		return "chain broken: its changes follow one another in a circle"
	}
	return fmt.Sprintf("%s: chain broken: it follows a change with SHA-256 %s, which is not there", e.Name, e.Missing)
}

// Order returns the indexes of nodes in replay order (each after the
// changes it follows; changes made at once, neither following the other,
// in the order of their index, which callers make that of their names)
// and the SHA-256 of the heads (the changes no other follows), sorted.
// Every change a node follows must be among nodes.
func Order(nodes []Node) ([]int, []string, error) {
	bySum := make(map[string]int, len(nodes))
	for i, c := range nodes {
		bySum[c.SHA256] = i
	}
	next := make([][]int, len(nodes)) // the changes that follow each
	waiting := make([]int, len(nodes))
	var ready []int
	for i, c := range nodes {
		for _, p := range c.Prev {
			j, ok := bySum[p]
			if !ok {
				return nil, nil, &BrokenError{Name: c.Name, Missing: p}
			}
			next[j] = append(next[j], i)
		}
		waiting[i] = len(c.Prev)
		if len(c.Prev) == 0 {
			ready = append(ready, i)
		}
	}
	// Kahn's algorithm, the ready change of the least index first.
	out := make([]int, 0, len(nodes))
	var heads []string
	for len(ready) > 0 {
		k := slices.Index(ready, slices.Min(ready))
		i := ready[k]
		ready = slices.Delete(ready, k, k+1)
		out = append(out, i)
		if len(next[i]) == 0 {
			heads = append(heads, nodes[i].SHA256)
		}
		for _, j := range next[i] {
			if waiting[j]--; waiting[j] == 0 {
				ready = append(ready, j)
			}
		}
	}
	if len(out) != len(nodes) {
		// Not possible without a SHA-256 collision; refuse all the same.
		return nil, nil, &BrokenError{}
	}
	slices.Sort(heads)
	return out, heads, nil
}

// NameTime is the layout of the time in a change's name: UTC, to the
// millisecond, so that names sort as times do.
const NameTime = "20060102T150405.000Z"

// NewName returns a new change file name: prefix, the UTC time now to the
// millisecond, 8 random hex digits, ".json". Names of changes made at once
// by two writers differ in their random digits.
func NewName(prefix string, now time.Time) string {
	var rnd [4]byte
	rand.Read(rnd[:])
	return prefix + now.UTC().Format(NameTime) + "-" + hex.EncodeToString(rnd[:]) + ".json"
}

// NewID returns a new random identity for a log: 32 hex digits.
func NewID() string {
	var rnd [16]byte
	rand.Read(rnd[:])
	return hex.EncodeToString(rnd[:])
}

// SigSuffix ends the name of a change's signature file.
const SigSuffix = ".sig"

// Store creates the signature file (name + SigSuffix) and then the change
// file name in loc, neither of which ever replaces another. A signature
// without its change (a writer that died between the two) is no part of
// the log. what names the log in errors ("blocklist", "queue").
func Store(ctx context.Context, loc audit.Location, what, name string, data, sig []byte) error {
	for _, f := range []struct {
		name string
		data []byte
	}{{name + SigSuffix, sig}, {name, data}} {
		err := loc.Create(ctx, f.name, bytes.NewReader(f.data))
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s %s: %s exists already (a name is never reused; try again): %w", what, loc, f.name, err)
		}
		if err != nil {
			return fmt.Errorf("%s %s: write %s: %w", what, loc, f.name, err)
		}
	}
	return nil
}

// CreateOnce creates the file name with data in loc unless it exists: it
// reports whether this call created it. Writers that start a log at once
// all find the one created first, which they then read.
func CreateOnce(ctx context.Context, loc audit.Location, name string, data []byte) (bool, error) {
	err := loc.Create(ctx, name, bytes.NewReader(data))
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
