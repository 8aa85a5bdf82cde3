package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrEncrypted is returned, possibly wrapped, by ParsePrivateKey for a
// passphrase-protected key.
var ErrEncrypted = errors.New("sshsig: private key is encrypted with a passphrase; " +
	"supply an unencrypted key (e.g. run `ssh-keygen -p -N \"\" -f KEY` on a copy of it) " +
	"or create one with `scrub keygen`")

const (
	pemType  = "OPENSSH PRIVATE KEY"
	keyMagic = "openssh-key-v1\x00"
)

// MarshalPrivateKey encodes priv as an unencrypted OpenSSH private key file,
// laid out exactly as `ssh-keygen -t ed25519 -N ""` writes it.
func MarshalPrivateKey(priv ed25519.PrivateKey, comment string) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sshsig: ed25519 private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	sec := make([]byte, 8) // two equal random checkints
	if _, err := rand.Read(sec[:4]); err != nil {
		return nil, err
	}
	copy(sec[4:], sec[:4])
	sec = appendString(appendString(appendString(appendString(sec, keyType), priv[32:]), priv), comment)
	for i := byte(1); len(sec)%8 != 0; i++ {
		sec = append(sec, i)
	}
	b := appendString(appendString(appendString([]byte(keyMagic), "none"), "none"), "") // cipher, KDF, KDF options
	b = binary.BigEndian.AppendUint32(b, 1)                                             // number of keys
	b = appendString(appendString(b, publicBlob(priv[32:])), sec)
	return []byte("-----BEGIN " + pemType + "-----\n" + wrap70(b) + "-----END " + pemType + "-----\n"), nil
}

// ParsePrivateKey decodes an unencrypted OpenSSH ed25519 private key file,
// such as one made by `ssh-keygen -t ed25519 -N ""` or MarshalPrivateKey.
// A passphrase-protected key yields an error wrapping ErrEncrypted.
func ParsePrivateKey(data []byte) (priv ed25519.PrivateKey, comment string, err error) {
	priv, comment, err = parsePrivateKey(data)
	if err != nil && !errors.Is(err, ErrEncrypted) {
		err = fmt.Errorf("sshsig: parsing private key: %w", err)
	}
	return priv, comment, err
}

func parsePrivateKey(data []byte) (ed25519.PrivateKey, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("not an OpenSSH private key: no valid \"-----BEGIN " + pemType + "-----\" PEM block")
	}
	if block.Type != pemType {
		return nil, "", fmt.Errorf("PEM block type %q is not an OpenSSH private key (want %q)", block.Type, pemType)
	}
	rest, ok := bytes.CutPrefix(block.Bytes, []byte(keyMagic))
	if !ok {
		return nil, "", errors.New("missing \"openssh-key-v1\" magic")
	}
	r := reader{b: rest}
	cipher, kdf, kdfOpts := r.string("cipher name"), r.string("KDF name"), r.bytes("KDF options")
	n, pubBlob, sec := r.uint32("key count"), r.bytes("public key"), r.bytes("private section")
	if err := r.done("private section"); err != nil {
		return nil, "", err
	}
	switch {
	case cipher != "none":
		return nil, "", fmt.Errorf("%w (cipher %q, KDF %q)", ErrEncrypted, cipher, kdf)
	case kdf != "none" || len(kdfOpts) != 0:
		return nil, "", fmt.Errorf("unencrypted key with KDF %q and %d bytes of KDF options", kdf, len(kdfOpts))
	case n != 1:
		return nil, "", fmt.Errorf("file holds %d keys, want exactly 1", n)
	case len(sec) == 0 || len(sec)%8 != 0:
		return nil, "", fmt.Errorf("private section length %d is not a positive multiple of the block size 8", len(sec))
	}
	pub, err := parsePublicBlob(pubBlob)
	if err != nil {
		return nil, "", err
	}

	r = reader{b: sec}
	if c1, c2 := r.uint32("checkint"), r.uint32("checkint"); c1 != c2 {
		return nil, "", errors.New("checkint mismatch: private section is corrupt")
	}
	if typ := r.string("private key type"); r.err == nil && typ != keyType {
		return nil, "", unsupportedType(typ)
	}
	pub2, sk, comment := r.bytes("ed25519 public key"), r.bytes("ed25519 private key"), r.string("comment")
	if r.err != nil {
		return nil, "", r.err
	}
	for i, c := range r.b {
		if c != byte(i+1) {
			return nil, "", errors.New("invalid padding after private key")
		}
	}
	if len(pub2) != ed25519.PublicKeySize || len(sk) != ed25519.PrivateKeySize {
		return nil, "", fmt.Errorf("bad ed25519 key sizes in private section (%d, %d)", len(pub2), len(sk))
	}
	priv := ed25519.NewKeyFromSeed(sk[:32])
	if !bytes.Equal(pub2, pub) || !bytes.Equal(sk[32:], pub) || !bytes.Equal(priv[32:], pub) {
		return nil, "", errors.New("public key in the private section does not match the private key or the file's public key")
	}
	return priv, comment, nil
}

// MarshalAuthorizedKey formats pub as a line of a .pub or authorized_keys
// file: "ssh-ed25519 AAAA... comment\n", without trailing space if comment
// is empty.
func MarshalAuthorizedKey(pub ed25519.PublicKey, comment string) []byte {
	s := keyType + " " + base64.StdEncoding.EncodeToString(publicBlob(pub))
	if comment != "" {
		s += " " + comment
	}
	return []byte(s + "\n")
}

// ParseAuthorizedKey parses one line of a .pub or authorized_keys file,
// "ssh-ed25519 AAAA... [comment]". Key options are not supported.
func ParseAuthorizedKey(line []byte) (pub ed25519.PublicKey, comment string, err error) {
	s := strings.TrimSpace(string(line))
	switch {
	case strings.ContainsAny(s, "\r\n"):
		err = errors.New("more than one line")
	case s == "" || s[0] == '#':
		err = errors.New("no key on line")
	default:
		pub, comment, err = parseKeyText(s)
	}
	if err != nil {
		return nil, "", fmt.Errorf("sshsig: parsing public key: %w", err)
	}
	return pub, comment, nil
}

// Fingerprint returns the key's SHA256 fingerprint as `ssh-keygen -l` prints
// it: "SHA256:" and the unpadded base64 of the SHA-256 of the key blob.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(publicBlob(pub))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
