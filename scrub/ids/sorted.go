package ids

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"iter"
	"slices"
	"sync"
	"unsafe"
)

// Sorted returns the IDs in their listed form (a digest as its lower-case
// hex), in byte order. A yielded slice is valid until the next one.
//
// It does not sort the IDs themselves but 16-byte keys (the 8 bytes after
// the first two, and the index), which a counting pass puts in runs by the
// first two bytes; the runs are sorted over workers goroutines.
func (s *Set) Sorted(workers int) iter.Seq[[]byte] {
	return s.sorted(make([]sortKey, s.Len()), workers)
}

// SortedSums is Sorted and Sums in one buffer: it calls sorted with the
// IDs in byte order (which sorted must not keep), then returns their sums,
// sorted. The indexes of the sort are kept in the memory that then holds
// the sums, so that the two never take memory at once. A nil sorted
// skips the sort.
func (s *Set) SortedSums(workers int, sorted func(iter.Seq[[]byte]), newSum func() func(id []byte, sum *Sum)) []Sum {
	out := make([]Sum, s.Len())
	if sorted != nil && len(out) > 0 {
		// A Sum holds two sort keys; out's memory holds no pointer, and
		// it is aligned for them (the allocator aligns any object of 16
		// bytes or more to 16).
		keys := unsafe.Slice((*sortKey)(unsafe.Pointer(&out[0])), len(out))
		sorted(s.sorted(keys, workers))
	}
	s.sums(out, workers, newSum)
	return out
}

// sorted is Sorted with keys, Len of them, as its memory.
func (s *Set) sorted(keys []sortKey, workers int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		workers := max(1, workers)
		s.sortKeys(keys, workers)
		// In sorted order the IDs lie all over the set's memory, and
		// fetching them is most of the work: workers copy them, chunk
		// by chunk, into buffers that are handed over in order.
		const per = 1024 // IDs per chunk
		type chunk struct {
			data []byte
			ends []int
			done chan struct{}
		}
		free := make(chan *chunk, 2*workers+1)
		for range cap(free) {
			free <- &chunk{done: make(chan struct{}, 1)}
		}
		queue := make(chan *chunk, cap(free))
		stop := make(chan struct{})
		go func() {
			defer close(queue)
			for lo := 0; lo < len(keys); lo += per {
				var c *chunk
				select {
				case c = <-free:
				case <-stop:
					return
				}
				queue <- c
				part := keys[lo:min(lo+per, len(keys))]
				go func() {
					c.data, c.ends = c.data[:0], c.ends[:0]
					for _, k := range part {
						c.data = s.appendID(c.data, int(k.i))
						c.ends = append(c.ends, len(c.data))
					}
					c.done <- struct{}{}
				}()
			}
		}()
		for c := range queue {
			<-c.done
			start := 0
			for _, end := range c.ends {
				if !yield(c.data[start:end:end]) {
					// The gatherers read keys, which are the caller's
					// again once this returns: they finish first.
					close(stop)
					for c := range queue {
						<-c.done
					}
					return
				}
				start = end
			}
			free <- c
		}
		close(stop)
	}
}

// sortKey is an ID's place in the sort: the 8 bytes after its first two,
// big-endian, padded with 0, and its index.
type sortKey struct {
	prefix uint64
	i      uint32
}

// sortKeys sets keys to those of the IDs in the byte order of their
// stored form (which for digests is that of their hex).
func (s *Set) sortKeys(keys []sortKey, workers int) {
	// Run r > 0 holds the IDs whose first two bytes, padded with 0
	// (an ID of one byte sorts before the longer ones it begins), are
	// r-1, big-endian; run 0 the empty ID.
	const nruns = 1<<16 + 1
	run := func(id []byte) int {
		switch len(id) {
		case 0:
			return 0
		case 1:
			return 1 + int(id[0])<<8
		}
		return 1 + (int(id[0])<<8 | int(id[1]))
	}
	bounds := make([]int, nruns+1)
	for i := range s.ends {
		bounds[run(s.at(i))+1]++
	}
	for r := 1; r <= nruns; r++ {
		bounds[r] += bounds[r-1]
	}
	// The keys are made in one pass over the IDs in their order, which
	// reads them front to back.
	next := slices.Clone(bounds[:nruns])
	for i := range s.ends {
		id := s.at(i)
		r := run(id)
		keys[next[r]] = sortKey{prefix(id[min(2, len(id)):]), uint32(i)}
		next[r]++
	}
	// Within a run, the prefix orders as the bytes do (a shorter ID,
	// padded with 0, before a longer one it begins); equal ones are told
	// apart by the whole IDs.
	compare := func(a, b sortKey) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return bytes.Compare(s.at(int(a.i)), s.at(int(b.i)))
	}
	work := make(chan int, nruns)
	for r := range nruns {
		if bounds[r+1]-bounds[r] > 1 {
			work <- r
		}
	}
	close(work)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range work {
				slices.SortFunc(keys[bounds[r]:bounds[r+1]], compare)
			}
		})
	}
	wg.Wait()
}

// prefix returns the first 8 bytes of b as a big-endian number, padded
// with 0.
func prefix(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.BigEndian.Uint64(b)
	}
	var p [8]byte
	copy(p[:], b)
	return binary.BigEndian.Uint64(p[:])
}

// Sum is a 32-byte digest of an ID, such as its HMAC-SHA256 tag.
type Sum = [32]byte

// Sums returns the digests of the IDs in their listed form (a digest set's
// as lower-case hex), sorted, worked out over workers goroutines: each
// calls newSum once, for a function of its own that need not be safe for
// concurrent use (a keyed hash state that it resets). Sums allocates the
// result and a buffer per goroutine.
func (s *Set) Sums(workers int, newSum func() func(id []byte, sum *Sum)) []Sum {
	out := make([]Sum, s.Len())
	s.sums(out, workers, newSum)
	return out
}

// sums is Sums into out.
func (s *Set) sums(out []Sum, workers int, newSum func() func(id []byte, sum *Sum)) {
	workers = max(1, min(workers, len(out)/4096+1))
	var wg sync.WaitGroup
	per := (len(out) + workers - 1) / workers
	for lo := 0; lo < len(out); lo += per {
		hi := min(lo+per, len(out))
		wg.Go(func() {
			sum := newSum()
			var buf []byte
			for i := lo; i < hi; i++ {
				buf = s.appendID(buf[:0], i)
				sum(buf, &out[i])
			}
		})
	}
	wg.Wait()
	sortSums(out, workers)
}

// sortSums sorts sums in place: into 256 runs by their first byte, then
// each run into 256 by the second (American flag sorts, in place), then
// each of those, over workers goroutines. Digests are uniform, so the runs
// are about equal.
func sortSums(sums []Sum, workers int) {
	runs := flag(sums, 0)
	work := make(chan []Sum, len(runs))
	for _, r := range runs {
		work <- r
	}
	close(work)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range work {
				for _, r := range flag(r, 1) {
					slices.SortFunc(r, compareSums)
				}
			}
		})
	}
	wg.Wait()
}

// flag orders sums by their byte at k, in place, and returns the runs of
// each value of it.
func flag(sums []Sum, k int) [][]Sum {
	var count, start, next [256]int
	for i := range sums {
		count[sums[i][k]]++
	}
	for b := 1; b < 256; b++ {
		start[b] = start[b-1] + count[b-1]
	}
	next = start
	for b := range 256 {
		end := start[b] + count[b]
		for next[b] < end {
			d := sums[next[b]][k]
			if int(d) == b {
				next[b]++
				continue
			}
			sums[next[b]], sums[next[d]] = sums[next[d]], sums[next[b]]
			next[d]++
		}
	}
	runs := make([][]Sum, 0, 256)
	for b := range 256 {
		if count[b] > 1 {
			runs = append(runs, sums[start[b]:start[b]+count[b]])
		}
	}
	return runs
}

// compareSums orders sums as bytes.Compare would, by 8-byte words.
func compareSums(a, b Sum) int {
	for i := 0; i < len(a); i += 8 {
		x, y := binary.BigEndian.Uint64(a[i:]), binary.BigEndian.Uint64(b[i:])
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}
