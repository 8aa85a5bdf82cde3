package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scrubtool/scrub/scrub/cli"
)

// generate runs scrub with args in-process and returns its standard output.
func generate(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, Version: "v1.2.3-test"}); err != nil {
		t.Fatalf("scrub %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// commandFlags returns, for each command, the flags its help lists.
func commandFlags(t *testing.T) map[string][]string {
	flagLine := regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`)
	out := map[string][]string{}
	for _, cmd := range []string{"erase", "sweep", "unblock", "export", "keygen", "verify", "audit lookup", "audit report", "queue add", "queue list", "queue run", "queue verify"} {
		var stderr bytes.Buffer
		cli.Run(context.Background(), append(strings.Fields(cmd), "--help"), cli.Env{Stdout: &stderr, Stderr: &stderr})
		for _, m := range flagLine.FindAllStringSubmatch(stderr.String(), -1) {
			out[cmd] = append(out[cmd], m[1])
		}
		if len(out[cmd]) == 0 {
			t.Fatalf("scrub %s --help lists no flags", cmd)
		}
	}
	return out
}

// TestCompletion: the scripts are made from every command's flags; bash's
// completes commands, flags and file names (run in bash), and zsh's and
// fish's parse where those shells are installed.
func TestCompletion(t *testing.T) {
	flags := commandFlags(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		script := generate(t, "completion", sh)
		for cmd, fl := range flags {
			for _, f := range fl {
				want := "--" + f
				if sh == "fish" {
					want = "-l " + f
				}
				if !strings.Contains(script, want) {
					t.Errorf("%s: no %s of scrub %s", sh, want, cmd)
				}
			}
		}
		if path, err := exec.LookPath(sh); err == nil {
			file := filepath.Join(t.TempDir(), "scrub."+sh)
			os.WriteFile(file, []byte(script), 0o644)
			if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, out)
			}
		} else {
			t.Logf("%s not installed: its script's syntax is not checked", sh)
		}
	}

	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "scrub.bash")
	os.WriteFile(script, []byte(generate(t, "completion", "bash")), 0o644)
	os.WriteFile(filepath.Join(dir, "ids.txt"), nil, 0o644)
	complete := func(words ...string) []string {
		t.Helper()
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "; _scrub; printf '%s\\n' \"${COMPREPLY[@]}\""
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"scrub", "er"}, []string{"erase"}},
		{[]string{"scrub", "erase", "--id"}, []string{"--id-key", "--id-transform", "--ids"}},
		{[]string{"scrub", "erase", "--ids", "id"}, []string{"ids.txt"}},
		{[]string{"scrub", "audit", "lookup", "--id-"}, []string{"--id-key", "--id-transform"}},
		{[]string{"scrub", "completion", "z"}, []string{"zsh"}},
		{[]string{"scrub", "queue", "l"}, []string{"list"}},
		{[]string{"scrub", "audit", "r"}, []string{"report"}},
		{[]string{"scrub", "queue", "add", "--ti"}, []string{"--ticket"}},
		{[]string{"scrub", "erase", "--jobs", ""}, nil},
	} {
		got := complete(tc.words...)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

// TestManPage: the man page names every command and flag, and groff reads
// it without a warning.
func TestManPage(t *testing.T) {
	page := generate(t, "man")
	for cmd, fl := range commandFlags(t) {
		if !strings.Contains(page, `.SS "scrub `+cmd+`"`) {
			t.Errorf("no section for scrub %s", cmd)
		}
		for _, f := range fl {
			if !strings.Contains(page, `\-\-`+strings.ReplaceAll(f, "-", `\-`)) {
				t.Errorf("scrub %s --%s is not in the man page", cmd, f)
			}
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed: the page is not typeset")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}
