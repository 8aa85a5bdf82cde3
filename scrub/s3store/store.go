// Package s3store keeps archives in S3 or an S3-compatible object store
// such as MinIO.
//
// An archive is read with ranged GETs pinned to the ETag (and version) that
// was listed, so a concurrent change shows as a conflict rather than as a
// mix of two objects. A small archive is read whole with one GET and no
// HEAD (see Open): a HEAD is spent only on those about to be replaced. Its
// replacement is uploaded to the same key with If-Match on that ETag: a
// writer that got there first is never clobbered.
// Everything about the object that is not its data is carried over:
// content type, encoding, disposition, language, cache control, expiry,
// user metadata, tags, storage class and server-side encryption (SSE-S3 and
// SSE-KMS with its key). The upload carries its MD5 and SHA-256, which the
// store checks, and is verified by what the store gives back (size, then
// checksum, MD5 ETag or the bytes read back; see checksum.go) before
// anything is deleted. Before the first write, Prepare checks that the
// store honours those conditional writes (see probe.go). In a versioned
// bucket the version that was read and every older version and
// delete marker of that exact key are then deleted permanently.
//
// Objects under object-lock retention or legal hold (any version of them,
// in a bucket with object lock) and objects in the GLACIER and DEEP_ARCHIVE
// storage classes are reported as held and not touched.
package s3store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub"
)

// DefaultPartSize is the default size of multipart upload parts; objects
// up to this size go up in one PUT.
const DefaultPartSize = 16 << 20

// minPartSize is S3's lower limit for all parts but the last.
const minPartSize = 5 << 20

// chunkSize is the size of one ranged GET.
const chunkSize = 8 << 20

// chunkPools hold chunk buffers between archives, by size class: a fresh
// 8 MiB buffer per archive, zeroed and then collected, cost a batch of
// small daily archives 0.7 s of CPU per GB of CSV; and a buffer is sized
// to what it holds, so that 128 jobs on small archives do not hold 8 MiB
// each (issue 18). Class k holds buffers of minChunk<<k bytes, up to
// chunkSize.
var chunkPools [chunkClasses]sync.Pool

// minChunk is the smallest chunk buffer.
const minChunk = 64 << 10

// chunkClasses is the number of buffer size classes, minChunk to chunkSize
// by powers of two.
const chunkClasses = 8 // 64 KiB << 7 = 8 MiB

// chunkClass returns the size class of a buffer for n bytes.
func chunkClass(n int64) int {
	k := 0
	for int64(minChunk)<<k < n {
		k++
	}
	return k
}

// getChunk returns a buffer of at least n bytes (n <= chunkSize).
func getChunk(n int64) []byte {
	k := chunkClass(n)
	if b, ok := chunkPools[k].Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, minChunk<<k)
}

// putChunk gives a buffer from getChunk back.
func putChunk(b []byte) {
	chunkPools[chunkClass(int64(cap(b)))].Put(&b)
}

// Store is the archives below a prefix of a bucket. A prefix that names an
// object names just that object; otherwise it is a directory: "exports"
// covers "exports/..." but not "exports2/...".
type Store struct {
	client api
	Bucket string
	Prefix string
	// PartSize is the multipart part size; 0 means DefaultPartSize.
	PartSize int64
	// TempDir holds staged rewrites; "" means os.TempDir().
	TempDir string
	// ReadOnly opens objects under retention or legal hold too, for a
	// pass that only reads (an export); objects in an archive storage
	// class, which cannot be read, are still refused.
	ReadOnly bool
	// AcceptUnconditional replaces archives where the store ignores
	// If-Match on PutObject, and lets an archive too large for one PUT
	// go up in parts where it ignores If-Match on
	// CompleteMultipartUpload (see Prepare): another writer's object
	// put there meanwhile could then be overwritten.
	AcceptUnconditional bool
	// ProbeTag, if set, is added to the name of the scratch object that
	// Prepare writes, so that runs probing the same prefix at once (the
	// shares of a sharded request) do not remove each other's.
	ProbeTag string
	// Warn, if set, is told when Prepare found the store ignoring
	// conditional writes and the race was accepted, and about a scratch
	// object it could not delete.
	Warn func(msg string)
	// GoneWait bounds how long the store waits for a listing to drop a
	// version that can no longer be read (see gone); 0 means 10 seconds.
	GoneWait time.Duration

	once       sync.Once
	versioning types.BucketVersioningStatus // "" if never enabled
	locking    bool                         // object lock enabled
	bucketErr  error

	// pins holds, for keys Recover found the store unsettled about, the
	// version the listing (and the store's conditional writes) takes as
	// current; Open reads that one rather than what HEAD says.
	pins sync.Map
	// hidden holds the keys List found behind a delete marker (see
	// listHidden); Open lends them as deleted while they still are.
	hidden sync.Map

	// hook, set by tests, is called at each step of a replacement.
	hook func(step, key string) error

	// What Prepare found of the store's conditional writes (nil: not
	// checked), once.
	prepared sync.Once
	prepErr  error
	conds    atomic.Pointer[conditions]
	// putLimit, set by tests, is the largest object one PUT takes; 0
	// means maxPutSize.
	putLimit int64
	// probeAge, set by tests, is the age from which another probe's
	// scratch object is taken for a killed run's; 0 means staleProbe.
	probeAge time.Duration
}

// New returns the store for s3://bucket/prefix on client.
func New(client *s3.Client, bucket, prefix string) *Store {
	return &Store{client: client, Bucket: bucket, Prefix: prefix}
}

var (
	_ scrub.Store  = (*Store)(nil)
	_ scrub.Remote = (*Store)(nil)
)

// Remote implements scrub.Remote: an archive spends part of its time
// waiting on requests.
func (s *Store) Remote() bool { return true }

func (s *Store) url(key string) string { return "s3://" + s.Bucket + "/" + key }

func (s *Store) step(name, key string) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(name, key)
}

// bucketInfo reads the bucket's versioning and object-lock state once.
func (s *Store) bucketInfo(ctx context.Context) error {
	s.once.Do(func() {
		v, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &s.Bucket})
		if err != nil {
			s.bucketErr = fmt.Errorf("get versioning of bucket %s: %w", s.Bucket, err)
			return
		}
		s.versioning = v.Status
		l, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &s.Bucket})
		if err == nil && l.ObjectLockConfiguration != nil {
			s.locking = l.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled
		}
	})
	return s.bucketErr
}

// List lists the objects below the prefix, skipping folder markers. In a
// versioned bucket, for a pass that may write (not ReadOnly), it lists too
// the keys whose latest entry is a delete marker but which still have
// versions (listHidden), with Size 0: their versions may hold rows.
func (s *Store) List(ctx context.Context, fn func(scrub.Object) error) error {
	if err := s.bucketInfo(ctx); err != nil {
		return err
	}
	dir := strings.TrimSuffix(s.Prefix, "/")
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &dir})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			rel, ok := relOf(dir, key)
			if !ok {
				continue
			}
			obj := scrub.Object{Key: s.url(key), Rel: rel, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
				ETag: aws.ToString(o.ETag), StorageClass: string(o.StorageClass)}
			obj.Identity = identity(obj.ETag, obj.Size)
			if err := fn(obj); err != nil {
				return err
			}
		}
	}
	if s.versioning != "" && !s.ReadOnly {
		return s.listHidden(ctx, dir, fn)
	}
	return nil
}

// relOf returns the path of key below dir (the prefix without its
// trailing slash), or false for a key not below it and a folder marker.
func relOf(dir, key string) (string, bool) {
	var rel string
	switch {
	case strings.HasSuffix(key, "/"):
		return "", false
	case dir == "":
		rel = key
	case key == dir:
		return path.Base(key), true
	case strings.HasPrefix(key, dir+"/"):
		rel = key[len(dir)+1:]
	default:
		return "", false
	}
	if isProbeName(rel) {
		// The scratch object of a conditional-write probe (Prepare),
		// left only by a run killed while it probed.
		return "", false
	}
	return rel, true
}

func (s *Store) key(obj scrub.Object) string {
	return strings.TrimPrefix(obj.Key, "s3://"+s.Bucket+"/")
}

// readWhole is the largest archive Open reads whole with one GET, without
// a HEAD first: the jobs in flight then hold at most that much each.
const readWhole = 1 << 20

// Open lends fn the object's content, pinned to the ETag and version it is
// read at; a held object is refused. A key List found behind a delete
// marker is lent as deleted (openHidden) while it still is.
//
// An archive listed with an ETag, of at most readWhole bytes, is read
// whole at once with one GET pinned to that ETag (a change since the
// listing is a conflict), which gives its version too; its object lock is
// asked only before it is replaced (Stage), since only a bucket with
// object lock can hold it, and there Open goes the long way. The long way
// is a HEAD, which refuses held objects (and, in a bucket with object
// lock, objects any version of which is held) before anything is read;
// the reads are pinned to the ETag and version it gave. It is taken for a
// large archive, one listed in an archive storage class (held unless
// restored, which only HEAD says), one Recover pinned to a version, and
// one not listed by this store.
func (s *Store) Open(ctx context.Context, obj scrub.Object, fn func(scrub.Content) error) error {
	if err := s.bucketInfo(ctx); err != nil {
		return err
	}
	key := s.key(obj)
	if _, ok := s.hidden.Load(key); ok {
		if done, err := s.openHidden(ctx, key, fn); done {
			return err
		}
	}
	var c *content
	var err error
	if s.listedRead(obj, key) {
		c, err = s.openListed(ctx, obj, key)
	} else {
		c, err = s.openHead(ctx, key)
	}
	if err != nil {
		return err
	}
	defer c.release()
	return fn(c)
}

// listedRead reports whether Open reads obj as listed, without a HEAD.
func (s *Store) listedRead(obj scrub.Object, key string) bool {
	_, pinned := s.pins.Load(key)
	class := types.StorageClass(obj.StorageClass)
	return obj.ETag != "" && obj.Size <= readWhole && !pinned && !(s.locking && !s.ReadOnly) &&
		class != types.StorageClassGlacier && class != types.StorageClassDeepArchive
}

// openListed reads obj whole, pinned to its listed ETag: the content's
// version is the one that GET read.
func (s *Store) openListed(ctx context.Context, obj scrub.Object, key string) (*content, error) {
	c := &content{s: s, ctx: ctx, key: key, size: obj.Size, etag: quoted(obj.ETag), unpinned: true}
	var err error
	if c.size == 0 {
		err = c.fetch(nil, 0)
	} else {
		_, err = c.chunk(0)
	}
	if err == nil && c.got == nil {
		err = fmt.Errorf("read %s: no response", key)
	}
	if err == nil {
		err = c.s.refuse(c.got)
	}
	if err != nil {
		c.release()
		if ec, _ := code(err); ec == "InvalidObjectState" {
			// An archive storage class the listing did not name.
			return nil, &scrub.HeldError{Reason: "in an archive storage class; restore it first"}
		}
		return nil, err
	}
	return c, nil
}

// openHead reads the object's metadata with a HEAD, refuses held objects,
// and returns the content pinned to the ETag and version it found.
func (s *Store) openHead(ctx context.Context, key string) (*content, error) {
	in := &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key}
	if v, ok := s.pins.Load(key); ok {
		in.VersionId = aws.String(v.(string))
	}
	head, err := s.client.HeadObject(ctx, in)
	if err != nil {
		return nil, classify(err)
	}
	if err := s.refuse(head); err != nil {
		return nil, err
	}
	if s.locking && !s.ReadOnly {
		if err := s.checkVersionsHeld(ctx, key, head); err != nil {
			return nil, err
		}
	}
	return &content{s: s, ctx: ctx, key: key, head: head, size: aws.ToInt64(head.ContentLength),
		etag: aws.ToString(head.ETag), version: aws.ToString(head.VersionId)}, nil
}

// refuse returns why an object, by its headers, is not to be read: held
// (except under a lock, for a pass that only reads), or encrypted with a
// key of the customer's.
func (s *Store) refuse(h *s3.HeadObjectOutput) error {
	if reason := held(h, time.Now()); reason != "" && !(s.ReadOnly && underLock(h)) {
		return &scrub.HeldError{Reason: reason}
	}
	if h.SSECustomerAlgorithm != nil {
		return errors.New("encrypted with a customer-provided key (SSE-C), which scrub cannot read")
	}
	return nil
}

// headOf returns the headers of a GET's response as a HEAD's.
func headOf(g *s3.GetObjectOutput) *s3.HeadObjectOutput {
	return &s3.HeadObjectOutput{
		ETag: g.ETag, VersionId: g.VersionId, LastModified: g.LastModified,
		ContentType: g.ContentType, ContentEncoding: g.ContentEncoding, ContentDisposition: g.ContentDisposition,
		ContentLanguage: g.ContentLanguage, CacheControl: g.CacheControl, ExpiresString: g.ExpiresString,
		Metadata: g.Metadata, TagCount: g.TagCount, StorageClass: g.StorageClass, Restore: g.Restore,
		ServerSideEncryption: g.ServerSideEncryption, SSEKMSKeyId: g.SSEKMSKeyId, BucketKeyEnabled: g.BucketKeyEnabled,
		SSECustomerAlgorithm: g.SSECustomerAlgorithm, ObjectLockMode: g.ObjectLockMode,
		ObjectLockRetainUntilDate: g.ObjectLockRetainUntilDate, ObjectLockLegalHoldStatus: g.ObjectLockLegalHoldStatus,
	}
}

// checkHead is, for content read as listed, the HEAD that Open did not do,
// pinned to the version and ETag that were read: it refuses a held object
// before anything is written. Its headers are what Replace carries over.
func (c *content) checkHead(ctx context.Context) error {
	if c.head != nil {
		return nil // Open's HEAD
	}
	h, err := c.s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.s.Bucket, Key: &c.key,
		VersionId: nonEmpty(c.version), IfMatch: &c.etag})
	if err != nil {
		return fmt.Errorf("head: %w", classify(err))
	}
	if err := c.s.refuse(h); err != nil {
		return err
	}
	c.head = h
	return nil
}

// CheckReplace implements scrub.ReplaceChecker: a dry run reports a held
// object as held.
func (c *content) CheckReplace() error { return c.checkHead(c.ctx) }

// held returns why an object must not be touched, or "".
func held(h *s3.HeadObjectOutput, now time.Time) string {
	if reason := lockReason(h.ObjectLockLegalHoldStatus, string(h.ObjectLockMode), h.ObjectLockRetainUntilDate, now); reason != "" {
		return reason
	}
	switch {
	case h.StorageClass == types.StorageClassGlacier || h.StorageClass == types.StorageClassDeepArchive:
		if h.Restore != nil && strings.Contains(*h.Restore, `ongoing-request="false"`) {
			return "" // a restored copy is readable; the rewrite goes to STANDARD below
		}
		return fmt.Sprintf("in storage class %s; restore it first", h.StorageClass)
	}
	return ""
}

// underLock reports whether an object is under legal hold or retention (held
// for that, but readable).
func underLock(h *s3.HeadObjectOutput) bool {
	return h.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn ||
		h.ObjectLockMode != "" && h.ObjectLockRetainUntilDate != nil
}

// content is an object as it was read: ranged GETs pinned to its ETag and
// version, through a cache of two chunks.
type content struct {
	s    *Store
	key  string
	head *s3.HeadObjectOutput // nil until checkHead, for content read as listed
	size int64
	etag string
	// version is the version read; with unpinned, the first GET (not
	// pinned to a version) learns it, and got is that GET's headers.
	version  string
	unpinned bool
	got      *s3.HeadObjectOutput

	ctx    context.Context // of Open, for the reads
	mu     sync.Mutex
	chunks [2]chunk
	next   int

	newVersion string // set by Replace
	newETag    string
	newSize    int64
	// snapshot, set by Replace in a versioned bucket, is the key's
	// versions and delete markers just before the upload: what Purge
	// deletes.
	snapshot []version
}

type chunk struct {
	off  int64
	data []byte // the bytes of the object from off, in buf
	buf  []byte // from getChunk
}

func (c *content) Size() int64 { return c.size }

// identity names an object's content as a listing does (Object.Identity):
// its ETag and size.
func identity(etag string, size int64) string {
	if etag == "" {
		return ""
	}
	return fmt.Sprintf("s3 etag=%s size=%d", quoted(etag), size)
}

// Identity names the content (Object.Identity): the version read, or after
// Replace its replacement.
func (c *content) Identity() string {
	if c.newETag != "" {
		return identity(c.newETag, c.newSize)
	}
	return identity(c.etag, c.size)
}
func (c *content) VersionID() string { return c.version }

// release gives the chunk buffers back; c is not read after it.
func (c *content) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.chunks {
		if c.chunks[i].buf != nil {
			putChunk(c.chunks[i].buf)
		}
	}
	c.chunks = [2]chunk{}
}

// ReadAt reads from the cached chunks, fetching the one that holds off.
func (c *content) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(p) {
		if off >= c.Size() {
			return n, io.EOF
		}
		ch, err := c.chunk(off - off%chunkSize)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], ch.data[off-ch.off:])
		n += k
		off += int64(k)
	}
	return n, nil
}

func (c *content) chunk(off int64) (*chunk, error) {
	for i := range c.chunks {
		if c.chunks[i].data != nil && c.chunks[i].off == off {
			return &c.chunks[i], nil
		}
	}
	ch := &c.chunks[c.next]
	c.next = (c.next + 1) % len(c.chunks)
	n := min(chunkSize, c.Size()-off)
	if ch.buf != nil && int64(cap(ch.buf)) < n {
		putChunk(ch.buf)
		ch.buf = nil
	}
	if ch.buf == nil {
		ch.buf = getChunk(n)
	}
	ch.data = nil
	if err := c.fetch(ch.buf[:n], off); err != nil {
		return nil, err
	}
	ch.off, ch.data = off, ch.buf[:n]
	return ch, nil
}

// fetch fills buf with the object's bytes from off. The SDK retries a
// request that fails, but not a response body that breaks off, stalls or
// comes short after the response has begun: fetch retries those with a new
// ranged GET, pinned like the first, up to the client's attempt limit and
// with its backoff.
func (c *content) fetch(buf []byte, off int64) error {
	var r aws.Retryer
	for attempt := 1; ; attempt++ {
		err := c.get(buf, off)
		var be *bodyError
		switch {
		case err == nil:
			return nil
		case c.ctx.Err() != nil && !errors.Is(err, c.ctx.Err()):
			return fmt.Errorf("%w (%w)", c.ctx.Err(), err)
		case c.ctx.Err() != nil, !errors.As(err, &be):
			return err
		}
		if r == nil {
			r = retryer(c.s.client)
		}
		if attempt >= r.MaxAttempts() {
			return fmt.Errorf("%w (%d attempts)", err, attempt)
		}
		d, derr := r.RetryDelay(attempt, be.err)
		if derr != nil {
			d = time.Second
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w)", c.ctx.Err(), err)
		}
	}
}

// bodyError is a response body that failed: worth another GET.
type bodyError struct {
	key      string
	off, end int64
	err      error
}

func (e *bodyError) Error() string {
	return fmt.Sprintf("read %s bytes %d-%d: %v", e.key, e.off, e.end, e.err)
}

func (e *bodyError) Unwrap() error { return e.err }

// get reads the object's bytes from off into buf with one ranged GET (a
// GET of the whole object for an empty buf, which must be all of it).
func (c *content) get(buf []byte, off int64) error {
	end := off + int64(len(buf)) - 1
	in := &s3.GetObjectInput{Bucket: &c.s.Bucket, Key: &c.key, IfMatch: &c.etag}
	if len(buf) > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, end))
	}
	if c.version != "" {
		in.VersionId = &c.version
	}
	out, err := c.s.client.GetObject(c.ctx, in)
	if err != nil {
		return fmt.Errorf("read %s bytes %d-%d: %w", c.key, off, end, classify(err))
	}
	defer out.Body.Close()
	if c.unpinned {
		// The reads that follow, a retry of this one included, are
		// pinned to the version this one read.
		c.version, c.got, c.unpinned = aws.ToString(out.VersionId), headOf(out), false
	}
	if n := out.ContentLength; n != nil && *n != int64(len(buf)) {
		return fmt.Errorf("read %s bytes %d-%d: the store sent %d bytes", c.key, off, end, *n)
	}
	if _, err := io.ReadFull(out.Body, buf); err != nil {
		return &bodyError{key: c.key, off: off, end: end, err: err}
	}
	return nil
}

// Stage checks, for content read as listed, that the object is not held
// (checkHead), then creates the staged file.
func (c *content) Stage() (*os.File, error) {
	if err := c.checkHead(c.ctx); err != nil {
		return nil, err
	}
	return os.CreateTemp(c.s.TempDir, "scrub-s3-*.tmp")
}

// Replace uploads staged to the object's key if the object is still the
// one that was read, then verifies the upload.
func (c *content) Replace(ctx context.Context, staged *os.File) error {
	defer func() {
		staged.Close()
		os.Remove(staged.Name())
	}()
	if err := c.s.step("staged", c.key); err != nil {
		return err
	}
	size, err := staged.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	meta, err := c.metadata(ctx)
	if err != nil {
		return err
	}
	if c.snapshot, err = c.s.snapshot(ctx, c.key); err != nil {
		return err
	}
	// A key deleted or rewritten since it was read is a conflict before
	// anything is sent: If-Match alone does not say so on every store
	// (versitygw lets a write with If-Match through over a delete
	// marker, recreating an archive someone deleted). The condition on
	// the write still covers what happens from here on.
	if c.snapshot != nil && c.version != "" {
		if err := stillLatest(c.snapshot, c.version); errors.Is(err, scrub.ErrConflict) {
			return err
		}
	}
	if err := c.s.step("checked", c.key); err != nil {
		return err
	}
	partSize := c.s.PartSize
	if partSize <= 0 {
		partSize = DefaultPartSize
	}
	partSize = max(partSize, minPartSize)
	whole, err := c.s.whole(size, partSize)
	if err != nil {
		return err
	}
	var up *sent
	var etag, version string
	if whole {
		up, etag, version, err = c.put(ctx, staged, size, meta)
	} else {
		up, etag, version, err = c.multipart(ctx, staged, size, partSize, meta)
	}
	if err != nil {
		return err
	}
	c.newVersion, c.newETag, c.newSize = version, etag, size
	// The new version is committed: from here on the archive finishes
	// (verification, then the engine's purge) even if the batch is
	// cancelled, rather than stop half-way.
	ctx = context.WithoutCancel(ctx)
	if err := c.s.step("uploaded", c.key); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	if err := c.verify(ctx, up, etag, version); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	return nil
}

// metadata returns the fields an object keeps across a rewrite.
func (c *content) metadata(ctx context.Context) (*s3.PutObjectInput, error) {
	if err := c.checkHead(ctx); err != nil {
		return nil, err
	}
	h := c.head
	in := &s3.PutObjectInput{
		ContentType:        h.ContentType,
		ContentEncoding:    h.ContentEncoding,
		ContentDisposition: h.ContentDisposition,
		ContentLanguage:    h.ContentLanguage,
		CacheControl:       h.CacheControl,
		Metadata:           h.Metadata,
		BucketKeyEnabled:   h.BucketKeyEnabled,
	}
	if h.ExpiresString != nil {
		if t, err := time.Parse(time.RFC1123, *h.ExpiresString); err == nil {
			in.Expires = &t
		}
	}
	switch h.StorageClass {
	case "", types.StorageClassStandard, types.StorageClassGlacier, types.StorageClassDeepArchive:
		// STANDARD is the default; a restored archive-class object is
		// rewritten to STANDARD, readable, rather than sent back to the
		// archive tier.
	default:
		in.StorageClass = types.StorageClass(h.StorageClass)
	}
	switch h.ServerSideEncryption {
	case types.ServerSideEncryptionAes256:
		in.ServerSideEncryption = h.ServerSideEncryption
	case types.ServerSideEncryptionAwsKms, types.ServerSideEncryptionAwsKmsDsse:
		in.ServerSideEncryption, in.SSEKMSKeyId = h.ServerSideEncryption, h.SSEKMSKeyId
	}
	if aws.ToInt32(h.TagCount) > 0 {
		t, err := c.s.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &c.s.Bucket, Key: &c.key, VersionId: nonEmpty(c.version)})
		if err != nil {
			return nil, fmt.Errorf("get tags: %w", err)
		}
		v := url.Values{}
		for _, tag := range t.TagSet {
			v.Add(aws.ToString(tag.Key), aws.ToString(tag.Value))
		}
		in.Tagging = aws.String(v.Encode())
	}
	return in, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// put uploads the file in one request, with its MD5 and SHA-256. It
// returns what was sent, and the new object's ETag and version.
func (c *content) put(ctx context.Context, f *os.File, size int64, m *s3.PutObjectInput) (up *sent, etag, version string, err error) {
	up, d, err := single(f, size)
	if err != nil {
		return nil, "", "", err
	}
	in := *m
	in.Bucket, in.Key, in.IfMatch = &c.s.Bucket, &c.key, &c.etag
	in.Body, in.ContentLength = io.NewSectionReader(f, 0, size), &size
	in.ContentMD5, in.ChecksumSHA256 = aws.String(b64(d.md5)), aws.String(up.sha256)
	out, err := c.s.client.PutObject(ctx, &in)
	if err != nil {
		if etag, version, err = c.afterFailure(ctx, up, "upload", err); err != nil {
			return nil, "", "", err
		}
		return up, etag, version, nil
	}
	return up, aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

// afterFailure is for a write that failed (op names it): if it landed all
// the same, it returns the new object's ETag and version; else the error,
// which is a conflict if the store now holds another object than the one
// read (whatever the write's error was: a store may answer a failed
// If-Match on a large PUT by closing the connection).
func (c *content) afterFailure(ctx context.Context, up *sent, op string, err error) (etag, version string, _ error) {
	etag, version, ok, changed := c.landed(ctx, up)
	err = classify(err)
	switch {
	case ok:
		return etag, version, nil
	case changed && !errors.Is(err, scrub.ErrConflict):
		return "", "", fmt.Errorf("%s: %w: the store holds another object than the one read (%v)", op, scrub.ErrConflict, err)
	}
	return "", "", fmt.Errorf("%s: %w", op, err)
}

// landed reports whether a write that failed is in place all the same, and
// then returns the object's ETag and version. The SDK retries a request
// whose response was lost (a reset, a stall, a 5xx from a proxy); when the
// lost attempt had committed, the retry of our If-Match write fails with
// 412 PreconditionFailed, by our own write, and any other failure may hide
// a commit too. The current object is ours if it is what was sent, judged
// as a verified upload is (sent.match: size, then checksum, ETag or the
// bytes read back). Another writer's object with the very same bytes
// would pass, and that is as good. changed reports that the key holds
// neither ours nor the object that was read (or nothing).
func (c *content) landed(ctx context.Context, up *sent) (etag, version string, ok, changed bool) {
	if ctx.Err() != nil {
		return "", "", false, false
	}
	h, err := c.s.headSums(ctx, &s3.HeadObjectInput{Bucket: &c.s.Bucket, Key: &c.key})
	if err != nil {
		return "", "", false, gone(err)
	}
	etag, version = aws.ToString(h.ETag), aws.ToString(h.VersionId)
	if etag == c.etag { // still the object that was read
		return "", "", false, false
	}
	err = up.match(ctx, c, h)
	return etag, version, err == nil, errors.Is(err, ErrVerify)
}

// multipart uploads the file in parts of partSize with bounded memory (the
// parts are read from the file), each with its MD5 and SHA-256, and
// completes it only if the object is still the one read. Any failure
// aborts the upload. It returns what was sent, and the new object's ETag
// and version.
func (c *content) multipart(ctx context.Context, f *os.File, size, partSize int64, m *s3.PutObjectInput) (up *sent, etag, version string, err error) {
	start := time.Now()
	cm, err := c.s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &c.s.Bucket, Key: &c.key,
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, ContentDisposition: m.ContentDisposition,
		ContentLanguage: m.ContentLanguage, CacheControl: m.CacheControl, Expires: m.Expires, Metadata: m.Metadata,
		StorageClass: m.StorageClass, ServerSideEncryption: m.ServerSideEncryption, SSEKMSKeyId: m.SSEKMSKeyId,
		BucketKeyEnabled: m.BucketKeyEnabled, Tagging: m.Tagging, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return nil, "", "", fmt.Errorf("start multipart upload: %w", err)
	}
	if r, ok := retry.GetAttemptResults(cm.ResultMetadata); ok && len(r.Results) > 1 {
		c.abortOrphans(ctx, aws.ToString(cm.UploadId), time.Since(start))
	}
	defer func() {
		if err != nil {
			// Abort even when ctx is canceled, so no parts are left.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			c.s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &c.s.Bucket, Key: &c.key, UploadId: cm.UploadId})
		}
	}()
	var parts []types.CompletedPart
	mp := newMulti(f, size)
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+partSize {
		l := min(partSize, size-off)
		d, err := mp.part(off, l)
		if err != nil {
			return nil, "", "", err
		}
		sum := aws.String(b64(d.sha256))
		out, err := c.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &c.s.Bucket, Key: &c.key, UploadId: cm.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(f, off, l), ContentLength: aws.Int64(l),
			ContentMD5: aws.String(b64(d.md5)), ChecksumSHA256: sum,
		})
		if err != nil {
			return nil, "", "", fmt.Errorf("upload part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumSHA256: sum})
	}
	if err := c.s.step("parts-uploaded", c.key); err != nil {
		return nil, "", "", err
	}
	up = mp.sent()
	out, err := c.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &c.s.Bucket, Key: &c.key, UploadId: cm.UploadId, IfMatch: &c.etag,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		if etag, version, err = c.afterFailure(ctx, up, "complete multipart upload", err); err != nil {
			return nil, "", "", err
		}
		return up, etag, version, nil
	}
	return up, aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

// abortOrphans aborts the uploads that the lost attempts of a retried
// CreateMultipartUpload started: nobody knows their ids, so they would
// stay. They are the uploads of exactly this key initiated at most the
// call's duration before ours (by the store's clock, ours included).
// Best effort: an upload that cannot be listed or aborted is left to the
// bucket's lifecycle rule.
func (c *content) abortOrphans(ctx context.Context, ours string, took time.Duration) {
	var mine *time.Time
	var others []types.MultipartUpload
	p := s3.NewListMultipartUploadsPaginator(c.s.client, &s3.ListMultipartUploadsInput{Bucket: &c.s.Bucket, Prefix: &c.key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, u := range page.Uploads {
			switch {
			case aws.ToString(u.Key) != c.key:
			case aws.ToString(u.UploadId) == ours:
				mine = u.Initiated
			default:
				others = append(others, u)
			}
		}
	}
	if mine == nil {
		return
	}
	from := mine.Add(-took - time.Second) // Initiated may be in whole seconds
	for _, u := range others {
		if t := aws.ToTime(u.Initiated); !t.Before(from) && !t.After(*mine) {
			c.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &c.s.Bucket, Key: &c.key, UploadId: u.UploadId})
		}
	}
}

// verify checks that the new object, pinned to its version (or else its
// ETag), is what was sent: by its size, then its SHA-256 checksum, its
// ETag or its bytes (sent.match).
func (c *content) verify(ctx context.Context, up *sent, etag, version string) error {
	in := &s3.HeadObjectInput{Bucket: &c.s.Bucket, Key: &c.key}
	switch {
	case version != "":
		in.VersionId = &version
	case etag != "":
		in.IfMatch = aws.String(quoted(etag))
	}
	h, err := c.s.headSums(ctx, in)
	if err != nil {
		return fmt.Errorf("verify upload: %w", err)
	}
	if err := up.match(ctx, c, h); err != nil {
		if !errors.Is(err, ErrVerify) {
			err = fmt.Errorf("verify upload: %w", err)
		}
		return err
	}
	c.newETag = aws.ToString(h.ETag) // what ReadBack is pinned to
	return nil
}

// ReadBack reads the object that Replace wrote, pinned to its version and
// ETag.
func (c *content) ReadBack(ctx context.Context, fn func(io.ReaderAt, int64) error) error {
	nc := &content{s: c.s, ctx: ctx, key: c.key, size: c.newSize, etag: c.newETag, version: c.newVersion}
	defer nc.release()
	return fn(nc, nc.size)
}

// PurgeOlder lends match every version of the key but the current one
// that was read, and deletes those it reports, only while that one is
// still the latest as the store flags it (IsLatest, whatever the order of
// the listing): otherwise the archive changed since it was read, and
// nothing is deleted (scrub.ErrConflict). Delete markers hold no data and
// stay.
func (c *content) PurgeOlder(ctx context.Context, match func(io.ReaderAt, int64) (bool, error)) ([]string, error) {
	if c.s.versioning == "" {
		return nil, nil
	}
	return c.s.purgeMatching(ctx, c.key, cmp.Or(c.version, nullVersion), match)
}

// Purge deletes, in a versioned bucket, the versions and delete markers of
// the key that were there just before the upload (Replace's snapshot), the
// one that was read among them, by version id and whatever order the
// store lists them in. Versions written after the snapshot (a writer
// after us) are kept. With versioning suspended the new version is the
// "null" one, which took the place of the old null version: that id is
// ours and not deleted. The versions are then listed again: one from
// before the upload that is still there is an error that names it.
func (c *content) Purge(ctx context.Context) ([]string, error) {
	if c.s.versioning == "" {
		return nil, nil // never versioned: the overwrite was the deletion
	}
	if c.snapshot == nil {
		return nil, errors.New("the versions from before the upload were not listed")
	}
	ours := cmp.Or(c.newVersion, nullVersion)
	if err := c.s.step("purge", c.key); err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, v := range c.snapshot {
		if v.id == ours {
			continue
		}
		_, err := c.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.s.Bucket, Key: &c.key, VersionId: aws.String(v.id)})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete version %s: %w", v.id, err))
			continue
		}
		deleted = append(deleted, v.id)
		if err := c.s.step("deleted-version", c.key); err != nil {
			return deleted, err
		}
	}
	if err := c.s.checkPurged(ctx, c.key, ours, c.etag, c.snapshot); err != nil {
		errs = append(errs, err)
	}
	return deleted, errors.Join(errs...)
}
