// Package local stores archives in a local directory tree, the default
// backend of scrub.
//
// Every entry below the root is listed, hidden files and directories
// included; only scrub's own staged files (".NAME.scrub-*.tmp") are not,
// and are reported instead. An entry that is not a regular file (a symbolic
// link, which is not followed, a named pipe, a socket, a device) is listed
// as not scanned, with what it is, and never opened. An archive is opened
// without following a symbolic link and without blocking (O_NOFOLLOW,
// O_NONBLOCK), and read only if fstat(2) then says it is a regular file.
//
// A replacement is written to a hidden temporary file in the archive's own
// directory (".NAME.scrub-*.tmp"), given the original's owner, group and
// permissions, synced, and renamed over the original; the directory is
// synced after. rename(2) is atomic, so a crash at any point leaves either
// the old archive or the new one, whole. Before the rename the original is
// checked to be the very file that was read, unchanged: same inode, size,
// modification and change times, and the same last 64 KiB; if not, the
// replacement is discarded and the conflict reported. The check and the
// rename are two steps: a writer that changes the file in the instant
// between them is not detected (POSIX has no conditional rename).
//
// An archive is held (left untouched, and counted as not done) rather than
// replaced when the rename would not remove its rows or would change who
// owns it: when it has other hard links, which would keep the old rows, or
// when the replacement cannot be given the original's owner and group
// (chown(2) is not permitted: scrub is not root, and the file belongs to
// another user, or to a group scrub's user is not in). Both
// are found before the rewrite is written (Stage), and confirmed before the
// rename. An archive that holds no listed row is not rewritten, and so
// neither check applies to it.
package local

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/scrubtool/scrub/scrub"
)

// Store is a directory tree of archives, or a single archive file.
type Store struct {
	Root string
	// Warn, if set, is told about the entries List does not report as
	// objects: the staged files of an interrupted run, or of a run in
	// progress.
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

// stagedName matches the names Stage gives (os.CreateTemp puts digits
// for the '*' of ".NAME.scrub-*.tmp").
var stagedName = regexp.MustCompile(`^\..+\.scrub-[0-9]+\.tmp$`)

// isTemp reports whether name is one of our staged files: only exactly
// such a name is, so that a user's file that merely looks alike is
// processed (and recorded) like any other.
func isTemp(name string) bool { return stagedName.MatchString(name) }

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

// List walks the tree in lexical order. Every entry below the root is
// listed, hidden ones (names starting with '.') included, except scrub's own
// staged files: those left by an interrupted run are reported so they can be
// removed. Entries that are not regular files (symbolic links, which are not
// followed, named pipes, sockets, devices) are listed as not scanned, with
// what they are. A root that is itself a symbolic link is followed, and the
// entries below it are listed by the path it leads to.
func (s *Store) List(ctx context.Context, fn func(scrub.Object) error) error {
	given := filepath.Clean(s.Root)
	root := given
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// The root was named: a link there is followed, and what is
		// below is listed under the name given.
		if root, err = filepath.EvalSymlinks(root); err != nil {
			return err
		}
	}
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
		case d.IsDir():
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
		key := p
		if root != given && p != root {
			// (A file named through a link goes by the path it
			// leads to: it is opened without following links.)
			key = filepath.Join(given, rel)
		}
		obj := scrub.Object{Key: key, Rel: filepath.ToSlash(rel), ModTime: info.ModTime(), ID: id}
		if obj.NotScanned = notRegular(d.Type()); obj.NotScanned == "" {
			obj.Size = info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				obj.Identity = stampOf(st).identity()
			}
		}
		return fn(obj)
	})
}

// notRegular says what an entry of type t is when it is not a regular file,
// and that it is not read; "" for a regular file.
func notRegular(t fs.FileMode) string {
	switch {
	case t.IsRegular():
		return ""
	case t&fs.ModeSymlink != 0:
		return "symbolic link, not followed"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO), not a regular file"
	case t&fs.ModeSocket != 0:
		return "socket, not a regular file"
	case t&fs.ModeCharDevice != 0:
		return "character device, not a regular file"
	case t&fs.ModeDevice != 0:
		return "block device, not a regular file"
	}
	return "not a regular file"
}

// typeOf is the type bits of a stat(2) mode, as fs.FileMode.
func typeOf(mode uint32) fs.FileMode {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return 0
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

// stamp is what identifies the bytes of a file as they were read: which
// file it is, its size, and when its data (mtime) and its metadata or data
// (ctime) last changed; and what a rewrite must keep or respect: its
// links, owner and mode.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime time.Time
	nlink        uint64
	mode         uint32
	uid, gid     uint32
}

// identity names the file's exact content as far as its metadata can
// (Object.Identity): device, inode, size, and mtime and ctime to the
// nanosecond. The ctime, which no user can set, changes with any write.
func (a stamp) identity() string {
	return fmt.Sprintf("local dev=%d ino=%d size=%d mtime=%d ctime=%d", a.dev, a.ino, a.size, a.mtime.UnixNano(), a.ctime.UnixNano())
}

// sameFile reports whether b is the file a was, unchanged by its stamp.
func (a stamp) sameFile(b stamp) bool {
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.Equal(b.mtime) && a.ctime.Equal(b.ctime)
}

// perm is the file's permission bits, set-id and sticky bits included.
func (a stamp) perm() fs.FileMode {
	m := fs.FileMode(a.mode) & fs.ModePerm
	if a.mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if a.mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if a.mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// Open opens the archive at obj.Key.
func (s *Store) Open(ctx context.Context, obj scrub.Object, fn func(scrub.Content) error) error {
	return withFile(obj.Key, func(f *os.File, st stamp) error {
		c := &content{File: f, st: st, path: obj.Key, store: s}
		var err error
		if c.tail, err = tailSum(f, st.size); err != nil {
			return err
		}
		return fn(c)
	})
}

// withFile lends fn the regular file at path, open for reading, and its
// stamp. The file is opened without following a symbolic link and without
// blocking (a named pipe swapped in would block open(2) until a writer
// came), and refused unless fstat(2) says it is a regular file.
func withFile(path string, fn func(*os.File, stamp) error) error {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("open %s: %s (it was a regular file when listed)", path, notRegular(fs.ModeSymlink))
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if why := notRegular(typeOf(uint32(st.Mode))); why != "" {
		syscall.Close(fd)
		return fmt.Errorf("open %s: %s (it was a regular file when listed); not read", path, why)
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return fn(f, stampOf(&st))
}

// tailLen is how much of the end of an archive is hashed when it is opened
// and again before it is replaced: a change that leaves the size and the
// times as they were (within the file system's time resolution) is caught
// where data is most often written, at the end.
const tailLen = 64 << 10

// tailSum hashes the last tailLen bytes (or fewer) of the size bytes of r.
func tailSum(r io.ReaderAt, size int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	off := max(size-tailLen, 0)
	h := sha256.New()
	// A buffer of the tail's size: io.Copy's own is 32 KiB for every
	// archive, however small.
	buf := make([]byte, max(min(size-off, 32<<10), 1))
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, off, size-off), buf); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

type content struct {
	*os.File
	st stamp // as opened
	// replaced is the stamp of the replacement once Replace renamed it
	// into place.
	replaced *stamp
	tail     [sha256.Size]byte
	path     string
	store    *Store
}

func (c *content) Size() int64 { return c.st.size }

// CheckReplace reports, without writing anything, why Replace would refuse
// to replace the archive: other hard links to it, which would keep the old
// rows, or an owner the rewrite could not be given (a prediction from the
// process's user and groups; Stage tries it for real).
func (c *content) CheckReplace() error {
	if err := c.checkLinks(); err != nil {
		return err
	}
	euid := os.Geteuid()
	if euid == 0 {
		return nil
	}
	if int(c.st.uid) != euid {
		return c.ownerHeld(euid)
	}
	if int(c.st.gid) == os.Getegid() {
		return nil
	}
	groups, err := os.Getgroups()
	if err != nil || !slices.Contains(groups, int(c.st.gid)) {
		return c.ownerHeld(euid)
	}
	return nil
}

// checkLinks refuses an archive with other names: replacing one name by
// rename leaves the others holding the old rows.
func (c *content) checkLinks() error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(c.Fd()), &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: c.path, Err: err}
	}
	return linksHeld(stampOf(&st).nlink)
}

func linksHeld(nlink uint64) error {
	switch {
	case nlink <= 1:
		return nil
	case nlink == 2:
		return &scrub.HeldError{Reason: "1 other hard link to this file would keep the rows (erase through every name after removing the extra link, or copy the file)"}
	}
	return &scrub.HeldError{Reason: fmt.Sprintf("%d other hard links to this file would keep the rows (erase through every name after removing the extra links, or copy the file)", nlink-1)}
}

func (c *content) ownerHeld(euid int) error {
	return &scrub.HeldError{Reason: fmt.Sprintf("owned by uid %d, group %d; scrub runs as uid %d and could not give the rewrite the same owner", c.st.uid, c.st.gid, euid)}
}

// Stage creates the replacement beside the archive, owned as the archive
// is. It refuses, before anything is rewritten, an archive with other hard
// links or whose owner the replacement cannot be given.
func (c *content) Stage() (*os.File, error) {
	if err := c.checkLinks(); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(c.path)
	f, err := os.CreateTemp(dir, "."+base+".scrub-*"+tmpSuffix)
	if err != nil {
		return nil, err
	}
	err = c.step("chown")
	if err == nil {
		err = f.Chown(int(c.st.uid), int(c.st.gid))
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if errors.Is(err, syscall.EPERM) {
			return nil, c.ownerHeld(os.Geteuid())
		}
		return nil, err
	}
	return f, nil
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
	// The owner was given in Stage; the mode goes after it, as chown(2)
	// may clear the set-id bits.
	if err := c.checkOwner(staged); err != nil {
		return err
	}
	if err := staged.Chmod(c.st.perm()); err != nil {
		return err
	}
	if err := staged.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	var stagedIno uint64
	if info, err := staged.Stat(); err == nil {
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			stagedIno = uint64(st.Ino)
		}
	}
	if err := staged.Close(); err != nil {
		return err
	}
	if err := c.step("synced"); err != nil {
		return err
	}
	if err := c.unchanged(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return err
	}
	renamed = true
	c.replacedStamp(stagedIno)
	if err := c.step("renamed"); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	if err := syncDir(filepath.Dir(c.path)); err != nil {
		return &scrub.ReplacedError{Err: err}
	}
	return nil
}

// checkOwner confirms that the staged file has the archive's owner and
// group.
func (c *content) checkOwner(staged *os.File) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(staged.Fd()), &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: staged.Name(), Err: err}
	}
	if s := stampOf(&st); s.uid != c.st.uid || s.gid != c.st.gid {
		return c.ownerHeld(os.Geteuid())
	}
	return nil
}

// unchanged checks, just before the rename, that the path still names the
// file that was read, unchanged: same inode, size, mtime and ctime, and the
// same last bytes; and that it has gained no other hard link.
func (c *content) unchanged() error {
	var st syscall.Stat_t
	if err := syscall.Lstat(c.path, &st); err != nil {
		return fmt.Errorf("%w: %v", scrub.ErrConflict, &fs.PathError{Op: "lstat", Path: c.path, Err: err})
	}
	cur := stampOf(&st)
	if !c.st.sameFile(cur) {
		return scrub.ErrConflict
	}
	// The path names the file still open: its tail is read from there.
	tail, err := tailSum(c.File, cur.size)
	if err != nil {
		return err
	}
	if tail != c.tail {
		return fmt.Errorf("%w (its last bytes differ from those read)", scrub.ErrConflict)
	}
	return linksHeld(cur.nlink)
}

// replacedStamp records the stamp of the file at the path when it is
// still the staged file that was renamed there (inode ino).
func (c *content) replacedStamp(ino uint64) {
	var st syscall.Stat_t
	if err := syscall.Lstat(c.path, &st); err != nil {
		return
	}
	if cur := stampOf(&st); cur.ino == ino {
		c.replaced = &cur
	}
}

// Identity names the content (Object.Identity): the file opened, or
// after Replace its replacement; "" when that is not known.
// A file written since it was opened (its stamp, taken again, differs)
// has no identity: what was read of it may be part old, part new, and an
// index entry must not bind it.
func (c *content) Identity() string {
	if c.replaced != nil {
		return c.replaced.identity()
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(c.Fd()), &st); err != nil || !stampOf(&st).sameFile(c.st) {
		return ""
	}
	return c.st.identity()
}

// ReadBack reads the archive now at the path.
func (c *content) ReadBack(ctx context.Context, fn func(io.ReaderAt, int64) error) error {
	return withFile(c.path, func(f *os.File, st stamp) error { return fn(f, st.size) })
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
