package sshsig

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// AllowedSigner is one usable entry of an ssh-keygen allowed signers file.
type AllowedSigner struct {
	Principals []string
	Namespaces []string // nil means any namespace
	Key        ed25519.PublicKey

	validAfter, validBefore time.Time // valid-after/valid-before options; zero if absent
}

// ParseAllowedSigners parses an allowed signers file, as described in the
// ALLOWED SIGNERS section of ssh-keygen(1):
//
//	principal[,principal...] [option[,option...]] key-type base64 [comment]
//
// Blank and '#' comment lines are skipped, as are entries whose key is not
// ssh-ed25519 and cert-authority entries (certificates are not supported).
// Principals are taken literally. A malformed line is an error naming its
// line number.
func ParseAllowedSigners(r io.Reader) ([]AllowedSigner, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var out []AllowedSigner
	for n := 1; sc.Scan(); n++ {
		s, ok, err := parseAllowedSigner(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("sshsig: allowed signers line %d: %w", n, err)
		}
		if ok {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sshsig: reading allowed signers: %w", err)
	}
	return out, nil
}

func parseAllowedSigner(line string) (s AllowedSigner, ok bool, err error) {
	principals, rest := cutField(strings.TrimSpace(line))
	if principals == "" || principals[0] == '#' {
		return s, false, nil
	}
	ca := false
	// As in ssh-keygen, the options field is present if the next field is not
	// a key type.
	if word, _ := cutField(rest); word != "" && !isKeyType(word) {
		var opts []string
		if opts, rest, err = cutOptions(rest); err != nil {
			return s, false, err
		}
		if ca, err = s.parseOptions(opts); err != nil {
			return s, false, err
		}
	}
	typ, b64 := cutField(rest)
	if typ == "" || b64 == "" {
		return s, false, errors.New("missing key")
	}
	if !isKeyType(typ) {
		return s, false, fmt.Errorf("unknown key type %q", typ)
	}
	if typ != keyType || ca {
		return s, false, nil
	}
	if s.Key, _, err = parseKeyText(rest); err != nil {
		return s, false, err
	}
	for _, p := range strings.Split(principals, ",") {
		if p != "" {
			s.Principals = append(s.Principals, p)
		}
	}
	if len(s.Principals) == 0 {
		return s, false, errors.New("no principals")
	}
	return s, true, nil
}

func isKeyType(word string) bool {
	for _, p := range []string{"ssh-", "ecdsa-", "sk-"} {
		if strings.HasPrefix(word, p) {
			return true
		}
	}
	return false
}

// cutOptions splits the options field off s: comma-separated options ending
// at the first space or tab outside double quotes (\" escapes a quote).
func cutOptions(s string) (opts []string, rest string, err error) {
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			opts, start = append(opts, s[start:i]), i+1
		case c == ' ' || c == '\t':
			return append(opts, s[start:i]), s[i:], nil
		}
	}
	if quoted {
		return nil, "", errors.New("unterminated quote in options")
	}
	return append(opts, s[start:]), "", nil
}

// parseOptions applies the options to s and reports cert-authority.
func (s *AllowedSigner) parseOptions(opts []string) (certAuthority bool, err error) {
	seen := map[string]bool{}
	for _, o := range opts {
		name, val, hasVal := strings.Cut(o, "=")
		name = strings.ToLower(name)
		if seen[name] {
			return false, fmt.Errorf("option %q given more than once", name)
		}
		seen[name] = true
		if inner, ok := strings.CutPrefix(val, `"`); ok { // quotes are optional
			if val, ok = strings.CutSuffix(inner, `"`); !ok {
				return false, fmt.Errorf("badly quoted option %s", o)
			}
		}
		if strings.Contains(strings.ReplaceAll(val, `\"`, ""), `"`) {
			return false, fmt.Errorf("badly quoted option %s", o)
		}
		val = strings.ReplaceAll(val, `\"`, `"`)
		switch {
		case name == "cert-authority" && !hasVal:
			certAuthority = true
		case name == "namespaces" && hasVal:
			s.Namespaces = strings.Split(val, ",")
		case name == "valid-after" && hasVal:
			s.validAfter, err = parseTime(val)
		case name == "valid-before" && hasVal:
			s.validBefore, err = parseTime(val)
		default:
			return false, fmt.Errorf("unknown option %q", o)
		}
		if err != nil {
			return false, fmt.Errorf("option %s: %w", name, err)
		}
	}
	if !s.validAfter.IsZero() && !s.validBefore.IsZero() && !s.validBefore.After(s.validAfter) {
		return false, errors.New("valid-before is not after valid-after")
	}
	return certAuthority, nil
}

// parseTime parses YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z], in local time unless
// the Z suffix asks for UTC, as ssh-keygen does.
func parseTime(v string) (time.Time, error) {
	loc := time.Local
	if t, ok := strings.CutSuffix(v, "Z"); ok {
		v, loc = t, time.UTC
	}
	for _, layout := range []string{"20060102", "200601021504", "20060102150405"} {
		if len(v) == len(layout) {
			if t, err := time.ParseInLocation(layout, v, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z])", v)
}

// Allows reports whether the entry may sign in namespace: its namespaces
// option, if any, must match (a pattern list as in ssh_config(5): '*' and
// '?' wildcards, '!' negation), and the current time must lie within its
// valid-after/valid-before window, as `ssh-keygen -Y verify` checks by
// default. Principals are not checked.
func (a AllowedSigner) Allows(namespace string) bool {
	now := time.Now()
	if (!a.validAfter.IsZero() && now.Before(a.validAfter)) || (!a.validBefore.IsZero() && now.After(a.validBefore)) {
		return false
	}
	allowed := a.Namespaces == nil
	for _, p := range a.Namespaces {
		if neg, ok := strings.CutPrefix(p, "!"); ok && matchPattern(namespace, neg) {
			return false
		} else if !ok && matchPattern(namespace, p) {
			allowed = true
		}
	}
	return allowed
}

// matchPattern matches s against a glob of '*' (any run) and '?' (any one
// byte), backtracking only to the last '*', so in O(len(s)*len(p)) time.
func matchPattern(s, p string) bool {
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si, pi = si+1, pi+1
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	return strings.TrimLeft(p[pi:], "*") == ""
}

// AllowedSignersLine returns an allowed signers line that lets pub sign as
// principal (which must not contain spaces or commas) in namespace only:
// `PRINCIPAL namespaces="NAMESPACE" ssh-ed25519 AAAA...` and a newline.
func AllowedSignersLine(principal, namespace string, pub ed25519.PublicKey) string {
	ns := strings.ReplaceAll(namespace, `"`, `\"`)
	return principal + ` namespaces="` + ns + `" ` + string(MarshalAuthorizedKey(pub, ""))
}
