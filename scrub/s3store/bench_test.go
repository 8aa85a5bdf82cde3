package s3store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// benchSet returns 8 gzip archives of about 8 MB of CSV each, with 2% of
// rows of listed IDs in every one, and their total uncompressed size.
func benchSet(b *testing.B) (map[string][]byte, int64) {
	set := map[string][]byte{}
	var total int64
	for i := 0; i < 8; i++ {
		var raw bytes.Buffer
		raw.WriteString("Timestamp,Client ID,Edition,Version,Event Name,Custom Values\n")
		for j := 0; raw.Len() < 8<<20; j++ {
			id := fmt.Sprintf("%016X", uint64(i*1_000_003+j)*0x9E3779B97F4A7C15)
			if j%50 == 0 {
				id = scrubtest.Victims[j%3]
			}
			fmt.Fprintf(&raw, "2017-11-%02d 10:%02d:%02d,%s,Professional,4.2.%d,Save,\"(Key1,%d)&&(Key2,Value %d)\"\n", i+1, j%60, j%59, id, j%10, j, j%97)
		}
		total += int64(raw.Len())
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, 6)
		w.Write(raw.Bytes())
		w.Close()
		set[fmt.Sprintf("2376158762_cust_2017-11-%02d.csv.gz", i+1)] = z.Bytes()
	}
	return set, total
}

func benchErase(b *testing.B, st scrub.Store, jobs int, reset func()) {
	opt := scrub.Options{Filter: &filter.Filter{IDs: ids.New(scrubtest.Listed...)}, Jobs: jobs}
	for b.Loop() {
		b.StopTimer()
		reset()
		b.StartTimer()
		sum, err := scrub.Run(context.Background(), opt, []scrub.Source{{Name: "bench", Store: st}})
		if err != nil || sum.Totals.Erased != 8 {
			b.Fatalf("%v %+v", err, sum.Totals)
		}
	}
}

// BenchmarkErase measures a whole batch, end to end, in MB/s of
// uncompressed CSV (gzip in, gzip out), on local disk and on the MinIO that
// `make bench` starts (on the same cores), each with scrub's default --jobs
// on 2 CPUs: 2 for local disk, 4 for S3.
func BenchmarkErase(b *testing.B) {
	set, total := benchSet(b)
	b.Run("local", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(total)
		benchErase(b, &local.Store{Root: dir}, 2, func() {
			for name, data := range set {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("minio", func(b *testing.B) {
		ep := os.Getenv("SCRUB_TEST_S3_ENDPOINT")
		if ep == "" {
			b.Skip("no MinIO (SCRUB_TEST_S3_ENDPOINT unset); `make bench` starts one")
		}
		c, err := NewClient(context.Background(), ClientOptions{Endpoint: ep})
		if err != nil {
			b.Fatal(err)
		}
		bucket := fmt.Sprintf("scrub-bench-%d", bucketSeq.Add(1))
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		benchErase(b, newStore(c, bucket, "bench"), 4, func() {
			for name, data := range set {
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("bench/" + name), Body: bytes.NewReader(data)})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
