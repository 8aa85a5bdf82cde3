package local

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

// Dir is a flat directory of small files: the audit location, a blocklist
// or an export's output (audit.Location) when it is a local directory. It
// is created on first write. Files are written to a hidden temporary file,
// synced, and put in place by link (Create, CreateFile: never over an
// existing file) or rename (Put); the directory is synced after.
type Dir string

func (d Dir) String() string { return string(d) }

// LocalPath implements audit.LocalDir: a journal is written here directly.
func (d Dir) LocalPath() string { return string(d) }

// List implements audit.Location; a missing directory holds no files.
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

// ReadFile implements audit.Location.
func (d Dir) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(string(d), name))
}

// Create implements audit.Location: it writes a hidden temporary file, syncs it
// and links it under its name, which fails if the name exists, then syncs
// the directory.
func (d Dir) Create(ctx context.Context, name string, r io.Reader) error {
	return d.write(name, r, 0o644, os.Link)
}

// Put implements audit.Location: a temporary file renamed over the name.
func (d Dir) Put(ctx context.Context, name string, r io.Reader) error {
	return d.write(name, r, 0o644, os.Rename)
}

// write writes r to a hidden temporary file in the directory, syncs it,
// puts it in place under name with place (link or rename), and syncs the
// directory.
func (d Dir) write(name string, r io.Reader, mode os.FileMode, place func(tmp, name string) error) error {
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
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
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

// Remove implements audit.Location.
func (d Dir) Remove(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(string(d), name)); err != nil {
		return err
	}
	return syncDir(string(d))
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("bad file name %q", name)
	}
	return nil
}

// CreateFile stores the first size bytes of r as a new file, like Create,
// with mode 0600: an export's archives hold personal data. It fails with
// an error wrapping fs.ErrExist if the name is taken.
func (d Dir) CreateFile(ctx context.Context, name string, r io.ReaderAt, size int64, contentType string) error {
	return d.write(name, &exact{r: io.NewSectionReader(r, 0, size), left: size}, 0o600, os.Link)
}

// exact reads exactly left bytes from r: a shorter r is
// io.ErrUnexpectedEOF.
type exact struct {
	r    io.Reader
	left int64
}

func (e *exact) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
