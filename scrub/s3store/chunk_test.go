package s3store

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
)

// TestChunkBuffers: an archive is read through buffers sized to what they
// hold (a small archive never holds 8 MiB, so that many jobs on small
// archives stay small), and what is read is the object's bytes whatever
// the buffers' sizes.
func TestChunkBuffers(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c, plain)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		size int
		caps []int // of the chunk buffers once all is read, ascending
	}{
		{10 << 10, []int{minChunk}},
		{300 << 10, []int{512 << 10}},
		{chunkSize + 100<<10, []int{128 << 10, chunkSize}},
		// The end first (a small buffer), then all of it: the small
		// buffer is swapped for one big enough when its slot is reused.
		{2*chunkSize + 10<<10, []int{chunkSize, chunkSize}},
	} {
		data := make([]byte, tc.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		key := "e/obj"
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key)}, data)
		st := newStore(c, bucket, "e")
		var objs []scrub.Object
		if err := st.List(context.Background(), func(o scrub.Object) error { objs = append(objs, o); return nil }); err != nil || len(objs) != 1 {
			t.Fatalf("list: %v %v", objs, err)
		}
		err := st.Open(context.Background(), objs[0], func(sc scrub.Content) error {
			last := make([]byte, 1)
			if _, err := sc.ReadAt(last, sc.Size()-1); err != nil || last[0] != data[len(data)-1] {
				t.Errorf("%d bytes: the last byte: %v", tc.size, err)
			}
			got, err := io.ReadAll(io.NewSectionReader(sc, 0, sc.Size()))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%d bytes: read differs", tc.size)
			}
			var caps []int
			for _, ch := range sc.(*content).chunks {
				if ch.buf != nil {
					caps = append(caps, cap(ch.buf))
				}
			}
			if slices.Sort(caps); !slices.Equal(caps, tc.caps) {
				t.Errorf("%d bytes: chunk buffers of %v bytes, want %v", tc.size, caps, tc.caps)
			}
			// Back to the first chunk: its buffer is big enough again.
			b := make([]byte, 10)
			if _, err := sc.ReadAt(b, 0); err != nil || !bytes.Equal(b, data[:10]) {
				t.Errorf("%d bytes: re-read the start: %v", tc.size, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
