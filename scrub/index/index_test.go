package index

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrubtool/scrub/scrub/local"
)

func testKey(b byte) Key { return NewKey(bytes.Repeat([]byte{b}, 32)) }

// TestEntryNoFalseNegative: every value put in an entry is found, for
// sizes on both sides of the switch from sorted hashes to a fuse filter,
// after a round trip through a shard file; few values that were not put
// are.
func TestEntryNoFalseNegative(t *testing.T) {
	k := testKey(1)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 16, 17, 100, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var keys []uint64
			for i := range n {
				keys = append(keys, k.Hash([]byte(fmt.Sprintf("client-%d", i))))
			}
			e, err := newEntry(k.tag("/a/b.zip"), IdentityHash("id"), strings.Repeat("ab", 32), "m", keys)
			if err != nil {
				t.Fatal(err)
			}
			es, err := decodeShard(&k, shardOf(e.Archive), encodeShard(k, shardOf(e.Archive), []*Entry{e}))
			if err != nil {
				t.Fatal(err)
			}
			got := es[0]
			if got.Hash() != e.Hash() || got.Values != n {
				t.Fatalf("round trip changed the entry: %d values, hash %s want %s", got.Values, got.Hash(), e.Hash())
			}
			for i := range n {
				if !got.Has(k.Hash([]byte(fmt.Sprintf("client-%d", i)))) {
					t.Fatalf("value %d put but not found", i)
				}
			}
			fp := 0
			const tries = 100000
			for range tries {
				if got.Has(rng.Uint64()) {
					fp++
				}
			}
			if n > 0 && float64(fp)/tries > 1.0/200 {
				t.Errorf("%d false positives in %d, more than 1/200", fp, tries)
			}
			if n > 16 && got.Size() > 2*n+64 {
				t.Errorf("filter of %d values takes %d bytes, more than 2 a value", n, got.Size())
			}
		})
	}
}

// TestHashHexCase: a digest's hex hashes alike in either case, as the
// filter matches it; other values are hashed as they are.
func TestHashHexCase(t *testing.T) {
	k := testKey(1)
	if k.Hash([]byte("9F86D081884C7D65")) != k.Hash([]byte("9f86d081884c7d65")) {
		t.Error("hex in upper and lower case hash differently")
	}
	if k.Hash([]byte("Client-A")) == k.Hash([]byte("client-a")) {
		t.Error("clear values that differ in case hash alike")
	}
	if testKey(2).Hash([]byte("x")) == k.Hash([]byte("x")) {
		t.Error("the hash does not depend on the key")
	}
}

// TestIndexBinding: an entry answers only for its archive's identity and
// matching settings, a shard whose MAC fails (another key, a changed
// byte) is ignored with a warning, and the listed IDs an entry may hold
// make it not absent.
func TestIndexBinding(t *testing.T) {
	ctx := context.Background()
	dir := local.Dir(t.TempDir())
	k := testKey(1)
	ix, err := Open(ctx, dir, k, "cols=client id")
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Put("/x/a.csv", "ino=1 size=10", "sum", []uint64{k.Hash([]byte("alice"))}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      Key
		match    string
		identity string
		listed   string
		absent   bool
		warnings int
		tamper   bool
		archive  string
	}{
		{name: "same", key: k, match: "cols=client id", identity: "ino=1 size=10", listed: "bob", absent: true},
		{name: "listed ID held", key: k, match: "cols=client id", identity: "ino=1 size=10", listed: "alice"},
		{name: "identity changed", key: k, match: "cols=client id", identity: "ino=2 size=10", listed: "bob"},
		{name: "other columns", key: k, match: "cols=user", identity: "ino=1 size=10", listed: "bob"},
		{name: "no entry", key: k, match: "cols=client id", identity: "ino=1 size=10", listed: "bob", archive: "/x/b.csv"},
		{name: "other key", key: testKey(2), match: "cols=client id", identity: "ino=1 size=10", listed: "bob", warnings: 1},
		{name: "tampered", key: k, match: "cols=client id", identity: "ino=1 size=10", listed: "bob", warnings: 1, tamper: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dir
			if tt.tamper {
				d = local.Dir(t.TempDir())
				name := shardName(shardOf(k.tag("/x/a.csv")))
				data, err := dir.ReadFile(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				data[len(magic)+3] ^= 1
				if err := d.Put(ctx, name, bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
			}
			ix, err := Open(ctx, d, tt.key, tt.match)
			if err != nil {
				t.Fatal(err)
			}
			if len(ix.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", ix.Warnings, tt.warnings)
			}
			ix.SetListed([]uint64{tt.key.Hash([]byte(tt.listed))})
			archive := tt.archive
			if archive == "" {
				archive = "/x/a.csv"
			}
			entry, absent := ix.Absent(archive, tt.identity)
			if absent != tt.absent || absent != (entry != "") {
				t.Errorf("absent %v (entry %q), want %v", absent, entry, tt.absent)
			}
			if absent {
				all, err := All(ctx, dir)
				if e, ok := all[entry]; err != nil || !ok || e.Identity != IdentityHash(tt.identity) {
					t.Errorf("All()[%s] = %v, %v, %v", entry, e, ok, err)
				}
			}
		})
	}
}

// FuzzDecodeShard: a shard file read without its MAC (as verify does)
// never panics, nor do lookups in the entries it decodes.
func FuzzDecodeShard(f *testing.F) {
	k := testKey(1)
	var keys []uint64
	for i := range 40 {
		keys = append(keys, uint64(i)*0x9E3779B97F4A7C15)
	}
	tag := k.tag("/b")
	big, _ := newEntry(tag, IdentityHash("i"), "s", "m", keys)
	small, _ := newEntry(tag, IdentityHash("i"), "s", "m", keys[:3])
	f.Add(encodeShard(k, shardOf(tag), []*Entry{big}))
	f.Add(encodeShard(k, shardOf(tag), []*Entry{small}))
	f.Fuzz(func(t *testing.T, data []byte) {
		i := shardOf(tag)
		es, err := decodeShard(nil, i, data)
		if err != nil {
			return
		}
		for _, e := range es {
			for _, h := range keys {
				e.Has(h)
			}
		}
	})
}

// TestHashAllocs: hashing a value allocates nothing, hex or not (it runs
// for every value of an ID column an indexed batch reads).
func TestHashAllocs(t *testing.T) {
	k := testKey(1)
	for _, v := range []string{"9F86D081884C7D65", "client-01"} {
		if n := testing.AllocsPerRun(100, func() { k.Hash([]byte(v)) }); n != 0 {
			t.Errorf("Hash(%q): %v allocations", v, n)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	k := testKey(1)
	v := []byte("9F86D081884C7D65")
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		k.Hash(v)
	}
}

// BenchmarkNewEntry is the cost of an entry of a small archive's 200
// distinct values, what building the index adds per archive besides
// hashing its values.
func BenchmarkNewEntry(b *testing.B) {
	k := testKey(1)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]uint64, 200)
	work := make([]uint64, 200)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	tag, id := k.tag("/data/a.csv.gz"), IdentityHash("local")
	b.ReportAllocs()
	for b.Loop() {
		copy(work, keys)
		if _, err := newEntry(tag, id, "", "m", work); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEntriesBuiltAtOnce: entries built in several goroutines at once
// (an indexed batch's workers) each find every value put in them; the
// filters' builders are shared through a pool.
func TestEntriesBuiltAtOnce(t *testing.T) {
	k := testKey(1)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				keys := make([]uint64, 100+g)
				for j := range keys {
					keys[j] = k.Hash(fmt.Appendf(nil, "g%d-e%d-v%d", g, i, j))
				}
				want := slices.Clone(keys)
				e, err := newEntry(k.tag("x"), "", "", "m", keys)
				if err != nil {
					errs <- err.Error()
					return
				}
				for _, h := range want {
					if !e.Has(h) {
						errs <- fmt.Sprintf("goroutine %d entry %d: a value put is not found", g, i)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
