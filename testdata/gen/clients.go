package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
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

// client is one installation with the attributes every row repeats.
type client struct {
	id       string
	edition  string
	release  release
	language string
	license  string
	os       osInfo
	cpu      cpuInfo
	ram      int
	screen   string
}

type release struct{ version, build string }

type osInfo struct{ name, arch string }

type cpuInfo struct {
	name  string
	cores int
}

var (
	editions  = []string{"Professional", "Professional", "Enterprise", "Community"}
	releases  = []release{{"4.2.1", "1873"}, {"4.2.1", "1873"}, {"4.2.0", "1840"}, {"4.1.3", "1795"}, {"4.3.0", "1902"}}
	languages = []string{"en-US", "en-US", "en-US", "de-DE", "de-DE", "fr-FR", "en-GB", "ja-JP", "es-ES", "pt-BR", "nl-NL"}
	systems   = []osInfo{
		{"Windows 10", "64-bit"}, {"Windows 10", "64-bit"}, {"Windows 10", "64-bit"},
		{"Windows 10", "32-bit"}, {"Windows 7", "64-bit"}, {"Windows 7", "32-bit"},
		{"Windows 8.1", "64-bit"}, {"macOS 10.13", "64-bit"},
	}
	cpus = []cpuInfo{
		{"Intel(R) Core(TM) i7-7700 CPU @ 3.60GHz", 8},
		{"Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz", 4},
		{"Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz", 4},
		{"Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", 8},
		{"Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", 28},
		{"AMD Ryzen 7 1700 Eight-Core Processor", 16},
		{"Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz", 2},
	}
	screens = []string{"1920x1080", "1920x1080", "1920x1080", "2560x1440", "1366x768", "1600x900", "3840x2160", "1920x1200"}
	rams64  = []int{8192, 8192, 16384, 16384, 32768, 65536}
	rams32  = []int{2048, 3072, 4096}
)

// pool holds every client that can appear in a Client ID column.
type pool struct {
	regular []client // ordinary installations, never listed
	special []client // victims and look-alikes
}

// newPool derives all clients from a fixed seed.
func newPool() *pool {
	r := rand.New(rand.NewPCG(2376158762, 1))
	p := &pool{}
	for _, id := range append(append([]string{}, victimIDs...), superstringID, prefixID) {
		p.special = append(p.special, newClient(r, id))
	}
	for len(p.regular) < regularClients {
		id := fmt.Sprintf("%016X", r.Uint64())
		if p.clashes(id) {
			continue
		}
		p.regular = append(p.regular, newClient(r, id))
	}
	return p
}

// clashes reports whether id would blur the traps: equal to, prefix of, or
// prefixed by any ID already used.
func (p *pool) clashes(id string) bool {
	used := []string{absentID}
	for _, c := range append(append([]client{}, p.special...), p.regular...) {
		used = append(used, c.id)
	}
	for _, u := range used {
		if strings.HasPrefix(id, u) || strings.HasPrefix(u, id) {
			return true
		}
	}
	return false
}

// byID returns the special client with the given ID.
func (p *pool) byID(id string) client {
	for _, c := range p.special {
		if c.id == id {
			return c
		}
	}
	panic("unknown special client " + id)
}

// newClient draws a consistent set of attributes for one installation.
func newClient(r *rand.Rand, id string) client {
	c := client{
		id:       id,
		edition:  pick(r, editions),
		release:  pick(r, releases),
		language: pick(r, languages),
		os:       pick(r, systems),
		cpu:      pick(r, cpus),
		screen:   pick(r, screens),
	}
	c.license = pick(r, []string{"Licensed", "Licensed", "Trial"})
	if c.edition == "Community" {
		c.license = "Free"
	}
	c.ram = pick(r, rams64)
	if c.os.arch == "32-bit" {
		c.ram = pick(r, rams32)
	}
	if c.os.name == "macOS 10.13" {
		c.cpu = cpuInfo{"Intel(R) Core(TM) i5-7360U CPU @ 2.30GHz", 4}
		c.screen = "2560x1600"
	}
	return c
}

// pick returns a uniformly chosen element of s.
func pick[T any](r *rand.Rand, s []T) T {
	return s[r.IntN(len(s))]
}
