package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestChecker runs the oracle against outputs whose faults are known: the
// right erasure, the substring and field-split line filters people write,
// and a re-encoding CSV tool.
func TestChecker(t *testing.T) {
	dir := t.TempDir()
	o := genOptions{Size: 2e6, IDs: 100, ListedShare: 0.05, Clients: 2000, DayBytes: 1e6, Level: 1, Seed: 7}
	m, err := generate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := newChecker(dir, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var quotedListed int
	for _, f := range m.Files {
		names = append(names, f.Name)
		quotedListed += f.QuotedListed
	}
	containsListed := func(line []byte) bool {
		for id := range chk.listed {
			if bytes.Contains(line, []byte(id)) {
				return true
			}
		}
		return false
	}

	tests := []struct {
		name  string
		tool  func(in []byte) []byte
		check func(t *testing.T, v verdict)
	}{
		{"erasure", func(in []byte) []byte {
			recs, err := parseCSV(in, chk.listed)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			for _, r := range recs {
				if !r.listed {
					out = append(out, r.raw...)
				}
			}
			return out
		}, func(t *testing.T, v verdict) {
			if !v.ok() {
				t.Errorf("verdict %s, want byte-exact", v)
			}
		}},
		{"grep -v -F", func(in []byte) []byte {
			var out []byte
			for line := range bytes.Lines(in) {
				if !containsListed(line) {
					out = append(out, line...)
				}
			}
			return out
		}, func(t *testing.T, v verdict) {
			if v.listedKept != 0 || v.lost == 0 || v.debris == 0 || v.invalidCSV == 0 {
				t.Errorf("verdict %+v, want other rows lost, debris, invalid CSV, no listed row kept", v)
			}
		}},
		{"awk -F,", func(in []byte) []byte {
			var out []byte
			for line := range bytes.Lines(in) {
				f := strings.Split(string(line), ",")
				if len(f) < 2 || !chk.listed[f[1]] {
					out = append(out, line...)
				}
			}
			return out
		}, func(t *testing.T, v verdict) {
			if v.listedKept != quotedListed || v.lost != 0 || v.debris == 0 {
				t.Errorf("verdict %+v, want %d listed rows kept (the quoted ones), none lost, debris", v, quotedListed)
			}
		}},
		{"re-encoding CSV tool", func(in []byte) []byte {
			recs, err := parseCSV(in, chk.listed)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			w := csv.NewWriter(&b)
			for _, r := range recs {
				if !r.listed {
					w.Write(r.fields)
				}
			}
			w.Flush()
			return b.Bytes()
		}, func(t *testing.T, v verdict) {
			if v.reencoded == 0 || v.lost != 0 || v.listedKept != 0 || v.debris != 0 || v.invalidCSV != 0 {
				t.Errorf("verdict %+v, want only re-encoded rows", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			for _, name := range names {
				in, err := readCSV(filepath.Join(dir, "archives", name))
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				zw.Write(tt.tool(in))
				zw.Close()
				if err := os.WriteFile(filepath.Join(out, name+".gz"), b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			v := chk.check(names, func(name string) string { return filepath.Join(out, name+".gz") }, 2)
			if v.files != len(names) {
				t.Errorf("checked %d archives, want %d", v.files, len(names))
			}
			tt.check(t, v)
		})
	}
}
