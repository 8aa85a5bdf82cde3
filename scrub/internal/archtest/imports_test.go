package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/scrubtool/scrub"

// A rule forbids the packages pkgs (except those in except) to import the
// packages of forbid: directly, or when deps is set through any chain of
// imports. Only the packages' own code counts, not their tests. Patterns
// read as the go command's: an import path, or one ending in "/..." for
// that package and every package below it; pkgs may also be relative to
// the module root ("./...").
type rule struct {
	name   string
	pkgs   []string
	except []string
	deps   bool
	forbid []string
}

var rules = []rule{
	{
		name:   "archive knows formats, not the filter, the engine or S3",
		pkgs:   []string{mod + "/archive/..."},
		deps:   true,
		forbid: []string{mod + "/scrub/...", "github.com/aws/..."},
	},
	{
		name:   "filter knows rows, not archives, the engine or S3",
		pkgs:   []string{mod + "/scrub/filter/..."},
		deps:   true,
		forbid: []string{mod + "/archive/...", mod + "/scrub", "github.com/aws/..."},
	},
	{
		name:   "audit owns the types of its signed format",
		pkgs:   []string{mod + "/scrub/audit", mod + "/scrub/audit/sshsig"},
		deps:   true,
		forbid: []string{mod + "/scrub", mod + "/archive/...", mod + "/scrub/filter/...", "github.com/aws/..."},
	},
	{
		name: "engine sees stores only through the store seam",
		pkgs: []string{mod + "/scrub"},
		deps: true,
		forbid: []string{"github.com/aws/...", mod + "/scrub/s3store/...", mod + "/scrub/local/...",
			mod + "/scrub/audit/...", mod + "/scrub/cli/...", mod + "/scrub/index/..."},
	},
	{
		name: "batch wires the engine to the audit format, and knows no store",
		pkgs: []string{mod + "/scrub/batch"},
		deps: true,
		forbid: []string{"github.com/aws/...", mod + "/scrub/s3store/...", mod + "/scrub/local/...",
			mod + "/scrub/store/...", mod + "/scrub/cli/..."},
	},
	{
		name:   "the store seam knows no engine above it",
		pkgs:   []string{mod + "/scrub/store", mod + "/scrub/local", mod + "/scrub/s3store"},
		deps:   true,
		forbid: []string{mod + "/scrub/batch/...", mod + "/scrub/cli/...", mod + "/scrub/audit/..."},
	},
	{
		name: "chain stores signed change files, and knows no list, queue, engine or store",
		pkgs: []string{mod + "/scrub/chain"},
		deps: true,
		forbid: []string{mod + "/scrub", mod + "/scrub/blocklist", mod + "/scrub/queue", mod + "/scrub/batch/...",
			mod + "/scrub/cli/...", mod + "/scrub/store/...", mod + "/scrub/s3store/...", mod + "/scrub/local/...", "github.com/aws/..."},
	},
	{
		name: "the blocklist and the request queue own their formats, and know no engine, batch or store",
		pkgs: []string{mod + "/scrub/blocklist", mod + "/scrub/queue"},
		deps: true,
		forbid: []string{mod + "/scrub", mod + "/archive/...", mod + "/scrub/batch/...", mod + "/scrub/cli/...",
			mod + "/scrub/store/...", mod + "/scrub/s3store/...", mod + "/scrub/local/...", "github.com/aws/..."},
	},
	{
		name:   "the blocklist knows nothing of the queue",
		pkgs:   []string{mod + "/scrub/blocklist"},
		deps:   true,
		forbid: []string{mod + "/scrub/queue"},
	},
	{
		name:   "the audit report renders what audit verified, and knows no store or engine",
		pkgs:   []string{mod + "/scrub/audit/report"},
		deps:   true,
		forbid: []string{mod + "/scrub", mod + "/scrub/store/...", mod + "/scrub/cli/...", "github.com/aws/..."},
	},
	{
		name: "datamap knows the map file and builds filters; not archives, stores, the engine or the log",
		pkgs: []string{mod + "/scrub/datamap"},
		deps: true,
		forbid: []string{mod + "/archive/...", mod + "/scrub", mod + "/scrub/store/...", mod + "/scrub/batch/...",
			mod + "/scrub/audit/...", mod + "/scrub/cli/...", "github.com/aws/..."},
	},
	{
		name: "index owns its format, and knows no engine, audit log, store or S3",
		pkgs: []string{mod + "/scrub/index"},
		deps: true,
		forbid: []string{mod + "/scrub", mod + "/scrub/audit/...", mod + "/scrub/batch/...", mod + "/scrub/store/...",
			mod + "/scrub/local/...", mod + "/scrub/s3store/...", mod + "/scrub/cli/...", mod + "/archive/...", mod + "/scrub/filter/...", "github.com/aws/..."},
	},
	{
		name:   "cli opens stores through the store seam",
		pkgs:   []string{mod + "/scrub/cli"},
		forbid: []string{"github.com/aws/...", mod + "/scrub/s3store/...", mod + "/scrub/local/..."},
	},
	{
		name: "only the S3 store imports the S3 client",
		pkgs: []string{"./...", "./testdata/gen"},
		except: []string{mod + "/scrub/s3store/...", mod + "/scrub/store/...",
			mod + "/scrub/scrubtest/...", mod + "/cmd/withminio", mod + "/cmd/withs3", mod + "/cmd/bench/..."},
		forbid: []string{"github.com/aws/aws-sdk-go-v2/service/s3/..."},
	},
}

func TestImports(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is required in CI: %v", err)
		}
		t.Skipf("no go command: %v", err)
	}
	out, err := exec.Command(gocmd, "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	root := strings.TrimSpace(string(out))
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			graph, roots := list(t, gocmd, root, r.pkgs)
			for _, p := range roots {
				if matchAny(r.except, p) {
					continue
				}
				for _, chain := range forbidden(graph, p, r) {
					if len(chain) == 2 {
						t.Errorf("%s imports %s", p, chain[1])
					} else {
						t.Errorf("%s depends on %s: %s", p, chain[len(chain)-1], strings.Join(chain, " → "))
					}
				}
			}
		})
	}
}

// pkg is one package of go list's output; Imports are those of its own
// code, without its tests.
type pkg struct {
	ImportPath string
	DepOnly    bool
	Imports    []string
	Error      *struct{ Err string }
}

// list returns the import graph of the packages that patterns match and of
// their dependencies, and the matched packages. A package that cannot be
// loaded fails the test: a rule about it would pass without checking
// anything.
func list(t *testing.T, gocmd, root string, patterns []string) (map[string][]string, []string) {
	t.Helper()
	cmd := exec.Command(gocmd, append([]string{"list", "-e", "-deps", "-json=ImportPath,DepOnly,Imports,Error"}, patterns...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(patterns, " "), err, stderr.Bytes())
	}
	graph := map[string][]string{}
	var roots []string
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		graph[p.ImportPath] = p.Imports
		if p.DepOnly {
			continue
		}
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		roots = append(roots, p.ImportPath)
	}
	return graph, roots
}

// forbidden returns, for each package p imports that r forbids, the chain
// of imports from p to it. A chain ends at the first forbidden package:
// what that one imports is not p's doing.
func forbidden(graph map[string][]string, p string, r rule) [][]string {
	if !r.deps {
		var bad [][]string
		for _, imp := range graph[p] {
			if matchAny(r.forbid, imp) {
				bad = append(bad, []string{p, imp})
			}
		}
		return bad
	}
	// Breadth first, so that each chain is a shortest one.
	from := map[string]string{p: ""}
	queue := []string{p}
	var bad [][]string
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		if q != p && matchAny(r.forbid, q) {
			chain := []string{q}
			for x := from[q]; x != ""; x = from[x] {
				chain = append(chain, x)
			}
			slices.Reverse(chain)
			bad = append(bad, chain)
			continue
		}
		for _, imp := range graph[q] {
			if _, seen := from[imp]; !seen {
				from[imp] = q
				queue = append(queue, imp)
			}
		}
	}
	return bad
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(pattern string) bool {
		if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
			return path == prefix || strings.HasPrefix(path, prefix+"/")
		}
		return path == pattern
	})
}

func TestForbidden(t *testing.T) {
	graph := map[string][]string{
		"a":   {"b", "x/y"},
		"b":   {"c", "fmt"},
		"c":   {"x"},
		"x":   {"z"},
		"x/y": {"z"},
	}
	tests := []struct {
		name string
		r    rule
		want [][]string
	}{
		{"direct", rule{forbid: []string{"x/..."}}, [][]string{{"a", "x/y"}}},
		{"direct, exact path", rule{forbid: []string{"x"}}, nil},
		{"through the chain", rule{deps: true, forbid: []string{"c"}}, [][]string{{"a", "b", "c"}}},
		{"ends at the first forbidden package", rule{deps: true, forbid: []string{"c", "x/...", "z"}},
			[][]string{{"a", "x/y"}, {"a", "b", "c"}}},
		{"nothing forbidden reached", rule{deps: true, forbid: []string{"os", "xx/..."}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := forbidden(graph, "a", tt.r); !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("forbidden = %q, want %q", got, tt.want)
			}
		})
	}
}
