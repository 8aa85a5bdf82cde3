package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/scrubtool/scrub/scrub/scrubtest/exportgen"
)

// The IDs that make up the traps; see the package comment.
var (
	// victimIDs are listed in ids.txt and occur in Client ID columns.
	victimIDs = []string{"9F3A41C07B22E8D1", "C41D07E2A95B3F68", "5B0E92D4F7A16C3E"}
	// absentID is listed in ids.txt but occurs in no file.
	absentID = "0D5E7A9C3B1F4826"
	// superstringID is not listed; victim 1 is a prefix of it.
	superstringID = victimIDs[0] + "A"
	// prefixID is not listed; it is a prefix of victim 2.
	prefixID = victimIDs[1][:15]
)

// regularClients is the number of ordinary, never listed installations.
const regularClients = 35

// pool holds every client that can appear in a Client ID column.
type pool struct {
	regular []exportgen.Client // ordinary installations, never listed
	special []exportgen.Client // victims and look-alikes
}

// newPool derives all clients from a fixed seed.
func newPool() *pool {
	r := rand.New(rand.NewPCG(2376158762, 1))
	p := &pool{}
	for _, id := range append(append([]string{}, victimIDs...), superstringID, prefixID) {
		p.special = append(p.special, exportgen.NewClient(r, id))
	}
	for len(p.regular) < regularClients {
		id := fmt.Sprintf("%016X", r.Uint64())
		if p.clashes(id) {
			continue
		}
		p.regular = append(p.regular, exportgen.NewClient(r, id))
	}
	return p
}

// clashes reports whether id would blur the traps: equal to, prefix of, or
// prefixed by any ID already used.
func (p *pool) clashes(id string) bool {
	used := []string{absentID}
	for _, c := range append(append([]exportgen.Client{}, p.special...), p.regular...) {
		used = append(used, c.ID)
	}
	for _, u := range used {
		if strings.HasPrefix(id, u) || strings.HasPrefix(u, id) {
			return true
		}
	}
	return false
}

// byID returns the special client with the given ID.
func (p *pool) byID(id string) exportgen.Client {
	for _, c := range p.special {
		if c.ID == id {
			return c
		}
	}
	panic("unknown special client " + id)
}

// pick returns a uniformly chosen element of s.
func pick[T any](r *rand.Rand, s []T) T {
	return s[r.IntN(len(s))]
}
