package blocklist

import (
	"crypto/ed25519"

	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

// Namespace is the SSHSIG namespace of change signatures, named as the
// audit bundle's (audit.Namespace, "scrub-audit"): a signature made for
// one is never taken for the other.
const Namespace = "scrub-blocklist"

// Trust is whom change signatures must come from: a change signed by
// another key is refused. Unlike verify, there is no default: a list is
// never checked against the keys its own signatures carry.
type Trust struct {
	Keys    []ed25519.PublicKey    // trusted for any change
	Signers []sshsig.AllowedSigner // an allowed_signers file: for Namespace
}

func (t *Trust) pinned() bool { return t != nil && (len(t.Keys) > 0 || len(t.Signers) > 0) }

func (t *Trust) allows(pub ed25519.PublicKey) bool {
	if t == nil {
		return false
	}
	for _, k := range t.Keys {
		if k.Equal(pub) {
			return true
		}
	}
	for _, s := range t.Signers {
		if s.Key.Equal(pub) && s.Allows(Namespace) {
			return true
		}
	}
	return false
}
