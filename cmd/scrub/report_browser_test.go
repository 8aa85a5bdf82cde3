package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

var reportScreenshots = flag.String("report-screenshots", "", "write the screenshots of TestReportInBrowser into `DIR` as report.png and report-tampered.png (make report-screenshot)")

// TestReportInBrowser opens the pages of scrub audit report in a real
// browser, headless Chromium: the DOM it builds holds the figures scrub
// verify --json gives for each batch, under a green verdict for a good
// bundle and a red one for a bundle with a signature removed, and each
// screenshot's first screen shows that banner's colour. It skips when
// Chromium is not installed, and fails instead when $CI is set.
func TestReportInBrowser(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	a := scrubtest.NewAudit(t)
	data := scrubtest.CopyExport(t)
	// A signed dry run, the erasure, and a re-run that finds nothing left.
	for _, extra := range [][]string{{"--dry-run", "--ticket", "GDPR-1234"}, {"--ticket", "GDPR-1234"}, {"--ticket", "<script>alert(1)</script>"}} {
		args := append(append([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress"}, a.Flags()...), extra...)
		if r := runBin(t, append(args, data)...); r.code != 0 {
			t.Fatalf("scrub %q: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	scrubtest.CheckNoIDs(t, a.Dir)
	r := runBin(t, "verify", "--json", "--allowed-signers", a.AllowedSigners, a.Dir)
	var ver struct {
		Batches []struct {
			Batch    string `json:"batch"`
			Manifest struct {
				DryRun bool `json:"dry_run"`
				Totals struct {
					Archives    int   `json:"archives"`
					Erased      int   `json:"erased"`
					WouldErase  int   `json:"would_erase"`
					RowsRemoved int64 `json:"rows_removed"`
				} `json:"totals"`
			} `json:"manifest"`
		} `json:"batches"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ver); err != nil || r.code != 0 || len(ver.Batches) != 3 {
		t.Fatalf("verify --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if ver.Batches[1].Manifest.Totals.RowsRemoved == 0 || ver.Batches[1].Manifest.Totals.Erased == 0 {
		t.Fatalf("the erasure removed nothing: %+v", ver.Batches[1])
	}

	t.Run("valid", func(t *testing.T) {
		page := filepath.Join(t.TempDir(), "report.html")
		if r := runBin(t, "audit", "report", "--allowed-signers", a.AllowedSigners, "--out", page, a.Dir); r.code != 0 {
			t.Fatalf("audit report: exit %d\n%s", r.code, r.stderr)
		}
		dom := dumpDOM(t, browser, page)
		if !regexp.MustCompile(`<section id="verdict" class="good" data-exit="0">\s*<h2 id="verdict-title">VALID: all 3 batches verified, signed by a trusted key</h2>`).MatchString(dom) {
			t.Errorf("no green verdict in the DOM:\n%.2000s", dom)
		}
		for i, b := range ver.Batches {
			tot := b.Manifest.Totals
			erased := tot.Erased
			if b.Manifest.DryRun {
				erased = tot.WouldErase
			}
			row := domRow(t, dom, `<tr id="batch-`+fmt.Sprint(i+1)+`"`, "</tr>")
			for class, want := range map[string]any{"rows-removed": tot.RowsRemoved, "erased": tot.Erased, "archives": tot.Archives} {
				if !strings.Contains(row, fmt.Sprintf(`<span class="%s">%d</span>`, class, want)) {
					t.Errorf("batch %d (%s): %s is not %d in its table row:\n%s", i+1, b.Batch, class, want, row)
				}
			}
			bar := domRow(t, dom, `<g class="bar valid" data-batch="`+b.Batch+`">`, "</g>")
			for class, want := range map[string]any{"rows-value": tot.RowsRemoved, "archives-value": erased} {
				if !regexp.MustCompile(fmt.Sprintf(`<text class="%s"[^>]*>%d[ <]`, class, want)).MatchString(bar) {
					t.Errorf("batch %d (%s): the chart's %s is not %d:\n%s", i+1, b.Batch, class, want, bar)
				}
			}
		}
		if strings.Contains(dom, "<script") || !strings.Contains(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("the ticket became markup in the browser")
		}
		shot := screenshot(t, browser, page, "report.png")
		if n := bannerPixels(t, shot, 0xe6, 0xf4, 0xea); n < 40 {
			t.Errorf("the first screen shows %d pixels of the green banner", n)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "audit")
		if err := os.CopyFS(dir, os.DirFS(a.Dir)); err != nil {
			t.Fatal(err)
		}
		erasure := ver.Batches[1].Batch
		if err := os.Remove(filepath.Join(dir, erasure+"-SHA256SUMS.sig")); err != nil {
			t.Fatal(err)
		}
		page := filepath.Join(t.TempDir(), "report.html")
		if r := runBin(t, "audit", "report", "--allowed-signers", a.AllowedSigners, "--out", page, dir); r.code != 1 {
			t.Fatalf("audit report of a tampered bundle: exit %d, want 1\n%s", r.code, r.stderr)
		}
		dom := dumpDOM(t, browser, page)
		if !regexp.MustCompile(`<section id="verdict" class="bad" data-exit="1">\s*<h2 id="verdict-title">NOT VALID: 1 of 3 batches fail verification</h2>`).MatchString(dom) {
			t.Errorf("no red verdict in the DOM:\n%.2000s", dom)
		}
		problems := domRow(t, dom, `<ul id="problems">`, "</ul>")
		if !strings.Contains(problems, erasure) || !strings.Contains(problems, "INVALID: missing") {
			t.Errorf("the verdict does not name %s as missing its signature:\n%s", erasure, problems)
		}
		if row := domRow(t, dom, `<tr id="batch-2" class="invalid" data-batch="`+erasure+`">`, "</tr>"); !strings.Contains(row, "not shown: the batch did not verify") {
			t.Errorf("the tampered batch's figures are shown:\n%s", row)
		}
		shot := screenshot(t, browser, page, "report-tampered.png")
		if n := bannerPixels(t, shot, 0xfc, 0xe8, 0xe6); n < 40 {
			t.Errorf("the first screen shows %d pixels of the red banner", n)
		}
	})
}

type binResult struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, args ...string) binResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return binResult{0, stdout.String(), stderr.String()}
	case errors.As(err, &ee):
		return binResult{ee.ExitCode(), stdout.String(), stderr.String()}
	}
	t.Fatalf("scrub %q: %v", args, err)
	return binResult{}
}

// chromium returns the browser's path; without one it skips, or under CI
// fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed and $CI is set: the report's browser test must run (make chromium installs it)")
	}
	t.Skip("chromium is not installed: the report's browser test is skipped (apt-get install -y chromium, or make chromium; with $CI set it fails instead)")
	return ""
}

// headless runs the browser headless on the page with args, and returns
// its standard output.
func headless(t *testing.T, browser, page string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile := t.TempDir()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile}, append(args, "file://"+page)...)
	cmd := exec.CommandContext(ctx, browser, args...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s", browser, args, err, stderr.String())
	}
	return stdout.String()
}

func dumpDOM(t *testing.T, browser, page string) string {
	t.Helper()
	dom := headless(t, browser, page, "--dump-dom")
	if !strings.Contains(dom, `id="verdict"`) {
		t.Fatalf("the DOM has no verdict:\n%.2000s", dom)
	}
	return dom
}

// domRow returns the DOM from the first start to the end that follows it.
func domRow(t *testing.T, dom, start, end string) string {
	t.Helper()
	i := strings.Index(dom, start)
	if i < 0 {
		t.Fatalf("no %s in the DOM", start)
	}
	row, _, _ := strings.Cut(dom[i:], end)
	return row
}

// screenshot takes the first screen, 1280x900, of the page; with
// -report-screenshots it is kept there as name.
func screenshot(t *testing.T, browser, page, name string) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	headless(t, browser, page, "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1280,900", "--screenshot="+out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot of %v, want 1280x900", b)
	}
	if *reportScreenshots != "" {
		if err := os.WriteFile(filepath.Join(*reportScreenshots, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// bannerPixels counts the pixels of the banner's background colour down
// the middle of the first screen.
func bannerPixels(t *testing.T, img image.Image, r, g, b uint8) int {
	t.Helper()
	near := func(v uint32, want uint8) bool { d := int(v>>8) - int(want); return d >= -3 && d <= 3 }
	n := 0
	x := img.Bounds().Dx() / 2
	for y := range img.Bounds().Dy() / 2 {
		pr, pg, pb, _ := img.At(x, y).RGBA()
		if near(pr, r) && near(pg, g) && near(pb, b) {
			n++
		}
	}
	return n
}
