package scrub

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Object is one archive in a store.
type Object struct {
	Key  string // where it is, as shown to users: a path or s3://bucket/key
	Rel  string // its path below the source root, '/'-separated; globs match this
	Size int64
	// ModTime is when the archive was last written, by the store's
	// clock (an S3 object's LastModified, a file's mtime).
	ModTime time.Time
	// ID identifies the archive across sources, so that one archive reached
	// twice (two spellings of a directory, nested sources) is processed
	// once. Empty means Key.
	ID string
	// ETag and StorageClass are what an object store's listing said of
	// the archive (empty elsewhere, and when not listed): Open reads the
	// content with that ETag, a change since the listing being a
	// conflict, and holds an archive in an archive storage class without
	// reading it.
	ETag, StorageClass string
	// Identity names the archive's exact content as the listing sees it,
	// without reading it (locally device, inode, size, mtime and ctime;
	// in S3 the ETag and size), or is empty: an index entry holds only
	// for the identity it was made for (Options.Index).
	Identity string
	// NotScanned, if set, is why the store does not offer this entry to
	// be read (a symbolic link, a device, a named pipe): the batch records
	// it, unread and untouched, as not-scanned with this reason.
	NotScanned string
}

// Store is a place archives live: a local directory tree (package local) or
// an object store. The engine needs only these two methods.
type Store interface {
	// List calls fn for every archive below the store's root, in the
	// caller's goroutine. An error from fn stops the listing and is
	// returned.
	List(ctx context.Context, fn func(Object) error) error
	// Open lends the archive's content to fn and closes it when fn returns.
	Open(ctx context.Context, obj Object, fn func(Content) error) error
}

// Content is an opened archive: the bytes that were read and the means to
// replace exactly them.
type Content interface {
	io.ReaderAt
	Size() int64
	// Stage creates a temporary file for the archive's replacement.
	Stage() (*os.File, error)
	// Replace puts the staged file, which the caller has written and
	// verified, in place of the archive atomically: a crash at any point
	// leaves the old or the new archive, whole. It fails with ErrConflict,
	// leaving the archive as it is, when the archive changed since it was
	// opened. Replace takes ownership of staged and removes it on failure.
	Replace(ctx context.Context, staged *os.File) error
}

// Versioned is implemented by the Content of stores that keep old versions
// of an archive (a versioned S3 bucket). The engine calls Purge only after
// the replacement is in place and verified: it permanently deletes the
// version that was read and every older version, which still hold the
// erased rows, and reports the IDs of the versions it deleted.
type Versioned interface {
	VersionID() string // the version that was read
	Purge(ctx context.Context) (deleted []string, err error)
	// PurgeOlder is for an archive whose current version holds no listed
	// ID: it lends match each older version and permanently deletes
	// those for which match reports true (an earlier run interrupted
	// between its upload and its purge, or versions from before scrub).
	PurgeOlder(ctx context.Context, match func(r io.ReaderAt, size int64) (bool, error)) (deleted []string, err error)
}

// Preparer is implemented by stores that check the store before the first
// write: Run calls Prepare once per source, after the listing and before
// any archive is processed, except in a dry run. An error stops the batch
// before anything is written (an object store that ignores the conditions
// its replacements rely on, unless that was accepted).
type Preparer interface {
	Prepare(ctx context.Context) error
}

// ReplaceChecker is implemented by Content that can tell, without writing
// anything, why Replace would refuse the archive (a local file with other
// hard links, or an owner the rewrite could not be given): a dry run then
// reports the archive as it would end, held.
type ReplaceChecker interface {
	CheckReplace() error
}

// ReadBacker is implemented by Content that can read back the archive it
// has just put in place, for a full verification of what was stored.
type ReadBacker interface {
	ReadBack(ctx context.Context, fn func(r io.ReaderAt, size int64) error) error
}

// Deleted is implemented by the Content of an archive that has no current
// version (in a versioned bucket, its latest entry is a delete marker) but
// older versions: Deleted reports true, and only its older versions are
// scanned and purged (Versioned.PurgeOlder).
type Deleted interface {
	Deleted() bool
}

// StagedCleaner is implemented by stores that stage rewrites beside the
// archives (a local directory tree). Before a resumed batch lists the
// store, CleanStaged tells it that staged files written since the
// interrupted batch began, for archives only accepts (by Object.Rel; nil
// accepts all), are that batch's own, to be removed rather than reported.
type StagedCleaner interface {
	CleanStaged(since time.Time, only func(rel string) bool)
}

// Remote is implemented by stores whose archives spend most of their time
// waiting on requests (an object store): the default number of jobs is
// then DefaultRemoteJobs, enough archives in flight to hide the requests'
// latency, and twice the number of CPUs are scanned or rewritten at once
// (a large archive's scan waits on its reads part of the time).
type Remote interface {
	Remote() bool
}

// Identifier is implemented by Content that can name the content it holds
// as the store's listing would (Object.Identity): what was opened, or,
// once Replace has put the rewrite in place, the rewrite; "" when it does
// not know.
type Identifier interface {
	Identity() string
}

// ErrConflict reports an archive that changed while it was being processed.
var ErrConflict = errors.New("archive changed while it was being processed; left as it is")

// ReplacedError reports an archive that its replacement took the place
// of, after which a step failed (the store's copy did not verify): the
// rewrite is in place, and Err says what was not done.
type ReplacedError struct{ Err error }

func (e *ReplacedError) Error() string { return "replaced, but " + e.Err.Error() }
func (e *ReplacedError) Unwrap() error { return e.Err }

// HeldError reports an archive that must not or cannot be changed: under
// object-lock retention or legal hold, or in an archive storage class. It is
// left untouched and counted as not done.
type HeldError struct{ Reason string }

func (e *HeldError) Error() string { return "not touched: " + e.Reason }
