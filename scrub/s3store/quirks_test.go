package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// quirky is a client that makes MinIO behave like another store, as the
// store sees it: ETags that are not MD5s (s3rver, SSE-KMS, AWS's
// checksum-typed uploads), a HEAD with checksum mode answered 400 (moto),
// HEADs that lie, writes whose response is lost after the commit.
type quirky struct {
	api

	// opaque gives every object an ETag that is not its MD5 (nor the
	// MD5 of its parts' MD5s): a hash of the real one, translated back
	// in the conditions of requests.
	opaque bool
	// noChecksumMode answers a HEAD with checksum mode 400 Bad Request.
	noChecksumMode bool
	// head, if set, alters what a HEAD returns.
	head func(in *s3.HeadObjectInput, out *s3.HeadObjectOutput)
	// lose, if set, is asked after each committed PutObject and
	// CompleteMultipartUpload of a key; true turns the response into
	// an error, as if it were lost.
	lose func(op, key string) bool
	// reset412 answers a write whose condition failed by closing the
	// connection, as a store may do rather than read a large body.
	reset412 bool

	mu       sync.Mutex
	real     map[string]string // opaque ETag -> real
	written  map[string]bool   // real ETags of the objects written
	readBack int               // GETs of an object written through this client
}

func newQuirky(c api) *quirky {
	return &quirky{api: c, real: map[string]string{}, written: map[string]bool{}}
}

// out maps a real ETag to what the client shows.
func (q *quirky) out(etag *string) *string {
	if !q.opaque || etag == nil || *etag == "" {
		return etag
	}
	sum := md5.Sum([]byte("opaque " + *etag))
	o := `"` + hex.EncodeToString(sum[:]) + `"`
	q.mu.Lock()
	q.real[o] = *etag
	q.mu.Unlock()
	return &o
}

// in maps an ETag the client showed back to the real one.
func (q *quirky) in(etag *string) *string {
	if etag == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if r, ok := q.real[*etag]; ok {
		return &r
	}
	return etag
}

func (q *quirky) wrote(etag *string) {
	q.mu.Lock()
	q.written[aws.ToString(etag)] = true
	q.mu.Unlock()
}

// reads returns the number of GETs of objects written through q.
func (q *quirky) reads() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readBack
}

// errLost is a response lost after the store committed the request.
var errLost = errors.New("connection reset by peer after the commit (injected)")

// preconditionFailed reports whether err is a 412.
func preconditionFailed(err error) bool {
	_, status := code(err)
	return status == http.StatusPreconditionFailed
}

// errReset is a connection closed instead of a 412.
var errReset = errors.New("write: connection reset by peer (injected)")

// badRequest is the error the SDK returns for a HEAD answered 400.
func badRequest(op string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{}}},
			Err:      &smithy.GenericAPIError{Code: "BadRequest", Message: "Bad Request"},
		},
		RequestID: "quirky",
	}}
}

func (q *quirky) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opt ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if q.noChecksumMode && in.ChecksumMode == types.ChecksumModeEnabled {
		return nil, badRequest("HeadObject")
	}
	c := *in
	c.IfMatch = q.in(in.IfMatch)
	out, err := q.api.HeadObject(ctx, &c, opt...)
	if err != nil {
		return out, err
	}
	out.ETag = q.out(out.ETag)
	if q.head != nil {
		q.head(in, out)
	}
	return out, nil
}

func (q *quirky) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c := *in
	c.IfMatch = q.in(in.IfMatch)
	q.mu.Lock()
	if q.written[aws.ToString(c.IfMatch)] {
		q.readBack++
	}
	q.mu.Unlock()
	out, err := q.api.GetObject(ctx, &c, opt...)
	if err == nil {
		out.ETag = q.out(out.ETag)
	}
	return out, err
}

func (q *quirky) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c := *in
	c.IfMatch = q.in(in.IfMatch)
	out, err := q.api.PutObject(ctx, &c, opt...)
	if err != nil {
		if q.reset412 && preconditionFailed(err) {
			return nil, errReset
		}
		return out, err
	}
	q.wrote(out.ETag)
	if q.lose != nil && q.lose("PutObject", aws.ToString(in.Key)) {
		return nil, errLost
	}
	out.ETag = q.out(out.ETag)
	return out, nil
}

func (q *quirky) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opt ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	c := *in
	c.IfMatch = q.in(in.IfMatch)
	out, err := q.api.CompleteMultipartUpload(ctx, &c, opt...)
	if err != nil {
		if q.reset412 && preconditionFailed(err) {
			return nil, errReset
		}
		return out, err
	}
	q.wrote(out.ETag)
	if q.lose != nil && q.lose("CompleteMultipartUpload", aws.ToString(in.Key)) {
		return nil, errLost
	}
	out.ETag = q.out(out.ETag)
	return out, nil
}

func (q *quirky) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opt ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := q.api.ListObjectVersions(ctx, in, opt...)
	if err == nil {
		for i := range out.Versions {
			out.Versions[i].ETag = q.out(out.Versions[i].ETag)
		}
	}
	return out, err
}

// once returns a lose function that loses the first response for each
// archive below prefix.
func once(prefix string) func(op, key string) bool {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(op, key string) bool {
		mu.Lock()
		defer mu.Unlock()
		if !strings.HasPrefix(key, prefix) || strings.Contains(key, "/.scrub-probe-") || seen[key] {
			return false
		}
		seen[key] = true
		return true
	}
}
