package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Location is where audit bundles are kept: a local directory (Dir) or an
// object store prefix (package s3store).
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

// Dir is a local directory used as a Location. It is created on first
// write.
type Dir string

func (d Dir) String() string { return string(d) }

// List implements Location; a missing directory holds no files.
func (d Dir) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// ReadFile implements Location.
func (d Dir) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(string(d), name))
}

// Create implements Location: it writes a hidden temporary file, syncs it
// and links it under its name, which fails if the name exists, then syncs
// the directory.
func (d Dir) Create(ctx context.Context, name string, r io.Reader) error {
	return d.write(name, r, os.Link)
}

// Put implements Location: a temporary file renamed over the name.
func (d Dir) Put(ctx context.Context, name string, r io.Reader) error {
	return d.write(name, r, os.Rename)
}

// write writes r to a hidden temporary file in the directory, syncs it,
// puts it in place under name with place (link or rename), and syncs the
// directory.
func (d Dir) write(name string, r io.Reader, place func(tmp, name string) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(string(d), "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := place(f.Name(), filepath.Join(string(d), name)); err != nil {
		return err
	}
	return syncDir(string(d))
}

// Remove implements Location.
func (d Dir) Remove(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(string(d), name)); err != nil {
		return err
	}
	return syncDir(string(d))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("bad audit file name %q", name)
	}
	return nil
}
