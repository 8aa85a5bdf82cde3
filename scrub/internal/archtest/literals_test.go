package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// seam is the code allowed to know how an S3 location is spelt: the store
// seam and the S3 backend.
var seam = []string{"scrub/store/", "scrub/s3store/"}

// TestNoSchemeOutsideSeam fails on a string literal that starts with
// "s3://" in the non-test code outside the store seam: code that builds an
// S3 location, or tells one apart by its prefix, belongs in package store.
// (Help texts that mention s3://bucket/prefix in a sentence are fine.)
func TestNoSchemeOutsideSeam(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, err)
	}
	out, err := exec.Command(gocmd, "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	root := strings.TrimSpace(string(out))
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "bin" || name == "build" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		for _, s := range seam {
			if strings.HasPrefix(rel, s) {
				return nil
			}
		}
		checked++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(v, "s3://") {
				t.Errorf("%s: %s: an s3:// literal outside the store seam (use package store)", rel, fset.Position(lit.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: the walk missed the tree", checked)
	}
}

// skipOrFail skips a test that lacks the go command, except under CI,
// where it fails.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("the go command is required in CI: %v", err)
	}
	t.Skipf("no go command: %v", err)
}
