package s3store

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
)

// NewVersionID returns the version that replaced the archive, in a
// versioned bucket.
func (c *content) NewVersionID() string { return c.newVersion }

// uploadLister is the part of the S3 API that finds unfinished uploads.
type uploadLister interface {
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
}

// settleWait bounds how long Recover waits for the store to agree with
// itself about an archive before it goes by the listing.
var settleWait = 5 * time.Second

// Recover cleans up after a run that was killed while replacing the
// archive: it aborts the unfinished multipart uploads of its key started
// since the given time (parts hold only rewritten data, but cost storage),
// then makes sure the archive is read as the store now holds it. A PUT
// whose client died mid-request may still be committed by the server;
// MinIO then answers HEAD with the old version, for seconds or for good,
// while it lists the new one as latest, serves it to GET and checks
// conditional writes against it. Processing the archive from HEAD's stale
// view would end in a spurious conflict, again and again; so when HEAD and
// the listing still disagree after a few seconds, the listed latest
// version is the one Open reads.
func (s *Store) Recover(ctx context.Context, obj scrub.Object, since time.Time) error {
	key := s.key(obj)
	if err := s.abortUploads(ctx, key, since); err != nil {
		return fmt.Errorf("abort unfinished uploads: %w", err)
	}
	if err := s.bucketInfo(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(settleWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		latest, settled, err := s.settled(ctx, key)
		switch {
		case err != nil || settled:
			return err
		case time.Now().After(deadline) && latest != "":
			s.pins.Store(key, latest)
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("the store answers HEAD with another ETag than it lists after %v; try again later", settleWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// settled reports whether HEAD and the listing agree on the key's current
// version (versioned bucket: the listed latest version is returned) or
// ETag.
func (s *Store) settled(ctx context.Context, key string) (latest string, ok bool, err error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		return "", false, classify(err)
	}
	if s.versioning != "" {
		err := s.versions(ctx, key, func(v version) error {
			if v.latest && !v.marker {
				latest = v.id // by the store's flag, whatever the order
			}
			return nil
		})
		return latest, latest == aws.ToString(head.VersionId), err
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &key, MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", false, err
	}
	return "", len(out.Contents) == 1 && aws.ToString(out.Contents[0].ETag) == aws.ToString(head.ETag), nil
}

// abortUploads aborts the unfinished multipart uploads of key started
// since the given time (less a minute, for clocks a little apart).
func (s *Store) abortUploads(ctx context.Context, key string, since time.Time) error {
	l, ok := s.client.(uploadLister)
	if !ok {
		return nil
	}
	in := &s3.ListMultipartUploadsInput{Bucket: &s.Bucket, Prefix: &key}
	for {
		out, err := l.ListMultipartUploads(ctx, in)
		if c, status := code(err); c == "NotImplemented" || status == http.StatusNotImplemented {
			// The store keeps no list of uploads (s3rver): none can be
			// found to abort, and the archive is read as it is.
			return nil
		}
		if err != nil {
			return err
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) != key || aws.ToTime(u.Initiated).Before(since.Add(-time.Minute)) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: u.UploadId})
			if err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
