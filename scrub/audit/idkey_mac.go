package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// MAC returns a new HMAC-SHA256 keyed with the ID key: Tag is the hex of
// its sum. It is for callers that compare many raw tags and keep the MAC
// state between IDs (Reset keeps the key).
func (k *IDKey) MAC() hash.Hash { return hmac.New(sha256.New, k.key) }
