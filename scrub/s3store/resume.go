package s3store

import (
	"context"
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

// AbortUploads aborts the unfinished multipart uploads of the archive's key
// that were started since the given time: what a run killed during an
// upload leaves. Parts already uploaded hold only rewritten data, but they
// cost storage until aborted.
func (s *Store) AbortUploads(ctx context.Context, obj scrub.Object, since time.Time) (int, error) {
	l, ok := s.client.(uploadLister)
	if !ok {
		return 0, nil
	}
	key := s.key(obj)
	in := &s3.ListMultipartUploadsInput{Bucket: &s.Bucket, Prefix: &key}
	aborted := 0
	for {
		out, err := l.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, err
		}
		for _, u := range out.Uploads {
			// A clock a little off between here and the store must not
			// spare an upload of ours.
			if aws.ToString(u.Key) != key || aws.ToTime(u.Initiated).Before(since.Add(-time.Minute)) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: u.UploadId})
			if err != nil {
				return aborted, err
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
