package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Dir is a prefix of a bucket used as a flat directory of small files: the
// audit location (audit.Location) when it is in object storage. Files are
// created with If-None-Match, so an existing file is never overwritten.
type Dir struct {
	client api
	Bucket string
	Prefix string // "" or ending in '/'
}

// NewDir returns the directory s3://bucket/prefix.
func NewDir(client api, bucket, prefix string) *Dir {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Dir{client: client, Bucket: bucket, Prefix: prefix}
}

func (d *Dir) String() string { return "s3://" + d.Bucket + "/" + d.Prefix }

// List returns the names of the objects directly below the prefix, sorted.
func (d *Dir) List(ctx context.Context) ([]string, error) {
	p := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{Bucket: &d.Bucket, Prefix: &d.Prefix, Delimiter: aws.String("/")})
	var names []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			if name := strings.TrimPrefix(aws.ToString(o.Key), d.Prefix); name != "" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// ReadFile returns an object's content; a missing one is fs.ErrNotExist.
func (d *Dir) ReadFile(ctx context.Context, name string) ([]byte, error) {
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.Bucket, Key: aws.String(d.Prefix + name)})
	if err != nil {
		if c, status := code(err); c == "NoSuchKey" || status == http.StatusNotFound {
			return nil, fmt.Errorf("%s%s: %w", d, name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s%s: %w", d, name, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", d, name, err)
	}
	return data, nil
}

// Create uploads a new object in one request, with Content-MD5, and fails
// with fs.ErrExist if the name is taken.
func (d *Dir) Create(ctx context.Context, name string, r io.Reader) error {
	err := d.put(ctx, name, r, true)
	if c, status := code(err); c == "PreconditionFailed" || status == http.StatusPreconditionFailed {
		return fmt.Errorf("%s%s: %w", d, name, fs.ErrExist)
	}
	return err
}

// put uploads an object in one request, with Content-MD5; with exclusive,
// only if the name is free (If-None-Match).
func (d *Dir) put(ctx context.Context, name string, r io.Reader, exclusive bool) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	sum := md5.Sum(data)
	in := &s3.PutObjectInput{
		Bucket: &d.Bucket, Key: aws.String(d.Prefix + name),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:  aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		ContentType: aws.String(contentType(name)),
	}
	if exclusive {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := d.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("%s%s: %w", d, name, err)
	}
	return nil
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, ".jsonl"):
		return "application/jsonl"
	}
	return "text/plain; charset=utf-8"
}

// Put uploads an object, replacing one of the same name.
func (d *Dir) Put(ctx context.Context, name string, r io.Reader) error {
	return d.put(ctx, name, r, false)
}

// Remove deletes an object (its current version, in a versioned bucket).
func (d *Dir) Remove(ctx context.Context, name string) error {
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: aws.String(d.Prefix + name)})
	if err != nil {
		return fmt.Errorf("%s%s: %w", d, name, err)
	}
	return nil
}
