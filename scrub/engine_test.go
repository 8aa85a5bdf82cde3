package scrub

import (
	"errors"
	"testing"
)

func TestSelected(t *testing.T) {
	tests := []struct {
		include, exclude []string
		rel              string
		want             bool
	}{
		{nil, nil, "a/b.zip", true},
		{[]string{"*.zip"}, nil, "a/b.zip", true},
		{[]string{"*.zip"}, nil, "a/b.csv.gz", false},
		{[]string{"a/*.zip"}, nil, "a/b.zip", true},
		{[]string{"a/*.zip"}, nil, "x/a/b.zip", false},
		{[]string{"*_exc_*"}, []string{"monthly/*"}, "monthly/1_exc_2.zip", false},
		{[]string{"*_exc_*"}, []string{"monthly/*"}, "1_exc_2.zip", true},
		{nil, []string{"*"}, "b.zip", false},
		// ** crosses directories, * does not.
		{[]string{"exports/**/*.csv.gz"}, nil, "exports/2017/11/a.csv.gz", true},
		{[]string{"exports/**/*.csv.gz"}, nil, "exports/a.csv.gz", true},
		{[]string{"exports/*/*.csv.gz"}, nil, "exports/2017/11/a.csv.gz", false},
		{[]string{"exports/*.csv.gz"}, nil, "exports/2017/a.csv.gz", false},
		{nil, []string{"**/monthly/**"}, "c01/monthly/x.zip", false},
		{nil, []string{"**/monthly/**"}, "c01/daily/x.zip", true},
		{[]string{"*.{zip,gz}"}, nil, "a/b.gz", true},
		{[]string{"*.{zip,gz}"}, nil, "a/b.csv", false},
	}
	for _, tt := range tests {
		o := Options{Include: tt.include, Exclude: tt.exclude}
		if got := o.selection().selected(Object{Rel: tt.rel}); got != tt.want {
			t.Errorf("include %q exclude %q: selected(%q) = %v", tt.include, tt.exclude, tt.rel, got)
		}
	}
	sel := (&Options{Exclude: []string{"*.csv"}, Select: func(o Object) bool { return o.Size > 10 }}).selection()
	for rel, size := range map[string]int64{"a.zip": 5, "b.csv": 20} {
		if sel.selected(Object{Rel: rel, Size: size}) {
			t.Errorf("Select: %s of %d bytes selected", rel, size)
		}
	}
	if !sel.selected(Object{Rel: "c.zip", Size: 11}) {
		t.Error("Select: c.zip of 11 bytes not selected")
	}
	if err := CheckGlobs([]string{"[a"}); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestSummaryErr(t *testing.T) {
	tests := []struct {
		statuses []Status
		want     error
	}{
		{[]Status{Erased, Unchanged}, nil},
		{[]Status{WouldErase}, nil},
		{[]Status{Erased, Failed}, ErrPartial},
		{[]Status{Unchanged, Conflict}, ErrPartial},
		{[]Status{Erased, Skipped}, ErrPartial},
		{[]Status{Failed, Conflict}, ErrFailed},
		{[]Status{Erased, NotScanned}, nil},
		{[]Status{NotScanned, Failed}, ErrFailed},
		{[]Status{NotScanned, NotScanned}, ErrFailed},
		{[]Status{NotScanned, Unchanged, Held}, ErrPartial},
	}
	for _, tt := range tests {
		s := &Summary{}
		for _, st := range tt.statuses {
			s.Totals.Add(Result{Status: st})
		}
		if err := s.Err(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%v: Err() = %v, want %v", tt.statuses, err, tt.want)
		}
	}
}
