package cli_test

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// hashedExport writes a small export whose User column holds digests of
// user names, in the case mix real products write, and returns its
// directory.
func hashedExport(t *testing.T, digest func(string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hashed")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rows := []struct{ user, day string }{
		{"alice", "20"}, {"bob", "20"}, {"carol", "20"}, {"alice", "21"}, {"dave", "21"}, {"bob", "21"},
	}
	files := map[string]*strings.Builder{}
	for i, r := range rows {
		name := "2376158762_users_2017-11-" + r.day + ".csv"
		if files[name] == nil {
			files[name] = &strings.Builder{}
			files[name].WriteString("Timestamp,User,Host\r\n")
		}
		d := digest(r.user)
		switch i % 3 {
		case 1:
			d = strings.ToUpper(d)
		case 2:
			d = `"` + d + `"`
		}
		fmt.Fprintf(files[name], "2017-11-%s 10:00:0%d,%s,host-%d\r\n", r.day, i, d, i)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha256Hex(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
func md5Hex(s string) string    { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

const productKey = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"

func hmacHex(s string) string {
	k, _ := hex.DecodeString(productKey)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func TestIDTransformErase(t *testing.T) {
	t.Parallel()
	keyFile := writeFile(t, "product.key", productKey+"\n")
	tests := []struct {
		name   string
		spec   string
		digest func(string) string
		ids    string
	}{
		{"sha256", "sha256", sha256Hex, "alice\nbob\nzoe\n"},
		{"lower,sha256", "lower,sha256", sha256Hex, "Alice\nBOB\nzoe\n"},
		{"md5", " lower , md5 ", md5Hex, "ALICE\nBob\nzoe\n"},
		{"hmac", "lower,hmac-sha256:" + keyFile, hmacHex, "alice\nBob\nzoe\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := scrubtest.NewAudit(t)
			dir := hashedExport(t, tt.digest)
			idsFile := writeFile(t, "ids.txt", tt.ids)
			out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", idsFile, "--id-transform", tt.spec, "--column", "User", "--json", "--no-progress", dir})...)
			if out.err != nil {
				t.Fatalf("erase: %v\n%s", out.err, out.stderr)
			}
			sum := summary(t, out.stdout)
			if sum.Totals.RowsRemoved != 4 || sum.Totals.Erased != 2 {
				t.Fatalf("totals %+v, want alice's and bob's 4 rows gone from 2 archives", sum.Totals)
			}
			for name, want := range map[string]string{
				"2376158762_users_2017-11-20.csv": "Timestamp,User,Host\r\n2017-11-20 10:00:02,\"" + tt.digest("carol") + "\",host-2\r\n",
				"2376158762_users_2017-11-21.csv": "Timestamp,User,Host\r\n2017-11-21 10:00:04," + strings.ToUpper(tt.digest("dave")) + ",host-4\r\n",
			} {
				if got, _ := os.ReadFile(filepath.Join(dir, name)); string(got) != want {
					t.Errorf("%s:\n%q\nwant\n%q", name, got, want)
				}
			}
			// The log names the IDs by the tags of their stored form (lower
			// case hex), in the ids event and in each archive's event
			// alike, whatever the case in the data; the spec is recorded
			// without the key file.
			idKey := loadKey(t, a.IDKey)
			want := map[string]bool{idKey.Tag([]byte(tt.digest("alice"))): true, idKey.Tag([]byte(tt.digest("bob"))): true}
			for _, e := range readBatchEvents(t, a.Dir) {
				switch e.Type {
				case "batch_start":
					if e.Options["id_transform"] != strings.Join(strings.Fields(strings.ReplaceAll(strings.Split(tt.spec, ":")[0], ",", " ")), ",") {
						t.Errorf("options: id_transform %v", e.Options["id_transform"])
					}
					if _, ok := e.Options["id_transform_key"]; ok != strings.Contains(tt.spec, "hmac") {
						t.Errorf("options: id_transform_key %v", e.Options["id_transform_key"])
					}
				case "ids":
					tags := strings.Join(e.Tags, " ")
					for tag := range want {
						if len(e.Tags) != 3 || !strings.Contains(tags, tag) {
							t.Errorf("ids event: tags %v, want 3 with those of alice and bob", e.Tags)
						}
					}
				case "archive":
					if len(e.Tags) != 2 || !want[e.Tags[0]] || !want[e.Tags[1]] {
						t.Errorf("%s: tags %v, want alice's and bob's", e.Key, e.Tags)
					}
				}
			}
			checkNoSecret(t, keyFile, out, a.Dir)
			// lookup of the clear IDs, with the same transform.
			lookup := runPlain(t, nil, "audit", "lookup", "--id-key", a.IDKey, "--ids", idsFile, "--id-transform", tt.spec, "--pub", a.Pub, a.Dir)
			if lookup.err != nil {
				t.Fatalf("lookup: %v\n%s", lookup.err, lookup.stderr)
			}
			for _, w := range []string{"ids.txt:1  batch-", "ids.txt:2  batch-", ": listed; rows in 2 archives", "ids.txt:3  batch-"} {
				if !strings.Contains(lookup.stdout, w) {
					t.Errorf("lookup lacks %q:\n%s", w, lookup.stdout)
				}
			}
			if !strings.Contains(lookup.stdout, ": listed; rows in 0 archives") {
				t.Errorf("lookup does not answer zoe (listed, no rows):\n%s", lookup.stdout)
			}
			checkNoSecret(t, keyFile, lookup, a.Dir)
			// Without the transform, the clear IDs are in no batch.
			plain := runPlain(t, nil, "audit", "lookup", "--id-key", a.IDKey, "--ids", idsFile, "--pub", a.Pub, a.Dir)
			if plain.err != nil || strings.Count(plain.stdout, "not in any batch") != 3 {
				t.Errorf("lookup without the transform: %v\n%s", plain.err, plain.stdout)
			}
		})
	}
}

func loadKey(t *testing.T, file string) *audit.IDKey {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParseIDKey(data, file)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkNoSecret checks that the product key shows up in no output and no
// file of the audit location.
func checkNoSecret(t *testing.T, keyFile string, out output, dir string) {
	t.Helper()
	for name, s := range map[string]string{"stdout": out.stdout, "stderr": out.stderr, "error": errString(out.err)} {
		if strings.Contains(strings.ToLower(s), productKey) {
			t.Errorf("%s holds the product key", name)
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if strings.Contains(strings.ToLower(string(data)), productKey) || strings.Contains(string(data), keyFile) {
			t.Errorf("%s holds the product key or its file name", p)
		}
		return nil
	})
}

func TestIDTransformResumeKey(t *testing.T) {
	t.Parallel()
	// The same request with another transform (or key) is another
	// request: a dry run shows the fingerprints apart without writing.
	dir := hashedExport(t, sha256Hex)
	idsFile := writeFile(t, "ids.txt", "alice\n")
	k1, k2 := writeFile(t, "k1", productKey), writeFile(t, "k2", "00"+productKey)
	a := scrubtest.NewAudit(t)
	reqs := map[string]string{}
	for _, spec := range []string{"sha256", "md5", "hmac-sha256:" + k1, "hmac-sha256:" + k2} {
		out := runPlain(t, nil, a.WithAudit([]string{"erase", "--ids", idsFile, "--id-transform", spec, "--column", "User", "--no-progress", "--json", "--resume=false", dir})...)
		if out.err != nil {
			t.Fatalf("%s: %v\n%s", spec, out.err, out.stderr)
		}
		reqs[spec] = requestOf(t, a.Dir)
		for s, r := range reqs {
			if s != spec && r == reqs[spec] {
				t.Errorf("%s and %s have the same request fingerprint", s, spec)
			}
		}
	}
}

// requestOf returns the request of the newest batch in dir.
func requestOf(t *testing.T, dir string) string {
	t.Helper()
	batches := scrubtest.Batches(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, batches[len(batches)-1]+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), `"request":"`)
	req, _, _ := strings.Cut(rest, `"`)
	if req == "" {
		t.Fatalf("no request in %s", batches[len(batches)-1])
	}
	return req
}

func TestIDTransformUsage(t *testing.T) {
	t.Parallel()
	src := hashedExport(t, sha256Hex)
	before := scrubtest.Snapshot(t, src)
	key := writeFile(t, "secret.key", "not-hex-"+productKey+"\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "sha512", src}, `unknown step "sha512"`},
		{[]string{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "sha256,lower", src}, "the digest is the last step"},
		{[]string{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "hmac-sha256", src}, "needs a key file"},
		{[]string{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "hmac-sha256:" + key, src}, "not hex"},
		{[]string{"erase", "--ids", scrubtest.IDsFile, "--id-transform", "hmac-sha256:/nonexistent/k", src}, "no such file"},
		{[]string{"erase", "--older-than", "30d", "--id-transform", "sha256", src}, "--id-transform goes with --ids"},
		{[]string{"audit", "lookup", "--id-key", scrubtest.IDsFile, "--ids", scrubtest.IDsFile, "--id-transform", "upper,lower", t.TempDir()}, "comes once"},
	}
	for _, tt := range tests {
		out := run(t, nil, tt.args...)
		if !isUsage(out.err) || !strings.Contains(out.err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error with %q", tt.args, out.err, tt.want)
		}
		if strings.Contains(errString(out.err)+out.stderr, productKey) {
			t.Errorf("%q: the key is in the output", tt.args)
		}
	}
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, src), nil)
}
