package sshsig

import "crypto/ed25519"

// Trust is whom a signature must come from: keys trusted directly, for any
// namespace, and the entries of an allowed_signers file, each for the
// namespaces it allows. The zero value (or nil) trusts no key.
type Trust struct {
	Signers []AllowedSigner     // an allowed_signers file
	Keys    []ed25519.PublicKey // public keys given directly
}

// Pinned reports whether t names any key.
func (t *Trust) Pinned() bool { return t != nil && (len(t.Signers) > 0 || len(t.Keys) > 0) }

// Allows reports whether a signature by pub in namespace is trusted.
func (t *Trust) Allows(pub ed25519.PublicKey, namespace string) bool {
	if t == nil {
		return false
	}
	for _, k := range t.Keys {
		if k.Equal(pub) {
			return true
		}
	}
	for _, s := range t.Signers {
		if s.Key.Equal(pub) && s.Allows(namespace) {
			return true
		}
	}
	return false
}
