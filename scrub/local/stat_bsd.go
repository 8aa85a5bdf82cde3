//go:build darwin || freebsd || netbsd || openbsd

package local

import (
	"syscall"
	"time"
)

// stampOf is the stamp of the file st describes.
func stampOf(st *syscall.Stat_t) stamp {
	return stamp{
		dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, nlink: uint64(st.Nlink),
		mode: uint32(st.Mode), uid: st.Uid, gid: st.Gid,
		mtime: time.Unix(st.Mtimespec.Unix()), ctime: time.Unix(st.Ctimespec.Unix()),
	}
}
