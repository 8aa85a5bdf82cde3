package scrub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestPrefixHash reads data through a prefixHash in the patterns the
// formats use (front to back, the end first, re-reads, gaps) and checks
// that sum always gives the SHA-256 of all of it.
func TestPrefixHash(t *testing.T) {
	data := make([]byte, 1<<20+17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(data)
	size := int64(len(data))
	type read struct{ off, n int64 }
	tests := []struct {
		name  string
		reads []read
	}{
		{"nothing read", nil},
		{"all in order", []read{{0, 4096}, {4096, size - 4096}}},
		{"zip: end first, then members", []read{{size - 22, 22}, {size - 1000, 978}, {0, 30}, {30, 500000}, {500030, 100}}},
		{"re-read of the start", []read{{0, 4}, {0, 300000}, {0, 10}, {100, 400000}}},
		{"gap", []read{{0, 1000}, {2000, 1000}}},
		{"past the end", []read{{0, size + 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPrefixHash(bytes.NewReader(data))
			for _, r := range tt.reads {
				if r.off < size {
					p.ReadAt(make([]byte, r.n), r.off)
				}
			}
			got, err := p.sum(size)
			if err != nil || got != hex.EncodeToString(want[:]) {
				t.Errorf("sum = %s, %v; want %x", got, err, want)
			}
		})
	}
	// Random reads.
	for range 50 {
		p := newPrefixHash(bytes.NewReader(data))
		for range rng.IntN(20) {
			off := rng.Int64N(size)
			p.ReadAt(make([]byte, rng.Int64N(size-off)+1), off)
		}
		if got, _ := p.sum(size); got != hex.EncodeToString(want[:]) {
			t.Fatalf("random reads: sum %s", got)
		}
	}
	// A source shorter than it claims is an error, not a wrong hash.
	if _, err := newPrefixHash(bytes.NewReader(data[:100])).sum(size); err == nil {
		t.Error("sum of a short source succeeded")
	}
}
