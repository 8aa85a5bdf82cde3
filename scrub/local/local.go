// Package local stores archives in a local directory tree, the default
// backend of scrub.
//
// A replacement is written to a hidden temporary file in the archive's own
// directory (".NAME.scrub-*.tmp"), given the original's permissions, synced,
// and renamed over the original; the directory is synced after. rename(2) is
// atomic, so a crash at any point leaves either the old archive or the new
// one, whole. Before the rename the original is checked to be the very file
// that was read (same inode, size and modification time); if not, the
// replacement is discarded and the conflict reported. The check and the
// rename are two steps: a writer that changes the file in the instant
// between them is not detected (POSIX has no conditional rename).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub"
)

// Store is a directory tree of archives, or a single archive file.
type Store struct {
	Root string
	// Warn, if set, is told about entries that are not processed: hidden
	// files, symbolic links, temporary files of an interrupted run.
	Warn func(msg string)
	// CleanSince, when set, is the start of an interrupted batch being
	// resumed: staged files modified since then are its own, and List
	// removes them instead of warning about them.
	CleanSince time.Time
	// CleanOnly, if set, narrows CleanSince to the staged files of the
	// archives (by path below Root, '/'-separated) it reports true for:
	// those of the resumed batch's share, when other workers' runs may
	// be staging files in the same tree.
	CleanOnly func(rel string) bool

	// hook, set by tests, is called at each step of a replacement of the
	// archive at path; an error aborts it there.
	hook func(step, path string) error
}

var (
	_ scrub.Store         = (*Store)(nil)
	_ scrub.StagedCleaner = (*Store)(nil)
)

// CleanStaged implements scrub.StagedCleaner: it sets CleanSince and
// CleanOnly.
func (s *Store) CleanStaged(since time.Time, only func(rel string) bool) {
	s.CleanSince, s.CleanOnly = since, only
}

const tmpSuffix = ".tmp"

// isTemp reports whether name is one of our staged files.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".scrub-") && strings.HasSuffix(name, tmpSuffix)
}

// cleans reports whether the staged file at p is one CleanOnly lets List
// remove.
func (s *Store) cleans(root, p string) bool {
	if s.CleanOnly == nil {
		return true
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	// .NAME.scrub-RANDOM.tmp stages NAME.
	dir, name := filepath.Split(rel)
	name = strings.TrimPrefix(name, ".")
	if i := strings.LastIndex(name, ".scrub-"); i > 0 {
		name = name[:i]
	}
	return s.CleanOnly(filepath.ToSlash(filepath.Join(dir, name)))
}

func (s *Store) warn(format string, args ...any) {
	if s.Warn != nil {
		s.Warn(fmt.Sprintf(format, args...))
	}
}

// List walks the tree in lexical order. Hidden files and directories
// (names starting with '.') and symbolic links are not followed; staged
// files left by an interrupted run are reported so they can be removed.
func (s *Store) List(ctx context.Context, fn func(scrub.Object) error) error {
	root := filepath.Clean(s.Root)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		switch {
		case p != root && isTemp(name):
			if info, err := d.Info(); err == nil && !s.CleanSince.IsZero() && !info.ModTime().Before(s.CleanSince.Add(-time.Second)) && s.cleans(root, p) {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove the staged file of an interrupted run: %w", err)
				}
				return nil
			}
			s.warn("%s: temporary file of scrub, not processed (left by an interrupted run, or being written by a run in progress; safe to delete when no scrub runs on this tree)", p)
			return nil
		case p != root && strings.HasPrefix(name, "."):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			s.warn("%s: symbolic link, not followed", p)
			return nil
		case !d.Type().IsRegular():
			s.warn("%s: not a regular file, skipped", p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = name
		}
		id, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		return fn(scrub.Object{Key: p, Rel: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime(), ID: id})
	})
}

// Open opens the archive at obj.Key.
func (s *Store) Open(ctx context.Context, obj scrub.Object, fn func(scrub.Content) error) error {
	return withFile(obj.Key, func(f *os.File, info fs.FileInfo) error {
		return fn(&content{File: f, info: info, path: obj.Key, store: s})
	})
}

// withFile lends fn the open file at path and its metadata.
func withFile(path string, fn func(*os.File, fs.FileInfo) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return fn(f, info)
}

type content struct {
	*os.File
	info  fs.FileInfo
	path  string
	store *Store
}

func (c *content) Size() int64 { return c.info.Size() }

func (c *content) Stage() (*os.File, error) {
	dir, base := filepath.Split(c.path)
	return os.CreateTemp(dir, "."+base+".scrub-*"+tmpSuffix)
}

func (c *content) step(name string) error {
	if c.store.hook == nil {
		return nil
	}
	return c.store.hook(name, c.path)
}

func (c *content) Replace(ctx context.Context, staged *os.File) (err error) {
	tmp := staged.Name()
	renamed := false
	defer func() {
		if !renamed {
			staged.Close()
			os.Remove(tmp)
		}
	}()
	if err := c.step("staged"); err != nil {
		return err
	}
	if err := staged.Chmod(c.info.Mode().Perm()); err != nil {
		return err
	}
	if err := staged.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := staged.Close(); err != nil {
		return err
	}
	if err := c.step("synced"); err != nil {
		return err
	}
	cur, err := os.Lstat(c.path)
	if err != nil {
		return fmt.Errorf("%w: %v", scrub.ErrConflict, err)
	}
	if !os.SameFile(c.info, cur) || cur.Size() != c.info.Size() || !cur.ModTime().Equal(c.info.ModTime()) {
		return scrub.ErrConflict
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return err
	}
	renamed = true
	if err := c.step("renamed"); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	if err := syncDir(filepath.Dir(c.path)); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	return nil
}

// ReadBack reads the archive now at the path.
func (c *content) ReadBack(ctx context.Context, fn func(io.ReaderAt, int64) error) error {
	return withFile(c.path, func(f *os.File, info fs.FileInfo) error { return fn(f, info.Size()) })
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
