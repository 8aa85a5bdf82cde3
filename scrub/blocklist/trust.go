package blocklist

import "github.com/scrubtool/scrub/scrub/audit/sshsig"

// Namespace is the SSHSIG namespace of change signatures, named as the
// audit bundle's (audit.Namespace, "scrub-audit"): a signature made for
// one is never taken for the other.
const Namespace = "scrub-blocklist"

// Trust is whom change signatures must come from: a change signed by
// another key is refused. Unlike verify, there is no default: a list is
// never checked against the keys its own signatures carry. Keys are
// trusted for any change, allowed_signers entries for Namespace.
type Trust = sshsig.Trust
