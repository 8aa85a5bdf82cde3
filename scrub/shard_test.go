package scrub

import (
	"fmt"
	"testing"
)

func TestParseShard(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		in   string
		env  map[string]string
		want Shard
		ok   bool
	}{
		{"0/1", nil, Shard{0, 1}, true},
		{"3/4", nil, Shard{3, 4}, true},
		{"4/4", nil, Shard{}, false},
		{"-1/4", nil, Shard{}, false},
		{"1/0", nil, Shard{}, false},
		{"1", nil, Shard{}, false},
		{"a/4", nil, Shard{}, false},
		{"0/10001", nil, Shard{}, false},
		{"auto/4", nil, Shard{}, false},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "2"}, Shard{2, 4}, true},
		{"auto/4", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "3"}, Shard{3, 4}, true},
		{"auto/4", map[string]string{"JOB_COMPLETION_INDEX": "1", "AWS_BATCH_JOB_ARRAY_INDEX": "3"}, Shard{1, 4}, true},
		{"auto/4", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "4"}, Shard{}, false},
	}
	for _, tt := range tests {
		env = tt.env
		got, err := ParseShard(tt.in, getenv)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseShard(%q) with %v = %v, %v; want %v, ok %v", tt.in, tt.env, got, err, tt.want, tt.ok)
		}
	}
}

// TestShardOf pins the function (changing it would move archives between
// the shares of a running split) and checks that every archive falls into
// exactly one share, spread evenly.
func TestShardOf(t *testing.T) {
	// The shares of these paths among 7, computed apart from Go with
	// python3's hashlib: int.from_bytes(sha256(rel)[:8], "big") % 7.
	for rel, want := range map[string]int{"a.zip": 5, "2017/11/2376158762_cust_2017-11-20.zip": 4, "x/y.csv.gz": 2} {
		if got := ShardOf(rel, 7); got != want {
			t.Errorf("ShardOf(%q, 7) = %d, want %d", rel, got, want)
		}
	}
	const n, archives = 8, 8000
	counts := make([]int, n)
	for i := range archives {
		obj := Object{Rel: fmt.Sprintf("exports/%d/2376158762_cust_%d.zip", i%40, i)}
		in := 0
		for s := range n {
			if (Shard{s, n}).Has(obj) {
				in++
				counts[s]++
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d shares", obj.Rel, in)
		}
	}
	for s, c := range counts {
		if c < archives/n*8/10 || c > archives/n*12/10 {
			t.Errorf("share %d has %d of %d archives", s, c, archives)
		}
	}
}
