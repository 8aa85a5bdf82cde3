// Package exportgen draws rows of the export format scrub's test data
// imitates: an analytics platform's raw-data export of an application's
// usage telemetry, with two tables (custom events, 16 columns, and exception
// reports, 10 columns) that both have a Client ID column.
//
// It holds the tables' headers, installations with consistent attributes
// (NewClient), the events and exceptions a row is drawn from (Kind.Record),
// and the export's CSV encoding (AppendRecord). Two generators use it:
// testdata/gen, which writes the small committed fixtures, and cmd/bench,
// which writes large data sets for the comparison with other tools.
//
// What a generator draws is part of the output: testdata/gen's test fails
// when the committed fixtures differ from what it produces, so any change
// here to the tables or to the order of the draws must come with
// regenerated fixtures (go run ./testdata/gen -out testdata).
package exportgen

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind is one of the export's two tables.
type Kind int

const (
	CustomEvents     Kind = iota // one row per custom event
	ExceptionReports             // one row per crash report
)

// String returns the table's name as it appears in export file names:
// "cust" or "exc".
func (k Kind) String() string {
	if k == CustomEvents {
		return "cust"
	}
	return "exc"
}

var (
	custHeader = []string{"Timestamp", "Client ID", "Edition", "Version", "Build", "Language",
		"License Type", "OS Type", "OS Architecture", "CPU Type", "CPU Cores", "RAM",
		"Screen Resolution", "Event Category", "Event Name", "Custom Values"}
	excHeader = []string{"Timestamp", "Client ID", "Edition", "Version", "Build", "Language",
		"OS Type", "Exception Type", "Message", "Stack Trace"}
)

// Header returns the table's header row, a new slice on each call.
func (k Kind) Header() []string {
	if k == CustomEvents {
		return slices.Clone(custHeader)
	}
	return slices.Clone(excHeader)
}

// Record draws the fields of one row of table k: client c's event (or
// exception) at ts. ref is another installation's ID that some rows name in
// another column (an Invite Accepted event's ReferredBy, a sync conflict's
// message).
func (k Kind) Record(r *rand.Rand, ts time.Time, c *Client, ref string) []string {
	if k == CustomEvents {
		return custRecord(r, ts, c, events[weighted(r, eventWeights, eventWeight)], ref)
	}
	return excRecord(r, ts, c, exceptions[weighted(r, exceptionWeights, exceptionWeight)], ref)
}

// MentionRecord is Record for a row that certainly names ref: an Invite
// Accepted event or a sync conflict.
func (k Kind) MentionRecord(r *rand.Rand, ts time.Time, c *Client, ref string) []string {
	if k == CustomEvents {
		return custRecord(r, ts, c, inviteAccepted, ref)
	}
	return excRecord(r, ts, c, syncConflict, ref)
}

// timeLayout is the export's Timestamp format (UTC, second resolution).
const timeLayout = time.DateTime

func custRecord(r *rand.Rand, ts time.Time, c *Client, ev event, ref string) []string {
	return []string{ts.Format(timeLayout), c.ID, c.Edition, c.Version, c.Build,
		c.Language, c.License, c.OS, c.Arch, c.CPU, itoa(c.Cores), itoa(c.RAM), c.Screen,
		ev.category, ev.name, ev.values(r, ref)}
}

func excRecord(r *rand.Rand, ts time.Time, c *Client, ex exception, ref string) []string {
	return []string{ts.Format(timeLayout), c.ID, c.Edition, c.Version, c.Build,
		c.Language, c.OS, ex.typ, ex.message(r, ref), stackTrace(r, ex.frames)}
}

// Client is one installation with the attributes every row of it repeats.
type Client struct {
	ID       string
	Edition  string
	Version  string
	Build    string
	Language string
	License  string
	OS       string // OS Type
	Arch     string // OS Architecture
	CPU      string // CPU Type
	Cores    int
	RAM      int // MB
	Screen   string
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
	licenses = []string{"Licensed", "Licensed", "Trial"}
	screens  = []string{"1920x1080", "1920x1080", "1920x1080", "2560x1440", "1366x768", "1600x900", "3840x2160", "1920x1200"}
	rams64   = []int{8192, 8192, 16384, 16384, 32768, 65536}
	rams32   = []int{2048, 3072, 4096}
)

// NewClient draws a consistent set of attributes for the installation id:
// Community editions are Free, 32-bit systems have at most 4 GB, Macs have
// a Mac's CPU and screen. It draws 8 or 9 values from r.
func NewClient(r *rand.Rand, id string) Client {
	// The order of the draws is that of the committed fixtures.
	edition := pick(r, editions)
	rel := pick(r, releases)
	language := pick(r, languages)
	sys := pick(r, systems)
	cpu := pick(r, cpus)
	screen := pick(r, screens)
	c := Client{ID: id, Edition: edition, Version: rel.version, Build: rel.build, Language: language,
		License: pick(r, licenses), OS: sys.name, Arch: sys.arch, CPU: cpu.name, Cores: cpu.cores,
		RAM: pick(r, rams64), Screen: screen}
	if c.Edition == "Community" {
		c.License = "Free"
	}
	if c.Arch == "32-bit" {
		c.RAM = pick(r, rams32)
	}
	if c.OS == "macOS 10.13" {
		c.CPU, c.Cores, c.Screen = "Intel(R) Core(TM) i5-7360U CPU @ 2.30GHz", 4, "2560x1600"
	}
	return c
}

// pick returns a uniformly chosen element of s.
func pick[T any](r *rand.Rand, s []T) T {
	return s[r.IntN(len(s))]
}

// AppendRecord appends rec as one CSV line of the export, ended by eol.
// A field is quoted iff it holds a comma, a double quote, CR or LF, or it
// is the Client ID (field 1) and quoteID is set: the exports sometimes
// quote a Client ID that needs no quotes.
func AppendRecord(b []byte, rec []string, quoteID bool, eol string) []byte {
	for i, f := range rec {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, f, quoteID && i == 1)
	}
	return append(b, eol...)
}

func appendField(b []byte, f string, force bool) []byte {
	if !force && !strings.ContainsAny(f, ",\"\r\n") {
		return append(b, f...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
	return append(b, '"')
}
