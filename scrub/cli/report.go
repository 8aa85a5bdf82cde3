package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub/audit/report"
	"github.com/scrubtool/scrub/scrub/store"
)

const reportUse = "scrub audit report --out FILE [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] [--witness LOCATION] LOCATION"

// runAuditReport verifies an audit location as verify does and writes
// what it found as one HTML page (package report), whatever it found.
func runAuditReport(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub audit report", flag.ContinueOnError)
	out := fs.String("out", "", "write the report to `FILE` (- for standard output)")
	var vf verifyFlags
	vf.register(fs, ", as scrub verify does")
	help := printFlags("Usage: "+reportUse+"\n\n"+
		"Checks LOCATION exactly as scrub verify does, with the same flags, and writes\n"+
		"what it found to one self-contained HTML file for auditors (no script, no\n"+
		"network): first the verdict (valid, and under which trusted key; or in red,\n"+
		"the batches that are tampered with, missing or unsigned; or consistency only,\n"+
		"when no trusted key was given), then the chain of batches as a timeline, with\n"+
		"the rows each removed, the archives it erased, and the archives it held,\n"+
		"failed, skipped or did not scan, with why; then the commands that check it\n"+
		"again (scrub audit lookup, ssh-keygen -Y verify and sha256sum -c per batch).\n"+
		"The report is written whatever verify finds, a tampered location's included.\n"+
		"It names no client ID: the bundles hold HMAC tags only, and it shows none.\n"+
		"Standard output gets verify's text report.\n",
		"\nExit codes: as scrub verify: 0 all batches valid and signed by a trusted signer,\n"+
			"1 a batch is not valid or none was found, 2 usage error, 4 consistency only.\n",
		"scrub audit report --allowed-signers keys/signer.allowed_signers --out report.html scrub-audit")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	if err := vf.check(pos); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	v, err := vf.verify(ctx, pos[0], env)
	if err != nil {
		return err
	}
	rep, loc, trust, untrusted, heads := v.rep, v.loc, v.trust, v.untrusted, v.heads
	o := report.Options{Location: absLocal(pos[0]), Remote: isRemote(pos[0]), Endpoint: vf.endpoint, Trust: trust, Untrusted: untrusted,
		ExpectHeads: heads, Witness: vf.witness, Generated: time.Now(), Version: env.Version}
	switch {
	case vf.signers != "":
		o.TrustFlag, o.TrustFile = "--allowed-signers", absLocal(vf.signers)
	case vf.pubFile != "":
		o.TrustFlag, o.TrustFile = "--pub", absLocal(vf.pubFile)
	}
	page, err := report.New(ctx, loc, rep, o)
	if err != nil {
		return err
	}
	if *out == "-" {
		if err := page.WriteHTML(env.Stdout); err != nil {
			return err
		}
	} else {
		if err := writeReport(*out, page); err != nil {
			return err
		}
		printVerify(env.Stdout, rep)
		fmt.Fprintf(env.Stderr, "scrub: report written to %s\n", *out)
	}
	if err := verdict(rep, loc, untrusted); err != nil {
		return err
	}
	if page.Verdict.Class == report.Bad {
		// Every batch verified, but a log could not be read back.
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(page.Verdict.Lines, "; "))
	}
	return nil
}

// absLocal returns a local path made absolute (for the report's command
// lines), and a remote location as it is.
func absLocal(p string) string {
	if isRemote(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func isRemote(p string) bool {
	l, err := store.Parse(p)
	return err == nil && l.Remote()
}

// writeReport writes the page to name through a temporary file renamed
// into place, so that name is never half written.
func writeReport(name string, page *report.Page) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	err = page.WriteHTML(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("write report %s: %w", name, err)
	}
	return nil
}
