package audit

import (
	"context"
	"io"
	"os"
)

// Location is where audit bundles are kept: a local directory (local.Dir)
// or an object store prefix (s3store.Dir), as package store opens them.
type Location interface {
	// List returns the names of the files in the location, sorted.
	List(ctx context.Context) ([]string, error)
	// ReadFile returns the content of one file; a missing file is an
	// error wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Create stores a new file with the content of r, durably, and fails
	// with an error wrapping fs.ErrExist if the name is taken: an audit
	// location is append-only.
	Create(ctx context.Context, name string, r io.Reader) error
	// Put stores a file, replacing one of the same name, and Remove
	// deletes one: only for the journals of unfinished batches.
	Put(ctx context.Context, name string, r io.Reader) error
	Remove(ctx context.Context, name string) error
	String() string
}

// LocalDir is implemented by a Location that is a directory of the local
// file system: a batch's journal is then written there directly, and
// synced after every event, rather than spooled and copied.
type LocalDir interface {
	Location
	LocalPath() string
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
