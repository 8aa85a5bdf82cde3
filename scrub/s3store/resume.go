package s3store

import (
	"context"
	"fmt"
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
// itself about an archive.
var settleWait = 30 * time.Second

// Recover cleans up after a run that was killed while replacing the
// archive: it aborts the unfinished multipart uploads of its key started
// since the given time (parts hold only rewritten data, but cost storage),
// then waits until the store's view of the key has settled. A PUT whose
// client died mid-request may still be committed by the server; MinIO then
// answers HEAD with the old version for a few seconds while listing the new
// one as latest (and conditional writes see the new one). Processing the
// archive from that stale view would end in a spurious conflict.
func (s *Store) Recover(ctx context.Context, obj scrub.Object, since time.Time) error {
	key := s.key(obj)
	if err := s.abortUploads(ctx, key, since); err != nil {
		return fmt.Errorf("abort unfinished uploads: %w", err)
	}
	if err := s.bucketInfo(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(settleWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		settled, err := s.settled(ctx, key)
		if err != nil || settled {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the store still answers HEAD with another version than it lists as latest after %v; try again later", settleWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// settled reports whether HEAD and the listing agree on the key's current
// version (versioned bucket) or ETag.
func (s *Store) settled(ctx context.Context, key string) (bool, error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		return false, classify(err)
	}
	if s.versioning != "" {
		latest := ""
		err := s.versions(ctx, key, func(v version) error {
			if latest == "" {
				latest = v.id // newest first
			}
			return nil
		})
		return latest == aws.ToString(head.VersionId), err
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &key, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, err
	}
	return len(out.Contents) == 1 && aws.ToString(out.Contents[0].ETag) == aws.ToString(head.ETag), nil
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
