package ids

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Known answers, from openssl dgst (printf alice | openssl dgst -sha256,
// ... -mac HMAC -macopt hexkey:000102030405060708090a0b0c0d0e0f).
const (
	sha256Alice     = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"
	sha256AliceCap  = "3bc51062973c458d5a6f2d8d64a023246354ad7e064b1e4e009ec8a0699a3043" // "Alice"
	sha1Alice       = "522b276a356bdf39013dfabea2cd43e141ecc9e8"
	md5Alice        = "6384e2b2184bcbf58eccf10ca7a6563c"
	hmacKey         = "000102030405060708090a0b0c0d0e0f"
	hmacAlice       = "6457555a292cb5d30ca0da97b781a26f22a780091895c0519bc69c55609bb3b6"
	hmacAliceUpper  = "0801ecfe68d3d286a2761241552234b704e4f85db2f145d46de4c99a1b4f4dbf" // "ALICE"
	notAnyDigestHex = "00000000000000000000000000000000000000000000000000000000000000"
)

func writeKey(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "product,key.hex") // a comma in the path on purpose
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTransformKnownAnswers(t *testing.T) {
	key := writeKey(t, " "+hmacKey+"\n")
	tests := []struct {
		spec, id, want, str string
	}{
		{"sha256", "alice", sha256Alice, "sha256"},
		{"sha256", "Alice", sha256AliceCap, "sha256"},
		{"lower,sha256", "Alice", sha256Alice, "lower,sha256"},
		{" lower, sha256 ", "ALICE", sha256Alice, "lower,sha256"},
		{"sha1", "alice", sha1Alice, "sha1"},
		{"md5", "alice", md5Alice, "md5"},
		{"lower,md5", "aLiCe", md5Alice, "lower,md5"},
		{"hmac-sha256:" + key, "alice", hmacAlice, "hmac-sha256"},
		{"upper,hmac-sha256:" + key, "alice", hmacAliceUpper, "upper,hmac-sha256"},
		{"lower", "ÄliCE", "älice", "lower"},
		{"upper", "alice", "ALICE", "upper"},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"/"+tt.id, func(t *testing.T) {
			tr, err := ParseTransform(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.Apply(tt.id); got != tt.want {
				t.Errorf("Apply(%q) = %s, want %s", tt.id, got, tt.want)
			}
			if got := tr.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if strings.Contains(tr.String(), key) || strings.Contains(tr.String(), hmacKey) {
				t.Errorf("String() %q holds the key file or key", tr.String())
			}
			set := tr.Set(New(tt.id))
			for _, form := range []string{tt.want, strings.ToUpper(tt.want), mixCase(tt.want)} {
				if tr.digestSize() == 0 && form != tt.want {
					continue // a clear stored form matches exactly
				}
				if !set.Contains([]byte(form)) {
					t.Errorf("set does not contain %s", form)
				}
				if got := string(set.Canonical([]byte(form))); got != tt.want {
					t.Errorf("Canonical(%s) = %s, want %s", form, got, tt.want)
				}
			}
			if set.Contains([]byte(tt.id)) && tt.id != tt.want {
				t.Errorf("set contains the clear ID")
			}
			var each []string
			set.Each(func(id string) { each = append(each, id) })
			if len(each) != 1 || each[0] != tt.want || set.Len() != 1 {
				t.Errorf("Each gives %q (Len %d), want [%s]", each, set.Len(), tt.want)
			}
		})
	}
}

// mixCase upper-cases every other letter.
func mixCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		if 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func TestTransformKeyID(t *testing.T) {
	a, err := ParseTransform("hmac-sha256:" + writeKey(t, hmacKey))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseTransform("hmac-sha256:" + writeKey(t, strings.ToUpper(hmacKey)+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseTransform("hmac-sha256:" + writeKey(t, "ff"+hmacKey))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case a.KeyID() != b.KeyID():
		t.Errorf("the same key read twice has key IDs %s and %s", a.KeyID(), b.KeyID())
	case a.KeyID() == c.KeyID():
		t.Errorf("two keys share the key ID %s", a.KeyID())
	case !strings.HasPrefix(a.KeyID(), "sha256:") || len(a.KeyID()) != len("sha256:")+16:
		t.Errorf("key ID %q, want sha256: and 16 hex digits", a.KeyID())
	case strings.Contains(a.KeyID(), hmacKey[:8]):
		t.Errorf("key ID %q shows the key", a.KeyID())
	}
	if s, _ := ParseTransform("sha256"); s.KeyID() != "" {
		t.Errorf("sha256 has key ID %q", s.KeyID())
	}
}

func TestParseTransformErrors(t *testing.T) {
	empty := writeKey(t, " \n")
	notHex := writeKey(t, "secret-key-zz\n")
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct{ spec, want string }{
		{"", "empty"},
		{"sha512", `unknown step "sha512"`},
		{"SHA256", `unknown step "SHA256"`},
		{"sha256,lower", "the digest is the last step"},
		{"md5,sha1", "the digest is the last step"},
		{"lower,upper", "comes once"},
		{"lower,lower,sha256", "comes once"},
		{"sha256:key", "takes no key"},
		{"hmac-sha256", "needs a key file"},
		{"hmac-sha256:", "needs a key file"},
		{"hmac-sha256:" + empty, "empty"},
		{"hmac-sha256:" + notHex, "not hex"},
		{"hmac-sha256:" + missing, "no such file"},
		{"lower,", `unknown step ""`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseTransform(tt.spec)
			if err == nil {
				t.Fatalf("ParseTransform(%q) succeeded", tt.spec)
			}
			if !errors.Is(err, ErrTransform) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrTransform and %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-key") {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func TestTransformSetMatches(t *testing.T) {
	tr, err := ParseTransform("lower,sha256")
	if err != nil {
		t.Fatal(err)
	}
	set := tr.Set(New("Alice", "alice", "BOB"))
	if set.Len() != 2 {
		t.Errorf("Len = %d, want 2 (Alice and alice are one after lower)", set.Len())
	}
	tests := []struct {
		id   string
		want bool
	}{
		{sha256Alice, true},
		{strings.ToUpper(sha256Alice), true},
		{sha256AliceCap, false},
		{"alice", false},
		{"Alice", false},
		{"", false},
		{sha256Alice[:62], false},
		{sha256Alice + "00", false},
		{" " + sha256Alice[1:], false},
		{"g" + sha256Alice[1:], false},
		{notAnyDigestHex + "00", false},
	}
	for _, tt := range tests {
		if got := set.Contains([]byte(tt.id)); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	id := []byte(strings.ToUpper(sha256Alice))
	if n := testing.AllocsPerRun(100, func() { set.Contains(id) }); n != 0 {
		t.Errorf("Contains allocates %v times", n)
	}
}

// TestTransformCanonical: a stored value is named as Apply names it (a
// digest's lower-case hex) when it is the hex of a digest of the form's
// size in any case; any other value is left as it is.
func TestTransformCanonical(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		spec, in, want string
	}{
		{"lower,sha256", strings.ToUpper(sha256Alice), sha256Alice},
		{"sha256", sha256Alice, sha256Alice},
		{"sha256", "A" + sha256Alice[1:], "a" + sha256Alice[1:]},
		{"sha1", strings.ToUpper(sha1Alice), sha1Alice},
		{"md5", strings.ToUpper(md5Alice), md5Alice},
		{"sha256", strings.ToUpper(md5Alice), strings.ToUpper(md5Alice)},                           // not a SHA-256's size
		{"sha256", "G" + strings.ToUpper(sha256Alice[1:]), "G" + strings.ToUpper(sha256Alice[1:])}, // not hex
		{"lower", "ALICE", "ALICE"},                                                                // no digest: compared as stored
		{"upper", strings.ToUpper(sha256Alice), strings.ToUpper(sha256Alice)},
	} {
		tr, err := ParseTransform(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(tr.Canonical([]byte(c.in))); got != c.want {
			t.Errorf("%s: Canonical(%s) = %s, want %s", c.spec, c.in, got, c.want)
		}
		if tr.Digest() && strings.EqualFold(c.in, tr.Apply("alice")) && string(tr.Canonical([]byte(c.in))) != tr.Apply("alice") {
			t.Errorf("%s: Canonical of a spelling of Apply's value is not Apply's value", c.spec)
		}
	}
}
