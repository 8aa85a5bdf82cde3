package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/cli"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestAuditReport: audit report verifies as verify does, returns what
// verify returns, and writes its page whatever it finds.
func TestAuditReport(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	data := scrubtest.CopyExport(t)
	erase := slices.Concat([]string{"erase", "--ids", scrubtest.IDsFile}, a.Flags(), []string{"--no-progress", "--ticket", "<script>alert(1)</script>", data})
	if out := runPlain(t, nil, erase...); out.err != nil {
		t.Fatalf("erase: %v\n%s", out.err, out.stderr)
	}
	tampered := filepath.Join(t.TempDir(), "audit")
	if err := os.CopyFS(tampered, os.DirFS(a.Dir)); err != nil {
		t.Fatal(err)
	}
	sigs, _ := filepath.Glob(filepath.Join(tampered, "*-SHA256SUMS.sig"))
	if len(sigs) != 1 {
		t.Fatalf("%d signatures", len(sigs))
	}
	if err := os.Remove(sigs[0]); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	// A trust file inside the location is not trusted.
	inside := filepath.Join(a.Dir, "key.pub")
	pub, err := os.ReadFile(a.Pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inside, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		loc   string
		class string
		want  error // nil, cli.ErrInvalid, cli.ErrConsistencyOnly, or errAny
	}{
		{"allowed-signers", []string{"--allowed-signers", a.AllowedSigners}, a.Dir, "good", nil},
		{"pub", []string{"--pub", a.Pub}, a.Dir, "good", nil},
		{"no trusted key", nil, a.Dir, "untrusted", cli.ErrConsistencyOnly},
		{"trust file inside", []string{"--pub", inside}, a.Dir, "untrusted", cli.ErrConsistencyOnly},
		{"unsigned", []string{"--allowed-signers", a.AllowedSigners}, tampered, "bad", cli.ErrInvalid},
		{"unsigned, no trusted key", nil, tampered, "bad", cli.ErrInvalid},
		{"no batch", []string{"--allowed-signers", a.AllowedSigners}, empty, "bad", errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.html")
			rep := runPlain(t, nil, slices.Concat([]string{"audit", "report", "--out", out}, tc.args, []string{tc.loc})...)
			ver := runPlain(t, nil, slices.Concat([]string{"verify"}, tc.args, []string{tc.loc})...)
			switch {
			case tc.want == nil && rep.err != nil, tc.want == errAny && rep.err == nil,
				tc.want != nil && tc.want != errAny && !errors.Is(rep.err, tc.want):
				t.Errorf("audit report: %v, want %v", rep.err, tc.want)
			}
			if errString(rep.err) != errString(ver.err) || rep.stdout != ver.stdout {
				t.Errorf("audit report and verify differ:\n%v\n%s\n%v\n%s", rep.err, rep.stdout, ver.err, ver.stdout)
			}
			html, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("no report: %v", err)
			}
			if m := regexp.MustCompile(`<section id="verdict" class="([a-z]+)"`).FindSubmatch(html); m == nil || string(m[1]) != tc.class {
				t.Errorf("verdict class %q, want %s", m, tc.class)
			}
			if strings.Contains(string(html), "<script>") {
				t.Error("the ticket is markup in the report")
			}
			scrubtest.CheckNoIDs(t, filepath.Dir(out))
		})
	}
	// --out - writes the page to standard output.
	out := runPlain(t, nil, "audit", "report", "--pub", a.Pub, "--out", "-", a.Dir)
	if out.err != nil || !strings.HasPrefix(out.stdout, "<!DOCTYPE html>") || !strings.Contains(out.stdout, `id="verdict" class="good"`) {
		t.Errorf("--out -: %v\n%.200s", out.err, out.stdout)
	}
}

// errAny stands for any error.
var errAny = errors.New("any error")

func TestAuditReportUsage(t *testing.T) {
	t.Parallel()
	a := scrubtest.NewAudit(t)
	out := filepath.Join(t.TempDir(), "r.html")
	for _, args := range [][]string{
		{"audit", "report", a.Dir},
		{"audit", "report", "--out", out},
		{"audit", "report", "--out", out, a.Dir, a.Dir},
		{"audit", "report", "--out", out, "--pub", a.Pub, "--allowed-signers", a.AllowedSigners, a.Dir},
		{"audit", "report", "--out", out, "--expect-head", "abc", a.Dir},
		{"audit", "reprot", "--out", out, a.Dir},
	} {
		if r := runPlain(t, nil, args...); !isUsage(r.err) {
			t.Errorf("%q: %v, want a usage error", args, r.err)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error wrote a report: %v", err)
	}
}
