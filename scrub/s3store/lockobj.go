package s3store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The methods below make a Dir an audit.Conditional: what a lock object
// needs (a file lock does not exist in object storage). Each object is
// named by its ETag, the tag; a write or delete with If-Match happens only
// if the object is still the one read.

// CreateTagged uploads a new object only if the name is free
// (If-None-Match: *) and returns its ETag; a taken name is fs.ErrExist.
func (d *Dir) CreateTagged(ctx context.Context, name string, data []byte) (string, error) {
	out, err := d.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &d.Bucket, Key: aws.String(d.Prefix + name), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String(contentType(name)),
		IfNoneMatch: aws.String("*"),
	})
	if c, status := code(err); c == "PreconditionFailed" || status == http.StatusPreconditionFailed ||
		c == "ConditionalRequestConflict" || status == http.StatusConflict {
		return "", fmt.Errorf("%s%s: %w", d, name, fs.ErrExist)
	}
	if err != nil {
		return "", fmt.Errorf("%s%s: %w", d, name, err)
	}
	return aws.ToString(out.ETag), nil
}

// ReadTagged returns an object's content and ETag; a missing one is
// fs.ErrNotExist.
func (d *Dir) ReadTagged(ctx context.Context, name string) ([]byte, string, error) {
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.Bucket, Key: aws.String(d.Prefix + name)})
	if err != nil {
		if c, status := code(err); c == "NoSuchKey" || status == http.StatusNotFound {
			return nil, "", fmt.Errorf("%s%s: %w", d, name, fs.ErrNotExist)
		}
		return nil, "", fmt.Errorf("%s%s: %w", d, name, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s%s: %w", d, name, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// ReplaceIf overwrites an object only if its ETag is still tag (If-Match)
// and returns the new ETag; ok is false if it changed or went.
func (d *Dir) ReplaceIf(ctx context.Context, name string, data []byte, tag string) (string, bool, error) {
	out, err := d.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &d.Bucket, Key: aws.String(d.Prefix + name), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String(contentType(name)),
		IfMatch: aws.String(tag),
	})
	if changed(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%s%s: %w", d, name, err)
	}
	return aws.ToString(out.ETag), true, nil
}

// RemoveIf deletes an object only if its ETag is still tag; ok is false if
// it changed or went. The ETag is asked for first, and the delete made
// with If-Match: MinIO ignores If-Match on a delete, and there only the
// moment between the two requests is unguarded.
func (d *Dir) RemoveIf(ctx context.Context, name, tag string) (bool, error) {
	key := aws.String(d.Prefix + name)
	head, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: key})
	if changed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s%s: %w", d, name, err)
	}
	if aws.ToString(head.ETag) != tag {
		return false, nil
	}
	_, err = d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: key, IfMatch: aws.String(tag)})
	if c, status := code(err); c == "NotImplemented" || status == http.StatusNotImplemented {
		_, err = d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: key})
	}
	if changed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s%s: %w", d, name, err)
	}
	return true, nil
}

// changed reports whether a conditional request failed because the object
// is not the one named (or is gone).
func changed(err error) bool {
	if err == nil {
		return false
	}
	c, status := code(err)
	return c == "PreconditionFailed" || c == "NoSuchKey" || c == "ConditionalRequestConflict" ||
		status == http.StatusPreconditionFailed || status == http.StatusNotFound || status == http.StatusConflict
}
