package store_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/scrubtool/scrub/scrub/store"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		loc    string
		remote bool
		bad    bool
	}{
		{"ftp://x", false, true},
		{"s3://", false, true},
		{"s3:///prefix", false, true},
		{"", false, true},
		{"https://bucket.s3.amazonaws.com/x", false, true},
		{"s3://bucket", true, false},
		{"s3://bucket/", true, false},
		{"s3://bucket/a/b", true, false},
		{"/data/exports", false, false},
		{"exports", false, false},
	} {
		t.Run(strconv.Quote(tc.loc), func(t *testing.T) {
			l, err := store.Parse(tc.loc)
			if tc.bad {
				var le *store.LocationError
				if !errors.As(err, &le) || !store.IsLocationError(err) || le.Location != tc.loc {
					t.Errorf("Parse(%q) = %v, want a *store.LocationError", tc.loc, err)
				}
				// Open says the same, before any client is built.
				if _, err := store.New(store.Options{}).Open(t.Context(), tc.loc); !errors.As(err, &le) {
					t.Errorf("Open(%q) = %v, want a *store.LocationError", tc.loc, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.loc, err)
			}
			if l.Remote() != tc.remote || l.String() != tc.loc {
				t.Errorf("Parse(%q): Remote %v, String %q", tc.loc, l.Remote(), l.String())
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	dir := t.TempDir()
	rel, err := filepath.Rel(mustGetwd(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a, b string
		want bool
	}{
		{"same directory", dir, dir, true},
		{"same directory, relative and absolute", rel, dir, true},
		{"same directory, trailing slash", dir + "/", dir, true},
		{"nested", filepath.Join(dir, "audit"), dir, true},
		{"nesting", dir, filepath.Join(dir, "a", "b"), true},
		{"sibling with a common prefix", filepath.Join(dir, "data"), filepath.Join(dir, "data2"), false},
		{"siblings", filepath.Join(dir, "a"), filepath.Join(dir, "b"), false},
		{"same S3 prefix", "s3://b/data", "s3://b/data", true},
		{"same S3 prefix, trailing slash", "s3://b/data/", "s3://b/data", true},
		{"same bucket", "s3://b", "s3://b/", true},
		{"S3 sibling with a common prefix", "s3://b/data", "s3://b/data2", false},
		{"S3 prefix in another bucket", "s3://b/data", "s3://c/data", false},
		{"local and S3", "data", "s3://data/data", false},
		// An S3 source lists every key below its prefix: an audit log
		// at s3://b/data/audit would be read as archives of s3://b/data.
		{"nested S3 prefix", "s3://b/data/audit", "s3://b/data", true},
		{"S3 prefix in a whole-bucket source", "s3://b", "s3://b/audit", true},
		{"S3 prefix nested in a sibling's name", "s3://b/data2/audit", "s3://b/data", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := store.Parse(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := store.Parse(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2]*store.Location{{a, b}, {b, a}} {
				got, err := p[0].Overlaps(p[1])
				if err != nil || got != tc.want {
					t.Errorf("%s overlaps %s: %v, %v; want %v", p[0], p[1], got, err, tc.want)
				}
			}
		})
	}
}

func TestLabel(t *testing.T) {
	for loc, want := range map[string]string{
		"/data/exports":          "exports",
		"/data/exports/":         "exports",
		"exports/2017-11.csv.gz": "2017-11.csv.gz",
		"/":                      "source",
		".":                      "source",
		"s3://bucket":            "bucket",
		"s3://bucket/":           "bucket",
		"s3://bucket/a/exports/": "exports",
		"s3://bucket/a/x.csv":    "x.csv",
	} {
		l, err := store.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Label(); got != want {
			t.Errorf("Label of %q = %q, want %q", loc, got, want)
		}
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
