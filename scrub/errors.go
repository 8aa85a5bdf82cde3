package scrub

import (
	"context"
	"errors"
	"syscall"
)

// fatal reports whether err stops the whole batch rather than fail one
// archive: cancellation, and a full or read-only disk, where every further
// archive would fail the same way. Everything else (a bad archive, a
// conflict, a permission problem on one file) is recorded against its
// archive while the batch goes on.
func fatal(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EROFS):
		return true
	case errors.Is(err, ErrMassErasure):
		return true
	}
	return false
}

// status maps a per-archive error to the archive's status.
func status(err error) Status {
	switch {
	case err == nil:
		return Erased
	case errors.As(err, new(*ReplacedError)):
		return ReplacedIncomplete
	case errors.Is(err, ErrConflict):
		return Conflict
	case errors.As(err, new(*HeldError)):
		return Held
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Skipped
	}
	return Failed
}
