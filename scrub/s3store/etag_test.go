package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestETagNotMD5: the store's ETags are not MD5s (s3rver's multipart
// ETag, SSE-KMS, AWS's checksum-typed uploads), and it may refuse a HEAD
// with checksum mode (moto after a multipart upload): an archive that was
// replaced is still verified, by its SHA-256 checksum where the store
// reports one, else by reading it back, and ends erased, also when the
// response of its write was lost and the store is asked whether the write
// landed. A HEAD that reports another size or checksum than what was sent
// leaves the archive replaced-incomplete, not erased.
func TestETagNotMD5(t *testing.T) {
	other := sha256.Sum256([]byte("not what was sent"))
	for _, tc := range []struct {
		name   string
		kind   bucketKind
		quirks func(*quirky)
		// readBack: the uploads had to be read back; else they must
		// not have been.
		readBack bool
		want     scrub.Status
		error    string
	}{
		{name: "opaque ETags, no checksum mode", kind: plain, readBack: true, want: scrub.Erased,
			quirks: func(q *quirky) { q.opaque, q.noChecksumMode = true, true }},
		{name: "opaque ETags, checksums", kind: versioned, want: scrub.Erased,
			quirks: func(q *quirky) { q.opaque = true }},
		{name: "opaque ETags, no checksum mode, responses lost", kind: versioned, readBack: true, want: scrub.Erased,
			quirks: func(q *quirky) { q.opaque, q.noChecksumMode, q.lose = true, true, once("e/") }},
		{name: "opaque ETags, checksums, responses lost", kind: plain, want: scrub.Erased,
			quirks: func(q *quirky) { q.opaque, q.lose = true, once("e/") }},
		{name: "HEAD of the upload reports another size", kind: versioned, want: scrub.ReplacedIncomplete, error: "bytes stored",
			quirks: func(q *quirky) {
				q.head = func(in *s3.HeadObjectInput, out *s3.HeadObjectOutput) {
					if in.VersionId != nil || in.IfMatch != nil {
						out.ContentLength = aws.Int64(aws.ToInt64(out.ContentLength) + 1)
					}
				}
			}},
		{name: "HEAD of the upload reports another checksum", kind: versioned, want: scrub.ReplacedIncomplete, error: "SHA-256 checksum",
			quirks: func(q *quirky) {
				q.head = func(in *s3.HeadObjectInput, out *s3.HeadObjectOutput) {
					if out.ChecksumSHA256 != nil {
						out.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(other[:]))
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testClient(t)
			bucket := newBucket(t, c, tc.kind)
			before := uploadExport(t, c, bucket, "e")
			data, erased := bigCSV(t, twoParts)
			put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(bigKey)}, data)
			q := newQuirky(c)
			tc.quirks(q)
			st := newStore(c, bucket, "e")
			st.client, st.PartSize = q, minPartSize

			sum := erase(context.Background(), t, st, nil)
			n := 0
			for _, r := range scrubtest.Results(t, sum) {
				key := strings.TrimPrefix(r.Key, "s3://"+bucket+"/")
				switch {
				case r.Status == scrub.Unchanged && key == "e/"+scrubtest.Unchanged:
					continue
				case r.Status != tc.want || !strings.Contains(r.Error, tc.error):
					t.Errorf("%s: %s %q, want %s with %q", key, r.Status, r.Error, tc.want, tc.error)
				}
				n++
				// Replaced either way: the rewrite is in place.
				now := get(t, c, bucket, key, "")
				if key == bigKey {
					if !bytes.Equal(now, erased) {
						t.Errorf("%s is not the original minus the victims' rows", key)
					}
					continue
				}
				scrubtest.CheckArchive(t, key, before[key], now)
			}
			if n != len(before) { // the big one, and all but the one without victims
				t.Errorf("%d archives replaced, want %d", n, len(before))
			}
			if tc.want == scrub.Erased {
				checkNoVictims(t, c, bucket)
			}
			switch reads := q.reads(); {
			case tc.readBack && reads == 0:
				t.Error("no upload was read back")
			case !tc.readBack && reads > 0:
				t.Errorf("%d GETs of uploads that their checksum verified", reads)
			}
		})
	}
}

// TestUploadChecksums: every upload of a rewrite carries its SHA-256 as a
// flexible checksum besides its Content-MD5 (a PUT, each part, the parts
// listed at completion, the algorithm declared when the multipart upload
// starts), in headers: not as the trailing checksum of an aws-chunked body,
// which some stores reject, although the client believes it speaks TLS
// (where the SDK would choose a trailer). The store then keeps the
// checksum, and reports it.
func TestUploadChecksums(t *testing.T) {
	t.Parallel()
	base := testClient(t)
	bucket := newBucket(t, base, versioned)
	uploadExport(t, base, bucket, "e")
	data, _ := bigCSV(t, twoParts)
	put(t, base, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(bigKey)}, data)
	rec := &recorder{}
	c := s3.New(base.Options(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(strings.Replace(aws.ToString(o.BaseEndpoint), "http://", "https://", 1))
		o.HTTPClient = rec
	})
	st := newStore(c, bucket, "e")
	st.PartSize = minPartSize
	sum := erase(context.Background(), t, st, nil)
	if sum.Err() != nil || sum.Totals.Erased != 14 {
		t.Fatalf("totals %+v: %v", sum.Totals, sum.Err())
	}
	ops := map[string]int{}
	for _, r := range rec.all() {
		if strings.Contains(r.path, "/.scrub-probe-") {
			continue
		}
		op := r.op()
		ops[op]++
		switch op {
		case "PutObject", "UploadPart":
			h := r.header
			if h.Get("X-Amz-Checksum-Sha256") == "" || h.Get("Content-Md5") == "" {
				t.Errorf("%s %s: no SHA-256 checksum or MD5 in the headers: %v", op, r.path, h)
			}
			if h.Get("X-Amz-Trailer") != "" || strings.Contains(h.Get("Content-Encoding"), "aws-chunked") ||
				strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") {
				t.Errorf("%s %s: a trailing checksum: %v", op, r.path, h)
			}
		case "CreateMultipartUpload":
			if a := r.header.Get("X-Amz-Checksum-Algorithm"); a != "SHA256" {
				t.Errorf("%s %s: checksum algorithm %q", op, r.path, a)
			}
		case "CompleteMultipartUpload":
			if n := bytes.Count(r.body, []byte("<ChecksumSHA256>")); n != 2 {
				t.Errorf("%s %s: %d part checksums, want 2: %s", op, r.path, n, r.body)
			}
		}
	}
	if ops["PutObject"] != 13 || ops["UploadPart"] != 2 || ops["CreateMultipartUpload"] != 1 || ops["CompleteMultipartUpload"] != 1 {
		t.Errorf("writes %v, want 13 PUTs and one multipart upload of 2 parts", ops)
	}
	for _, r := range scrubtest.Results(t, sum) {
		key := strings.TrimPrefix(r.Key, "s3://"+bucket+"/")
		h, err := base.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: "ENABLED"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == scrub.Erased && aws.ToString(h.ChecksumSHA256) == "" {
			t.Errorf("%s: the store keeps no SHA-256 checksum", key)
		}
	}
}

// recorder is an HTTP client that records the requests it sends, and
// sends those of a client that believes it speaks HTTPS over plain HTTP.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte // of a POST
}

// op names the S3 operation of a write.
func (r recorded) op() string {
	switch {
	case r.method == http.MethodPut && r.query.Has("partNumber"):
		return "UploadPart"
	case r.method == http.MethodPut && r.query.Get("x-id") == "PutObject":
		return "PutObject"
	case r.method == http.MethodPost && r.query.Has("uploads"):
		return "CreateMultipartUpload"
	case r.method == http.MethodPost && r.query.Has("uploadId"):
		return "CompleteMultipartUpload"
	}
	return r.method
}

func (rec *recorder) Do(req *http.Request) (*http.Response, error) {
	r := recorded{method: req.Method, path: req.URL.Path, query: req.URL.Query(), header: req.Header.Clone()}
	if req.Method == http.MethodPost && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.body, req.Body = b, io.NopCloser(bytes.NewReader(b))
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r)
	rec.mu.Unlock()
	req.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(req)
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}
