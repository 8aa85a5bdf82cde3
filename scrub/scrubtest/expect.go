package scrubtest

import (
	"bytes"
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// Drop chooses the records an erasure removes, given the header of their
// CSV stream.
type Drop func(t testing.TB, header, rec []string) bool

// Victim drops the records of the victims (column Client ID).
func Victim(t testing.TB, header, rec []string) bool {
	return slices.Contains(Victims, rec[column(t, header, "Client ID")])
}

// OlderThan drops the records whose Timestamp (2006-01-02 15:04:05, UTC) is
// before cut, or, with also, that also drops.
func OlderThan(cut time.Time, also Drop) Drop {
	return func(t testing.TB, header, rec []string) bool {
		ts, err := time.Parse(time.DateTime, rec[column(t, header, "Timestamp")])
		if err != nil {
			t.Fatalf("test data: %v", err)
		}
		return ts.Before(cut) || also != nil && also(t, header, rec)
	}
}

func column(t testing.TB, header []string, name string) int {
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("no %s column in %q", name, header)
	}
	return i
}

// ExpectedFunc is Expected for the records drop chooses.
func ExpectedFunc(t testing.TB, in []byte, drop Drop) ([]byte, int) {
	t.Helper()
	body := bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	bomLen := len(in) - len(body)
	r := csv.NewReader(bytes.NewReader(body))
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	header = slices.Clone(header)
	out := append([]byte(nil), in[:bomLen+int(r.InputOffset())]...)
	prev, removed := r.InputOffset(), 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return append(out, body[prev:]...), removed
		}
		if err != nil {
			t.Fatal(err)
		}
		if drop(t, header, rec) {
			removed++
		} else {
			out = append(out, body[prev:r.InputOffset()]...)
		}
		prev = r.InputOffset()
	}
}

// CheckArchiveFunc is CheckArchive for the records drop chooses.
func CheckArchiveFunc(t testing.TB, name string, before, after []byte, drop Drop) int {
	t.Helper()
	total := 0
	got := Streams(t, after)
	for member, orig := range Streams(t, before) {
		if member != "" && !strings.HasSuffix(strings.ToLower(member), ".csv") {
			if !bytes.Equal(got[member], orig) {
				t.Errorf("%s: non-CSV member %s changed", name, member)
			}
			continue
		}
		want, n := ExpectedFunc(t, orig, drop)
		total += n
		if !bytes.Equal(got[member], want) {
			t.Errorf("%s: member %q is not the original minus the dropped rows", name, member)
		}
	}
	if total == 0 && !bytes.Equal(before, after) {
		t.Errorf("%s: lost no row but was rewritten", name)
	}
	return total
}
