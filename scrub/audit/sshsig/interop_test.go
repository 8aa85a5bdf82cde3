package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keygen runs ssh-keygen with args, stdin from stdin if non-nil, and no
// ssh-agent. It skips the test if ssh-keygen is missing, unless CI=true.
func keygen(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ssh-keygen is required in CI: %v", err)
		}
		t.Skipf("ssh-keygen not found: %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustKeygen(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := keygen(t, stdin, args...)
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// (a), (b): ssh-keygen -Y verify accepts our signatures and rejects bad ones.
func TestInteropKeygenVerifiesSign(t *testing.T) {
	dir := t.TempDir()
	priv, other := newKey(t, 7), newKey(t, 8)
	pub := priv.Public().(ed25519.PublicKey)
	allowed := writeFile(t, filepath.Join(dir, "allowed_signers"),
		[]byte("# test\n"+AllowedSignersLine("audit@scrub", ns, pub)), 0o644)
	msg := []byte("audit log\nline 2\n")
	file := writeFile(t, filepath.Join(dir, "FILE"), msg, 0o644)
	sig := writeFile(t, file+".sig", mustSign(t, priv, ns, string(msg)), 0o644)
	otherSig := writeFile(t, file+".other.sig", mustSign(t, other, ns, string(msg)), 0o644)
	fileSig := writeFile(t, file+".file.sig", mustSign(t, priv, "file", string(msg)), 0o644)

	tests := []struct {
		name      string
		principal string
		namespace string
		sig       string
		msg       []byte
		ok        bool
	}{
		{"valid", "audit@scrub", ns, sig, msg, true},
		{"empty message", "audit@scrub", ns, writeFile(t, file+".empty.sig", mustSign(t, priv, ns, ""), 0o644), []byte{}, true},
		{"wrong namespace", "audit@scrub", "file", sig, msg, false},
		{"signed in another namespace", "audit@scrub", ns, fileSig, msg, false},
		{"modified message", "audit@scrub", ns, sig, append(bytes.Clone(msg), 'x'), false},
		{"wrong principal", "mallory@scrub", ns, sig, msg, false},
		{"untrusted key", "audit@scrub", ns, otherSig, msg, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := keygen(t, tt.msg, "-Y", "verify", "-f", allowed, "-I", tt.principal, "-n", tt.namespace, "-s", tt.sig)
			if (err == nil) != tt.ok {
				t.Fatalf("ssh-keygen -Y verify: err=%v, want ok=%v\n%s", err, tt.ok, out)
			}
			if tt.ok && !strings.Contains(out, Fingerprint(pub)) {
				t.Errorf("output does not name fingerprint %s:\n%s", Fingerprint(pub), out)
			}
		})
	}
}

// (c): ssh-keygen uses our private key files, and its signatures match ours.
func TestInteropKeygenUsesMarshalPrivateKey(t *testing.T) {
	dir := t.TempDir()
	priv := newKey(t, 9)
	pub := priv.Public().(ed25519.PublicKey)
	for _, comment := range []string{"scrub audit key", ""} {
		data, err := MarshalPrivateKey(priv, comment)
		if err != nil {
			t.Fatal(err)
		}
		key := writeFile(t, filepath.Join(dir, "KEY"), data, 0o600)
		out := mustKeygen(t, nil, "-y", "-f", key)
		if want := string(MarshalAuthorizedKey(pub, comment)); out != want {
			t.Errorf("ssh-keygen -y = %q, want %q", out, want)
		}
	}
	key := filepath.Join(dir, "KEY")
	for _, size := range []int{0, 1, 69, 70, 1000, 1 << 20} {
		msg := bytes.Repeat([]byte("0123456789abcdef\n"), size/17+1)[:size]
		file := writeFile(t, filepath.Join(dir, "FILE"), msg, 0o644)
		os.Remove(file + ".sig")
		mustKeygen(t, nil, "-Y", "sign", "-f", key, "-n", ns, file)
		theirs, err := os.ReadFile(file + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		got, err := Verify(theirs, ns, bytes.NewReader(msg))
		if err != nil || !got.Equal(pub) {
			t.Fatalf("size %d: Verify(ssh-keygen signature) = %x, %v", size, got, err)
		}
		if ours := mustSign(t, priv, ns, string(msg)); !bytes.Equal(ours, theirs) {
			t.Fatalf("size %d: Sign output differs from ssh-keygen's:\n%s\nvs\n%s", size, ours, theirs)
		}
	}

	// ssh-keygen can also hash with sha256 (-O hashalg=sha256, OpenSSH >= 8.9).
	file := writeFile(t, filepath.Join(dir, "FILE"), []byte("sha256 please"), 0o644)
	os.Remove(file + ".sig")
	if out, err := keygen(t, nil, "-Y", "sign", "-O", "hashalg=sha256", "-f", key, "-n", ns, file); err != nil {
		t.Logf("ssh-keygen cannot sign with sha256, skipping that case: %v\n%s", err, out)
		return
	}
	theirs, _ := os.ReadFile(file + ".sig")
	if got, err := Verify(theirs, ns, strings.NewReader("sha256 please")); err != nil || !got.Equal(pub) {
		t.Fatalf("Verify(sha256 signature) = %x, %v", got, err)
	}
}

// (d), (e): keys made by ssh-keygen parse, and fingerprints agree.
func TestInteropParseKeygenKeys(t *testing.T) {
	for _, comment := range []string{"alice@example.com", "with  spaces", ""} {
		t.Run(comment, func(t *testing.T) {
			dir := t.TempDir()
			k := filepath.Join(dir, "K")
			mustKeygen(t, nil, "-t", "ed25519", "-N", "", "-C", comment, "-f", k, "-q")
			data, err := os.ReadFile(k)
			if err != nil {
				t.Fatal(err)
			}
			priv, gotComment, err := ParsePrivateKey(data)
			if err != nil {
				t.Fatal(err)
			}
			if gotComment != comment {
				t.Errorf("comment = %q, want %q", gotComment, comment)
			}
			pubLine, err := os.ReadFile(k + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			pub, pubComment, err := ParseAuthorizedKey(pubLine)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.Equal(priv.Public()) || pubComment != comment {
				t.Errorf("K.pub: key equal %v, comment %q", pub.Equal(priv.Public()), pubComment)
			}
			fields := strings.Fields(mustKeygen(t, nil, "-lf", k+".pub"))
			if len(fields) < 2 || fields[1] != Fingerprint(pub) {
				t.Errorf("ssh-keygen -lf fields %q, Fingerprint %s", fields, Fingerprint(pub))
			}

			// Our encoding is byte-identical to ssh-keygen's apart from the
			// random checkints (offset 98 of the decoded blob, 8 bytes).
			ours, err := MarshalPrivateKey(priv, comment)
			if err != nil {
				t.Fatal(err)
			}
			a, b := decodePEMBody(t, ours), decodePEMBody(t, data)
			if len(a) != len(b) || len(a) < 106 {
				t.Fatalf("lengths %d vs %d", len(a), len(b))
			}
			copy(a[98:106], b[98:106])
			if !bytes.Equal(a, b) {
				t.Errorf("MarshalPrivateKey differs from ssh-keygen beyond the checkints")
			}
			if len(bytes.Split(ours, []byte("\n"))) != len(bytes.Split(data, []byte("\n"))) {
				t.Errorf("line layout differs:\n%s\nvs\n%s", ours, data)
			}
		})
	}
}

func decodePEMBody(t *testing.T, data []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	b, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// (f): passphrase-protected keys give ErrEncrypted.
func TestInteropEncryptedKey(t *testing.T) {
	k := filepath.Join(t.TempDir(), "K")
	mustKeygen(t, nil, "-t", "ed25519", "-N", "secret", "-C", "locked", "-f", k, "-q")
	data, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ParsePrivateKey(data)
	if !errors.Is(err, ErrEncrypted) {
		t.Fatalf("ParsePrivateKey(encrypted) = %v, want ErrEncrypted", err)
	}
	t.Logf("error message: %v", err)
}

// ParseAllowedSigners and ssh-keygen agree on a file with options, quotes,
// comments and foreign key types.
func TestInteropAllowedSigners(t *testing.T) {
	dir := t.TempDir()
	priv := newKey(t, 10)
	pub := priv.Public().(ed25519.PublicKey)
	key := strings.TrimSpace(string(MarshalAuthorizedKey(pub, "")))
	rsa := "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDQ1D3QxOGpkYvEnmmFPmSw6mOpTaT3B+gbTcG3Bve3zbdkbhjJ95x4rTpuE5hNPD4/vtsMVBa4u52Hyaf3AcfI9uSGqzFfljO9+sE5O5yGa2ssfv9Jd/2w/M9TAW+DWOYdLzS3g1AIXJkSjDyXN6EqyS7SCx9yjNP3Dg6N/6h+M1Ni2Ysp2+0P5Ksp/+pvCGeMM36ZO1jcXvfKS9zMwKpa7FuEfrgY6xJDQ8g2RJEqbXjutkG7ATm3xvWqU5fTy0t0oXl0aZNPbIR3uhJLwbWbxjLpd+wZ0mTPnUdtNwaCBVY9tJ+FF4P4iGmXB7dJ4qxEgGAbjBWGQ1O8NUmY2xmB"
	content := strings.Join([]string{
		"# comment",
		"",
		"eve@scrub " + rsa + " rsa key",
		`alice@scrub,audit@scrub namespaces="file,scrub-*",valid-after="20200101" ` + key + " the audit key",
		`bob@scrub namespaces="other" ` + key,
	}, "\n") + "\n"
	allowed := writeFile(t, filepath.Join(dir, "allowed_signers"), []byte(content), 0o644)
	signers, err := ParseAllowedSigners(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	sig := writeFile(t, filepath.Join(dir, "m.sig"), mustSign(t, priv, ns, string(msg)), 0o644)
	for _, principal := range []string{"alice@scrub", "audit@scrub", "bob@scrub", "eve@scrub"} {
		ours := false
		for _, s := range signers {
			for _, p := range s.Principals {
				ours = ours || (p == principal && s.Key.Equal(pub) && s.Allows(ns))
			}
		}
		out, err := keygen(t, msg, "-Y", "verify", "-f", allowed, "-I", principal, "-n", ns, "-s", sig)
		if theirs := err == nil; theirs != ours {
			t.Errorf("principal %s: ssh-keygen ok=%v, ours=%v\n%s", principal, theirs, ours, out)
		}
	}
}
