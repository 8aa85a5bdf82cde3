package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// How an upload is checked. Every upload carries a SHA-256 checksum (a
// flexible checksum: x-amz-checksum-sha256 on a PUT and on every part,
// with ChecksumAlgorithm SHA256 on the multipart upload) besides
// Content-MD5, so that a store that knows checksums checks them on
// receipt and reports them back. An ETag is not taken for an MD5: it is
// not one with SSE-KMS, for checksum-typed uploads on AWS, or for the
// multipart uploads of some stores (s3rver's is the MD5 of the whole
// object). What the store holds is then judged by what it really gives
// back, in this order (sent.match):
//
//  1. the size must be the size sent;
//  2. if a HEAD with checksum mode returns a SHA-256 checksum, it must be
//     ours: of the object for a PUT, or for a multipart upload the
//     composite "base64(SHA-256 of the parts' SHA-256s)-N" (what S3 and
//     MinIO report; the whole object's is taken too);
//  3. else an ETag that is our MD5 (of the parts' MD5s, "-N", for a
//     multipart upload) will do;
//  4. else the object is read back, pinned to its version and ETag, and
//     compared with what was sent, byte for byte.
//
// A HEAD with checksum mode that the store refuses (moto answers 400
// after a multipart upload) is asked again without it: no checksum.

// sent is an upload: the staged file and its digests, in the forms a
// store may report them.
type sent struct {
	f    *os.File
	size int64
	// md5 is the ETag of a store whose ETags are MD5s: `"hex"` for a
	// PUT, `"hex-N"` (of the parts' MD5s) for a multipart upload.
	md5 string
	// sha256 is what a PUT's x-amz-checksum-sha256 holds, or for a
	// multipart upload the composite checksum with its "-N".
	sha256 string
	// also are other SHA-256 forms a store may report for the object:
	// a multipart upload's composite without "-N", and its whole
	// object's.
	also []string
}

// digests is the MD5 and SHA-256 of some bytes.
type digests struct{ md5, sha256 []byte }

// digest returns the MD5 and SHA-256 of n bytes of f from off, feeding
// them to also (if not nil) as well.
func digest(f *os.File, off, n int64, also hash.Hash) (digests, error) {
	m, s := md5.New(), sha256.New()
	w := io.MultiWriter(m, s)
	if also != nil {
		w = io.MultiWriter(m, s, also)
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, off, n)); err != nil {
		return digests{}, err
	}
	return digests{m.Sum(nil), s.Sum(nil)}, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// single returns what a PUT of the first size bytes of f sends, and their
// digests.
func single(f *os.File, size int64) (*sent, digests, error) {
	d, err := digest(f, 0, size, nil)
	if err != nil {
		return nil, d, err
	}
	return &sent{f: f, size: size, md5: `"` + hex.EncodeToString(d.md5) + `"`, sha256: b64(d.sha256)}, d, nil
}

// multi collects what a multipart upload sends, part by part.
type multi struct {
	whole      hash.Hash
	md5s, shas []byte // the parts' digests, concatenated
	n          int    // parts
	up         sent
}

func newMulti(f *os.File, size int64) *multi {
	return &multi{whole: sha256.New(), up: sent{f: f, size: size}}
}

// part digests the next part, n bytes from off, and returns its digests.
func (m *multi) part(off, n int64) (digests, error) {
	d, err := digest(m.up.f, off, n, m.whole)
	if err != nil {
		return d, err
	}
	m.md5s, m.shas = append(m.md5s, d.md5...), append(m.shas, d.sha256...)
	m.n++
	return d, nil
}

// sent returns the upload, once every part is digested.
func (m *multi) sent() *sent {
	n := m.n
	etag, comp := md5.Sum(m.md5s), sha256.Sum256(m.shas)
	up := m.up
	up.md5 = fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(etag[:]), n)
	up.sha256 = fmt.Sprintf("%s-%d", b64(comp[:]), n)
	up.also = []string{b64(comp[:]), b64(m.whole.Sum(nil))}
	return &up
}

// ErrVerify reports an upload that does not match what was sent.
var ErrVerify = errors.New("uploaded object does not match the rewrite")

// match returns nil if the object that h describes, pinned to its ETag and
// version, is what was sent, a wrapped ErrVerify if it is not, and another
// error if that could not be told (the read-back failed).
func (up *sent) match(ctx context.Context, c *content, h *s3.HeadObjectOutput) error {
	etag := aws.ToString(h.ETag)
	if n := aws.ToInt64(h.ContentLength); n != up.size {
		return fmt.Errorf("%w: %d bytes stored, %d sent", ErrVerify, n, up.size)
	}
	if sum := aws.ToString(h.ChecksumSHA256); sum != "" {
		if sum != up.sha256 && !slices.Contains(up.also, sum) {
			return fmt.Errorf("%w: SHA-256 checksum %s stored, %s sent", ErrVerify, sum, up.sha256)
		}
		return nil
	}
	if quoted(etag) == up.md5 {
		return nil
	}
	same, err := c.holds(ctx, etag, aws.ToString(h.VersionId), up.f, up.size)
	switch {
	case err != nil:
		return fmt.Errorf("read back: %w", err)
	case !same:
		return fmt.Errorf("%w: the stored bytes differ from those sent (no checksum, ETag %s)", ErrVerify, etag)
	}
	return nil
}

// headSums is a HEAD that asks for the object's checksums. A store that
// refuses checksum mode (400, InvalidRequest, NotImplemented) is asked
// again without it: that is no checksum, not an error.
func (s *Store) headSums(ctx context.Context, in *s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
	with := *in
	with.ChecksumMode = types.ChecksumModeEnabled
	h, err := s.client.HeadObject(ctx, &with)
	if err == nil || !noChecksumMode(err) {
		return h, err
	}
	return s.client.HeadObject(ctx, in)
}

// noChecksumMode reports whether err is a store's refusal of a request's
// checksum mode.
func noChecksumMode(err error) bool {
	c, status := code(err)
	return status == http.StatusBadRequest || status == http.StatusNotImplemented ||
		c == "InvalidRequest" || c == "NotImplemented" || c == "BadRequest"
}

// gone reports whether err says that the object does not exist.
func gone(err error) bool {
	c, status := code(err)
	return c == "NotFound" || c == "NoSuchKey" || status == http.StatusNotFound
}

// holds reports whether the object's version, pinned to etag, holds
// exactly the bytes of f.
func (c *content) holds(ctx context.Context, etag, version string, f *os.File, size int64) (bool, error) {
	oc := &content{s: c.s, ctx: ctx, key: c.key, size: size, etag: etag, version: version}
	defer oc.release()
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(a)) {
		n := min(int64(len(a)), size-off)
		if _, err := oc.ReadAt(a[:n], off); err != nil {
			return false, err
		}
		if _, err := f.ReadAt(b[:n], off); err != nil {
			return false, err
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return false, nil
		}
	}
	return true, nil
}

// quoted returns an ETag as HTTP quotes it: some stores return it bare.
func quoted(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}
