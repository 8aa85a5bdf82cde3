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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The methods below make a Dir an audit.Retainer: in a bucket with Object
// Lock, the sealed files of an audit bundle are written with a retention,
// so that nobody (COMPLIANCE) or nobody without
// s3:BypassGovernanceRetention (GOVERNANCE) can delete or overwrite them
// before the date.

// ObjectLock reports whether the bucket has Object Lock enabled, and its
// default retention (a year is 365 days). A bucket without a lock
// configuration, or a store that does not implement the call, has none.
func (d *Dir) ObjectLock(ctx context.Context) (bool, string, time.Duration, error) {
	out, err := d.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &d.Bucket})
	if err != nil {
		if lockUnanswered(err) {
			return false, "", 0, nil
		}
		if _, status := code(err); status == http.StatusNotFound {
			return false, "", 0, nil
		}
		return false, "", 0, fmt.Errorf("get object lock configuration of bucket %s: %w", d.Bucket, err)
	}
	c := out.ObjectLockConfiguration
	if c == nil || c.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return false, "", 0, nil
	}
	var mode string
	var period time.Duration
	if c.Rule != nil && c.Rule.DefaultRetention != nil {
		r := c.Rule.DefaultRetention
		mode = string(r.Mode)
		period = time.Duration(aws.ToInt32(r.Days))*24*time.Hour + time.Duration(aws.ToInt32(r.Years))*365*24*time.Hour
	}
	return true, mode, period, nil
}

// CreateRetained is Create, the new object locked in mode (GOVERNANCE or
// COMPLIANCE) until until.
func (d *Dir) CreateRetained(ctx context.Context, name string, r io.Reader, mode string, until time.Time) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	sum := md5.Sum(data)
	until = until.UTC()
	_, err = d.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &d.Bucket, Key: aws.String(d.Prefix + name),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:  aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		ContentType: aws.String(contentType(name)),
		IfNoneMatch: aws.String("*"),
		// Content-MD5 is required with a retention.
		ObjectLockMode: types.ObjectLockMode(mode), ObjectLockRetainUntilDate: &until,
	})
	if c, status := code(err); c == "PreconditionFailed" || status == http.StatusPreconditionFailed {
		return fmt.Errorf("%s%s: %w", d, name, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("%s%s: %w", d, name, err)
	}
	return nil
}

// Retention returns the retention of an object's current version: mode
// "" if it has none. GetObjectRetention is asked first, then HEAD's
// headers (as lockOf does); an error that is not "no lock" is returned.
func (d *Dir) Retention(ctx context.Context, name string) (string, time.Time, error) {
	key := d.Prefix + name
	r, err := d.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &d.Bucket, Key: &key})
	switch {
	case err == nil && r.Retention != nil && r.Retention.Mode != "" && r.Retention.RetainUntilDate != nil:
		return string(r.Retention.Mode), *r.Retention.RetainUntilDate, nil
	case err == nil, lockUnanswered(err):
	default:
		return "", time.Time{}, fmt.Errorf("%s%s: get retention: %w", d, name, err)
	}
	h, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: &key})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s%s: head: %w", d, name, err)
	}
	if h.ObjectLockMode == "" || h.ObjectLockRetainUntilDate == nil {
		return "", time.Time{}, nil
	}
	return string(h.ObjectLockMode), *h.ObjectLockRetainUntilDate, nil
}

// Deleted returns the names directly below the prefix whose newest
// version is a delete marker.
func (d *Dir) Deleted(ctx context.Context) ([]string, error) {
	p := s3.NewListObjectVersionsPaginator(d.client, &s3.ListObjectVersionsInput{Bucket: &d.Bucket, Prefix: &d.Prefix, Delimiter: aws.String("/")})
	var names []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: list versions: %w", d, err)
		}
		for _, m := range page.DeleteMarkers {
			if !aws.ToBool(m.IsLatest) {
				continue
			}
			if name := strings.TrimPrefix(aws.ToString(m.Key), d.Prefix); name != "" {
				names = append(names, name)
			}
		}
	}
	return names, nil
}
