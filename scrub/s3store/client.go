package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
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
	// MaxAttempts per request, retries of throttling and 5xx included; 0
	// means 8.
	MaxAttempts int
}

// NewClient returns an S3 client configured from the standard AWS sources
// (environment, shared config and credentials files, profiles, instance
// roles). Request checksums are computed only when an operation requires
// them, so that S3-compatible stores work; retries use exponential backoff
// with jitter up to 20 s.
func NewClient(ctx context.Context, opt ClientOptions) (*s3.Client, error) {
	attempts := opt.MaxAttempts
	if attempts <= 0 {
		attempts = 8
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
				o.MaxBackoff = 20 * time.Second
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
	}), nil
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

// classify maps the errors of a conditional request on an object to
// scrub.ErrConflict: a failed If-Match (412) means the object changed, and
// a missing key (404) that it was deleted, since it was read.
func classify(err error) error {
	if err == nil {
		return nil
	}
	c, status := code(err)
	switch {
	case c == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w (%v)", scrub.ErrConflict, err)
	case c == "NoSuchKey" || c == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("%w: deleted meanwhile (%v)", scrub.ErrConflict, err)
	}
	return err
}
