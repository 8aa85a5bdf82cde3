package report_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	htmlpkg "html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/report"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/local"
)

const ticket = `<script>alert(1)</script>`

// bundle is an audit location of two sealed batches: the first erased
// rows from three archives and held, failed and did not scan three more
// (with the given key and reason), the second erased one archive.
type bundle struct {
	dir    string
	key    ed25519.PrivateKey
	idKey  *audit.IDKey
	sealed []*audit.Sealed
}

func newBundle(t *testing.T, oddKey, reason string) *bundle {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idKey, err := audit.ParseIDKey(audit.NewIDKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{dir: t.TempDir(), key: key, idKey: idKey}
	b.write(t, ticket, []audit.Archive{
		erased("exports/a.csv.gz", 100, 3), erased("exports/b.csv.gz", 200, 5), erased("exports/c.csv.gz", 50, 1),
		{Key: "exports/unchanged.csv", Status: audit.StatusUnchanged, RowsScanned: 10},
		{Key: oddKey, Status: audit.StatusHeld, Reason: reason},
		{Key: "exports/broken.csv.gz", Status: audit.StatusFailed, Error: "gzip: invalid header"},
		{Key: "exports/notes.txt", Status: audit.StatusNotScanned, Reason: "no table with an ID column"},
	})
	time.Sleep(2 * time.Millisecond) // batch names sort by their start
	b.write(t, "GDPR-2", []audit.Archive{erased("exports/d.csv.gz", 40, 2)})
	return b
}

func erased(key string, scanned, removed int64) audit.Archive {
	after := scanned - removed
	return audit.Archive{Key: key, Status: audit.StatusErased, Format: "gzip", RowsScanned: scanned, RowsRemoved: removed, SizeBefore: scanned, SizeAfter: &after}
}

func (b *bundle) write(t *testing.T, ticket string, archives []audit.Archive) {
	t.Helper()
	st := audit.Start{Command: "erase", Tool: audit.Tool{Name: "scrub", Version: "test"}, Sources: []string{"exports"},
		IDs: 2, IDKey: b.idKey.ID(), Ticket: ticket, Request: strings.Repeat("7e", 32), Operator: "dpo", Host: "host"}
	w, err := audit.Begin(local.Dir(b.dir), b.dir, b.key, st)
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{b.idKey.Tag([]byte("9F3A41C07B22E8D1")), b.idKey.Tag([]byte("C41D07E2A95B3F68"))}
	if err := w.IDs(tags); err != nil {
		t.Fatal(err)
	}
	for _, a := range archives {
		if a.Status == audit.StatusErased {
			a.Tags = tags[:1]
		}
		if err := w.Archive(a); err != nil {
			t.Fatal(err)
		}
	}
	result := audit.ResultComplete
	if len(archives) > 1 {
		result = audit.ResultPartial
	}
	s, err := w.Finish(context.Background(), result, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.sealed = append(b.sealed, s)
}

func (b *bundle) trust() *audit.Trust {
	pub := b.key.Public().(ed25519.PublicKey)
	return &audit.Trust{Signers: []sshsig.AllowedSigner{{Principals: []string{"dpo@example.com"}, Namespaces: []string{audit.Namespace}, Key: pub}}}
}

// render verifies the bundle with trust (none if nil) and returns its page
// and HTML.
func (b *bundle) render(t *testing.T, trust *audit.Trust) (*report.Page, string) {
	t.Helper()
	ctx := context.Background()
	loc := local.Dir(b.dir)
	rep, err := audit.Verify(ctx, loc, trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := report.Options{Location: b.dir, Trust: trust, Generated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Version: "v-test"}
	if trust != nil {
		o.TrustFlag, o.TrustFile = "--allowed-signers", "/keys/allowed_signers"
	}
	p, err := report.New(ctx, loc, rep, o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	checkSelfContained(t, html)
	for _, tag := range []string{b.idKey.Tag([]byte("9F3A41C07B22E8D1")), "9F3A41C07B22E8D1"} {
		if strings.Contains(html, tag) {
			t.Errorf("the page holds a listed ID or its tag %s", tag)
		}
	}
	return p, html
}

// checkSelfContained: the page loads nothing and runs nothing.
func checkSelfContained(t *testing.T, html string) {
	t.Helper()
	for _, re := range []string{`(?i)<script`, `(?i)<link`, `(?i)<img`, `(?i)<iframe`, `(?i)<object`, `(?i)<[a-z][^>]*\s(src|href|on[a-z]+)=`, `(?i)url\(`, `(?i)@import`} {
		if m := regexp.MustCompile(re).FindString(html); m != "" {
			t.Errorf("the page holds %q", m)
		}
	}
	for _, m := range regexp.MustCompile(`https?://[^"\s<]*`).FindAllString(html, -1) {
		if m != "http://www.w3.org/2000/svg" {
			t.Errorf("the page names %s", m)
		}
	}
}

func banner(t *testing.T, html string) string {
	t.Helper()
	m := regexp.MustCompile(`<section id="verdict" class="([a-z]+)" data-exit="([0-9])">`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no verdict banner in:\n%s", html)
	}
	return m[1] + " " + m[2]
}

func TestReportValid(t *testing.T) {
	b := newBundle(t, "exports/locked.csv.gz", "object lock: retention until 2030-01-01")
	p, html := b.render(t, b.trust())
	if got := banner(t, html); got != "good 0" {
		t.Errorf("banner %q, want good 0", got)
	}
	if !strings.Contains(p.Verdict.Title, "VALID: all 2 batches verified") || !strings.Contains(strings.Join(p.Verdict.Lines, "\n"), "(dpo@example.com), from --allowed-signers /keys/allowed_signers") {
		t.Errorf("verdict %+v", p.Verdict)
	}
	fp := sshsig.Fingerprint(b.key.Public().(ed25519.PublicKey))
	if !strings.Contains(htmlpkg.UnescapeString(html), fp+" (dpo@example.com)") {
		t.Errorf("the verdict does not name the trusted key %s", fp)
	}
	// The figures: the chart and the table, per batch.
	for i, want := range []struct {
		rows, erased, archives string
	}{{"9", "3", "7"}, {"2", "1", "1"}} {
		bar := p.Chart.Bars[i]
		if bar.Class != "valid" || itoa(bar.Rows) != want.rows || itoa(int64(bar.Archives)) != want.erased {
			t.Errorf("bar %d: %+v, want %s rows, %s erased", i, bar, want.rows, want.erased)
		}
		row := tableRow(t, html, b.sealed[i].Batch)
		for class, v := range map[string]string{"rows-removed": want.rows, "erased": want.erased, "archives": want.archives} {
			if !strings.Contains(row, `<span class="`+class+`">`+v+`</span>`) {
				t.Errorf("batch %d: %s is not %s in its row:\n%s", i+1, class, v, row)
			}
		}
	}
	if p.Chart.Bars[0].RowsW != 260 || p.Chart.Bars[1].RowsW != 260*2/9 {
		t.Errorf("bar widths %d, %d: not scaled to the largest", p.Chart.Bars[0].RowsW, p.Chart.Bars[1].RowsW)
	}
	// The archives not done, with why; not the erased ones.
	got := p.Batches[0].Archives
	want := []report.Archive{
		{Key: "exports/locked.csv.gz", Status: "held", Reason: "object lock: retention until 2030-01-01"},
		{Key: "exports/broken.csv.gz", Status: "failed", Reason: "gzip: invalid header"},
		{Key: "exports/notes.txt", Status: "not-scanned", Reason: "no table with an ID column"},
	}
	if len(got) != len(want) {
		t.Fatalf("archives not done: %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("archive %d: %+v, want %+v", i, got[i], want[i])
		}
		if !strings.Contains(html, `<tr class="archive `+want[i].Status+`"><td>`+want[i].Status+`</td><td class="mono wrap">`+want[i].Key+`</td><td class="wrap">`+want[i].Reason+`</td></tr>`) {
			t.Errorf("the page does not list %+v", want[i])
		}
	}
	// The commands.
	if want := "scrub audit lookup --id-key ID-KEY-FILE --ids IDS-FILE --allowed-signers /keys/allowed_signers " + report.Quote(b.dir); p.Lookup != want {
		t.Errorf("lookup command %q, want %q", p.Lookup, want)
	}
	for _, s := range b.sealed {
		for _, c := range []string{
			"ssh-keygen -Y verify -f /keys/allowed_signers -I dpo@example.com -n scrub-audit -s " + s.Batch + "-SHA256SUMS.sig &lt; " + s.Batch + "-SHA256SUMS",
			"sha256sum -c " + s.Batch + "-SHA256SUMS",
		} {
			if !strings.Contains(html, c) {
				t.Errorf("the page lacks the command %s", c)
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// tableRow returns the batch's row of the table.
func tableRow(t *testing.T, html, batch string) string {
	t.Helper()
	i := strings.Index(html, `data-batch="`+batch+`">`+"\n<td")
	if i < 0 {
		t.Fatalf("no table row for %s", batch)
	}
	row, _, _ := strings.Cut(html[i:], "</tr>")
	return row
}

func TestReportTampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, b *bundle)
		status string
	}{
		{"log line changed", func(t *testing.T, b *bundle) {
			p := filepath.Join(b.dir, b.sealed[0].Batch+".jsonl")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data = bytes.Replace(data, []byte(`"rows_removed":5`), []byte(`"rows_removed":0`), 1)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "INVALID: chain broken at line"},
		{"signature removed", func(t *testing.T, b *bundle) {
			if err := os.Remove(filepath.Join(b.dir, b.sealed[0].Batch+"-SHA256SUMS.sig")); err != nil {
				t.Fatal(err)
			}
		}, "INVALID: missing"},
		{"signed by another key", func(t *testing.T, b *bundle) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			sums, err := os.ReadFile(filepath.Join(b.dir, b.sealed[1].Batch+"-SHA256SUMS"))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := sshsig.Sign(other, audit.Namespace, bytes.NewReader(sums))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(b.dir, b.sealed[1].Batch+"-SHA256SUMS.sig"), sig, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "INVALID: signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, "exports/locked.csv.gz", "held")
			tc.change(t, b)
			for _, trust := range []*audit.Trust{b.trust(), nil} {
				p, html := b.render(t, trust)
				if got := banner(t, html); got != "bad 1" {
					t.Errorf("trusted %v: banner %q, want bad 1", trust != nil, got)
				}
				if !strings.HasPrefix(p.Verdict.Title, "NOT VALID: 1 of 2 batches fail verification") {
					t.Errorf("verdict title %q", p.Verdict.Title)
				}
				// The failing batch is named on the first screen, in
				// the banner, and its figures are not shown.
				verdict, _, _ := strings.Cut(html, "</section>")
				if !strings.Contains(verdict, tc.status) {
					t.Errorf("the banner does not say %q:\n%s", tc.status, verdict)
				}
				bad := 0
				if strings.Contains(tc.name, "another key") {
					bad = 1
				}
				if !strings.Contains(verdict, b.sealed[bad].Batch) {
					t.Errorf("the banner does not name %s", b.sealed[bad].Batch)
				}
				if bar := p.Chart.Bars[bad]; bar.Class != "invalid" || bar.Rows != 0 || !strings.HasPrefix(bar.Note, tc.status) {
					t.Errorf("bar of the tampered batch: %+v", bar)
				}
				if !strings.Contains(tableRow(t, html, b.sealed[bad].Batch), "not shown: the batch did not verify") {
					t.Error("the tampered batch's row shows figures")
				}
			}
		})
	}
}

func TestReportConsistencyOnly(t *testing.T) {
	b := newBundle(t, "exports/locked.csv.gz", "held")
	p, html := b.render(t, nil)
	if got := banner(t, html); got != "untrusted 4" {
		t.Errorf("banner %q, want untrusted 4", got)
	}
	fp := sshsig.Fingerprint(b.key.Public().(ed25519.PublicKey))
	if p.Verdict.Title != "NOT TRUSTED: consistency only" || !strings.Contains(strings.Join(p.Verdict.Lines, " "), "signed by "+fp) {
		t.Errorf("verdict %+v", p.Verdict)
	}
	if !strings.Contains(html, "-f ALLOWED-SIGNERS-FILE -I PRINCIPAL -n scrub-audit") {
		t.Error("without a trust file, the stock commands do not name what to put in")
	}
}

func TestReportNoBatch(t *testing.T) {
	b := &bundle{dir: t.TempDir()}
	b.idKey, _ = audit.ParseIDKey(audit.NewIDKey(), "test")
	p, html := b.render(t, nil)
	if got := banner(t, html); got != "bad 1" || p.Verdict.Title != "NOT VALID: no audit batch found" {
		t.Errorf("banner %q, verdict %q", got, p.Verdict.Title)
	}
}

// TestReportEscaping: what comes from the bundles (a ticket, an archive's
// key, a reason) is text, never markup.
func TestReportEscaping(t *testing.T) {
	odd := `exports/"><img src=x onerror=alert(2)>.csv`
	b := newBundle(t, odd, `</td></tr></table><script>alert(3)</script>`)
	_, html := b.render(t, b.trust()) // checks there is no script, img or handler
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"exports/&#34;&gt;&lt;img src=x onerror=alert(2)&gt;.csv",
		"&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(3)&lt;/script&gt;",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks the escaped %s", want)
		}
	}
	// In the shell commands the names are quoted for the shell too.
	if q := report.Quote(odd); q != `'exports/"><img src=x onerror=alert(2)>.csv'` {
		t.Errorf("Quote: %s", q)
	}
	if q := report.Quote("it's"); q != `'it'\''s'` {
		t.Errorf("Quote: %s", q)
	}
}

// TestReportLogChanged: a log changed between verify and its reading back
// makes the verdict red.
func TestReportLogChanged(t *testing.T) {
	b := newBundle(t, "exports/locked.csv.gz", "held")
	ctx := context.Background()
	rep, err := audit.Verify(ctx, local.Dir(b.dir), b.trust(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.dir, b.sealed[1].Batch+".jsonl")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Replace(data, []byte(`"rows_removed":2`), []byte(`"rows_removed":0`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	page, err := report.New(ctx, local.Dir(b.dir), rep, report.Options{Location: b.dir, Trust: b.trust(), TrustFlag: "--allowed-signers", TrustFile: "/keys/a"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Verdict.Class != report.Bad || page.Verdict.Exit != 1 || !strings.Contains(strings.Join(page.Verdict.Lines, " "), "changed after it was verified") {
		t.Errorf("verdict %+v", page.Verdict)
	}
}
