// Package datamap reads a data map: the datasets of an estate, the
// archives each covers, and which of their columns hold which type of
// identifier, in which stored form. It builds each dataset's row filter for
// an erasure request that names identifiers by type.
//
// A map is a TOML file (TOML v1.0.0, read by github.com/pelletier/go-toml/v2
// with unknown keys refused). Every error names the file and line:
// "datamap.toml:12: column 2 of dataset \"events\": type \"Client ID\" is
// not a lower-case word". A dataset is
//
//	[[dataset]]
//	name        = "custom-events"          # a lower-case name, unique in the map
//	location    = "exports/custom"         # a directory or s3://bucket/prefix; a relative path is below the map's directory
//	include     = ["**/*_cust_*.zip"]      # optional globs, as --include and --exclude
//	exclude     = []
//	delimiter   = ","                      # optional: , ; or tab (default: detected)
//	time_column = "Timestamp"              # optional
//	retention   = "365d"                   # optional, as --older-than
//
//	[[dataset.column]]                     # an identifier held in one column
//	name   = "Client ID"                   # the header name (matched as --column is)
//	type   = "client_id"                   # the identifier type a request names
//	stored = "clear"                       # or an --id-transform spec: lower,sha256, hmac-sha256:KEYFILE
//
//	[[dataset.composite]]                  # an identifier held in several columns together
//	type  = "host_user"
//	parts = [
//	  { column = "host_sha256", type = "host",      stored = "lower,sha256" },
//	  { column = "user_sha256", type = "user_name", stored = "lower,sha256" },
//	]
//
// A record holds a composite identifier only when every part's column holds
// the part of one listed tuple.
package datamap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/pelletier/go-toml/v2"

	"github.com/scrubtool/scrub/scrub/ids"
)

// Map is a parsed, checked data map.
type Map struct {
	// Path is the file as named; Dir the directory relative paths in it
	// are below.
	Path, Dir string
	// SHA256 is the hex SHA-256 of the file's bytes: what the audit log
	// records.
	SHA256   string
	Datasets []*Dataset
}

// Dataset is one dataset of a map.
type Dataset struct {
	Name string
	// Location is as written in the map; a relative local path is below
	// Map.Dir (the caller resolves it: this package does not know how
	// locations are spelt).
	Location         string
	Include, Exclude []string
	Delimiter        byte // 0: detected
	TimeColumn       string
	Retention        string
	Columns          []*Column
	Composites       []*Composite
	// Line is where the dataset starts; RetentionLine where its
	// retention is (for the caller's check of it).
	Line, RetentionLine int
}

// Column is an identifier column: its header name, identifier type and
// stored form.
type Column struct {
	Name string
	Type string
	// Stored is the stored form as written ("clear" when not given);
	// Transform is it parsed, nil for clear.
	Stored    string
	Transform *ids.Transform
	Line      int
}

// Composite is an identifier held in several columns together.
type Composite struct {
	Type  string
	Parts []*Column
	Line  int
}

// LineError is an error at a line of a map.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}
func (e *LineError) Unwrap() error { return e.Err }

// Options are the checks a caller adds to Load.
type Options struct {
	// Retention, if set, checks a dataset's retention (the --older-than
	// parser); its error is reported at the retention's line.
	Retention func(string) error
}

// The file's form: what go-toml decodes, before it is checked.
type (
	fileMap struct {
		Datasets []fileDataset `toml:"dataset"`
	}
	fileDataset struct {
		Name       string          `toml:"name"`
		Location   string          `toml:"location"`
		Include    []string        `toml:"include"`
		Exclude    []string        `toml:"exclude"`
		Delimiter  string          `toml:"delimiter"`
		TimeColumn string          `toml:"time_column"`
		Retention  string          `toml:"retention"`
		Columns    []fileColumn    `toml:"column"`
		Composites []fileComposite `toml:"composite"`
	}
	fileColumn struct {
		Name   string `toml:"name"`
		Column string `toml:"column"` // a composite part's name
		Type   string `toml:"type"`
		Stored string `toml:"stored"`
	}
	fileComposite struct {
		Type  string       `toml:"type"`
		Parts []fileColumn `toml:"parts"`
	}
)

// Load reads and checks the map in the file path.
func Load(path string, opt Options) (*Map, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data map: %w", err)
	}
	return Parse(data, path, opt)
}

// Parse reads and checks a map; path names it in errors and is where its
// relative paths are resolved from.
func Parse(data []byte, path string, opt Options) (*Map, error) {
	var f fileMap
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, decodeError(path, err)
	}
	sum := sha256.Sum256(data)
	m := &Map{Path: path, Dir: filepath.Dir(path), SHA256: hex.EncodeToString(sum[:])}
	p := &checker{m: m, lines: keyLines(data), opt: opt}
	if err := p.check(&f); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeError gives go-toml's error the file and line.
func decodeError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		line, _ := e.Position()
		return &LineError{path, line, fmt.Errorf("unknown key %q (want %s)", strings.Join(e.Key(), "."), knownKeys(e.Key()))}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := typeErrRE.FindStringSubmatch(msg); m != nil {
			want := map[string]string{"string": "a string", "[]string": "an array of strings", "[]datamap.fileColumn": "an array of tables",
				"[]datamap.fileDataset": "[[dataset]] tables", "[]datamap.fileComposite": "[[dataset.composite]] tables"}[m[2]]
			msg = fmt.Sprintf("want %s, not %s %s", cmpOr(want, "another kind of value"), article(m[1]), m[1])
		}
		if k := de.Key(); len(k) > 0 {
			msg = strings.Join(k, ".") + ": " + msg
		}
		return &LineError{path, line, errors.New(msg)}
	}
	return &LineError{File: path, Err: err}
}

var typeErrRE = regexp.MustCompile(`^cannot decode TOML (\w+) into (?:struct field \S+ of )?type (\S+)`)

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// knownKeys lists the keys allowed where key is.
func knownKeys(key []string) string {
	switch strings.Join(key[:len(key)-1], ".") {
	case "":
		return "[[dataset]]"
	case "dataset":
		return "name, location, include, exclude, delimiter, time_column, retention, [[dataset.column]] or [[dataset.composite]]"
	case "dataset.column":
		return "name, type or stored"
	case "dataset.composite":
		return "type or parts"
	case "dataset.composite.parts":
		return "column, type or stored"
	}
	return "a key of the data map"
}

// checker checks a decoded map and builds the Map.
type checker struct {
	m     *Map
	lines map[string]int
	opt   Options
}

func (p *checker) errorf(key string, format string, args ...any) error {
	return &LineError{p.m.Path, p.line(key), fmt.Errorf(format, args...)}
}

// line returns the line of key, or of the nearest enclosing key found.
func (p *checker) line(key string) int {
	for key != "" {
		if l, ok := p.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

var (
	wordRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
)

func (p *checker) check(f *fileMap) error {
	if len(f.Datasets) == 0 {
		return &LineError{File: p.m.Path, Err: errors.New("no [[dataset]]: a data map names at least one dataset")}
	}
	names := map[string]bool{}
	kinds := map[string]string{}     // type -> "column" or "composite"
	partsOf := map[string][]string{} // composite type -> sorted part types
	for i, fd := range f.Datasets {
		k := fmt.Sprintf("dataset[%d]", i)
		d := &Dataset{Name: fd.Name, Location: fd.Location, Include: fd.Include, Exclude: fd.Exclude,
			TimeColumn: strings.TrimSpace(fd.TimeColumn), Retention: strings.TrimSpace(fd.Retention),
			Line: p.line(k), RetentionLine: p.line(k + ".retention")}
		switch {
		case fd.Name == "":
			return p.errorf(k, "dataset %d: name is missing (want a lower-case name such as custom-events)", i+1)
		case !nameRE.MatchString(fd.Name):
			return p.errorf(k+".name", "dataset name %q: want lower-case letters, digits, '.', '_' or '-'", fd.Name)
		case names[fd.Name]:
			return p.errorf(k+".name", "dataset %q: named twice", fd.Name)
		case strings.TrimSpace(fd.Location) == "":
			return p.errorf(k, "dataset %q: location is missing (want a directory or s3://bucket/prefix)", fd.Name)
		}
		names[fd.Name] = true
		for _, g := range []struct {
			key string
			pat []string
		}{{"include", fd.Include}, {"exclude", fd.Exclude}} {
			for _, pat := range g.pat {
				if !doublestar.ValidatePattern(pat) {
					return p.errorf(k+"."+g.key, "dataset %q: %s pattern %q is not a valid glob", fd.Name, g.key, pat)
				}
			}
		}
		switch fd.Delimiter {
		case "":
		case ",", ";":
			d.Delimiter = fd.Delimiter[0]
		case "tab", "\t", `\t`:
			d.Delimiter = '\t'
		default:
			return p.errorf(k+".delimiter", "dataset %q: delimiter %q: want , ; or tab", fd.Name, fd.Delimiter)
		}
		if _, ok := p.lines[k+".time_column"]; ok && d.TimeColumn == "" {
			return p.errorf(k+".time_column", "dataset %q: time_column is empty", fd.Name)
		}
		if d.Retention != "" && p.opt.Retention != nil {
			if err := p.opt.Retention(d.Retention); err != nil {
				return p.errorf(k+".retention", "dataset %q: retention: %v", fd.Name, err)
			}
		}
		if len(fd.Columns) == 0 && len(fd.Composites) == 0 {
			return p.errorf(k, "dataset %q: no [[dataset.column]] or [[dataset.composite]]: which columns hold identifiers?", fd.Name)
		}
		seen := map[string]bool{}
		for j, fc := range fd.Columns {
			ck := fmt.Sprintf("%s.column[%d]", k, j)
			if fc.Column != "" {
				return p.errorf(ck+".column", "dataset %q: a column's header is given by name, not column", fd.Name)
			}
			c, err := p.column(fc, fc.Name, ck, ".name", fmt.Sprintf("column %d of dataset %q", j+1, fd.Name))
			if err != nil {
				return err
			}
			if lc := strings.ToLower(c.Name); seen[lc] {
				return p.errorf(ck+".name", "column %d of dataset %q: column %q is named twice", j+1, fd.Name, c.Name)
			} else {
				seen[lc] = true
			}
			if kinds[c.Type] == "composite" {
				return p.errorf(ck+".type", "column %d of dataset %q: type %q is a composite type elsewhere in the map", j+1, fd.Name, c.Type)
			}
			kinds[c.Type] = "column"
			d.Columns = append(d.Columns, c)
		}
		for j, fc := range fd.Composites {
			ck := fmt.Sprintf("%s.composite[%d]", k, j)
			what := fmt.Sprintf("composite %d of dataset %q", j+1, fd.Name)
			co := &Composite{Type: fc.Type, Line: p.line(ck)}
			switch {
			case !wordRE.MatchString(fc.Type):
				return p.errorf(ck+".type", "%s: type %q: want a lower-case word such as host_user", what, fc.Type)
			case kinds[fc.Type] == "column":
				return p.errorf(ck+".type", "%s: type %q names a single column elsewhere in the map", what, fc.Type)
			case len(fc.Parts) < 2:
				return p.errorf(ck+".parts", "%s: want at least 2 parts, each { column = ..., type = ..., stored = ... }", what)
			}
			kinds[fc.Type] = "composite"
			partSeen, colSeen := map[string]bool{}, map[string]bool{}
			var types []string
			for n, fp := range fc.Parts {
				pk := fmt.Sprintf("%s.parts[%d]", ck, n)
				if fp.Name != "" {
					return p.errorf(pk, "%s: a part's header is given by column, not name", what)
				}
				c, err := p.column(fp, fp.Column, pk, ".column", fmt.Sprintf("part %d of %s", n+1, what))
				if err != nil {
					return err
				}
				if partSeen[c.Type] {
					return p.errorf(pk+".type", "part %d of %s: type %q is there twice", n+1, what, c.Type)
				}
				if colSeen[strings.ToLower(c.Name)] {
					return p.errorf(pk+".column", "part %d of %s: column %q is there twice", n+1, what, c.Name)
				}
				partSeen[c.Type], colSeen[strings.ToLower(c.Name)] = true, true
				types = append(types, c.Type)
				co.Parts = append(co.Parts, c)
			}
			slices.Sort(types)
			if prev, ok := partsOf[co.Type]; ok && !slices.Equal(prev, types) {
				return p.errorf(ck+".parts", "%s: the parts of %q are %s here and %s elsewhere in the map", what, co.Type,
					strings.Join(types, "+"), strings.Join(prev, "+"))
			}
			partsOf[co.Type] = types
			d.Composites = append(d.Composites, co)
		}
		p.m.Datasets = append(p.m.Datasets, d)
	}
	return nil
}

// column checks a column or composite part.
func (p *checker) column(fc fileColumn, name, key, nameKey, what string) (*Column, error) {
	c := &Column{Name: strings.TrimSpace(name), Type: fc.Type, Stored: strings.TrimSpace(fc.Stored), Line: p.line(key)}
	switch {
	case c.Name == "":
		return nil, p.errorf(key, "%s: %s is missing (want the column's header name)", what, nameKey[1:])
	case !wordRE.MatchString(fc.Type):
		return nil, p.errorf(key+".type", "%s: type %q: want a lower-case word such as client_id, user_name or ip", what, fc.Type)
	}
	if c.Stored == "" || c.Stored == "clear" {
		c.Stored = "clear"
		return c, nil
	}
	spec := c.Stored
	if before, file, ok := strings.Cut(spec, "hmac-sha256:"); ok && file != "" && !filepath.IsAbs(file) {
		spec = before + "hmac-sha256:" + filepath.Join(p.m.Dir, file)
	}
	t, err := ids.ParseTransform(spec)
	if err != nil {
		return nil, p.errorf(key+".stored", "%s: stored: %v", what, err)
	}
	c.Transform = t
	return c, nil
}

// Dataset returns the dataset of that name, or nil.
func (m *Map) Dataset(name string) *Dataset {
	for _, d := range m.Datasets {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Types returns the identifier types the map knows, single and
// composite, sorted.
func (m *Map) Types() []string {
	var out []string
	for _, d := range m.Datasets {
		for _, c := range d.Columns {
			out = append(out, c.Type)
		}
		for _, c := range d.Composites {
			out = append(out, c.Type)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Composite reports whether typ is a composite type, and its part types
// (sorted: the order of a tuple's values).
func (m *Map) Composite(typ string) (parts []string, ok bool) {
	for _, d := range m.Datasets {
		for _, c := range d.Composites {
			if c.Type == typ {
				for _, p := range c.Parts {
					parts = append(parts, p.Type)
				}
				slices.Sort(parts)
				return parts, true
			}
		}
	}
	return nil, false
}

// DatasetColumn is a column of a dataset.
type DatasetColumn struct {
	Dataset *Dataset
	Column  *Column
}

// Columns returns the columns, in every dataset, that hold identifiers of
// type typ by themselves (not as part of a composite), in map order.
func (m *Map) Columns(typ string) []DatasetColumn {
	var out []DatasetColumn
	for _, d := range m.Datasets {
		for _, c := range d.Columns {
			if c.Type == typ {
				out = append(out, DatasetColumn{d, c})
			}
		}
	}
	return out
}

// Holds reports whether the dataset holds an identifier of type typ,
// alone or as a composite.
func (d *Dataset) Holds(typ string) bool {
	for _, c := range d.Columns {
		if c.Type == typ {
			return true
		}
	}
	for _, c := range d.Composites {
		if c.Type == typ {
			return true
		}
	}
	return false
}

// HeaderColumns returns the header names of the dataset's identifier
// columns, the composites' parts included, each once, in map order.
func (d *Dataset) HeaderColumns() []string {
	var out []string
	add := func(name string) {
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, name) }) {
			out = append(out, name)
		}
	}
	for _, c := range d.Columns {
		add(c.Name)
	}
	for _, co := range d.Composites {
		for _, p := range co.Parts {
			add(p.Name)
		}
	}
	return out
}
