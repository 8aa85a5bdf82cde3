package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
)

// testBlock is the block size of the tests: more than the dictionary, so
// that a block's dictionary is the end of the one before, and small, so
// that data of a few blocks is quick to compress.
const testBlock = 48 << 10

// csvish returns n bytes of compressible data that is not all repeats.
func csvish(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "2017-11-22,%016X,4.2.%d,\"(K,%d)\"\n", rng.Uint64()%500, rng.IntN(10), rng.IntN(1e6))
	}
	return b.Bytes()[:n]
}

// deflateBlocks compresses data with a blockDeflater of the given block
// size and threads, in writes of random sizes.
func deflateBlocks(t *testing.T, data []byte, block, threads int, rng *rand.Rand) []byte {
	t.Helper()
	p, err := newParallelDeflate(1, threads)
	if err != nil {
		t.Fatal(err)
	}
	p.block = block
	var out bytes.Buffer
	w, _ := p.compressor(&out)
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(2*block))
		if k, err := w.Write(rest[:n]); err != nil || k != n {
			t.Fatalf("write %d bytes: %d, %v", n, k, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func inflate(t *testing.T, b []byte) []byte {
	t.Helper()
	r := flate.NewReader(bytes.NewReader(b)) // the standard library's
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBlockDeflater: data of sizes around the block boundaries, written in
// pieces of random sizes, is one deflate stream that the standard
// library inflates to the data, the same bytes whatever the pieces and the
// threads.
func TestBlockDeflater(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 100, deflateDict - 1, deflateDict, testBlock - 1, testBlock, testBlock + 1,
		2*testBlock - 1, 2 * testBlock, 2*testBlock + 1, 7*testBlock + 12345}
	for range 8 {
		sizes = append(sizes, rng.IntN(10*testBlock))
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := csvish(rng, n)
			first := deflateBlocks(t, data, testBlock, 1, rng)
			if got := inflate(t, first); !bytes.Equal(got, data) {
				t.Fatalf("inflated to %d bytes, want the %d written", len(got), len(data))
			}
			for _, threads := range []int{2, 3, 8} {
				if out := deflateBlocks(t, data, testBlock, threads, rng); !bytes.Equal(out, first) {
					t.Errorf("threads %d: %d bytes, unlike the %d on 1 thread", threads, len(out), len(first))
				}
			}
		})
	}
	// A block smaller than the dictionary takes the whole block before as
	// its dictionary.
	data := csvish(rng, 20*1000+17)
	if got := inflate(t, deflateBlocks(t, data, 1000, 4, rng)); !bytes.Equal(got, data) {
		t.Error("blocks of 1000 bytes: not the data")
	}
}

// TestBlockDeflaterZip: members compressed by blocks in a zip are read by
// the standard library's archive/zip, CRC checked, beside stored and empty
// members; a member of many blocks compresses about as well as on one
// goroutine.
func TestBlockDeflaterZip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p, err := newParallelDeflate(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	p.block = testBlock
	members := []struct {
		name   string
		method uint16
		data   []byte
	}{
		{"empty.csv", zip.Deflate, nil},
		{"small.csv", zip.Deflate, csvish(rng, 300)},
		{"huge.csv", zip.Deflate, csvish(rng, 40*testBlock+3)},
		{"stored.csv", zip.Store, csvish(rng, 3*testBlock)},
		{"last.csv", zip.Deflate, csvish(rng, testBlock)},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	zw.RegisterCompressor(zip.Deflate, p.compressor)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(members) {
		t.Fatalf("%d members, want %d", len(zr.File), len(members))
	}
	for i, zf := range zr.File {
		m := members[i]
		r, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r) // checks the CRC at the end
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if zf.Name != m.name || zf.Method != m.method || !bytes.Equal(got, m.data) || zf.CRC32 != crc32.ChecksumIEEE(m.data) {
			t.Errorf("member %d: %s method %d, %d bytes; want %s method %d, %d bytes", i, zf.Name, zf.Method, len(got), m.name, m.method, len(m.data))
		}
		if m.name == "huge.csv" {
			var one bytes.Buffer
			fw, _ := flate.NewWriter(&one, 1)
			fw.Write(m.data)
			fw.Close()
			if limit := one.Len() + one.Len()/20; zf.CompressedSize64 > uint64(limit) {
				t.Errorf("huge.csv compressed to %d bytes in blocks, %d in one", zf.CompressedSize64, one.Len())
			}
		}
	}
}

// failAfter fails the writes after its first n bytes.
type failAfter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}

// TestBlockDeflaterErrors: an error of the destination is returned by a
// later Write or by Close, and a writer aborted before Close ends without
// writing anything more.
func TestBlockDeflaterErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := csvish(rng, 30*testBlock)
	p, _ := newParallelDeflate(1, 2)
	p.block = testBlock
	w, _ := p.compressor(&failAfter{n: 1000})
	_, werr := w.Write(data)
	if err := w.Close(); !errors.Is(err, errDisk) || werr != nil && !errors.Is(werr, errDisk) {
		t.Errorf("write %v, close %v; want %v", werr, err, errDisk)
	}
	if _, err := w.Write(data[:1]); err == nil {
		t.Error("a write after Close succeeded")
	}

	var out bytes.Buffer
	w, _ = p.compressor(&out)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	p.abort()
	n := out.Len()
	if err := w.Close(); err == nil {
		t.Error("Close after abort succeeded")
	}
	if out.Len() != n {
		t.Errorf("%d bytes written after abort", out.Len()-n)
	}
	p.abort() // again: nothing to do

	if _, err := newParallelDeflate(12, 2); err == nil {
		t.Error("level 12 accepted")
	}
}
