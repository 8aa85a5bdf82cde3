package archive_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/archive"
	"github.com/scrubtool/scrub/scrub/filter"
	"github.com/scrubtool/scrub/scrub/ids"
)

// benchCSV returns about size bytes of export-shaped CSV whose rows belong
// to 200 clients, and those clients.
func benchCSV(size int) ([]byte, []string) {
	rng := rand.New(rand.NewPCG(3, 4))
	clients := make([]string, 200)
	for i := range clients {
		clients[i] = fmt.Sprintf("%016X", rng.Uint64())
	}
	var b bytes.Buffer
	b.WriteString("Timestamp,Client ID,Edition,Version,Language,OS Type,Event Category,Event Name,Custom Values\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "2017-11-22 %02d:%02d:%02d,%s,Professional,4.2.%d,en-US,Windows 10,Editor,Save,\"(Key1,%d)&&(Key2,Value %d)\"\n",
			rng.IntN(24), rng.IntN(60), rng.IntN(60), clients[rng.IntN(len(clients))], rng.IntN(10), rng.IntN(1e6), rng.IntN(100))
	}
	return b.Bytes(), clients
}

// BenchmarkGzipArchive measures whole-archive passes over a gzip file, in
// MB/s of uncompressed CSV: the no-match scan (all an archive without a
// listed ID costs), the rewrite with 5% of rows removed, and the verifying
// re-read.
func BenchmarkGzipArchive(b *testing.B) {
	raw, clients := benchCSV(32 << 20)
	data := gz(b, "bench.csv", string(raw))
	none := &filter.Filter{IDs: ids.New("NOT-PRESENT")}
	some := &filter.Filter{IDs: ids.New(clients[:10]...)}
	src := bytes.NewReader(data)
	// The floor: decompressing alone, with the same library, into
	// io.Discard. The no-match scan's target is 0.8x of it.
	b.Run("floor-gunzip", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			zr, err := kgzip.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan-nomatch", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := archive.Scan(src, src.Size(), none, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rewrite-5pct", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := archive.Rewrite(io.Discard, src, src.Size(), some, archive.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rewrite-5pct-threads", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := archive.Rewrite(io.Discard, src, src.Size(), some, archive.Options{Threads: runtime.NumCPU()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan-full", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := archive.Scan(src, src.Size(), some, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReplace compares a gzip file and a zip of one deflated member
// holding the same CSV through what the engine's gate does to each: the
// rewrite with 5% of rows removed, with Threads as the engine sets for a
// large archive on an idle machine (and the zip member read back as it is
// written), then the verifying re-read of the rewrite. In MB/s of
// uncompressed CSV.
func BenchmarkReplace(b *testing.B) {
	raw, clients := benchCSV(32 << 20)
	some := &filter.Filter{IDs: ids.New(clients[:10]...)}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"gzip", gz(b, "bench.csv", string(raw))},
		{"zip", mkzip(b, "", member{name: "bench.csv", body: string(raw), method: zip.Deflate})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := bytes.NewReader(tc.data)
			opt := archive.Options{Threads: runtime.NumCPU(), Reread: some}
			var out bytes.Buffer
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				rep, err := archive.Rewrite(&out, src, src.Size(), some, opt)
				if err != nil {
					b.Fatal(err)
				}
				after, err := archive.Reread(bytes.NewReader(out.Bytes()), int64(out.Len()), rep, some, opt.WithoutLimits())
				if err != nil {
					b.Fatal(err)
				}
				if err := archive.Verify(rep, after); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
