package s3store

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxPut is the largest object S3 takes in one PUT.
const maxPut = 5 << 30

// CreateFile uploads the first size bytes of r as a new object, in one
// request with Content-MD5, streamed rather than held in memory, and fails
// with fs.ErrExist if the name is taken (If-None-Match). A retry whose
// first attempt had landed finds the name taken by its own bytes: that is
// recognised by the object's size and MD5 ETag, and is success.
func (d *Dir) CreateFile(ctx context.Context, name string, r io.ReaderAt, size int64, contentType string) error {
	if size > maxPut {
		return fmt.Errorf("%s%s: %d bytes, more than S3 takes in one request (5 GiB)", d, name, size)
	}
	h := md5.New()
	if n, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return err
	} else if n != size {
		// A short body would go out with ContentLength size and be
		// retried as a broken connection for a minute.
		return fmt.Errorf("%s%s: %w: %d bytes of %d", d, name, io.ErrUnexpectedEOF, n, size)
	}
	sum := h.Sum(nil)
	key := d.Prefix + name
	_, err := d.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &d.Bucket, Key: &key, Body: io.NewSectionReader(r, 0, size), ContentLength: aws.Int64(size),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum)), ContentType: aws.String(contentType),
		IfNoneMatch: aws.String("*"),
	})
	if c, status := code(err); c == "PreconditionFailed" || status == http.StatusPreconditionFailed {
		head, herr := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: &key})
		if herr == nil && aws.ToInt64(head.ContentLength) == size && aws.ToString(head.ETag) == `"`+hex.EncodeToString(sum)+`"` {
			return nil
		}
		return fmt.Errorf("%s%s: %w", d, name, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("%s%s: %w", d, name, err)
	}
	return nil
}
