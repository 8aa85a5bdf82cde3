// Package report renders what scrub verify finds in an audit location as
// one self-contained HTML page for auditors (scrub audit report): the
// verdict first, then the chain of batches as a timeline (an inline SVG
// bar chart and a table, with the archives each batch held, failed,
// skipped or did not scan, and why), then the commands that check it all
// again: scrub audit lookup, and ssh-keygen -Y verify and sha256sum -c per
// batch.
//
// The page loads nothing: no script, font, image or style sheet from
// elsewhere. What comes from the bundles (archive keys, tickets, reasons)
// is escaped by html/template. The bundles name client IDs only by HMAC
// tags, and the page shows none of those either.
package report

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
)

//go:embed report.html
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	},
}).Parse(pageText))

// The verdict classes, as the page's banner (id "verdict") carries them.
const (
	// Good: every batch valid, signed by a trusted key (verify exits 0).
	Good = "good"
	// Bad: a batch is not valid, a split request is incomplete, or no
	// batch was found (verify exits 1).
	Bad = "bad"
	// Untrusted: every batch consistent, but no trusted key was given
	// (verify exits 4).
	Untrusted = "untrusted"
)

// Options say how the location was verified, for the page's text and
// commands.
type Options struct {
	// Location is the audit location as given (a directory, absolute
	// for the commands, or s3://bucket/prefix), and Endpoint the S3
	// endpoint given for it. Remote says it is in an object store: the
	// stock tools then check a copy.
	Location, Endpoint string
	Remote             bool
	// TrustFlag is "--allowed-signers" or "--pub", or "" when no
	// trusted key was given; TrustFile its file (absolute for the
	// commands), and Trust what it holds.
	TrustFlag, TrustFile string
	Trust                *audit.Trust
	// Untrusted are the trust files given but not trusted, because they
	// lie inside the location.
	Untrusted []string
	// ExpectHeads and Witness are as given to verify.
	ExpectHeads []string
	Witness     string
	// Generated and Version say when and by which scrub the page was made.
	Generated time.Time
	Version   string
	// MaxListed caps the archives listed per batch (0: 200); the rest are
	// counted.
	MaxListed int
}

// Page is what the HTML shows.
type Page struct {
	Options
	Verdict Verdict
	Head    string
	Batches []*Batch
	Chart   Chart
	Split   []Split
	Notes   []string
	// Lookup is the scrub audit lookup command line for this location;
	// Prelude the commands that precede the stock tools' checks.
	Lookup  string
	Prelude []string
	// SignersFile and Principal are what ssh-keygen -Y verify is given
	// (-f, -I) when no principal of a batch's signer is known.
	SignersFile, Principal string
}

// Verdict is the page's first screen: what verify proved, or what is wrong.
type Verdict struct {
	Class string // Good, Bad or Untrusted
	Exit  int    // verify's exit code: 0, 1 or 4
	Title string
	Lines []string
	// Problems are the batches that are not valid.
	Problems []*Batch
}

// Batch is one batch of the chain, or a batch found missing.
type Batch struct {
	N        int // 1, 2, … in the order of the chain
	Name     string
	Valid    bool
	Unsigned bool // an unsigned dry run: not part of the record
	Status   string
	Detail   string
	// From the batch's sealed manifest and log, for a valid batch.
	Started, Finished string
	Command           string // erase, export, … with shard and dry run
	Operator          string
	Signer, Principal string
	Ticket, Request   string
	Result            string
	Totals            *audit.Totals
	Head              string
	// Archives are those not done (held, failed, skipped, conflict,
	// not scanned, replaced but incomplete), up to Options.MaxListed;
	// More counts the rest.
	Archives []Archive
	More     int
	// ReadError says why the archives could not be read back.
	ReadError string
	// Checks are the stock tools' commands for this batch.
	Checks []string
}

// Archive is an archive a batch did not finish, and why.
type Archive struct{ Key, Status, Reason string }

// Split is a request split into shares.
type Split struct{ Request, Command, Ticket, Status string }

// New builds the page of rep, the report Verify made of loc: it reads the
// archive outcomes of each valid batch back from loc. A log that cannot be
// read back, or changed since it was verified, makes the verdict Bad.
func New(ctx context.Context, loc audit.Location, rep *audit.Report, o Options) (*Page, error) {
	if o.MaxListed == 0 {
		o.MaxListed = 200
	}
	p := &Page{Options: o, Head: rep.Head, Notes: rep.Notes}
	principals := map[string]string{}
	if o.Trust != nil {
		for _, s := range o.Trust.Signers {
			if fp := sshsig.Fingerprint(s.Key); principals[fp] == "" && len(s.Principals) > 0 {
				principals[fp] = s.Principals[0]
			}
		}
	}
	for i, st := range rep.Batches {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := &Batch{N: i + 1, Name: st.Batch, Valid: st.Valid(), Unsigned: st.Unsigned && st.Problem == "",
			Status: st.Status(), Detail: st.Detail, Signer: st.Signer, Principal: principals[st.Signer], Head: st.Head}
		if st.Start != nil {
			s := st.Start
			b.Command, b.Ticket, b.Request, b.Operator = s.Command, s.Ticket, s.Request, s.Operator
			if s.Host != "" {
				b.Operator += "@" + s.Host
			}
			if s.Shard != nil {
				b.Command += " shard " + s.Shard.String()
			}
		}
		if m := st.Manifest; m != nil {
			b.Started, b.Finished, b.Result, b.Totals = m.Started, m.Finished, m.Result, &m.Totals
			if b.Command == "" {
				b.Command = "erase"
			}
			if m.DryRun {
				b.Command += ", dry run"
			}
		}
		if b.Valid {
			as, err := audit.ReadArchives(ctx, loc, st)
			if err != nil {
				b.ReadError = err.Error()
			}
			for _, a := range as {
				switch a.Status {
				case audit.StatusErased, audit.StatusUnchanged, audit.StatusWouldErase:
					continue
				}
				if len(b.Archives) == o.MaxListed {
					b.More++
					continue
				}
				why := a.Reason
				if why == "" {
					why = a.Error
				}
				b.Archives = append(b.Archives, Archive{a.Key, a.Status, why})
			}
		}
		p.Batches = append(p.Batches, b)
	}
	for _, r := range rep.Split {
		p.Split = append(p.Split, Split{r.Request, r.Command, r.Ticket, r.Status()})
	}
	p.Verdict = verdict(p, rep)
	p.Chart = chart(p.Batches)
	p.commands()
	return p, nil
}

// verdict says what rep proves, as scrub verify decides its exit code.
func verdict(p *Page, rep *audit.Report) Verdict {
	var v Verdict
	var unread []string
	for _, b := range p.Batches {
		switch {
		case !b.Valid && !b.Unsigned:
			v.Problems = append(v.Problems, b)
		case b.ReadError != "":
			unread = append(unread, b.Name+": "+b.ReadError)
		}
	}
	why := "no --allowed-signers or --pub was given"
	if len(p.Untrusted) > 0 {
		why = "no trusted key: " + strings.Join(p.Untrusted, ", ") + " is inside the audit location, where whoever can change the bundles can change it too"
	}
	switch {
	case rep.Total == 0:
		v.Class, v.Exit, v.Title = Bad, 1, "NOT VALID: no audit batch found"
		v.Lines = append(v.Lines, fmt.Sprintf("%s holds no sealed audit batch that is part of the record.", p.Location))
	case rep.Valid != rep.Total:
		v.Class, v.Exit, v.Title = Bad, 1, fmt.Sprintf("NOT VALID: %d of %d batches fail verification", rep.Total-rep.Valid, rep.Total)
		v.Lines = append(v.Lines, "A batch is tampered with, missing, unsigned or signed by a key that is not trusted: the record cannot be relied on. The failing batches:")
		if !rep.Pinned {
			v.Lines = append(v.Lines, "Moreover "+why+": signatures were checked against the keys they carry only.")
		}
	case !rep.OK():
		v.Class, v.Exit, v.Title = Bad, 1, "NOT VALID: a request split into shares is incomplete"
		v.Lines = append(v.Lines, "Every batch is valid, but a request split across workers lacks a complete, valid batch for some share (see Split requests).")
	case len(unread) > 0:
		v.Class, v.Exit, v.Title = Bad, 1, "NOT VALID: a verified log could not be read back"
		v.Lines = append(v.Lines, unread...)
	case !rep.Pinned:
		v.Class, v.Exit, v.Title = Untrusted, 4, "NOT TRUSTED: consistency only"
		v.Lines = append(v.Lines,
			fmt.Sprintf("All %d batches are consistent, but %s.", rep.Total, why),
			"They are signed by "+strings.Join(rep.Signers, ", ")+", which shows they are intact since that key signed them, not who holds it: anyone who can write the location can re-sign it all with a key of their own.",
			"Compare that fingerprint with the operator's key, or make this report again with --allowed-signers or --pub.")
	default:
		v.Class, v.Exit, v.Title = Good, 0, fmt.Sprintf("VALID: all %d batches verified, signed by a trusted key", rep.Total)
		var keys []string
		for _, fp := range rep.Signers {
			if pr := p.principal(fp); pr != "" {
				fp += " (" + pr + ")"
			}
			keys = append(keys, fp)
		}
		v.Lines = append(v.Lines,
			fmt.Sprintf("Trusted key: %s, from %s %s.", strings.Join(keys, ", "), p.TrustFlag, p.TrustFile),
			"Proved: every batch present was signed by that key, its log and manifest are the bytes it signed, every log line follows the one before it, and every batch follows the batch before it, unchanged and signed.")
		if len(p.ExpectHeads) > 0 {
			v.Lines = append(v.Lines, fmt.Sprintf("The expected head(s) %s belong to valid batches: the newest batches known are present.", strings.Join(p.ExpectHeads, ", ")))
		} else if p.Witness == "" {
			v.Lines = append(v.Lines, "Not proved: that no newest batch was deleted. Pass --expect-head or --witness for that.")
		}
		if p.Witness != "" {
			v.Lines = append(v.Lines, "Every batch the witness "+p.Witness+" names is present, with that head.")
		}
	}
	return v
}

func (p *Page) principal(fp string) string {
	for _, b := range p.Batches {
		if b.Signer == fp && b.Principal != "" {
			return b.Principal
		}
	}
	return ""
}

// commands fills in the command lines an auditor can run.
func (p *Page) commands() {
	args := []string{"scrub", "audit", "lookup", "--id-key", "ID-KEY-FILE", "--ids", "IDS-FILE"}
	if p.TrustFlag != "" {
		args = append(args, p.TrustFlag, Quote(p.TrustFile))
	}
	for _, h := range p.ExpectHeads {
		args = append(args, "--expect-head", h)
	}
	if p.Endpoint != "" {
		args = append(args, "--endpoint", Quote(p.Endpoint))
	}
	p.Lookup = strings.Join(append(args, Quote(p.Location)), " ")

	if p.Remote {
		cp := "aws s3 cp --recursive " + Quote(strings.TrimSuffix(p.Location, "/")+"/") + " audit-copy"
		if p.Endpoint != "" {
			cp += " --endpoint-url " + Quote(p.Endpoint)
		}
		p.Prelude = append(p.Prelude, cp, "cd audit-copy")
	} else {
		p.Prelude = append(p.Prelude, "cd "+Quote(p.Location))
	}
	p.SignersFile, p.Principal = "ALLOWED-SIGNERS-FILE", "PRINCIPAL"
	switch p.TrustFlag {
	case "--allowed-signers":
		p.SignersFile = Quote(p.TrustFile)
	case "--pub":
		p.SignersFile, p.Principal = `"$HOME/scrub-audit.allowed_signers"`, "auditor"
		p.Prelude = append([]string{`echo "auditor namespaces=\"scrub-audit\" $(cut -d' ' -f1,2 ` + Quote(p.TrustFile) + `)" > "$HOME/scrub-audit.allowed_signers"`}, p.Prelude...)
	}
	for _, b := range p.Batches {
		if b.Head == "" {
			continue // no SHA256SUMS to check
		}
		sums := Quote(b.Name + "-SHA256SUMS")
		if !b.Unsigned {
			pr := p.Principal
			if b.Principal != "" && p.TrustFlag == "--allowed-signers" {
				pr = Quote(b.Principal)
			}
			b.Checks = append(b.Checks, fmt.Sprintf("ssh-keygen -Y verify -f %s -I %s -n %s -s %s < %s",
				p.SignersFile, pr, audit.Namespace, Quote(b.Name+"-SHA256SUMS.sig"), sums))
		}
		b.Checks = append(b.Checks, "sha256sum -c "+sums)
	}
}

// Quote quotes s for a POSIX shell, if it needs it.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// WriteHTML writes the page.
func (p *Page) WriteHTML(w io.Writer) error {
	return page.Execute(w, p)
}
