package cli

import (
	"errors"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/ids"
)

// tagFunc returns the function that names an ID in a redacted text: its
// tag under the ID key, or nil without one.
func tagFunc(k *audit.IDKey) func([]byte) string {
	if k == nil {
		return nil
	}
	return k.Tag
}

// redacted returns env with standard output and error passed through r
// (see ids.Redactor.Writer), and the function that writes what they hold
// back at the end.
func redacted(env Env, r *ids.Redactor) (Env, func() error) {
	out, errw := r.Writer(env.Stdout), r.Writer(env.Stderr)
	env.Stdout, env.Stderr = out, errw
	return env, func() error { return errors.Join(out.Flush(), errw.Flush()) }
}

// redactErr returns err with the listed IDs in its message replaced; it
// still matches what err matches (errors.Is, errors.As).
func redactErr(r *ids.Redactor, err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
