package main_test

// Tests that keep the documentation (README.md and docs/*.md) honest.
//
//   - TestDocLinks: every relative link points to a file that exists, and
//     every #anchor to a heading of its target, by GitHub's rules (see slug).
//   - TestDocFlags: every scrub command line of the docs (in fenced blocks,
//     and in inline code that starts with "scrub COMMAND") names only flags
//     that `scrub COMMAND --help` lists; every ```json block parses.
//   - TestDocManifests: the Kubernetes Job and the AWS Batch job of
//     docs/scale-out.md parse (the Job minimally, without a YAML library;
//     the AWS Batch JSON with encoding/json), agree on the number of shares,
//     and give scrub only flags it has.
//   - TestDocRunnable: the blocks marked runnable run.
//
// The contract of a runnable block. A fenced ```sh block on the line right
// after the HTML comment <!-- runnable --> is a command an operator can run
// offline on a fresh clone. The test runs each such block on its own, as
// `sh -e FILE`:
//
//   - in a fresh directory that holds a copy of the repository's
//     testdata/export and testdata/ids.txt under testdata/, as the root of a
//     clone does (a block may write anything there);
//   - with the scrub binary built from this tree (TestMain) first on PATH;
//   - with $SCRUB_REPO the repository root, to read only, and $TMPDIR a fresh
//     directory; $SCRUB_SIGNING_KEY, $SCRUB_ID_KEY and the $AWS_* variables
//     are unset, so a block makes its own keys and reaches no S3 store;
//   - within a minute.
//
// The block passes when sh exits 0. A block that calls ssh-keygen or
// sha256sum is skipped where they are missing (under CI=true it fails).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// repoRoot is the repository's root, seen from cmd/scrub.
const repoRoot = "../.."

const runnableMarker = "<!-- runnable -->"

// doc is one markdown file, split into its prose and its fenced blocks.
type doc struct {
	path     string   // relative to the repository root
	prose    []string // the lines outside fenced blocks ("" for lines inside one)
	blocks   []block
	headings []string // the anchors of its headings, in order
}

// block is a fenced code block.
type block struct {
	line     int    // of its opening fence, 1-based
	lang     string // the info string's first word
	text     string // its content, the fence's indentation removed
	runnable bool   // the line before the fence is runnableMarker
}

func (b block) where(d *doc) string { return fmt.Sprintf("%s:%d", d.path, b.line) }

// docFiles returns README.md and docs/*.md, relative to the repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		rel, err := filepath.Rel(repoRoot, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

func loadDocs(t *testing.T) []*doc {
	t.Helper()
	var docs []*doc
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, parseDoc(f, string(b)))
	}
	return docs
}

var headingRE = regexp.MustCompile(`^#{1,6}[ \t]+(.*?)[ \t#]*$`)

// parseDoc splits a markdown file into prose, fenced blocks and headings.
// Fences are ``` or ~~~, indented or not (in list items); a fence closes
// with the same characters it opened with.
func parseDoc(path, text string) *doc {
	d := &doc{path: path}
	lines := strings.Split(text, "\n")
	seen := map[string]int{}
	var (
		open   string // the opening fence's characters; "" outside a block
		indent int
		cur    block
		body   []string
	)
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		if open == "" {
			if f := fence(trimmed); f != "" {
				open, indent = f, len(line)-len(trimmed)
				lang, _, _ := strings.Cut(strings.TrimSpace(trimmed[len(f):]), " ")
				cur = block{line: i + 1, lang: lang}
				cur.runnable = i > 0 && strings.TrimSpace(lines[i-1]) == runnableMarker
				body = nil
				d.prose = append(d.prose, "")
				continue
			}
			d.prose = append(d.prose, line)
			if m := headingRE.FindStringSubmatch(line); m != nil {
				a := slug(m[1])
				if n := seen[a]; n > 0 {
					seen[a]++
					a = fmt.Sprintf("%s-%d", a, n)
				} else {
					seen[a] = 1
				}
				d.headings = append(d.headings, a)
			}
			continue
		}
		d.prose = append(d.prose, "")
		if strings.HasPrefix(trimmed, open) && strings.TrimSpace(trimmed[len(open):]) == "" {
			cur.text = strings.Join(body, "\n")
			d.blocks = append(d.blocks, cur)
			open = ""
			continue
		}
		// Remove at most the fence's indentation.
		n := 0
		for n < indent && n < len(line) && line[n] == ' ' {
			n++
		}
		body = append(body, line[n:])
	}
	return d
}

// fence returns the fence a line opens with (``` or ~~~, or longer), or "".
func fence(trimmed string) string {
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			return trimmed[:n]
		}
	}
	return ""
}

// slug is the anchor GitHub gives a heading: its text lower-cased, every
// character but letters, digits, spaces, '-' and '_' dropped, spaces turned
// into '-'. Inline code and emphasis lose their markers with the rest of the
// punctuation; a link keeps only its text.
func slug(heading string) string {
	heading = mdLinkRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"S3 and MinIO", "s3-and-minio"},
		{"Delete and block: block lists and nightly sweeps", "delete-and-block-block-lists-and-nightly-sweeps"},
		{`"Was client X erased?"`, "was-client-x-erased"},
		{"Checking everything with scrub verify", "checking-everything-with-scrub-verify"},
		{"The `--shard` flag, I/N", "the---shard-flag-in"},
		{"snake_case and [a link](x.md)", "snake_case-and-a-link"},
		{"Auditors' guide", "auditors-guide"},
	} {
		t.Run(tc.heading, func(t *testing.T) {
			if got := slug(tc.heading); got != tc.want {
				t.Errorf("slug(%q) = %q, want %q", tc.heading, got, tc.want)
			}
		})
	}
}

var (
	mdLinkRE     = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	inlineCodeRE = regexp.MustCompile("`[^`]*`")
	schemeRE     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

func TestDocLinks(t *testing.T) {
	docs := loadDocs(t)
	byPath := map[string]*doc{}
	for _, d := range docs {
		byPath[d.path] = d
	}
	anchorsOf := func(path string) ([]string, error) {
		if d, ok := byPath[path]; ok {
			return d.headings, nil
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			return nil, err
		}
		return parseDoc(path, string(b)).headings, nil
	}
	links := 0
	for _, d := range docs {
		for i, line := range d.prose {
			line = inlineCodeRE.ReplaceAllString(line, "")
			for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
				target := m[2]
				if target == "" || schemeRE.MatchString(target) {
					continue
				}
				links++
				where := fmt.Sprintf("%s:%d: link (%s)", d.path, i+1, target)
				file, anchor, _ := strings.Cut(target, "#")
				path := d.path
				if file != "" {
					path = filepath.ToSlash(filepath.Join(filepath.Dir(d.path), file))
					if _, err := os.Stat(filepath.Join(repoRoot, path)); err != nil {
						t.Errorf("%s: no file %s", where, path)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(path, ".md") {
					t.Errorf("%s: an anchor into %s, which is not markdown", where, path)
					continue
				}
				anchors, err := anchorsOf(path)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if !slices.Contains(anchors, anchor) {
					t.Errorf("%s: %s has no heading with the anchor #%s", where, path, anchor)
				}
			}
		}
	}
	if links == 0 {
		t.Fatal("no relative links found: is the parser broken?")
	}
}

// scrubLineRE finds a scrub command in a shell line: the program (a bare
// name or a path ending in /scrub), then the command.
var (
	scrubLineRE = regexp.MustCompile(`(?:^|[\s;&|(/"'=:])scrub\s+(erase|sweep|unblock|export|keygen|verify|audit\s+lookup|index\s+build|version)\b(.*)`)
	flagRE      = regexp.MustCompile(`(?:^|[\s\[|(="'])--([a-z][a-z0-9-]*)`)
	// shellEndRE ends a scrub command inside a line: a pipe, a redirection,
	// a list operator or a comment.
	shellEndRE = regexp.MustCompile(`\s\||[0-9]?>|&&|;|\s#`)
)

// helpFlags runs `scrub COMMAND --help` for each command and returns the
// flags each one lists.
func helpFlags(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	lineRE := regexp.MustCompile(`(?m)^\s+--([a-z][a-z0-9-]*)`)
	for _, cmd := range []string{"erase", "sweep", "unblock", "export", "keygen", "verify", "audit lookup", "audit report", "index build"} {
		args := append(strings.Fields(cmd), "--help")
		b, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("scrub %s --help: %v\n%s", cmd, err, b)
		}
		flags := []string{"help"}
		for _, m := range lineRE.FindAllStringSubmatch(string(b), -1) {
			flags = append(flags, m[1])
		}
		if len(flags) < 2 {
			t.Fatalf("scrub %s --help lists no flags:\n%s", cmd, b)
		}
		out[cmd] = flags
	}
	out["version"] = []string{"help"}
	return out
}

// checkArgs checks that the flags in args (the text after "scrub COMMAND")
// are flags of cmd.
func checkArgs(t *testing.T, flags map[string][]string, where, cmd, args string) {
	t.Helper()
	cmd = strings.Join(strings.Fields(cmd), " ")
	known, ok := flags[cmd]
	if !ok {
		t.Errorf("%s: scrub %s: no such command", where, cmd)
		return
	}
	for _, m := range flagRE.FindAllStringSubmatch(args, -1) {
		if !slices.Contains(known, m[1]) {
			t.Errorf("%s: scrub %s has no flag --%s (scrub %s --help)", where, cmd, m[1], cmd)
		}
	}
}

// logicalLines joins the lines of a shell block that end in a backslash.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " "), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func TestDocFlags(t *testing.T) {
	flags := helpFlags(t)
	checked := 0
	check := func(where, line string) {
		for _, m := range scrubLineRE.FindAllStringSubmatch(line, -1) {
			args := m[2]
			if loc := shellEndRE.FindStringIndex(args); loc != nil {
				args = args[:loc[0]]
			}
			checkArgs(t, flags, where, m[1], args)
			checked++
		}
	}
	for _, d := range loadDocs(t) {
		for _, b := range d.blocks {
			if b.lang == "json" {
				if !json.Valid([]byte(b.text)) {
					t.Errorf("%s: a json block that does not parse", b.where(d))
				}
				continue
			}
			for _, l := range logicalLines(b.text) {
				check(b.where(d), l)
			}
		}
		// Inline code, a paragraph at a time: a span may cross a line break.
		var para []string
		start := 0
		flush := func() {
			text := strings.Join(para, " ")
			for _, span := range inlineCodeRE.FindAllString(text, -1) {
				span = strings.Trim(span, "`")
				if strings.HasPrefix(span, "scrub ") {
					check(fmt.Sprintf("%s:%d", d.path, start), span)
				}
			}
			para = nil
		}
		for i, l := range d.prose {
			if strings.TrimSpace(l) == "" {
				flush()
				continue
			}
			if para == nil {
				start = i + 1
			}
			para = append(para, l)
		}
		flush()
	}
	if checked < 20 {
		t.Fatalf("only %d scrub command lines found: is the parser broken?", checked)
	}
}

// section returns the blocks of d under the heading with the anchor a, up to
// the next heading of any level.
func section(t *testing.T, d *doc, anchor string) []block {
	t.Helper()
	from, to := -1, len(d.prose)+1
	seen := map[string]int{}
	for i, l := range d.prose {
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		a := slug(m[1])
		if n := seen[a]; n > 0 {
			a = fmt.Sprintf("%s-%d", a, n)
		}
		seen[slug(m[1])]++
		if from >= 0 {
			to = i + 1
			break
		}
		if a == anchor {
			from = i + 1
		}
	}
	if from < 0 {
		t.Fatalf("%s: no heading #%s", d.path, anchor)
	}
	var out []block
	for _, b := range d.blocks {
		if b.line > from && b.line < to {
			out = append(out, b)
		}
	}
	return out
}

var shardRE = regexp.MustCompile(`--shard\W+(?:\$\(JOB_COMPLETION_INDEX\)|auto|\d+)/(\d+)`)

// shards returns N of the --shard I/N in text.
func shards(t *testing.T, where, text string) int {
	t.Helper()
	m := shardRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s: no --shard I/N", where)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkCommand checks an argument vector given to the scrub image.
func checkCommand(t *testing.T, flags map[string][]string, where string, argv []string) {
	t.Helper()
	if len(argv) == 0 {
		t.Errorf("%s: no command", where)
		return
	}
	cmd, rest := argv[0], argv[1:]
	if (cmd == "audit" || cmd == "index") && len(rest) > 0 {
		cmd, rest = "audit "+rest[0], rest[1:]
	}
	checkArgs(t, flags, where, cmd, strings.Join(rest, " "))
}

func TestDocManifests(t *testing.T) {
	flags := helpFlags(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "scale-out.md"))
	if err != nil {
		t.Fatal(err)
	}
	d := parseDoc("docs/scale-out.md", string(b))

	t.Run("kubernetes", func(t *testing.T) {
		var job *block
		for _, b := range section(t, d, "kubernetes-indexed-job") {
			if b.lang == "yaml" {
				job = &b
				break
			}
		}
		if job == nil {
			t.Fatal("no yaml block under #kubernetes-indexed-job")
		}
		where := job.where(d)
		// Minimal structure, without a YAML library: no tabs, indentation
		// in steps of two, every line a key, a list item or a comment, and
		// the fields an Indexed Job needs.
		fields := map[string]string{}
		depth := 0 // of [ and { open in flow collections
		for i, l := range strings.Split(job.text, "\n") {
			inFlow := depth > 0
			depth += strings.Count(l, "[") + strings.Count(l, "{") - strings.Count(l, "]") - strings.Count(l, "}")
			if strings.TrimSpace(l) == "" || inFlow {
				continue
			}
			if strings.Contains(l, "\t") {
				t.Errorf("%s+%d: a tab", where, i+1)
			}
			ind := len(l) - len(strings.TrimLeft(l, " "))
			if ind%2 != 0 {
				t.Errorf("%s+%d: indented by %d", where, i+1, ind)
			}
			if k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(l), "- "), ":"); ok {
				v, _, _ = strings.Cut(v, " #")
				if _, dup := fields[k]; !dup {
					fields[k] = strings.TrimSpace(v)
				}
			}
		}
		for k, want := range map[string]string{"apiVersion": "batch/v1", "kind": "Job", "completionMode": "Indexed", "restartPolicy": "Never"} {
			if fields[k] != want {
				t.Errorf("%s: %s is %q, want %q", where, k, fields[k], want)
			}
		}
		// args: a flow sequence of double-quoted strings, which is JSON.
		i := strings.Index(job.text, "args:")
		if i < 0 {
			t.Fatalf("%s: no args", where)
		}
		rest := job.text[i+len("args:"):]
		end := strings.Index(rest, "]")
		if end < 0 {
			t.Fatalf("%s: args is not a flow sequence", where)
		}
		var args []string
		if err := json.Unmarshal([]byte(rest[:end+1]), &args); err != nil {
			t.Fatalf("%s: args: %v", where, err)
		}
		checkCommand(t, flags, where, args)
		n := shards(t, where, strings.Join(args, " "))
		for _, k := range []string{"completions", "parallelism"} {
			if fields[k] != strconv.Itoa(n) {
				t.Errorf("%s: %s is %q, but --shard splits in %d", where, k, fields[k], n)
			}
		}
	})

	t.Run("aws-batch", func(t *testing.T) {
		blocks := section(t, d, "aws-batch-array-job")
		var def, submit *block
		for _, b := range blocks {
			switch {
			case b.lang == "json" && def == nil:
				def = &b
			case b.lang == "sh" && strings.Contains(b.text, "submit-job") && submit == nil:
				submit = &b
			}
		}
		if def == nil || submit == nil {
			t.Fatal("want a json job definition and a sh block with aws batch submit-job under #aws-batch-array-job")
		}
		var jd struct {
			JobDefinitionName   string `json:"jobDefinitionName"`
			Type                string `json:"type"`
			ContainerProperties struct {
				Image                string   `json:"image"`
				Command              []string `json:"command"`
				JobRoleArn           string   `json:"jobRoleArn"`
				ExecutionRoleArn     string   `json:"executionRoleArn"`
				ResourceRequirements []struct {
					Type  string `json:"type"`
					Value string `json:"value"`
				} `json:"resourceRequirements"`
				Secrets []struct {
					Name      string `json:"name"`
					ValueFrom string `json:"valueFrom"`
				} `json:"secrets"`
			} `json:"containerProperties"`
			RetryStrategy struct {
				Attempts int `json:"attempts"`
			} `json:"retryStrategy"`
		}
		dec := json.NewDecoder(strings.NewReader(def.text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jd); err != nil {
			t.Fatalf("%s: %v", def.where(d), err)
		}
		cp := jd.ContainerProperties
		if jd.Type != "container" || jd.JobDefinitionName == "" || cp.Image == "" {
			t.Errorf("%s: want type container, a name and an image", def.where(d))
		}
		checkCommand(t, flags, def.where(d), cp.Command)
		var secrets []string
		for _, s := range cp.Secrets {
			secrets = append(secrets, s.Name)
		}
		for _, want := range []string{"SCRUB_SIGNING_KEY", "SCRUB_ID_KEY"} {
			if !slices.Contains(secrets, want) {
				t.Errorf("%s: no secret %s", def.where(d), want)
			}
		}
		if len(cp.Secrets) > 0 && cp.ExecutionRoleArn == "" {
			t.Errorf("%s: secrets need an executionRoleArn", def.where(d))
		}

		// The submit command: its --container-overrides JSON, and the array
		// size against the number of shares.
		text := strings.Join(logicalLines(submit.text), "\n")
		m := regexp.MustCompile(`--container-overrides\s+'([^']*)'`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s: no --container-overrides '...'", submit.where(d))
		}
		var over struct {
			Command []string `json:"command"`
		}
		dec = json.NewDecoder(strings.NewReader(m[1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&over); err != nil {
			t.Fatalf("%s: --container-overrides: %v", submit.where(d), err)
		}
		checkCommand(t, flags, submit.where(d), over.Command)
		size := regexp.MustCompile(`--array-properties\s+size=(\d+)`).FindStringSubmatch(text)
		if size == nil {
			t.Fatalf("%s: no --array-properties size=N", submit.where(d))
		}
		for _, argv := range [][]string{cp.Command, over.Command} {
			if n := shards(t, submit.where(d), strings.Join(argv, " ")); strconv.Itoa(n) != size[1] {
				t.Errorf("%s: the array has %s children, but --shard splits in %d", submit.where(d), size[1], n)
			}
		}
	})
}

func TestDocRunnable(t *testing.T) {
	if err := exec.Command("sh", "-c", "true").Run(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	readme := false
	for _, d := range loadDocs(t) {
		for _, b := range d.blocks {
			if !b.runnable {
				continue
			}
			if b.lang != "sh" {
				t.Errorf("%s: marked runnable, but a %q block, not sh", b.where(d), b.lang)
				continue
			}
			n++
			if d.path == "README.md" && strings.Contains(b.text, "scrub erase") && strings.Contains(b.text, "scrub verify") {
				readme = true
			}
			t.Run(b.where(d), func(t *testing.T) {
				for _, tool := range []string{"ssh-keygen", "sha256sum"} {
					if !strings.Contains(b.text, tool) {
						continue
					}
					if _, err := exec.LookPath(tool); err != nil {
						if os.Getenv("CI") == "true" {
							t.Fatalf("the block needs %s: %v", tool, err)
						}
						t.Skipf("the block needs %s: %v", tool, err)
					}
				}
				runBlock(t, root, b.text)
			})
		}
	}
	if !readme {
		t.Error("README.md has no runnable block with scrub erase and scrub verify (mark it " + runnableMarker + ")")
	}
	t.Logf("%d runnable blocks", n)
}

// runBlock runs a runnable block as the contract at the top says.
func runBlock(t *testing.T, root, text string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "testdata", "export"), os.DirFS(filepath.Join(root, "testdata", "export"))); err != nil {
		t.Fatal(err)
	}
	ids, err := os.ReadFile(filepath.Join(root, "testdata", "ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testdata", "ids.txt"), ids, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "block.sh")
	if err := os.WriteFile(script, []byte(text+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", script)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "TMPDIR" || k == "SCRUB_REPO" || k == "SCRUB_SIGNING_KEY" || k == "SCRUB_ID_KEY" || strings.HasPrefix(k, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env,
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SCRUB_REPO="+root,
		"TMPDIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -e: %v\n--- block:\n%s\n--- output:\n%s", err, text, out.String())
	}
}
