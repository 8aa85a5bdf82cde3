package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/store"
)

// Bucket is a kind of bucket an S3 server offers.
type Bucket int

const (
	// Plain is a bucket that never had versioning.
	Plain Bucket = iota
	// VersionedBucket has versioning enabled.
	VersionedBucket
	// LockedBucket is created with object lock (and so versioning)
	// enabled.
	LockedBucket
)

func (b Bucket) String() string {
	switch b {
	case Plain:
		return "plain"
	case VersionedBucket:
		return "versioned"
	case LockedBucket:
		return "locked"
	}
	return fmt.Sprintf("Bucket(%d)", int(b))
}

// S3Server is the entry of one S3-compatible server: where it is, how to
// sign in, the kinds of bucket it offers and its quirks. Each test gets a
// bucket of its own, at whose root the test's area is (so that whole-bucket
// locations, s3://bucket, are what the suite exercises most).
type S3Server struct {
	// Name names the server in test output: "minio", "seaweedfs".
	Name string
	// Endpoint returns the server's URL, or skips the test when the
	// server is not running (scrubtest.S3Endpoint; it fails instead under
	// CI=true).
	Endpoint func(t testing.TB) string
	// Credentials, if set, returns the access key and secret that sign
	// the requests (scrubtest.LookupServer has them); nil means the
	// standard AWS sources (AWS_ACCESS_KEY_ID, ...), and then store.Open
	// builds its own client as it does for users.
	Credentials func(t testing.TB) (accessKey, secretKey string)
	// Buckets are the kinds of bucket the server offers; the suite runs
	// once per kind.
	Buckets []Bucket
	// Quirks are the server's tolerated deviations, in every kind of
	// bucket.
	Quirks []Quirk
	// Bugs are checks known to fail on the server, by kind of bucket,
	// then as Suite.Bugs.
	Bugs map[Bucket]map[string]string
}

// Suites returns one entry per kind of bucket the server offers.
func (srv S3Server) Suites() []*Suite {
	var ss []*Suite
	for _, b := range srv.Buckets {
		ss = append(ss, srv.Suite(b))
	}
	return ss
}

// Suite returns the entry of the server's buckets of kind b.
func (srv S3Server) Suite(b Bucket) *Suite {
	var (
		once   sync.Once
		client *s3.Client
		opt    store.Options
		err    error
	)
	return &Suite{
		Name:       srv.Name + "/" + b.String(),
		Remote:     true,
		Versioned:  b != Plain,
		ObjectLock: b == LockedBucket,
		Quirks:     srv.Quirks,
		Bugs:       srv.Bugs[b],
		Require: func(t testing.TB) {
			t.Helper()
			srv.Endpoint(t)
		},
		NewWorld: func(t *testing.T) World {
			ep := srv.Endpoint(t)
			var key, secret string
			if srv.Credentials != nil {
				key, secret = srv.Credentials(t)
			}
			once.Do(func() { client, opt, err = connect(ep, key, secret) })
			if err != nil {
				t.Fatal(err)
			}
			w := &s3World{c: client, opt: opt, bucket: newBucketName()}
			if err := w.create(t.Context(), b); err != nil {
				t.Fatalf("create a %s bucket on %s: %v", b, srv.Name, err)
			}
			switch b {
			case Plain:
				return w
			case VersionedBucket:
				return versionedS3World{w}
			}
			return lockedS3World{versionedS3World{w}}
		},
	}
}

// connect returns the client the World uses and the options that open
// locations on the server.
// With credentials, store.Open is given a client built like its own
// (s3store.NewClient) that signs with them.
func connect(ep, key, secret string) (*s3.Client, store.Options, error) {
	c, err := s3store.NewClient(context.Background(), s3store.ClientOptions{Endpoint: ep, MaxAttempts: 3})
	if err != nil {
		return nil, store.Options{}, err
	}
	opt := store.Options{Endpoint: ep}
	if key != "" {
		c = s3.New(c.Options(), func(o *s3.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "")
		})
		opt.Client = c
	}
	return c, opt, nil
}

var bucketSeq atomic.Int64

func newBucketName() string {
	return fmt.Sprintf("storetest-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
}

// s3World is a bucket of its own; the other writer is a second client.
type s3World struct {
	c      *s3.Client
	opt    store.Options
	bucket string
}

func (w *s3World) create(ctx context.Context, b Bucket) error {
	in := &s3.CreateBucketInput{Bucket: &w.bucket}
	if b == LockedBucket {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := w.c.CreateBucket(ctx, in); err != nil {
		return err
	}
	if b == VersionedBucket {
		_, err := w.c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &w.bucket,
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		return err
	}
	return nil
}

func (w *s3World) Location(rel string) string {
	if rel == "" {
		return "s3://" + w.bucket
	}
	return "s3://" + w.bucket + "/" + rel
}

func (w *s3World) Options() store.Options { return w.opt }

func (w *s3World) Missing() string { return "s3://" + w.bucket + "-missing/exports" }

// put writes data with Content-MD5, which a bucket with object lock
// requires.
func (w *s3World) put(ctx context.Context, in *s3.PutObjectInput, data []byte) error {
	sum := md5.Sum(data)
	in.Bucket = &w.bucket
	in.Body, in.ContentLength = bytes.NewReader(data), aws.Int64(int64(len(data)))
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	if _, err := w.c.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", aws.ToString(in.Key), err)
	}
	return nil
}

func (w *s3World) Write(ctx context.Context, rel string, data []byte) error {
	return w.put(ctx, &s3.PutObjectInput{Key: &rel}, data)
}

func (w *s3World) Read(ctx context.Context, rel string) ([]byte, error) {
	return w.get(ctx, rel, "")
}

func (w *s3World) get(ctx context.Context, key, version string) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: &w.bucket, Key: &key}
	if version != "" {
		in.VersionId = &version
	}
	out, err := w.c.GetObject(ctx, in)
	if err != nil {
		var ae smithy.APIError
		var re *smithyhttp.ResponseError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return nil, fmt.Errorf("get %s: %w (%v)", key, fs.ErrNotExist, err)
		}
		return nil, fmt.Errorf("get %s %s: %w", key, version, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (w *s3World) Delete(ctx context.Context, rel string) error {
	_, err := w.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.bucket, Key: &rel})
	return err
}

type versionedS3World struct{ *s3World }

// Versions lists the versions of exactly rel (not of keys it is a prefix
// of) and reads each.
func (w versionedS3World) Versions(ctx context.Context, rel string) ([]Version, error) {
	var vs []Version
	p := s3.NewListObjectVersionsPaginator(w.c, &s3.ListObjectVersionsInput{Bucket: &w.bucket, Prefix: &rel})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != rel {
				continue
			}
			data, err := w.get(ctx, rel, aws.ToString(v.VersionId))
			if err != nil {
				return nil, err
			}
			vs = append(vs, Version{ID: aws.ToString(v.VersionId), Latest: aws.ToBool(v.IsLatest), Data: data})
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == rel {
				vs = append(vs, Version{ID: aws.ToString(m.VersionId), Marker: true, Latest: aws.ToBool(m.IsLatest)})
			}
		}
	}
	return vs, nil
}

type lockedS3World struct{ versionedS3World }

func (w lockedS3World) WriteLocked(ctx context.Context, rel string, data []byte, hold bool, until time.Time) error {
	in := &s3.PutObjectInput{Key: &rel}
	if hold {
		in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
	}
	if !until.IsZero() {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &until
	}
	return w.put(ctx, in, data)
}

func (w lockedS3World) Release(ctx context.Context, rel string) error {
	vs, err := w.Versions(ctx, rel)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vs {
		if v.Marker {
			continue
		}
		_, err := w.c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &w.bucket, Key: &rel, VersionId: &v.ID,
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
