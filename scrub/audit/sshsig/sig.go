package sshsig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

const (
	sigMagic = "SSHSIG"
	sigBegin = "-----BEGIN SSH SIGNATURE-----"
	sigEnd   = "-----END SSH SIGNATURE-----"
)

// signedData is what the key actually signs (PROTOCOL.sshsig section 3).
// Like OpenSSH, it always uses an empty reserved field.
func signedData(namespace, hashAlg string, digest []byte) []byte {
	b := appendString(appendString([]byte(sigMagic), namespace), "")
	return appendString(appendString(b, hashAlg), digest)
}

// digest hashes message with "sha256" or "sha512".
func digest(alg string, message io.Reader) ([]byte, error) {
	var h hash.Hash
	switch alg {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return nil, fmt.Errorf("sshsig: unsupported hash algorithm %q (want sha256 or sha512)", alg)
	}
	if _, err := io.Copy(h, message); err != nil {
		return nil, fmt.Errorf("sshsig: reading message: %w", err)
	}
	return h.Sum(nil), nil
}

// Sign signs message in namespace and returns the armored signature. The
// output is exactly what `ssh-keygen -Y sign -n NAMESPACE` produces for the
// same key and message (hash "sha512"; Ed25519 signing is deterministic).
func Sign(priv ed25519.PrivateKey, namespace string, message io.Reader) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sshsig: ed25519 private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if namespace == "" {
		return nil, errors.New("sshsig: empty signature namespace")
	}
	d, err := digest("sha512", message)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, signedData(namespace, "sha512", d))
	b := binary.BigEndian.AppendUint32([]byte(sigMagic), 1) // version
	b = appendString(appendString(appendString(b, publicBlob(priv[32:])), namespace), "")
	b = appendString(appendString(b, "sha512"), appendString(appendString(nil, keyType), sig))
	return []byte(sigBegin + "\n" + wrap70(b) + sigEnd + "\n"), nil
}

// parsedSig holds the fields of a signature blob (PROTOCOL.sshsig section 2).
type parsedSig struct {
	pub                ed25519.PublicKey
	namespace, hashAlg string
	sig                []byte
}

// dearmor extracts the signature blob. Like ssh-keygen, it wants the header
// at the very start; unlike it, it allows only whitespace after the footer.
func dearmor(armored []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(armored), sigBegin)
	if !ok {
		return nil, errors.New("sshsig: not an armored SSH signature (missing \"" + sigBegin + "\" header)")
	}
	if s, ok = strings.CutPrefix(strings.TrimPrefix(s, "\r"), "\n"); !ok {
		return nil, errors.New("sshsig: malformed signature header line")
	}
	body, tail, ok := strings.Cut(s, "\n"+sigEnd)
	if !ok {
		return nil, errors.New("sshsig: truncated signature (missing \"" + sigEnd + "\" footer)")
	}
	if strings.TrimSpace(tail) != "" {
		return nil, errors.New("sshsig: unexpected data after signature footer")
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("sshsig: invalid base64 in signature: %v", err)
	}
	return blob, nil
}

func parseSig(blob []byte) (*parsedSig, error) {
	if !strings.HasPrefix(string(blob), sigMagic) {
		return nil, errors.New("sshsig: signature blob lacks the \"SSHSIG\" magic")
	}
	r := reader{b: blob[len(sigMagic):]}
	if v := r.uint32("signature version"); r.err == nil && v != 1 {
		return nil, fmt.Errorf("sshsig: unsupported signature version %d (want 1)", v)
	}
	pubBlob, namespace := r.bytes("signer public key"), r.string("namespace")
	r.bytes("reserved field") // ignored, as PROTOCOL.sshsig says
	hashAlg, sigBlob := r.string("hash algorithm"), r.bytes("signature")
	if err := r.done("signature"); err != nil {
		return nil, fmt.Errorf("sshsig: malformed signature: %w", err)
	}
	pub, err := parsePublicBlob(pubBlob)
	if err != nil {
		return nil, fmt.Errorf("sshsig: signer public key: %w", err)
	}
	r = reader{b: sigBlob}
	if typ := r.string("signature type"); r.err == nil && typ != keyType {
		return nil, fmt.Errorf("sshsig: signature type %q does not match key type %s", typ, keyType)
	}
	sig := r.bytes("ed25519 signature")
	if err := r.done("ed25519 signature"); err != nil {
		return nil, fmt.Errorf("sshsig: malformed signature: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("sshsig: ed25519 signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return &parsedSig{pub, namespace, hashAlg, sig}, nil
}

// Verify checks the armored SSHSIG signature of message in namespace and
// returns the signer's public key. It does not decide whether that key is
// trusted: the caller must check it, e.g. against its allowed signers.
func Verify(armored []byte, namespace string, message io.Reader) (ed25519.PublicKey, error) {
	if namespace == "" {
		return nil, errors.New("sshsig: empty signature namespace")
	}
	blob, err := dearmor(armored)
	if err != nil {
		return nil, err
	}
	s, err := parseSig(blob)
	if err != nil {
		return nil, err
	}
	if s.namespace != namespace {
		return nil, fmt.Errorf("sshsig: signature namespace %q does not match expected %q", s.namespace, namespace)
	}
	d, err := digest(s.hashAlg, message)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(s.pub, signedData(namespace, s.hashAlg, d), s.sig) {
		return nil, errors.New("sshsig: signature verification failed: the message or signature was modified")
	}
	return s.pub, nil
}
