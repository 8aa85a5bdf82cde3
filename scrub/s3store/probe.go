package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub"
)

// The probe. An archive is replaced by a conditional write: If-Match on
// the ETag that was read, on the PUT or on the CompleteMultipartUpload. A
// store that ignores the condition (s3rver on every write, moto on
// CompleteMultipartUpload) lets the replacement overwrite an object that
// another writer put there meanwhile, and in a versioned bucket the purge
// then deletes that writer's version: data lost. So before the first
// write, Prepare tries the conditions once on a scratch object of its
// own below the prefix (PREFIX/.scrub-probe-conditional-writes, which
// List skips): a PUT with If-None-Match: * over it, a PUT and a
// CompleteMultipartUpload with If-Match on a wrong ETag. Each must fail
// with 412 Precondition Failed (or S3's 409 ConditionalRequestConflict).
// Then every version of the scratch object and every multipart upload of
// it is deleted: its name is always the same, so that what a run killed
// meanwhile left goes too. The shares of a sharded request, which probe
// the same prefix at once, each add their share to the name (ProbeTag),
// so that none deletes another's scratch object or aborts another's
// upload (MinIO then may keep an aborted upload in the bucket's listing);
// what a killed share's probe left is removed by the next run of that
// share, or by any probe once it is an hour old (by the store's clock as
// this machine reads it). Should two runs of one share probe at once
// anyway, a probe that finds its scratch object gone takes a 404 as a
// refusal too, and an upload aborted under it is started again.
//
// Where If-Match on PutObject is not honoured, no archive is replaced
// unless AcceptUnconditional is set. Where only CompleteMultipartUpload
// ignores it, every archive up to 5 GiB goes up in one conditional PUT
// instead of in parts; a larger one fails, left as it was, unless
// AcceptUnconditional is set.

// acceptFlag is the command-line flag that sets AcceptUnconditional, which
// the messages name.
const acceptFlag = "--accept-unconditional-writes"

// maxPutSize is the largest object one PutObject takes.
const maxPutSize = 5 << 30

// probePrefix starts the name of the probe's scratch object: List skips
// what it names.
const probePrefix = ".scrub-probe-"

// probeName is the name of the probe's scratch object, below the prefix;
// a share of a sharded request adds its own suffix.
const probeName = probePrefix + "conditional-writes"

// staleProbe is the age from which another run's scratch object or upload
// is taken for what a killed run left.
const staleProbe = time.Hour

// wrongETag is an ETag no object has.
const wrongETag = `"00000000000000000000000000000000-1"`

// conditions is what the probe found of a store's conditional writes.
type conditions struct {
	put      bool // If-Match on PutObject is honoured
	complete bool // If-Match on CompleteMultipartUpload is honoured
	create   bool // If-None-Match: * on PutObject is honoured
}

// ignored names the operations whose If-Match the store ignores.
func (c *conditions) ignored() string {
	var ops []string
	if !c.put {
		ops = append(ops, "PutObject")
	}
	if !c.complete {
		ops = append(ops, "CompleteMultipartUpload")
	}
	return strings.Join(ops, " and ")
}

var _ scrub.Preparer = (*Store)(nil)

// Prepare implements scrub.Preparer: before the first write, it checks
// once whether the store honours conditional writes (see the probe
// above), and fails if archives cannot be replaced safely there. A
// read-only store writes nothing and checks nothing.
func (s *Store) Prepare(ctx context.Context) error {
	if s.ReadOnly {
		return nil
	}
	s.prepared.Do(func() { s.prepErr = s.prepare(ctx) })
	return s.prepErr
}

func (s *Store) prepare(ctx context.Context) error {
	if err := s.bucketInfo(ctx); err != nil {
		return err
	}
	c, err := s.probe(ctx)
	if err != nil {
		return fmt.Errorf("check the store's conditional writes: %w", err)
	}
	s.conds.Store(c)
	where := s.url(s.Prefix)
	switch {
	case !c.put && !s.AcceptUnconditional:
		return fmt.Errorf("the store ignores If-Match on %s (a write with a wrong ETag succeeded): another writer's object could be overwritten; scrub does not replace archives there (%s accepts that race)",
			c.ignored(), acceptFlag)
	case !c.put:
		s.warn(fmt.Sprintf("%s: the store ignores If-Match on %s: archives are replaced without a working condition, so another writer's object put there meanwhile could be overwritten (accepted by %s)",
			where, c.ignored(), acceptFlag))
	case !c.complete && s.AcceptUnconditional:
		s.warn(fmt.Sprintf("%s: the store ignores If-Match on CompleteMultipartUpload: archives up to 5 GiB go up in one conditional PUT, a larger one in parts without a working condition, so another writer's object put there meanwhile could be overwritten (accepted by %s)",
			where, acceptFlag))
	}
	return nil
}

func (s *Store) warn(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
	}
}

// whole reports whether an archive of size bytes goes up in one PUT
// rather than in parts of partSize, and fails for one that cannot go up
// safely: larger than one PUT takes, in a store that ignores If-Match on
// CompleteMultipartUpload, without AcceptUnconditional.
func (s *Store) whole(size, partSize int64) (bool, error) {
	if size <= partSize {
		return true, nil
	}
	c := s.conds.Load()
	if c == nil || c.complete {
		return false, nil
	}
	limit := int64(maxPutSize)
	if s.putLimit > 0 {
		limit = s.putLimit
	}
	switch {
	case size <= limit:
		return true, nil
	case s.AcceptUnconditional:
		return false, nil
	}
	return false, fmt.Errorf("the store ignores If-Match on CompleteMultipartUpload (a completion with a wrong ETag succeeded), and the rewrite (%d bytes) is larger than one PUT takes (%d bytes): it would go up unconditionally and could overwrite another writer's object; left as it was (%s accepts that race)",
		size, limit, acceptFlag)
}

// probe tries the conditions on the scratch object, which it deletes.
func (s *Store) probe(ctx context.Context) (*conditions, error) {
	key, err := s.probeKey()
	if err != nil {
		return nil, err
	}
	defer func() {
		// Also when the batch is cancelled: nothing of it stays.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.removeProbe(cctx, key); err != nil {
			s.warn(fmt.Sprintf("%s: the check of conditional writes left its scratch object; delete it: %v", s.url(key), err))
		}
	}()
	const text = "scrub checks here whether the store honours conditional writes; this object is deleted at once\n"
	// Each write has a body of its own length, to tell which is there.
	put := func(body string, mod func(*s3.PutObjectInput)) error {
		sum := md5.Sum([]byte(body))
		in := &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: strings.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentMD5: aws.String(b64(sum[:]))}
		if mod != nil {
			mod(in)
		}
		_, err := s.client.PutObject(ctx, in)
		return err
	}
	if err := put(text, nil); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	c := &conditions{}
	// If-None-Match is not what an archive's replacement relies on: a
	// store that rejects it some other way is taken as honouring it.
	err = put(text+"If-None-Match\n", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	c.create = err != nil
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// A write refused otherwise than by 412 (a store may close the
	// connection rather than read the body) did not happen if the
	// object is not what it sent.
	body := text + "If-Match on a wrong ETag\n"
	switch err := put(body, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(wrongETag) }); {
	case err == nil:
	case refused(err):
		c.put = true
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		h, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
		switch {
		case herr == nil:
			c.put = aws.ToInt64(h.ContentLength) != int64(len(body))
		case gone(herr):
			c.put = true
		default:
			return nil, fmt.Errorf("put %s with If-Match: %w (and then %w)", key, err, herr)
		}
	}
	// Another run probing at the same time may abort this upload while
	// it cleans up (NoSuchUpload): then again. Still so, the completion
	// is taken as unconditional: archives go up in one PUT.
	for range 3 {
		c.complete, err = s.probeComplete(ctx, key, []byte(text))
		if !noSuchUpload(err) {
			break
		}
	}
	if err != nil && !noSuchUpload(err) {
		return nil, err
	}
	return c, nil
}

// probeKey returns the key of the probe's scratch object: the prefix,
// probeName and the ProbeTag, if any. List skips it. The name is the same
// for every run of one share, so that what a run killed while it probed
// left is removed by the next.
func (s *Store) probeKey() (string, error) {
	key := s.probeDir() + probeName
	if s.ProbeTag != "" {
		if !shareTag.MatchString(s.ProbeTag) {
			return "", fmt.Errorf("probe tag %q: want I-of-N", s.ProbeTag)
		}
		key += "-" + s.ProbeTag
	}
	return key, nil
}

// probeDir returns the prefix under which probes put their scratch
// objects, "" or ending in "/".
func (s *Store) probeDir() string {
	if dir := strings.TrimSuffix(s.Prefix, "/"); dir != "" {
		return dir + "/"
	}
	return ""
}

// probeComplete reports whether a multipart upload of key completed with
// If-Match on a wrong ETag fails. A store that refuses the completion for
// another reason is taken as not honouring the condition: archives then
// go up in one PUT, whose condition works.
func (s *Store) probeComplete(ctx context.Context, key string, body []byte) (bool, error) {
	cm, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		return false, fmt.Errorf("start multipart upload of %s: %w", key, err)
	}
	completed := false
	defer func() {
		if !completed {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: cm.UploadId}); err != nil && !noSuchUpload(err) {
				s.warn(fmt.Sprintf("%s: the check of conditional writes left multipart upload %s; abort it (or let the bucket's lifecycle rule for incomplete uploads): %v",
					s.url(key), aws.ToString(cm.UploadId), err))
			}
		}
	}()
	sum := md5.Sum(body)
	up, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.Bucket, Key: &key, UploadId: cm.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentMD5: aws.String(b64(sum[:]))})
	if err != nil {
		return false, fmt.Errorf("upload a part of %s: %w", key, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.Bucket, Key: &key,
		UploadId: cm.UploadId, IfMatch: aws.String(wrongETag),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
	switch {
	case err == nil:
		completed = true
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case noSuchUpload(err):
		return false, err
	}
	return refused(err), nil
}

func noSuchUpload(err error) bool {
	c, _ := code(err)
	return c == "NoSuchUpload"
}

// refused reports whether err is a write refused for its condition: 412
// Precondition Failed, or S3's 409 ConditionalRequestConflict; or, for
// If-Match, 404 when the object is gone (another run probing at the same
// time removed the scratch object).
func refused(err error) bool {
	c, status := code(err)
	return c == "PreconditionFailed" || status == http.StatusPreconditionFailed || c == "ConditionalRequestConflict" ||
		c == "NoSuchKey" || status == http.StatusNotFound
}

// stale reports whether a scratch object or upload of another probe,
// from t, is what a killed run left.
func (s *Store) stale(t *time.Time) bool {
	return t != nil && time.Since(*t) > s.staleAfter()
}

func (s *Store) staleAfter() time.Duration {
	if s.probeAge != 0 {
		return s.probeAge
	}
	return staleProbe
}

// removable reports whether name, a key below the probes' prefix, is key or
// another probe's scratch object (or an upload of it) from t old enough
// to be what a killed run left.
func (s *Store) removable(name, key string, t *time.Time) bool {
	rel, below := strings.CutPrefix(name, s.probeDir())
	return name == key || below && isProbeName(rel) && s.stale(t)
}

// shareTag matches the ProbeTag of a share of a sharded request.
var shareTag = regexp.MustCompile(`^[0-9]+-of-[0-9]+$`)

// isProbeName reports whether rel, a path below the prefix, is a name a
// probe gives its scratch object: probeName, or probeName and a share's
// tag. Any other object, whatever its name, is an archive (or not, by
// its content), never the probe's.
func isProbeName(rel string) bool {
	tag, ok := strings.CutPrefix(rel, probeName)
	return ok && (tag == "" || strings.HasPrefix(tag, "-") && shareTag.MatchString(tag[1:]))
}

// abortProbeUploads aborts the multipart uploads of name that are key's or
// what a killed run left. MinIO lists the uploads of one name only, so
// names are asked one by one. Best effort: an upload that cannot be
// listed or aborted is left to the bucket's lifecycle rule.
func (s *Store) abortProbeUploads(ctx context.Context, name, key string) {
	p := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: &s.Bucket, Prefix: &name})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.Key) == name && s.removable(name, key, u.Initiated) {
				s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &name, UploadId: u.UploadId})
			}
		}
	}
}

// removeProbe deletes every version and delete marker of the probe's
// scratch object key (just the object, in a bucket never versioned), and
// aborts every multipart upload of it (also the lost attempts of a
// retried CreateMultipartUpload); and so for what killed runs' probes
// left. In a bucket with object lock, a version that a default retention
// keeps is deleted bypassing governance mode.
func (s *Store) removeProbe(ctx context.Context, key string) error {
	prefix := s.probeDir() + probeName
	type version struct{ key, id string }
	var vs []version
	names := []string{key}
	if key != prefix {
		names = append(names, prefix) // the name of an unsharded run
	}
	var listErr error
	if s.versioning == "" {
		vs = append(vs, version{key: key})
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				break // what killed runs left waits for the next probe
			}
			for _, o := range page.Contents {
				name := aws.ToString(o.Key)
				if name != key && name != prefix {
					names = append(names, name)
				}
				if name != key && s.removable(name, key, o.LastModified) {
					vs = append(vs, version{key: name})
				}
			}
		}
	} else {
		p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.Bucket, Prefix: &prefix})
		seen := map[string]bool{key: true, prefix: true}
		add := func(name, id string, t *time.Time) {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
			if s.removable(name, key, t) {
				vs = append(vs, version{name, id})
			}
		}
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				// A store that lists no versions: its current object at
				// least goes.
				listErr = fmt.Errorf("list versions: %w", err)
				vs = []version{{key: key}}
				break
			}
			for _, v := range page.Versions {
				add(aws.ToString(v.Key), aws.ToString(v.VersionId), v.LastModified)
			}
			for _, m := range page.DeleteMarkers {
				add(aws.ToString(m.Key), aws.ToString(m.VersionId), m.LastModified)
			}
		}
	}
	for _, name := range names {
		s.abortProbeUploads(ctx, name, key)
	}
	errs := []error{listErr}
	for _, v := range vs {
		in := &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: aws.String(v.key)}
		if v.id != "" {
			in.VersionId = aws.String(v.id)
		}
		_, err := s.client.DeleteObject(ctx, in)
		if err != nil && s.locking {
			in.BypassGovernanceRetention = aws.Bool(true)
			_, err = s.client.DeleteObject(ctx, in)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s version %q: %w", v.key, v.id, err))
		}
	}
	return errors.Join(errs...)
}
