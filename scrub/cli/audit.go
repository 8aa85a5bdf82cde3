package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/blocklist"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/queue"
	"github.com/scrubtool/scrub/scrub/store"
)

// Environment variables that may hold the keys themselves (as CI secret
// stores hand them over) instead of --key and --id-key files.
const (
	envSigningKey = "SCRUB_SIGNING_KEY"
	envIDKey      = "SCRUB_ID_KEY"
)

// parseArgs parses flags that may come before, between or after the
// positional arguments, which it returns; everything after "--" is
// positional. help is printed for -h.
func parseArgs(fs *flag.FlagSet, args []string, w io.Writer, help func(io.Writer, *flag.FlagSet)) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are returned, and main prints them once
	var rest, pos []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help(w, fs)
				return nil, ErrHelp
			}
			return nil, usagef("%v (see %s --help)", err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, rest...), nil
}

// printFlags returns a command's help: head, the flags, foot, then an
// example command line.
func printFlags(head, foot, example string) func(io.Writer, *flag.FlagSet) {
	return func(w io.Writer, fs *flag.FlagSet) {
		if c, ok := w.(*helpCapture); ok { // completion and the man page
			c.fs, c.head, c.foot, c.example = fs, head, foot, example
			return
		}
		fmt.Fprint(w, head+"\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			arg, text := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s %s\n    \t%s", f.Name, arg, text)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
		fmt.Fprint(w, foot)
		fmt.Fprintf(w, "\nExample:\n  %s\n", example)
	}
}

// secret reads a key from a file, or from an environment variable that
// holds the key itself. It returns the data and a name for messages, or
// nil if neither is set.
func secret(warn io.Writer, file, env, flagName string) ([]byte, string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, "", usagef("%s: %v", flagName, err)
		}
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
			// As ssh warns of an unprotected private key; scrub goes on,
			// since the key may be a mounted secret it cannot change.
			fmt.Fprintf(warn, "scrub: warning: %s %s is readable by others (mode %04o): anyone who can read it can %s; make it 0600 or 0400 (chmod go-rwx; a Kubernetes secret: defaultMode: 0400)\n",
				flagName, file, fi.Mode().Perm(), map[string]string{"--key": "sign audit bundles as you", "--id-key": "tell which client IDs the audit logs name"}[flagName])
		}
		return data, file, nil
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), "$" + env, nil
	}
	return nil, "", nil
}

func loadSigningKey(warn io.Writer, file string) (ed25519.PrivateKey, error) {
	data, name, err := secret(warn, file, envSigningKey, "--key")
	if data == nil || err != nil {
		return nil, err
	}
	key, _, err := sshsig.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("signing key %s: %v", name, err)
	}
	return key, nil
}

func loadIDKey(warn io.Writer, file string) (*audit.IDKey, error) {
	data, name, err := secret(warn, file, envIDKey, "--id-key")
	if data == nil || err != nil {
		return nil, err
	}
	k, err := audit.ParseIDKey(data, name)
	if err != nil {
		return nil, &UsageError{err}
	}
	return k, nil
}

// loadKeys loads --key and --id-key. Unless optional (a dry run), both are
// required: what says who needs them ("an erasure") and idUse what the ID
// key names, for the messages.
func loadKeys(warn io.Writer, keyFile, idKeyFile string, optional bool, what, idUse string) (ed25519.PrivateKey, *audit.IDKey, error) {
	key, err := loadSigningKey(warn, keyFile)
	if err != nil {
		return nil, nil, err
	}
	idKey, err := loadIDKey(warn, idKeyFile)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case key == nil && !optional:
		return nil, nil, usagef("%s needs a key to sign its audit bundle: --key FILE or $%s (make one with scrub keygen --out NAME)", what, envSigningKey)
	case idKey == nil && !optional:
		return nil, nil, usagef("%s needs an ID key to name %s: --id-key FILE or $%s (make one with scrub keygen --id-key FILE)", what, idUse, envIDKey)
	}
	return key, idKey, nil
}

// runKeygen makes a signing key pair and/or an ID key.
func runKeygen(args []string, env Env) error {
	fs := flag.NewFlagSet("scrub keygen", flag.ContinueOnError)
	out := fs.String("out", "", "write the Ed25519 signing key to `NAME` (mode 0600), its public key to NAME.pub and an allowed_signers line to NAME.allowed_signers")
	principal := fs.String("principal", "scrub-audit", "signer `NAME` in the allowed_signers line (what auditors pass to ssh-keygen -Y verify -I)")
	idKey := fs.String("id-key", "", "write a random 32-byte ID key (hex) to `FILE` (mode 0600), for --id-key")
	help := printFlags("Usage: scrub keygen [--out NAME] [--id-key FILE] [--principal NAME]\n\n"+
		"Makes the keys scrub erase needs: a signing key for the audit bundles, whose\n"+
		"public half auditors trust, and a secret ID key that names client IDs in the\n"+
		"audit log by HMAC. Keep both private keys apart from the audit location.\n", "",
		"scrub keygen --out keys/signer --id-key keys/id.key --principal dpo@example.com")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q", pos[0])
	case *out == "" && *idKey == "":
		return usagef("nothing to make: give --out NAME and/or --id-key FILE")
	case strings.ContainsAny(*principal, " \t\",*?!"):
		return usagef("--principal must be one name without spaces, quotes or patterns")
	}
	for _, p := range []string{*out, *out + ".pub", *out + ".allowed_signers", *idKey} {
		if p == "" || p == ".pub" || p == ".allowed_signers" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return usagef("%s exists; keygen never overwrites a key", p)
		}
	}
	if *idKey != "" {
		if err := writeNew(*idKey, audit.NewIDKey(), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "scrub: ID key written to %s (keep it secret and apart from the audit log)\n", *idKey)
	}
	if *out == "" {
		return nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pem, err := sshsig.MarshalPrivateKey(priv, *principal)
	if err != nil {
		return err
	}
	// Trusted for the audit bundles, blocklist and queue changes alike.
	line := sshsig.AllowedSignersLine(*principal, audit.Namespace+","+blocklist.Namespace+","+queue.Namespace, pub)
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{*out, pem, 0o600},
		{*out + ".pub", sshsig.MarshalAuthorizedKey(pub, *principal), 0o644},
		{*out + ".allowed_signers", []byte(line), 0o644},
	} {
		if err := writeNew(f.name, f.data, f.mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "scrub: signing key %s written to %s, %s.pub and %s.allowed_signers\n", sshsig.Fingerprint(pub), *out, *out, *out)
	fmt.Fprint(env.Stdout, line)
	return nil
}

// writeNew creates a file that must not exist, with its content synced.
func writeNew(name string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// ErrInvalid is returned by verify when a batch is not valid (exit 1).
var ErrInvalid = errors.New("audit location is not valid")

// ErrConsistencyOnly is returned by verify and audit lookup when every
// batch is valid but no trusted signer was given (exit 4): the bundles are
// consistent, which anyone able to write the location can make them, with
// a key of their own.
var ErrConsistencyOnly = errors.New("consistency only")

func runVerify(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("scrub verify", flag.ContinueOnError)
	var vf verifyFlags
	vf.register(fs, "")
	fs.StringVar(&vf.index, "index", "", "the keyed index (a `DIR` or s3://bucket/prefix) the erasures ran with: each archive recorded absent-by-index must name an entry made for the archive identity its batch listed (no key needed)")
	asJSON := fs.Bool("json", false, "write the report as JSON to standard output")
	help := printFlags("Usage: scrub verify [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] [--witness LOCATION] LOCATION\n\n"+
		"Checks every audit bundle in LOCATION (a directory or s3://bucket/prefix): the\n"+
		"signature of each SHA256SUMS, the hashes of the log and manifest, every log\n"+
		"line's seq and prev link, and the links between batches (a batch a signed one\n"+
		"follows must be there, unchanged and signed). Any problem on any batch, an\n"+
		"unsigned dry run's included, makes the location not valid.\n\n"+
		"Without --allowed-signers or --pub it checks consistency only: each signature\n"+
		"against the key it carries, one key for all, and it names that key; anyone who\n"+
		"can write LOCATION can re-sign it all with a key of their own. A trust file\n"+
		"inside LOCATION is not trusted, for the same reason.\n\n"+
		"The loss of the newest batches is found with --expect-head, or with --witness:\n"+
		"every batch whose head the witness holds must be present, with that head. In an\n"+
		"S3 bucket with Object Lock, every file of every batch must be retained (as long\n"+
		"as its batch recorded), and a batch hidden by a delete marker is missing.\n\n"+
		"An archive recorded absent-by-index (not read: the keyed index ruled out\n"+
		"every listed ID) must name its index entry and the identity its batch\n"+
		"listed; with --index, the entry of that hash, if the index still holds it,\n"+
		"must have been made for that identity.\n",
		"\nExit codes: 0 all batches valid and signed by a trusted signer, 1 a batch is not\n"+
			"valid or none was found, 2 usage error, 4 all batches consistent but no trusted\n"+
			"signer given (consistency only).\n",
		"scrub verify --allowed-signers keys/signer.allowed_signers scrub-audit")
	pos, err := parseArgs(fs, args, env.Stderr, help)
	if err != nil {
		return err
	}
	if err := vf.check(pos); err != nil {
		return err
	}
	v, err := vf.verify(ctx, pos[0], env)
	if err != nil {
		return err
	}
	rep, loc, untrusted := v.rep, v.loc, v.untrusted
	if *asJSON {
		if err := writeVerifyJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		printVerify(env.Stdout, rep)
	}
	if rep.Valid != rep.Total && !rep.Pinned {
		fmt.Fprintf(env.Stderr, "scrub: warning: %s: signatures were checked against the keys they carry only\n", untrustedWhy(untrusted))
	}
	return verdict(rep, loc, untrusted)
}

// verifyFlags are the flags of verify that audit report shares: trust,
// expected heads, endpoint and witness.
type verifyFlags struct {
	signers, pubFile, endpoint, witness string
	heads                               list
	index                               string // verify --index
}

// register adds the flags to fs; as, if set, says whose flags they are
// ("as scrub verify does").
func (f *verifyFlags) register(fs *flag.FlagSet, as string) {
	fs.StringVar(&f.signers, "allowed-signers", "", "trust the signers of this ssh-keygen allowed_signers `FILE` (namespace scrub-audit)"+as)
	fs.StringVar(&f.pubFile, "pub", "", "trust the public key in `FILE` (NAME.pub from scrub keygen)"+as)
	fs.Var(&f.heads, "expect-head", "`SHA256` of the newest batch's SHA256SUMS, as scrub erase printed it; its batch must be present and valid (repeatable)")
	fs.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint `URL` for an s3:// location (default: AWS, or $AWS_ENDPOINT_URL)")
	fs.StringVar(&f.witness, "witness", "", "check the batches against the heads in this witness `LOCATION` (a DIR or s3://bucket/prefix, as given to scrub erase --witness): each batch named there must be present, with that head")
}

// check checks the positional arguments and the flags together.
func (f *verifyFlags) check(pos []string) error {
	switch {
	case len(pos) != 1:
		return usagef("give exactly one audit LOCATION")
	case f.signers != "" && f.pubFile != "":
		return usagef("give --allowed-signers or --pub, not both")
	}
	return nil
}

// verified is what verifying a location found.
type verified struct {
	rep       *audit.Report
	loc       audit.Location
	trust     *audit.Trust
	untrusted []string // trust files given inside the location
	heads     []string // parsed --expect-head
}

// verify checks location as scrub verify does, and prints its notes.
func (f *verifyFlags) verify(ctx context.Context, location string, env Env) (*verified, error) {
	trust, untrusted, err := loadTrust(location, f.signers, f.pubFile, env.Stderr, "checking consistency only")
	if err != nil {
		return nil, err
	}
	heads := slices.Clone([]string(f.heads))
	for i, h := range heads {
		if heads[i], err = audit.ParseHead(h); err != nil {
			return nil, usagef("--expect-head: %v", err)
		}
	}
	op := store.New(store.Options{Endpoint: f.endpoint})
	loc, err := openFiles(ctx, op, "audit location", location)
	if err != nil {
		return nil, err
	}
	var opts []audit.VerifyOption
	if f.witness != "" {
		w, err := openFiles(ctx, op, "witness", f.witness)
		if err != nil {
			return nil, err
		}
		opts = append(opts, audit.WithWitnessCheck(w))
	}
	rep, err := audit.Verify(ctx, loc, trust, heads, opts...)
	if err != nil {
		return nil, err
	}
	var ixFiles index.Files
	if f.index != "" {
		if ixFiles, err = openFiles(ctx, op, "index location", f.index); err != nil {
			return nil, err
		}
	}
	notes, err := checkAbsent(ctx, loc, rep, ixFiles)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	for _, n := range rep.Notes {
		fmt.Fprintf(env.Stderr, "scrub: note: %s\n", n)
	}
	return &verified{rep: rep, loc: loc, trust: trust, untrusted: untrusted, heads: heads}, nil
}

// untrustedWhy says why no signer was trusted: none given, or the trust
// files given (untrusted) are inside the audit location.
func untrustedWhy(untrusted []string) string {
	if len(untrusted) > 0 {
		return "no trusted signer (" + strings.Join(untrusted, ", ") + " is inside the audit location)"
	}
	return "no --allowed-signers or --pub"
}

// verdict is what verify's report of loc means, as the error verify and
// audit report return: nil (exit 0) when every batch is valid and signed
// by a trusted signer, ErrInvalid (or no batch found; exit 1), or
// ErrConsistencyOnly (exit 4).
func verdict(rep *audit.Report, loc audit.Location, untrusted []string) error {
	why := untrustedWhy(untrusted)
	switch {
	case rep.Total == 0:
		return fmt.Errorf("no audit batches found in %s", loc)
	case rep.Valid != rep.Total:
		return fmt.Errorf("%w: %d of %d batches invalid", ErrInvalid, rep.Total-rep.Valid, rep.Total)
	case !rep.OK():
		return fmt.Errorf("%w: a request split into shares is incomplete", ErrInvalid)
	case !rep.Pinned:
		return fmt.Errorf("%w: %s: the bundles are consistent and signed by %s, which shows they are intact since that key signed them, not who holds it; pass the operator's key with --allowed-signers or --pub",
			ErrConsistencyOnly, why, strings.Join(rep.Signers, ", "))
	}
	return nil
}

func printVerify(w io.Writer, rep *audit.Report) {
	for _, b := range rep.Batches {
		line := fmt.Sprintf("%s  %s", b.Batch, b.Status())
		switch {
		case b.Valid() && b.Manifest != nil:
			m := b.Manifest
			kind := "erase"
			if b.Start != nil && b.Start.Command != "" {
				kind = b.Start.Command
			}
			if b.Start != nil && b.Start.Shard != nil {
				kind += " shard " + b.Start.Shard.String()
			}
			if m.DryRun {
				kind += ", dry run"
			}
			line += fmt.Sprintf("  (%s, %s; %d archives, %d erased, %d rows removed; %s)", kind, m.Result, m.Totals.Archives, m.Totals.Erased, m.Totals.RowsRemoved, b.Signer)
		case b.Detail != "":
			line += "  (" + b.Detail + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "%d/%d batches valid\n", rep.Valid, rep.Total)
	for _, r := range rep.Split {
		ticket := ""
		if r.Ticket != "" {
			ticket = ", ticket " + r.Ticket
		}
		fmt.Fprintf(w, "request %s (%s in %d shares%s): %s\n", r.Request[:16], r.Command, r.Count, ticket, r.Status())
	}
	if rep.Head != "" {
		fmt.Fprintf(w, "head %s\n", rep.Head)
	}
	if !rep.Pinned {
		signers := "no valid signed batch"
		if len(rep.Signers) > 0 {
			signers = "signed by " + strings.Join(rep.Signers, ", ")
		}
		fmt.Fprintf(w, "consistency only: no trusted signer given; %s\n", signers)
	}
}

func writeVerifyJSON(w io.Writer, rep *audit.Report) error {
	type batch struct {
		Batch    string          `json:"batch"`
		Status   string          `json:"status"`
		Valid    bool            `json:"valid"`
		Detail   string          `json:"detail,omitempty"`
		Head     string          `json:"head,omitempty"`
		Signer   string          `json:"signer,omitempty"`
		Manifest *audit.Manifest `json:"manifest,omitempty"`
	}
	type split struct {
		*audit.SplitRequest
		Complete bool   `json:"complete"`
		Missing  []int  `json:"missing_shares"`
		Status   string `json:"status"`
	}
	out := struct {
		Batches []batch `json:"batches"`
		Valid   int     `json:"valid"`
		Total   int     `json:"total"`
		Head    string  `json:"head,omitempty"`
		Pinned  bool    `json:"signers_pinned"`
		// ConsistencyOnly: no trusted signer was given, so valid
		// means consistent, signed by Signers, not by whom.
		ConsistencyOnly bool     `json:"consistency_only"`
		Signers         []string `json:"signers"`
		Split           []split  `json:"split_requests,omitempty"`
		Notes           []string `json:"notes,omitempty"`
	}{Valid: rep.Valid, Total: rep.Total, Head: rep.Head, Pinned: rep.Pinned, ConsistencyOnly: !rep.Pinned, Signers: rep.Signers, Batches: []batch{}, Notes: rep.Notes}
	for _, r := range rep.Split {
		out.Split = append(out.Split, split{r, r.Complete(), r.Missing(), r.Status()})
	}
	for _, b := range rep.Batches {
		out.Batches = append(out.Batches, batch{b.Batch, b.Status(), b.Valid(), b.Detail, b.Head, b.Signer, b.Manifest})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// runAudit runs the audit subcommands.
func runAudit(ctx context.Context, args []string, env Env) error {
	const use = "scrub audit lookup --id-key FILE --ids FILE [--allowed-signers FILE | --pub FILE] [--expect-head SHA256] [--id-transform SPEC] LOCATION"
	switch {
	case len(args) > 0 && args[0] == "report":
		return runAuditReport(ctx, args[1:], env)
	case len(args) == 0 || args[0] != "lookup":
		return usagef("usage:\n  %s\n  %s", use, reportUse)
	}
	fs := flag.NewFlagSet("scrub audit lookup", flag.ContinueOnError)
	idKeyFile := fs.String("id-key", "", "the ID key `FILE` the batches were written with (or $"+envIDKey+")")
	idsFile := fs.String("ids", "", "`FILE` of client IDs to look up, one per line (- for standard input)")
	signers := fs.String("allowed-signers", "", "trust the signers of this ssh-keygen allowed_signers `FILE` (namespace scrub-audit), as scrub verify does")
	pubFile := fs.String("pub", "", "trust the public key in `FILE` (NAME.pub from scrub keygen), as scrub verify does")
	var heads list
	fs.Var(&heads, "expect-head", "`SHA256` of the newest batch's SHA256SUMS, as scrub erase printed it; as scrub verify (repeatable)")
	endpoint := fs.String("endpoint", "", "S3 endpoint `URL` for an s3:// location")
	spec := fs.String("id-transform", "", "look up the stored form of the listed IDs: the `SPEC` the erasure ran with (see scrub erase --help)")
	help := printFlags("Usage: "+use+"\n\n"+
		"Answers, for each listed client ID, which batches in LOCATION were asked to\n"+
		"erase it and which archives held its rows. Only the holder of the ID key can\n"+
		"ask: the log names IDs by HMAC-SHA256 under that key. IDs are read from a file\n"+
		"so that they do not end up in shell history; the answer names each ID by its\n"+
		"line in that file, never in clear.\n\n"+
		"It first checks LOCATION as scrub verify does, with the same trust flags, and\n"+
		"answers only if every batch is valid. Without --allowed-signers or --pub (or\n"+
		"with a trust file inside LOCATION) the answer rests on the bundles'\n"+
		"consistency only, not on who signed them. Each ID's first line says one of:\n"+
		"erased (by which batches, finished when); rows found, not erased; found in a\n"+
		"dry run only; listed, no rows found; not in any batch. Batches under another\n"+
		"ID key are named on standard error: they cannot answer for this key.\n",
		"\nExit codes: 0 answered, by batches signed by a trusted signer (also when no\n"+
			"batch mentions an ID), 1 cannot answer (no sealed batch in LOCATION, a batch\n"+
			"does not verify, or no batch names IDs under this ID key), 2 usage error,\n"+
			"4 answered on consistency only (no trusted signer given).\n",
		"scrub audit lookup --id-key keys/id.key --ids ids.txt --allowed-signers keys/signer.allowed_signers scrub-audit")
	pos, err := parseArgs(fs, args[1:], env.Stderr, help)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("give exactly one audit LOCATION")
	case *idsFile == "":
		return usagef("--ids FILE is required")
	case *signers != "" && *pubFile != "":
		return usagef("give --allowed-signers or --pub, not both")
	}
	transform, err := parseTransform(*spec)
	if err != nil {
		return err
	}
	trust, untrusted, err := loadTrust(pos[0], *signers, *pubFile, env.Stderr, "the answer rests on consistency only")
	if err != nil {
		return err
	}
	for i, h := range heads {
		if heads[i], err = audit.ParseHead(h); err != nil {
			return usagef("--expect-head: %v", err)
		}
	}
	key, err := loadIDKey(env.Stderr, *idKeyFile)
	if err != nil {
		return err
	}
	if key == nil {
		return usagef("--id-key FILE (or $%s) is required", envIDKey)
	}
	lines, err := readIDLines(*idsFile, env.Stdin)
	if err != nil {
		return err
	}
	loc, err := openFiles(ctx, store.New(store.Options{Endpoint: *endpoint}), "audit location", pos[0])
	if err != nil {
		return err
	}
	tags := make([]string, len(lines))
	for i, l := range lines {
		id := l.id
		if transform != nil {
			id = transform.Apply(id)
		}
		tags[i] = key.Tag([]byte(id))
	}
	ans, err := audit.Lookup(ctx, loc, trust, heads, key, tags)
	if err != nil {
		return err
	}
	for i, l := range lines {
		name := fmt.Sprintf("%s:%d", l.file, l.line)
		hs := ans.Hits[tags[i]]
		var batches []string
		switch outcome := audit.Outcome(hs); outcome {
		case audit.OutcomeNotMentioned:
			if len(ans.Other) > 0 {
				fmt.Fprintf(env.Stdout, "%s  %s: no batch under this ID key mentions this ID (%d batches are under another key)\n", name, outcome, len(ans.Other))
			} else {
				fmt.Fprintf(env.Stdout, "%s  %s: no batch mentions this ID\n", name, outcome)
			}
			continue
		case audit.OutcomeErased:
			for _, h := range hs {
				if !h.DryRun && slices.ContainsFunc(h.Archives, func(a audit.ArchiveHit) bool { return a.Status == audit.StatusErased }) {
					batches = append(batches, h.Batch+" (finished "+h.Finished+")")
				}
			}
			fmt.Fprintf(env.Stdout, "%s  %s: %s\n", name, outcome, strings.Join(batches, ", "))
		default:
			for _, h := range hs {
				batches = append(batches, h.Batch)
			}
			fmt.Fprintf(env.Stdout, "%s  %s: %s\n", name, outcome, strings.Join(batches, ", "))
		}
		for _, h := range hs {
			var kind []string
			if h.Command != "" && h.Command != "erase" {
				kind = append(kind, h.Command)
			}
			if h.DryRun {
				kind = append(kind, "dry run")
			}
			k := ""
			if len(kind) > 0 {
				k = " (" + strings.Join(kind, ", ") + ")"
			}
			req := "not on its list"
			if h.Requested {
				req = "listed"
			}
			fmt.Fprintf(env.Stdout, "%s  %s%s: %s; rows in %d archives\n", name, h.Batch, k, req, len(h.Archives))
			for _, a := range h.Archives {
				fmt.Fprintf(env.Stdout, "%s      %s  %s\n", strings.Repeat(" ", len(name)), a.Status, a.Key)
			}
		}
	}
	if len(ans.Other) > 0 {
		fmt.Fprintf(env.Stderr, "scrub: %d batches name IDs under another ID key (%s, not %s) and cannot answer: %s\n",
			len(ans.Other), strings.Join(ans.OtherKeys, ", "), key.ID(), strings.Join(ans.Other, ", "))
	}
	if len(ans.Unsigned) > 0 {
		fmt.Fprintf(env.Stderr, "scrub: %d unsigned dry runs are not part of the record and were not asked: %s\n", len(ans.Unsigned), strings.Join(ans.Unsigned, ", "))
	}
	if !ans.Pinned {
		why := "no --allowed-signers or --pub"
		if len(untrusted) > 0 {
			why = "no trusted signer (" + strings.Join(untrusted, ", ") + " is inside the audit location)"
		}
		return fmt.Errorf("%w: %s: the answer rests on the bundles' consistency only: they are signed by %s, which shows they are intact since that key signed them, not who holds it; pass the operator's key with --allowed-signers or --pub",
			ErrConsistencyOnly, why, strings.Join(ans.Signers, ", "))
	}
	return nil
}

type idLine struct {
	file string
	line int
	id   string
}

// readIDLines reads an ID list like --ids of erase, keeping each ID's line.
func readIDLines(name string, stdin io.Reader) ([]idLine, error) {
	r, label := stdin, "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usagef("--ids: %v", err)
		}
		defer f.Close()
		r, label = f, name
	}
	var out []idLine
	err := ids.ReadFunc(r, label, func(id string, line int) { out = append(out, idLine{label, line, id}) })
	if err != nil {
		return nil, &UsageError{err}
	}
	return out, nil
}

// loadTrust reads the --allowed-signers or --pub of verify and audit
// lookup: a trust file inside the audit location loc is the attacker's to
// change along with the bundles, so it is not trusted (with a warning that
// ends with then, what follows from that), and is named in untrusted.
func loadTrust(loc, signers, pubFile string, stderr io.Writer, then string) (trust *audit.Trust, untrusted []string, err error) {
	for _, f := range []struct {
		flag string
		file *string
	}{{"--allowed-signers", &signers}, {"--pub", &pubFile}} {
		if *f.file == "" {
			continue
		}
		l, lerr := store.Parse(loc)
		tf, terr := store.Parse(*f.file)
		if lerr != nil || terr != nil {
			continue // an invalid location is reported when opened
		}
		if in, err := l.Overlaps(tf); in || err != nil {
			fmt.Fprintf(stderr, "scrub: warning: %s %s is inside the audit location %s: whoever can change the bundles can change it too, so it is not trusted; %s\n", f.flag, *f.file, loc, then)
			untrusted = append(untrusted, f.flag+" "+*f.file)
			*f.file = ""
		}
	}
	trust = &audit.Trust{}
	if signers != "" {
		data, err := os.ReadFile(signers)
		if err != nil {
			return nil, nil, usagef("--allowed-signers: %v", err)
		}
		if trust.Signers, err = sshsig.ParseAllowedSigners(strings.NewReader(string(data))); err != nil {
			return nil, nil, usagef("--allowed-signers %s: %v", signers, err)
		}
		if len(trust.Signers) == 0 {
			return nil, nil, usagef("--allowed-signers %s: no ssh-ed25519 signer in it", signers)
		}
	}
	if pubFile != "" {
		data, err := os.ReadFile(pubFile)
		if err != nil {
			return nil, nil, usagef("--pub: %v", err)
		}
		pub, _, err := sshsig.ParseAuthorizedKey(data)
		if err != nil {
			return nil, nil, usagef("--pub %s: %v", pubFile, err)
		}
		trust.Keys = append(trust.Keys, pub)
	}
	return trust, untrusted, nil
}
