package s3store

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scrubtool/scrub/scrub"
)

// api is the part of the S3 API the store uses, with the exact signatures
// of *s3.Client, so that tests can wrap the real client.
type api interface {
	s3.ListObjectsV2APIClient
	s3.ListObjectVersionsAPIClient
	s3.ListMultipartUploadsAPIClient
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	GetObjectRetention(context.Context, *s3.GetObjectRetentionInput, ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error)
	GetObjectLegalHold(context.Context, *s3.GetObjectLegalHoldInput, ...func(*s3.Options)) (*s3.GetObjectLegalHoldOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ api = (*s3.Client)(nil)

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Endpoint overrides the S3 endpoint (for MinIO and other S3-compatible
	// stores); AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3 are honoured too.
	// A custom endpoint implies path-style addressing.
	Endpoint string
	// MaxAttempts per request, retries of throttling, 5xx and broken
	// connections included, and per chunk read (see Store); 0 means 8.
	MaxAttempts int
	// MaxBackoff caps the delay between two attempts (exponential with
	// jitter); 0 means 20 s.
	MaxBackoff time.Duration
	// StallTimeout fails a connection on which no byte has moved, either
	// way, for this long: a response that never comes, a body that stops
	// half-way, an upload the server stopped reading. The request fails
	// and is retried like any broken connection. 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// Connections is how many requests the client is expected to have
	// in flight at once (a batch's jobs): its pool keeps that many idle
	// connections per host, so that none is closed only to be opened
	// again by the next request. 0 means DefaultConnections.
	Connections int
}

// DefaultConnections is the default ClientOptions.Connections: a batch's
// default jobs with an S3 source.
const DefaultConnections = scrub.DefaultRemoteJobs

// DefaultStallTimeout is the default ClientOptions.StallTimeout. S3 sends
// whitespace to keep a long CompleteMultipartUpload alive, so two minutes
// of silence is a dead connection, not a slow request.
const DefaultStallTimeout = 2 * time.Minute

// NewClient returns an S3 client configured from the standard AWS sources
// (environment, shared config and credentials files, profiles, instance
// roles). Request checksums are computed only when an operation requires
// them, so that S3-compatible stores work; retries use exponential backoff
// with jitter; stalled connections fail after opt.StallTimeout.
func NewClient(ctx context.Context, opt ClientOptions) (*s3.Client, error) {
	attempts := opt.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	backoff := opt.MaxBackoff
	if backoff <= 0 {
		backoff = 20 * time.Second
	}
	stall := opt.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	conns := opt.Connections
	if conns <= 0 {
		conns = DefaultConnections
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		// The SDK's own log lines (IMDS fallbacks, checksum notes) would
		// mix with scrub's output; its errors reach us as values.
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = backoff
				// No client-wide retry quota: it would fail every
				// request at its first error once earlier ones had
				// used it up, so that an archive's fate would depend
				// on the faults others met. Concurrency is bounded by
				// the batch's jobs, and each request's retries by
				// attempts and backoff.
				o.RateLimiter = ratelimit.None
			})
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opt.Endpoint != "" {
			o.BaseEndpoint = aws.String(opt.Endpoint)
		}
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		o.HTTPClient = transport(o.HTTPClient, stall, conns)
	}), nil
}

// transport returns the SDK's HTTP client, as configured (a custom CA
// bundle, the defaults mode), with connections that fail once stalled and
// a pool that keeps conns idle connections per host (the SDK keeps 10: a
// batch with more requests in flight would close and reopen connections
// all along). It is applied last and frozen, since a new dialer would
// drop ours. A client that is not the SDK's own is returned as it is.
func transport(c aws.HTTPClient, stall time.Duration, conns int) aws.HTTPClient {
	b, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return b.WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: conn, timeout: stall}, nil
		}
		// A pooled connection waits for its next request with a read
		// pending, whose deadline runs: drop it well before that fires.
		tr.IdleConnTimeout = min(tr.IdleConnTimeout, stall/2)
		// A little more than the requests in flight: the batch's own
		// requests besides its jobs' (a listing, a probe).
		tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, conns+conns/8)
		if tr.MaxIdleConns > 0 {
			tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
		}
	}).Freeze()
}

// stallConn fails a read or a write when nothing has moved on the
// connection, either way, for timeout. Every read and write re-arms both
// deadlines, so an upload that goes on is not cut off by the response it
// waits for, nor a download by the request it no longer writes.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Read(p)
	return n, c.stalled(err)
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Write(p)
	return n, c.stalled(err)
}

func (c *stallConn) stalled(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &stallError{idle: c.timeout, err: err}
	}
	return err
}

// stallError reports a connection on which nothing was sent or received
// for a while. It is a timeout, which the SDK retries, but not a
// context.DeadlineExceeded, which would stop the whole batch.
type stallError struct {
	idle time.Duration
	err  error
}

func (e *stallError) Error() string {
	return fmt.Sprintf("connection stalled: nothing sent or received for %v", e.idle)
}

func (e *stallError) Timeout() bool { return true }
func (e *stallError) Unwrap() error { return e.err }

// retryer returns the client's retryer, for what the SDK cannot retry
// itself: a response body that breaks off. A client that does not say
// gets the SDK's standard one.
func retryer(client api) aws.Retryer {
	if c, ok := client.(interface{ Options() s3.Options }); ok {
		if r := c.Options().Retryer; r != nil {
			return r
		}
	}
	return retry.NewStandard()
}

// code returns the S3 error code and HTTP status of err, if it is an API
// error.
func code(err error) (string, int) {
	var c string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return c, status
}

// lockUnanswered reports whether an error of GetObjectRetention or
// GetObjectLegalHold means that the store does not answer it for the
// object: the object has no lock configuration of its own
// (NoSuchObjectLockConfiguration; SeaweedFS says NoSuchObjectLegalHold
// and NoSuchObjectRetention, with a 404 that is not "deleted"), the bucket
// none (InvalidRequest, ObjectLockConfigurationNotFoundError), the store
// does not implement the call (NotImplemented, MethodNotAllowed, 501,
// 405), or answers it with a body that is not the answer (moto's
// GetObjectRetention for a version). HEAD's headers are read instead (and
// are read anyway when the calls say "no lock"). Any other error,
// AccessDenied above all, is not an answer and must not be taken for "no
// lock".
func lockUnanswered(err error) bool {
	c, status := code(err)
	switch c {
	case "NoSuchObjectLockConfiguration", "NoSuchObjectLegalHold", "NoSuchObjectRetention",
		"ObjectLockConfigurationNotFoundError", "InvalidRequest", "NotImplemented", "MethodNotAllowed":
		return true
	}
	if errors.As(err, new(*smithy.DeserializationError)) || errors.As(err, new(*xml.SyntaxError)) {
		return true
	}
	return status == http.StatusNotImplemented || status == http.StatusMethodNotAllowed
}

// classify maps the errors of a conditional request on an object to
// scrub.ErrConflict: a failed If-Match (412) means the object changed, and
// a missing key (404) that it was deleted, since it was read.
func classify(err error) error {
	if err == nil {
		return nil
	}
	c, status := code(err)
	switch {
	case c == "NoSuchUpload": // our multipart upload is gone, not the object
		return err
	case c == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w (%v)", scrub.ErrConflict, err)
	case c == "NoSuchKey" || c == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("%w: deleted meanwhile (%v)", scrub.ErrConflict, err)
	}
	return err
}
