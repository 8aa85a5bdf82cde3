// Package sshsig reads and writes OpenSSH Ed25519 keys and SSHSIG
// signatures, interoperable with stock OpenSSH ssh-keygen(1).
//
// It follows these specifications from openssh-portable:
//
//   - PROTOCOL.sshsig: the armored "SSH SIGNATURE" format, the signature
//     blob and the signed data (what `ssh-keygen -Y sign` and `-Y verify` use).
//   - PROTOCOL.key: the "openssh-key-v1" private key format; only
//     unencrypted keys (cipher and KDF "none") are supported.
//   - the ALLOWED SIGNERS section of ssh-keygen(1), for ParseAllowedSigners.
//
// Keys and signatures use the SSH wire encoding of RFC 4253 with the
// "ssh-ed25519" algorithm of RFC 8709. Only Ed25519 keys are supported.
package sshsig

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

const keyType = "ssh-ed25519"

// appendString appends s as an SSH "string": a uint32 length, then s.
func appendString[S ~string | ~[]byte](b []byte, s S) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// reader decodes SSH wire fields. The first failure is kept in err and makes
// later reads return zero values, so callers check err once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) next(n uint64, field string) []byte {
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = fmt.Errorf("truncated or malformed %s", field)
	}
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32(field string) uint32 {
	if b := r.next(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) bytes(field string) []byte  { return r.next(uint64(r.uint32(field)), field) }
func (r *reader) string(field string) string { return string(r.bytes(field)) }

// done returns the first error, or an error if unread bytes remain.
func (r *reader) done(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes of trailing data after %s", len(r.b), what)
	}
	return r.err
}

// publicBlob is the wire encoding of an ssh-ed25519 public key.
func publicBlob(pub []byte) []byte { return appendString(appendString(nil, keyType), pub) }

func parsePublicBlob(blob []byte) ([]byte, error) {
	r := reader{b: blob}
	if typ := r.string("public key type"); r.err == nil && typ != keyType {
		return nil, unsupportedType(typ)
	}
	pub := r.bytes("ed25519 public key")
	if err := r.done("public key"); err != nil {
		return nil, err
	}
	if len(pub) != 32 {
		return nil, fmt.Errorf("ed25519 public key is %d bytes, want 32", len(pub))
	}
	return pub, nil
}

func unsupportedType(typ string) error {
	return fmt.Errorf("key type %q is not supported (only %s is)", typ, keyType)
}

// wrap70 base64-encodes b in newline-terminated lines of 70 characters, as
// OpenSSH's sshbuf_dtob64 does for keys and signatures.
func wrap70(b []byte) string {
	s, out := base64.StdEncoding.EncodeToString(b), ""
	for ; len(s) > 70; s = s[70:] {
		out += s[:70] + "\n"
	}
	return out + s + "\n"
}

// cutField returns the first space/tab-separated field of s and the rest.
func cutField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], strings.Trim(s[i:], " \t")
	}
	return s, ""
}

// parseKeyText parses "ssh-ed25519 BASE64 [comment]".
func parseKeyText(s string) (pub []byte, comment string, err error) {
	typ, rest := cutField(s)
	b64, comment := cutField(rest)
	if typ == "" || b64 == "" {
		return nil, "", errors.New("missing key type or base64 key data")
	}
	if typ != keyType {
		return nil, "", unsupportedType(typ)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", fmt.Errorf("invalid base64 key data: %v", err)
	}
	pub, err = parsePublicBlob(blob)
	return pub, comment, err
}
