package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"strings"
	"testing"
)

func FuzzVerify(f *testing.F) {
	priv := newKey(f, 11)
	const msg = "fuzz message\n"
	good := mustSign(f, priv, ns, msg)
	f.Add(good, ns, []byte(msg))
	f.Add(good, "file", []byte(msg))
	f.Add(good[:len(good)/2], ns, []byte(msg))
	f.Add(bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ns, []byte(msg))
	f.Add(craft(priv, ns, "sha256", msg).armor(), ns, []byte(msg))
	f.Add(craft(priv, ns, "md5", msg).armor(), ns, []byte(msg))
	f.Add([]byte(kaSig), ns, []byte("hello\n"))
	f.Add([]byte(sigBegin+"\n\n"+sigEnd), ns, []byte{})
	f.Add([]byte("garbage"), ns, []byte{})
	f.Fuzz(func(t *testing.T, armored []byte, namespace string, message []byte) {
		pub, err := Verify(armored, namespace, bytes.NewReader(message))
		if err != nil {
			if pub != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		// Accepted: re-derive everything by hand and check the signature.
		blob, err := dearmor(armored)
		if err != nil {
			t.Fatalf("accepted but dearmor fails: %v", err)
		}
		s, err := parseSig(blob)
		if err != nil {
			t.Fatalf("accepted but parseSig fails: %v", err)
		}
		var digest []byte
		switch s.hashAlg {
		case "sha512":
			d := sha512.Sum512(message)
			digest = d[:]
		case "sha256":
			d := sha256.Sum256(message)
			digest = d[:]
		default:
			t.Fatalf("accepted hash algorithm %q", s.hashAlg)
		}
		if s.namespace != namespace || namespace == "" {
			t.Fatalf("accepted namespace %q, want %q", s.namespace, namespace)
		}
		str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
		signed := []byte("SSHSIG")
		signed = append(signed, str([]byte(namespace))...)
		signed = append(signed, str(nil)...)
		signed = append(signed, str([]byte(s.hashAlg))...)
		signed = append(signed, str(digest)...)
		if !pub.Equal(s.pub) || !ed25519.Verify(pub, signed, s.sig) {
			t.Fatal("accepted a signature that does not verify")
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	good, err := MarshalPrivateKey(newKey(f, 12), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(kaKey))
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte("AAAAB"), []byte("AAAAC"), 1))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, comment, err := ParsePrivateKey(data)
		if err != nil {
			return
		}
		if !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()), priv) {
			t.Fatal("inconsistent private key accepted")
		}
		again, err := MarshalPrivateKey(priv, comment)
		if err != nil {
			t.Fatal(err)
		}
		priv2, comment2, err := ParsePrivateKey(again)
		if err != nil || !priv2.Equal(priv) || comment2 != comment {
			t.Fatalf("re-marshalled key does not round-trip: %v", err)
		}
	})
}

func FuzzParseAllowedSigners(f *testing.F) {
	key := strings.TrimSpace(string(MarshalAuthorizedKey(newKey(f, 13).Public().(ed25519.PublicKey), "")))
	f.Add("a@b,c@d namespaces=\"x,y*\",valid-after=\"20200101Z\" "+key+" comment\n# c\n\n", "y1")
	f.Add("\"a b\" cert-authority "+key, "x")
	f.Add("a namespaces=\"!x,*\" "+key, "x")
	f.Fuzz(func(t *testing.T, file, namespace string) {
		signers, err := ParseAllowedSigners(strings.NewReader(file))
		if err != nil {
			return
		}
		for _, s := range signers {
			if len(s.Key) != ed25519.PublicKeySize || len(s.Principals) == 0 {
				t.Fatalf("bad signer %+v", s)
			}
			s.Allows(namespace)
		}
	})
}
