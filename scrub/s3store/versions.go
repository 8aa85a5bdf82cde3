package s3store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/scrub"
)

// An archive's versions, in a versioned bucket. The store goes by version
// id and by the store's IsLatest flag, never by where a version stands in
// a listing: S3 lists a key's versions newest first, but not every
// S3-compatible store does (SeaweedFS with suspended versioning lists the
// null version after the older ones).

// version is one version or delete marker of a key, as listed.
type version struct {
	id       string
	marker   bool
	latest   bool // the store flags it IsLatest
	modified time.Time
	etag     string
	size     int64
}

// nullVersion is the id of the version written while versioning was not
// enabled (never, or suspended); HEAD may then give no id at all.
const nullVersion = "null"

// versions calls fn for every version and delete marker of exactly key, in
// the order the store lists them, which means nothing.
func (s *Store) versions(ctx context.Context, key string, fn func(version) error) error {
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.Bucket, Prefix: &key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions: %w", err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == key {
				if err := fn(version{id: aws.ToString(v.VersionId), latest: aws.ToBool(v.IsLatest), modified: aws.ToTime(v.LastModified),
					etag: aws.ToString(v.ETag), size: aws.ToInt64(v.Size)}); err != nil {
					return err
				}
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				if err := fn(version{id: aws.ToString(m.VersionId), marker: true, latest: aws.ToBool(m.IsLatest),
					modified: aws.ToTime(m.LastModified)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allVersions returns every version and delete marker of exactly key.
func (s *Store) allVersions(ctx context.Context, key string) ([]version, error) {
	vs := []version{}
	err := s.versions(ctx, key, func(v version) error {
		vs = append(vs, v)
		return nil
	})
	return vs, err
}

// snapshot returns, in a versioned bucket, every version and delete marker
// of key; nil in a bucket never versioned. Replace takes it just before
// the upload: it is what Purge deletes once the new version is in place.
func (s *Store) snapshot(ctx context.Context, key string) ([]version, error) {
	if s.versioning == "" {
		return nil, nil
	}
	vs, err := s.allVersions(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("before the upload: %w", err)
	}
	return vs, nil
}

// checkPurged lists key's versions after a purge: no version or marker of
// before the upload (before) other than ours may be left, ours must be
// there, and no version written meanwhile may hold what was read (its
// ETag read).
func (s *Store) checkPurged(ctx context.Context, key, ours, read string, before []version) error {
	vs, err := s.allVersions(ctx, key)
	if err != nil {
		return fmt.Errorf("check the purge: %w", err)
	}
	var errs []error
	if !slices.ContainsFunc(vs, func(v version) bool { return v.id == ours && !v.marker }) {
		errs = append(errs, fmt.Errorf("new version %s not listed", ours))
	}
	for _, v := range vs {
		switch {
		case v.id == ours:
		case slices.ContainsFunc(before, func(b version) bool { return b.id == v.id }):
			if !s.gone(ctx, key, v.id) {
				errs = append(errs, fmt.Errorf("version %s is still there after its deletion", v.id))
			}
		case !v.marker && read != "" && v.etag == read:
			errs = append(errs, fmt.Errorf("version %s, written during the replacement, holds the archive as it was read", v.id))
		}
	}
	return errors.Join(errs...)
}

// stillLatest checks that read, the version or delete marker an archive
// was read as, is still the key's latest entry as the store flags it.
func stillLatest(vs []version, read string) error {
	if !slices.ContainsFunc(vs, func(v version) bool { return v.id == read }) {
		return fmt.Errorf("%w: version %s deleted meanwhile", scrub.ErrConflict, read)
	}
	var latest []string
	for _, v := range vs {
		if v.latest {
			latest = append(latest, v.id)
		}
	}
	switch {
	case len(latest) != 1:
		return fmt.Errorf("the store flags %d entries of the key as its latest version: %q", len(latest), latest)
	case latest[0] != read:
		return fmt.Errorf("%w: version %s is the latest now, not %s that was read", scrub.ErrConflict, latest[0], read)
	}
	return nil
}

// purgeMatching lends match every version of key but read (the current
// version that was read, or the delete marker an archive without one was
// read as) and permanently deletes those it reports. It does so only while
// read is still the key's latest entry: otherwise the archive changed
// since it was read, and nothing is deleted (scrub.ErrConflict). Delete
// markers hold no data and stay.
func (s *Store) purgeMatching(ctx context.Context, key, read string, match func(io.ReaderAt, int64) (bool, error)) ([]string, error) {
	vs, err := s.allVersions(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := stillLatest(vs, read); err != nil {
		return nil, err
	}
	var deleted []string
	for _, v := range vs {
		if v.marker || v.id == read {
			continue
		}
		oc := &content{s: s, ctx: ctx, key: key, size: v.size, etag: v.etag, version: v.id}
		m, err := match(oc, v.size)
		oc.release()
		if err != nil && errors.Is(err, scrub.ErrConflict) && s.gone(ctx, key, v.id) {
			continue // gone, it holds nothing
		}
		if err != nil {
			return deleted, fmt.Errorf("version %s: %w", v.id, err)
		}
		if !m {
			continue
		}
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: &key, VersionId: aws.String(v.id)}); err != nil {
			return deleted, fmt.Errorf("delete version %s: %w", v.id, err)
		}
		deleted = append(deleted, v.id)
	}
	return deleted, nil
}

// gone reports whether version id of key, which could not be read (a
// conflict: versions do not change, so it is being deleted, by another
// client or by a killed attempt of this batch), has left the listing. A
// store may list a version it no longer serves for a while: MinIO with
// erasure-coded drives does for seconds after a DELETE whose client went
// away, holding the object's lock meanwhile. gone lists again with
// backoff, up to GoneWait; a version still listed then is not gone.
func (s *Store) gone(ctx context.Context, key, id string) bool {
	deadline := time.Now().Add(cmp.Or(s.GoneWait, 10*time.Second))
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		vs, err := s.allVersions(ctx, key)
		if err != nil {
			return false
		}
		if !slices.ContainsFunc(vs, func(v version) bool { return v.id == id }) {
			return true
		}
		if time.Now().Add(wait).After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// checkVersionsHeld refuses an object when any of its versions is retained
// or on legal hold: those versions could not be deleted after the rewrite.
// head is Open's HEAD of the version it read, whose headers stand in for
// another HEAD of that version.
func (s *Store) checkVersionsHeld(ctx context.Context, key string, head *s3.HeadObjectOutput) error {
	vs, err := s.allVersions(ctx, key)
	if err != nil {
		return err
	}
	return s.checkHeld(ctx, key, vs, head)
}

// checkHeld asks the object lock of every version of vs (delete markers
// have none); head, if not nil, is a HEAD of one of them.
func (s *Store) checkHeld(ctx context.Context, key string, vs []version, head *s3.HeadObjectOutput) error {
	now := time.Now()
	for _, v := range vs {
		if v.marker {
			continue
		}
		var h *s3.HeadObjectOutput
		if head != nil && cmp.Or(aws.ToString(head.VersionId), nullVersion) == v.id {
			h = head
		}
		reason, err := s.lockOf(ctx, key, v.id, h, now)
		if err != nil && !v.latest && errors.Is(err, scrub.ErrConflict) && s.gone(ctx, key, v.id) {
			continue // an older version deleted meanwhile holds no lock
		}
		if err != nil {
			return fmt.Errorf("object lock of version %s: %w", v.id, err)
		}
		if reason != "" {
			return &scrub.HeldError{Reason: fmt.Sprintf("version %s %s", v.id, reason)}
		}
	}
	return nil
}

// lockOf returns why a version of key is locked, or "". It asks
// GetObjectRetention and GetObjectLegalHold with its version id: HEAD of a
// version that is not the current one may leave the lock out (versitygw).
// Where the store does not answer those calls for the version (no lock
// configuration, not implemented: see lockUnanswered), or they say it is
// not locked, HEAD's headers are read too (h if not nil, else a HEAD of
// the version), and a lock either shows holds. Any other error, access
// denied included, is returned: a lock that could not be read is not
// taken for no lock.
func (s *Store) lockOf(ctx context.Context, key, id string, h *s3.HeadObjectOutput, now time.Time) (string, error) {
	var mode string
	var until *time.Time
	var legal types.ObjectLockLegalHoldStatus
	r, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &s.Bucket, Key: &key, VersionId: &id})
	switch {
	case err == nil && r.Retention != nil:
		mode, until = string(r.Retention.Mode), r.Retention.RetainUntilDate
	case err == nil:
	case lockUnanswered(err):
	default:
		return "", fmt.Errorf("get retention: %w", classify(err))
	}
	if reason := lockReason("", mode, until, now); reason != "" {
		return reason, nil
	}
	l, err := s.client.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: &s.Bucket, Key: &key, VersionId: &id})
	switch {
	case err == nil && l.LegalHold != nil:
		legal = l.LegalHold.Status
	case err == nil:
	case lockUnanswered(err):
	default:
		return "", fmt.Errorf("get legal hold: %w", classify(err))
	}
	if reason := lockReason(legal, mode, until, now); reason != "" {
		return reason, nil
	}
	// Neither call says held. HEAD's headers are read too, and a lock
	// either source shows holds: moto answers GetObjectRetention with no
	// retention for a version its HEAD shows retained, and a store that
	// does not answer the calls has only HEAD to say it.
	if h == nil {
		var err error
		if h, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key, VersionId: &id}); err != nil {
			return "", fmt.Errorf("head: %w", classify(err))
		}
	}
	return lockReason(h.ObjectLockLegalHoldStatus, string(h.ObjectLockMode), h.ObjectLockRetainUntilDate, now), nil
}

// lockReason says why an object under this legal hold and retention must
// not be touched, or "".
func lockReason(legal types.ObjectLockLegalHoldStatus, mode string, until *time.Time, now time.Time) string {
	switch {
	case legal == types.ObjectLockLegalHoldStatusOn:
		return "under legal hold"
	case mode != "" && until != nil && until.After(now):
		return fmt.Sprintf("retained until %s (%s object lock)", until.UTC().Format(time.RFC3339), mode)
	}
	return ""
}

// listHidden calls fn, in key order, for every key below dir whose latest
// entry is a delete marker and which still has versions: ListObjectsV2
// does not list it, but its versions may hold rows. It walks the versions
// of the whole prefix once, a page at a time: the entries of a page's
// greatest key may go on into the next page, those of the keys before it
// are complete. (The page's NextKeyMarker would not do: MinIO's is not a
// key.) The store remembers such keys, so that Open lends them as
// deleted.
func (s *Store) listHidden(ctx context.Context, dir string, fn func(scrub.Object) error) error {
	type entry struct {
		marker *version // the latest entry, if it is a delete marker
		data   bool     // a version that is not a marker
	}
	keys := map[string]*entry{}
	at := func(key string) *entry {
		e := keys[key]
		if e == nil {
			e = &entry{}
			keys[key] = e
		}
		return e
	}
	// flush yields the keys before last, or all of them.
	flush := func(last string, all bool) error {
		var done []string
		for k := range keys {
			if all || k < last {
				done = append(done, k)
			}
		}
		slices.Sort(done)
		for _, k := range done {
			e := keys[k]
			delete(keys, k)
			if e.marker == nil || !e.data {
				continue
			}
			rel, _ := relOf(dir, k)
			s.hidden.Store(k, true)
			if err := fn(scrub.Object{Key: s.url(k), Rel: rel, ModTime: e.marker.modified}); err != nil {
				return err
			}
		}
		return nil
	}
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.Bucket, Prefix: &dir})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions: %w", err)
		}
		last := ""
		for _, v := range page.Versions {
			key := aws.ToString(v.Key)
			last = max(last, key)
			if below(dir, key) {
				at(key).data = true
			}
		}
		for _, m := range page.DeleteMarkers {
			key := aws.ToString(m.Key)
			last = max(last, key)
			if below(dir, key) && aws.ToBool(m.IsLatest) {
				at(key).marker = &version{id: aws.ToString(m.VersionId), marker: true, latest: true, modified: aws.ToTime(m.LastModified)}
			}
		}
		if err := flush(last, !aws.ToBool(page.IsTruncated)); err != nil {
			return err
		}
	}
	return flush("", true)
}

func below(dir, key string) bool {
	_, ok := relOf(dir, key)
	return ok
}

// errDeleted is the error of what cannot be done to an archive without a
// current version.
var errDeleted = errors.New("the archive is deleted (its latest version is a delete marker); only its older versions can be purged")

// openHidden lends fn, for a key List found behind a delete marker, a
// deletedContent if the key's latest entry is still a delete marker; it
// returns false, to go the usual way, if the key has a current version
// again.
func (s *Store) openHidden(ctx context.Context, key string, fn func(scrub.Content) error) (bool, error) {
	vs, err := s.allVersions(ctx, key)
	if err != nil {
		return true, err
	}
	i := slices.IndexFunc(vs, func(v version) bool { return v.latest })
	if i < 0 || !vs[i].marker {
		return false, nil
	}
	if s.locking && !s.ReadOnly {
		if err := s.checkHeld(ctx, key, vs, nil); err != nil {
			return true, err
		}
	}
	return true, fn(&deletedContent{s: s, key: key, marker: vs[i].id})
}

// deletedContent is an archive whose latest entry is a delete marker in a
// versioned bucket: it has no current version, it reads as empty and
// cannot be replaced, and PurgeOlder purges its versions.
type deletedContent struct {
	s      *Store
	key    string
	marker string // the delete marker that is the key's latest entry
}

var (
	_ scrub.Content   = (*deletedContent)(nil)
	_ scrub.Versioned = (*deletedContent)(nil)
)

// Deleted reports that the archive has no current version: there is
// nothing to scan or rewrite, only older versions to purge (PurgeOlder).
func (d *deletedContent) Deleted() bool { return true }

func (d *deletedContent) ReadAt(p []byte, off int64) (int, error) { return 0, io.EOF }
func (d *deletedContent) Size() int64                             { return 0 }
func (d *deletedContent) Stage() (*os.File, error)                { return nil, errDeleted }

func (d *deletedContent) Replace(ctx context.Context, staged *os.File) error {
	staged.Close()
	os.Remove(staged.Name())
	return errDeleted
}

// VersionID is "": no version was read as the archive.
func (d *deletedContent) VersionID() string { return "" }

func (d *deletedContent) Purge(ctx context.Context) ([]string, error) { return nil, errDeleted }

// PurgeOlder lends match every version of the key and deletes those it
// reports, while the delete marker is still the key's latest entry.
func (d *deletedContent) PurgeOlder(ctx context.Context, match func(io.ReaderAt, int64) (bool, error)) ([]string, error) {
	return d.s.purgeMatching(ctx, d.key, d.marker, match)
}
