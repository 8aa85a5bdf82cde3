package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A throwaway key made by `ssh-keygen -t ed25519 -N "" -C "my comment"`, and
// the signature `ssh-keygen -Y sign -n scrub-audit` made with it over "hello\n".
const (
	kaKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACC87Grk+fBffw5NlIETzrjkrL8zME7e5aBZSdILwtjzGAAAAJBbzOedW8zn
nQAAAAtzc2gtZWQyNTUxOQAAACC87Grk+fBffw5NlIETzrjkrL8zME7e5aBZSdILwtjzGA
AAAEDiKMSz0prNAkHizvHl6hXCgkM0jWH1gZMFgPtUp+rXDrzsauT58F9/Dk2UgRPOuOSs
vzMwTt7loFlJ0gvC2PMYAAAACm15IGNvbW1lbnQBAgM=
-----END OPENSSH PRIVATE KEY-----
`
	kaPub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILzsauT58F9/Dk2UgRPOuOSsvzMwTt7loFlJ0gvC2PMY my comment\n"
	kaFP  = "SHA256:nxslN/DYhS83awmF86NCbFE0lnRDnL+HiMwEGFHXrwA"
	kaSig = `-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgvOxq5PnwX38OTZSBE8645Ky/Mz
BO3uWgWUnSC8LY8xgAAAALc2NydWItYXVkaXQAAAAAAAAABnNoYTUxMgAAAFMAAAALc3No
LWVkMjU1MTkAAABAp9WqACBKKXfef7UDJXmPoCF+c0jjqui/9gyaZzDlcnZF8ebSj+OXv3
ReMrKh2C6Yzyanjljd/c0kpPEf/0wHAQ==
-----END SSH SIGNATURE-----
`
	ns = "scrub-audit"
)

func newKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func mustSign(t testing.TB, priv ed25519.PrivateKey, namespace, msg string) []byte {
	t.Helper()
	sig, err := Sign(priv, namespace, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// sigFields are the fields of a signature blob, for crafting bad ones.
type sigFields struct {
	magic    string
	version  uint32
	pubBlob  []byte
	ns       string
	reserved string
	alg      string
	sigBlob  []byte
	trailer  []byte
}

func armorBlob(b []byte) []byte {
	return []byte(sigBegin + "\n" + wrap70(b) + sigEnd + "\n")
}

func (f sigFields) armor() []byte { return armorBlob(f.blob()) }

func (f sigFields) blob() []byte {
	b := []byte(f.magic)
	b = binary.BigEndian.AppendUint32(b, f.version)
	b = appendString(b, f.pubBlob)
	b = appendString(b, f.ns)
	b = appendString(b, f.reserved)
	b = appendString(b, f.alg)
	b = appendString(b, f.sigBlob)
	return append(b, f.trailer...)
}

// craft returns valid fields signing msg with priv using hash alg.
func craft(priv ed25519.PrivateKey, namespace, alg, msg string) sigFields {
	var d []byte
	if alg == "sha256" {
		s := sha256.Sum256([]byte(msg))
		d = s[:]
	} else {
		s := sha512.Sum512([]byte(msg))
		d = s[:]
	}
	sig := ed25519.Sign(priv, signedData(namespace, alg, d))
	return sigFields{sigMagic, 1, publicBlob(priv[32:]), namespace, "", alg,
		appendString(appendString(nil, keyType), sig), nil}
}

func TestSignKnownAnswer(t *testing.T) {
	priv, comment, err := ParsePrivateKey([]byte(kaKey))
	if err != nil {
		t.Fatal(err)
	}
	if comment != "my comment" {
		t.Errorf("comment = %q", comment)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if got := string(MarshalAuthorizedKey(pub, comment)); got != kaPub {
		t.Errorf("MarshalAuthorizedKey = %q, want %q", got, kaPub)
	}
	if got := Fingerprint(pub); got != kaFP {
		t.Errorf("Fingerprint = %q, want %q", got, kaFP)
	}
	if got := string(mustSign(t, priv, ns, "hello\n")); got != kaSig {
		t.Errorf("Sign =\n%s\nwant (ssh-keygen's)\n%s", got, kaSig)
	}
	got, err := Verify([]byte(kaSig), ns, strings.NewReader("hello\n"))
	if err != nil || !got.Equal(pub) {
		t.Errorf("Verify(ssh-keygen signature) = %x, %v", got, err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	priv := newKey(t, 1)
	for _, msg := range []string{"", "x", "hello\n", strings.Repeat("abc", 100000)} {
		sig := mustSign(t, priv, ns, msg)
		pub, err := Verify(sig, ns, strings.NewReader(msg))
		if err != nil {
			t.Fatalf("len %d: %v", len(msg), err)
		}
		if !pub.Equal(priv.Public()) {
			t.Fatalf("len %d: Verify returned the wrong key", len(msg))
		}
	}
	if _, err := Sign(priv, "", strings.NewReader("x")); err == nil {
		t.Error("Sign accepted an empty namespace")
	}
	if _, err := Sign(priv[:10], ns, strings.NewReader("x")); err == nil {
		t.Error("Sign accepted a short key")
	}
}

func TestVerifyErrors(t *testing.T) {
	priv := newKey(t, 1)
	const msg = "the audit log\n"
	good := mustSign(t, priv, ns, msg)
	mod := func(f func(*sigFields)) []byte {
		s := craft(priv, ns, "sha512", msg)
		f(&s)
		return s.armor()
	}
	full := craft(priv, ns, "sha512", msg).blob()
	flipSig := mod(func(s *sigFields) { s.sigBlob[len(s.sigBlob)-5] ^= 1 })
	tests := []struct {
		name, ns, msg string
		sig           []byte
		want          string // substring of the error; "" means success
	}{
		{"good", ns, msg, good, ""},
		{"crafted good", ns, msg, mod(func(*sigFields) {}), ""},
		{"sha256", ns, msg, craft(priv, ns, "sha256", msg).armor(), ""},
		{"reserved ignored", ns, msg, mod(func(s *sigFields) { s.reserved = "future" }), ""},
		{"CRLF armor", ns, msg, bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ""},
		{"tampered message", ns, msg + "!", good, "verification failed"},
		{"tampered signature", ns, msg, flipSig, "verification failed"},
		{"wrong namespace", "file", msg, good, `namespace "scrub-audit" does not match expected "file"`},
		{"empty namespace", "", msg, good, "empty signature namespace"},
		{"truncated armor", ns, msg, good[:len(good)/2], "missing \"-----END SSH SIGNATURE-----\" footer"},
		{"truncated blob", ns, msg, armorBlob(full[:len(full)-10]), "truncated or malformed signature"},
		{"only magic", ns, msg, armorBlob([]byte("SSHSIG")), "truncated or malformed signature version"},
		{"garbage", ns, msg, []byte("garbage\x00\xff"), "not an armored SSH signature"},
		{"empty", ns, msg, nil, "not an armored SSH signature"},
		{"leading space", ns, msg, append([]byte(" "), good...), "not an armored SSH signature"},
		{"bad header eol", ns, msg, bytes.Replace(good, []byte("-\n"), []byte("-x"), 1), "header line"},
		{"bad base64", ns, msg, bytes.Replace(good, []byte("U1NI"), []byte("U1N*"), 1), "invalid base64"},
		{"trailing junk", ns, msg, append(bytes.Clone(good), "junk"...), "after signature footer"},
		{"bad magic", ns, msg, mod(func(s *sigFields) { s.magic = "SSHSIH" }), "magic"},
		{"version 2", ns, msg, mod(func(s *sigFields) { s.version = 2 }), "unsupported signature version 2"},
		{"version 0", ns, msg, mod(func(s *sigFields) { s.version = 0 }), "unsupported signature version 0"},
		{"rsa key", ns, msg, mod(func(s *sigFields) { s.pubBlob = appendString(appendString(nil, "ssh-rsa"), "xx") }), `key type "ssh-rsa" is not supported`},
		{"short key", ns, msg, mod(func(s *sigFields) { s.pubBlob = publicBlob(priv[32:40]) }), "public key is 8 bytes"},
		{"sig type", ns, msg, mod(func(s *sigFields) { copy(s.sigBlob[4:], "ssh-ed25518") }), `signature type "ssh-ed25518" does not match`},
		{"short sig", ns, msg, mod(func(s *sigFields) { s.sigBlob = appendString(appendString(nil, keyType), "short") }), "signature is 5 bytes"},
		{"sig trailer", ns, msg, mod(func(s *sigFields) { s.sigBlob = append(s.sigBlob, 0) }), "trailing data"},
		{"blob trailer", ns, msg, mod(func(s *sigFields) { s.trailer = []byte{0} }), "trailing data"},
		{"hash md5", ns, msg, mod(func(s *sigFields) { s.alg = "md5" }), `unsupported hash algorithm "md5"`},
		{"hash mismatch", ns, msg, mod(func(s *sigFields) { s.alg = "sha256" }), "verification failed"},
		{"namespace in blob only", ns, msg, mod(func(s *sigFields) { s.ns = "file" }), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := Verify(tt.sig, tt.ns, strings.NewReader(tt.msg))
			if tt.want == "" {
				if err != nil || !pub.Equal(priv.Public()) {
					t.Fatalf("Verify = %x, %v; want success", pub, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify error = %v, want it to contain %q", err, tt.want)
			}
			if pub != nil {
				t.Errorf("Verify returned a key with an error")
			}
		})
	}
}

func TestVerifyOtherKeyIsReported(t *testing.T) {
	trusted, other := newKey(t, 1), newKey(t, 2)
	sig := mustSign(t, other, ns, "msg")
	pub, err := Verify(sig, ns, strings.NewReader("msg"))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Equal(trusted.Public()) || !pub.Equal(other.Public()) {
		t.Fatal("Verify must return the actual signer so the caller's trust check can reject it")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestMessageReadError(t *testing.T) {
	priv := newKey(t, 1)
	if _, err := Sign(priv, ns, errReader{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Sign: %v", err)
	}
	if _, err := Verify(mustSign(t, priv, ns, ""), ns, errReader{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Verify: %v", err)
	}
}

// rawKey builds an openssh-key-v1 PEM file from parts, for crafting bad keys.
type rawKey struct {
	cipher, kdf string
	n           uint32
	pubBlob     []byte
	check1      uint32
	check2      uint32
	typ         string
	pub, sk     []byte
	comment     string
	pad         []byte
	sec         []byte // if set, replaces the whole private section
}

func newRawKey(priv ed25519.PrivateKey, comment string) rawKey {
	return rawKey{"none", "none", 1, publicBlob(priv[32:]), 7, 7, keyType, priv[32:], priv, comment, nil, nil}
}

func (k rawKey) pem() []byte {
	sec := binary.BigEndian.AppendUint32(nil, k.check1)
	sec = binary.BigEndian.AppendUint32(sec, k.check2)
	sec = appendString(sec, k.typ)
	sec = appendString(sec, k.pub)
	sec = appendString(sec, k.sk)
	sec = appendString(sec, k.comment)
	if k.sec != nil {
		sec = k.sec
	} else if k.pad != nil {
		sec = append(sec, k.pad...)
	} else {
		for i := byte(1); len(sec)%8 != 0; i++ {
			sec = append(sec, i)
		}
	}
	b := []byte(keyMagic)
	b = appendString(b, k.cipher)
	b = appendString(b, k.kdf)
	b = appendString(b, "")
	b = binary.BigEndian.AppendUint32(b, k.n)
	b = appendString(b, k.pubBlob)
	b = appendString(b, sec)
	return []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n" + wrap70(b) + "-----END OPENSSH PRIVATE KEY-----\n")
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	priv := newKey(t, 3)
	for _, comment := range []string{"", "alice@example.com", "with spaces", strings.Repeat("c", 300)} {
		data, err := MarshalPrivateKey(priv, comment)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if len(line) > 70 && !strings.HasPrefix(line, "-----") {
				t.Fatalf("line longer than 70: %q", line)
			}
		}
		got, gotComment, err := ParsePrivateKey(data)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(priv) || gotComment != comment {
			t.Fatalf("round trip: comment %q, equal %v", gotComment, got.Equal(priv))
		}
	}
	if _, err := MarshalPrivateKey(priv[:32], ""); err == nil {
		t.Error("MarshalPrivateKey accepted a 32-byte key")
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	priv, other := newKey(t, 3), newKey(t, 4)
	mod := func(f func(*rawKey)) []byte {
		k := newRawKey(priv, "c")
		f(&k)
		return k.pem()
	}
	good := mod(func(*rawKey) {})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"crafted good", good, ""},
		{"CRLF", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ""},
		{"not PEM", []byte("ssh-ed25519 AAAA"), "not an OpenSSH private key"},
		{"empty", nil, "not an OpenSSH private key"},
		{"PKCS8", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), `PEM block type "PRIVATE KEY"`},
		{"truncated PEM", good[:len(good)-20], "not an OpenSSH private key"},
		{"bad magic", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "openssh-key-v1"},
		{"encrypted", mod(func(k *rawKey) { k.cipher, k.kdf = "aes256-ctr", "bcrypt" }), "encrypted with a passphrase"},
		{"kdf without cipher", mod(func(k *rawKey) { k.kdf = "bcrypt" }), `KDF "bcrypt"`},
		{"two keys", mod(func(k *rawKey) { k.n = 2 }), "holds 2 keys"},
		{"rsa public", mod(func(k *rawKey) { k.pubBlob = appendString(appendString(nil, "ssh-rsa"), "x") }), `key type "ssh-rsa" is not supported`},
		{"rsa private", mod(func(k *rawKey) { k.typ = "ssh-rsa" }), `key type "ssh-rsa" is not supported`},
		{"checkint", mod(func(k *rawKey) { k.check2++ }), "checkint mismatch"},
		{"bad padding", mod(func(k *rawKey) { k.pad = []byte{1, 2, 4, 4} }), "padding"},
		{"unaligned", mod(func(k *rawKey) { k.pad = []byte{1, 2, 3, 4, 5} }), "multiple of the block size"},
		{"short sk", mod(func(k *rawKey) { k.sk = priv[:32] }), "key sizes"},
		{"header pub mismatch", mod(func(k *rawKey) { k.pubBlob = publicBlob(other[32:]) }), "does not match"},
		{"private pub mismatch", mod(func(k *rawKey) { k.pub = other[32:] }), "does not match"},
		{"seed mismatch", mod(func(k *rawKey) { k.sk = append(bytes.Clone(other[:32]), priv[32:]...) }), "does not match"},
		{"truncated section", mod(func(k *rawKey) {
			k.sec = append(appendString(appendString(make([]byte, 8), keyType), priv[32:]), 1, 2, 3, 4, 5)
		}), "truncated or malformed ed25519 private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParsePrivateKey(tt.data)
			if tt.want == "" {
				if err != nil || !got.Equal(priv) {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if errors.Is(err, ErrEncrypted) != (tt.name == "encrypted") {
				t.Errorf("errors.Is(err, ErrEncrypted) wrong for %v", err)
			}
		})
	}
}

func TestAuthorizedKey(t *testing.T) {
	pub := newKey(t, 5).Public().(ed25519.PublicKey)
	if got := string(MarshalAuthorizedKey(pub, "")); strings.HasSuffix(got, " \n") || strings.Count(got, " ") != 1 {
		t.Errorf("empty comment: %q", got)
	}
	line := strings.TrimSuffix(string(MarshalAuthorizedKey(pub, "")), "\n")
	rsa := "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 me"
	tests := []struct {
		in, comment, want string
	}{
		{line, "", ""},
		{line + " \n", "", ""}, // ssh-keygen writes a trailing space for empty comments
		{line + " alice@example.com\r\n", "alice@example.com", ""},
		{"  " + line + "\t a b  c \n", "a b  c", ""},
		{rsa, "", `key type "ssh-rsa" is not supported`},
		{"ssh-ed25519", "", "missing key type or base64"},
		{"ssh-ed25519 !!!", "", "invalid base64"},
		{"ssh-ed25519 " + base64.StdEncoding.EncodeToString(appendString(appendString(nil, "ssh-dss"), "x")), "", `key type "ssh-dss"`},
		{"", "", "no key"},
		{"# comment", "", "no key"},
		{line + "\n" + line, "", "more than one line"},
	}
	for _, tt := range tests {
		got, comment, err := ParseAuthorizedKey([]byte(tt.in))
		if tt.want == "" {
			if err != nil || !got.Equal(pub) || comment != tt.comment {
				t.Errorf("ParseAuthorizedKey(%q) = %q, %v", tt.in, comment, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseAuthorizedKey(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestParseAllowedSigners(t *testing.T) {
	k1 := newKey(t, 1).Public().(ed25519.PublicKey)
	k2 := newKey(t, 2).Public().(ed25519.PublicKey)
	key := func(k ed25519.PublicKey) string { return strings.TrimSuffix(string(MarshalAuthorizedKey(k, "")), "\n") }
	file := strings.Join([]string{
		"# allowed signers",
		"",
		"   # indented comment",
		"alice@example.com " + key(k1),
		"bob@example.com,carol@example.com namespaces=\"file,scrub-*\" " + key(k2) + " bob's key",
		"dave@example.com NAMESPACES=\"a b,c\",valid-after=\"20200101\",valid-before=\"21000101Z\" " + key(k1),
		"ca@example.com cert-authority " + key(k2),
		"eve@example.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7",
		"frank@example.com\tnamespaces=scrub-audit\t" + key(k2) + "\r",
		"gina@example.com namespaces=\"\\\"q\\\"\" " + key(k1),
	}, "\n")
	got, err := ParseAllowedSigners(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := time.ParseInLocation("20060102", "20200101", time.Local)
	want := []AllowedSigner{
		{Principals: []string{"alice@example.com"}, Key: k1},
		{Principals: []string{"bob@example.com", "carol@example.com"}, Namespaces: []string{"file", "scrub-*"}, Key: k2},
		{Principals: []string{"dave@example.com"}, Namespaces: []string{"a b", "c"}, Key: k1,
			validAfter: after, validBefore: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Principals: []string{"frank@example.com"}, Namespaces: []string{"scrub-audit"}, Key: k2},
		{Principals: []string{"gina@example.com"}, Namespaces: []string{`"q"`}, Key: k1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	bad := []struct{ line, want string }{
		{"alice@example.com", "missing key"},
		{"alice@example.com namespaces=\"x\"", "missing key"},
		{"alice@example.com ssh-ed25519", "missing key"},
		{"alice@example.com bogus=1 " + key(k1), `unknown option "bogus=1"`},
		{"alice@example.com namespaces=\"x " + key(k1), "unterminated quote"},
		{"alice@example.com namespaces=\"x\",namespaces=\"y\" " + key(k1), "more than once"},
		{"alice@example.com valid-after=\"2020\" " + key(k1), "invalid time"},
		{"alice@example.com valid-after=\"20200102\",valid-before=\"20200101\" " + key(k1), "valid-before is not after"},
		{"alice@example.com ssh-ed25519 AAAA!", "invalid base64"},
		{"alice@example.com foo AAAA", `unknown option "foo"`},
		{"alice@example.com cert-authority=1 " + key(k1), "unknown option"},
		{", " + key(k1), "no principals"},
		{"alice@example.com namespaces=a\"b\"c " + key(k1), "badly quoted"},
	}
	for _, tt := range bad {
		_, err := ParseAllowedSigners(strings.NewReader("# ok\n\nok@example.com " + key(k1) + "\n" + tt.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 4:") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("line %q: error %v, want line 4 and %q", tt.line, err, tt.want)
		}
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		s    AllowedSigner
		ns   string
		want bool
	}{
		{AllowedSigner{}, "anything", true},
		{AllowedSigner{Namespaces: []string{"scrub-audit"}}, "scrub-audit", true},
		{AllowedSigner{Namespaces: []string{"scrub-audit"}}, "scrub-audit2", false},
		{AllowedSigner{Namespaces: []string{"file", "scrub-*"}}, "scrub-audit", true},
		{AllowedSigner{Namespaces: []string{"scrub-?udit"}}, "scrub-audit", true},
		{AllowedSigner{Namespaces: []string{"*", "!scrub-audit"}}, "scrub-audit", false},
		{AllowedSigner{Namespaces: []string{"*", "!scrub-audit"}}, "file", true},
		{AllowedSigner{Namespaces: []string{""}}, "scrub-audit", false},
		{AllowedSigner{Namespaces: []string{}}, "scrub-audit", false},
		{AllowedSigner{validAfter: time.Now().Add(time.Hour)}, "x", false},
		{AllowedSigner{validBefore: time.Now().Add(-time.Hour)}, "x", false},
		{AllowedSigner{validAfter: time.Now().Add(-time.Hour), validBefore: time.Now().Add(time.Hour)}, "x", true},
	}
	for _, tt := range tests {
		if got := tt.s.Allows(tt.ns); got != tt.want {
			t.Errorf("%+v.Allows(%q) = %v", tt.s, tt.ns, got)
		}
	}
	for _, tt := range []struct {
		s, p string
		want bool
	}{
		{"abc", "abc", true}, {"abc", "a*", true}, {"abc", "*c", true}, {"abc", "*", true},
		{"", "*", true}, {"", "", true}, {"abc", "a?c", true}, {"abc", "a*b*c*", true},
		{"abc", "ab", false}, {"abc", "abcd", false}, {"abc", "?", false}, {"aaab", "*a*ab", true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*c", false},
	} {
		if got := matchPattern(tt.s, tt.p); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v", tt.s, tt.p, got)
		}
	}
}

func TestAllowedSignersLine(t *testing.T) {
	pub := newKey(t, 6).Public().(ed25519.PublicKey)
	line := AllowedSignersLine("audit@scrub", ns, pub)
	want := "audit@scrub namespaces=\"scrub-audit\" " + string(MarshalAuthorizedKey(pub, ""))
	if line != want {
		t.Fatalf("got %q, want %q", line, want)
	}
	for _, tc := range [][2]string{{"audit@scrub", ns}, {"a@b", `we"ird`}} {
		got, err := ParseAllowedSigners(strings.NewReader(AllowedSignersLine(tc[0], tc[1], pub)))
		if err != nil || len(got) != 1 || got[0].Principals[0] != tc[0] || !got[0].Key.Equal(pub) ||
			!got[0].Allows(tc[1]) || got[0].Allows(tc[1]+"x") {
			t.Errorf("%q: round trip = %+v, %v", tc, got, err)
		}
	}
}
