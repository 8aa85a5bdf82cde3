package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Shell completion and the man page are made from the flag definitions
// themselves: each command is asked for its help, and its help function
// (printFlags) hands its flag set and texts to a helpCapture instead of
// printing them. So they cannot drift from what the commands accept.

// command is one command of scrub, for completion and the man page.
type command struct {
	name    string // "erase", "audit lookup"
	summary string
}

// commands lists scrub's commands in the order the usage gives them.
var commands = []command{
	{"erase", "remove the rows of listed client IDs from archives, and sign the record"},
	{"sweep", "erase the blocklist's IDs from archives written since the last sweep"},
	{"unblock", "take IDs off the blocklist"},
	{"export", "copy the rows of listed IDs into one zip per data subject"},
	{"keygen", "make a signing key and an ID key"},
	{"verify", "check the audit bundles of a location"},
	{"audit lookup", "answer, for listed IDs, which batches erased them"},
	{"audit report", "verify a location and write an auditor's report (one HTML file)"},
	{"map check", "check a data map against the archives it names"},
	{"queue add", "add an erasure request (its IDs as HMAC tags) to the request queue"},
	{"queue list", "list the queue's requests, overdue first; exit 5 when one is overdue"},
	{"queue run", "erase every pending request in one pass, and mark them done"},
	{"queue verify", "check the queue's signatures and chain, and the batches it names"},
	{"index build", "read archives in full and write their entries in the keyed index"},
	{"completion", "print a shell completion script (bash, zsh or fish)"},
	{"man", "print the man page, scrub(1), in roff"},
	{"version", "print the version"},
}

// group is a command of subcommands (audit, queue).
type group struct {
	name string
	subs []string
}

// groups returns the commands of subcommands, in the order of commands.
func groups() []group {
	var out []group
	for _, c := range commands {
		g, sub, ok := strings.Cut(c.name, " ")
		if !ok {
			continue
		}
		if len(out) == 0 || out[len(out)-1].name != g {
			out = append(out, group{name: g})
		}
		out[len(out)-1].subs = append(out[len(out)-1].subs, sub)
	}
	return out
}

// summary is a group's description: its subcommands.
func (g group) summary() string {
	return g.name + " subcommands (" + strings.Join(g.subs, ", ") + ")"
}

// helpCapture is given as standard error to a command run with --help:
// printFlags then keeps the help's parts here rather than print them.
type helpCapture struct {
	io.Writer
	fs                  *flag.FlagSet
	head, foot, example string
}

// commandHelp returns the flag set and help texts of the command cmd
// ("audit lookup"), or nil for a command without flags.
func commandHelp(cmd string) *helpCapture {
	c := &helpCapture{Writer: io.Discard}
	switch cmd {
	case "completion", "man", "version":
		return nil
	}
	args := append(strings.Fields(cmd), "--help")
	Run(context.Background(), args, Env{Stdout: io.Discard, Stderr: c})
	if c.fs == nil {
		return nil
	}
	return c
}

// runCompletion prints the completion script of a shell.
func runCompletion(args []string, env Env) error {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, "Usage: scrub completion bash|zsh|fish\n\n"+
			"Prints a completion script for the shell, made from the flags of every\n"+
			"command.\n\nExample:\n  source <(scrub completion bash)    # or into /etc/bash_completion.d/scrub\n"+
			"  scrub completion zsh > \"${fpath[1]}/_scrub\"\n  scrub completion fish > ~/.config/fish/completions/scrub.fish\n")
		if len(args) == 1 {
			return ErrHelp
		}
		return usagef("completion: which shell? bash, zsh or fish")
	}
	switch args[0] {
	case "bash":
		return writeBash(env.Stdout)
	case "zsh":
		return writeZsh(env.Stdout)
	case "fish":
		return writeFish(env.Stdout)
	}
	return usagef("completion: %q is not bash, zsh or fish", args[0])
}

// flagInfo is what completion needs of a flag.
type flagInfo struct {
	name, arg, usage string // arg: "" for a boolean flag
}

func flagsOf(c *helpCapture) []flagInfo {
	if c == nil {
		return nil
	}
	var fl []flagInfo
	c.fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		fl = append(fl, flagInfo{f.Name, arg, usage})
	})
	return fl
}

// takesPath reports whether a flag's argument is a file or directory name.
func (f flagInfo) takesPath() bool {
	switch {
	case f.arg == "FILE", f.arg == "DIR", f.arg == "LOC", f.arg == "LOCATION":
		return true
	case f.name == "out" || f.name == "spool": // keygen --out NAME, export --out DIR|s3://
		return f.arg != ""
	}
	return false
}

// short is the first clause of a flag's usage, for a one-line description.
func short(usage string) string {
	s, _, _ := strings.Cut(usage, ";")
	s, _, _ = strings.Cut(s, " (")
	if len(s) > 70 {
		s = s[:67] + "..."
	}
	return s
}

func writeBash(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# bash completion for scrub (scrub completion bash)\n_scrub() {\n")
	b.WriteString("    local cur prev cmd opts paths\n")
	b.WriteString("    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("    cmd=\"${COMP_WORDS[1]}\"\n")
	for _, g := range groups() {
		fmt.Fprintf(&b, "    if [ \"$cmd\" = %s ] && [ \"$COMP_CWORD\" -gt 2 ]; then cmd=\"%s ${COMP_WORDS[2]}\"; fi\n", g.name, g.name)
	}
	var top []string
	for _, c := range commands {
		first, _, _ := strings.Cut(c.name, " ")
		if !slices.Contains(top, first) {
			top = append(top, first)
		}
	}
	fmt.Fprintf(&b, "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n        return\n    fi\n", strings.Join(top, " "))
	b.WriteString("    case \"$cmd\" in\n")
	for _, g := range groups() {
		fmt.Fprintf(&b, "        %s|\"%s \") COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", g.name, g.name, strings.Join(g.subs, " "))
	}
	b.WriteString("        completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")); return ;;\n")
	for _, c := range commands {
		fl := flagsOf(commandHelp(c.name))
		if fl == nil {
			continue
		}
		var opts, paths, values []string
		for _, f := range fl {
			opts = append(opts, "--"+f.name)
			switch {
			case f.takesPath():
				paths = append(paths, "--"+f.name)
			case f.arg != "":
				values = append(values, "--"+f.name)
			}
		}
		fmt.Fprintf(&b, "        %q) opts=%q; paths=%q; values=%q ;;\n", c.name, strings.Join(opts, " "), strings.Join(paths, " "), strings.Join(values, " "))
	}
	b.WriteString("        *) return ;;\n    esac\n")
	b.WriteString("    case \" $paths \" in *\" $prev \"*) COMPREPLY=($(compgen -f -- \"$cur\")); return ;; esac\n")
	b.WriteString("    case \" $values \" in *\" $prev \"*) COMPREPLY=(); return ;; esac\n")
	b.WriteString("    if [[ \"$cur\" == -* ]]; then\n        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n    else\n        COMPREPLY=($(compgen -f -- \"$cur\"))\n    fi\n}\n")
	b.WriteString("complete -o filenames -o bashdefault -F _scrub scrub\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote escapes a description for an _arguments or _describe spec.
func zshQuote(s string) string {
	r := strings.NewReplacer("'", "'\\''", "[", "\\[", "]", "\\]", ":", "\\:")
	return r.Replace(s)
}

func writeZsh(w io.Writer) error {
	var b strings.Builder
	b.WriteString("#compdef scrub\n# zsh completion for scrub (scrub completion zsh)\n\n_scrub() {\n")
	b.WriteString("    local -a cmds\n    cmds=(\n")
	for _, c := range commands {
		if strings.Contains(c.name, " ") {
			continue
		}
		fmt.Fprintf(&b, "        '%s:%s'\n", c.name, zshQuote(c.summary))
	}
	for _, g := range groups() {
		fmt.Fprintf(&b, "        '%s:%s'\n", g.name, zshQuote(g.summary()))
	}
	b.WriteString("    )\n")
	b.WriteString("    if (( CURRENT == 2 )); then\n        _describe -t commands 'scrub command' cmds\n        return\n    fi\n")
	b.WriteString("    local cmd=$words[2]\n    case $cmd in\n")
	for _, g := range groups() {
		fmt.Fprintf(&b, "        %s)\n            if (( CURRENT == 3 )); then\n                _values '%s command' %s\n                return\n            fi\n"+
			"            cmd=\"%s $words[3]\"\n            shift 2 words; (( CURRENT -= 2 ))\n            ;;\n", g.name, g.name, strings.Join(g.subs, " "), g.name)
	}
	b.WriteString("        *) shift words; (( CURRENT-- )) ;;\n    esac\n")
	b.WriteString("    case $cmd in\n")
	b.WriteString("        completion) _values 'shell' bash zsh fish ;;\n")
	for _, c := range commands {
		fl := flagsOf(commandHelp(c.name))
		if fl == nil {
			continue
		}
		fmt.Fprintf(&b, "        %q)\n            _arguments -s \\\n", c.name)
		for _, f := range fl {
			desc := zshQuote(short(f.usage))
			switch {
			case f.arg == "":
				fmt.Fprintf(&b, "                '--%s[%s]' \\\n", f.name, desc)
			case f.takesPath():
				fmt.Fprintf(&b, "                '--%s=[%s]:%s:_files' \\\n", f.name, desc, f.arg)
			default:
				fmt.Fprintf(&b, "                '--%s=[%s]:%s: ' \\\n", f.name, desc, f.arg)
			}
		}
		b.WriteString("                '*:source:_files'\n            ;;\n")
	}
	b.WriteString("    esac\n}\n\n_scrub \"$@\"\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fishQuote quotes s for fish, in single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func writeFish(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# fish completion for scrub (scrub completion fish)\ncomplete -c scrub -f\n")
	for _, c := range commands {
		if !strings.Contains(c.name, " ") {
			fmt.Fprintf(&b, "complete -c scrub -n '__fish_use_subcommand' -a %s -d %s\n", c.name, fishQuote(c.summary))
		}
	}
	var groupNames []string
	for _, g := range groups() {
		groupNames = append(groupNames, g.name)
		fmt.Fprintf(&b, "complete -c scrub -n '__fish_use_subcommand' -a %s -d %s\n", g.name, fishQuote(g.summary()))
		for _, sub := range g.subs {
			fmt.Fprintf(&b, "complete -c scrub -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %s -d %s\n",
				g.name, strings.Join(g.subs, " "), sub,
				fishQuote(commands[slices.IndexFunc(commands, func(c command) bool { return c.name == g.name+" "+sub })].summary))
		}
	}
	b.WriteString("complete -c scrub -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	for _, c := range commands {
		fl := flagsOf(commandHelp(c.name))
		if fl == nil {
			continue
		}
		// A subcommand's flags after its group and its name; a command's
		// not after a group (queue verify is not verify).
		cond := "__fish_seen_subcommand_from " + c.name + "; and not __fish_seen_subcommand_from " + strings.Join(groupNames, " ")
		if g, sub, ok := strings.Cut(c.name, " "); ok {
			cond = "__fish_seen_subcommand_from " + g + "; and __fish_seen_subcommand_from " + sub
		}
		for _, f := range fl {
			fmt.Fprintf(&b, "complete -c scrub -n '%s' -l %s", cond, f.name)
			switch {
			case f.takesPath():
				b.WriteString(" -r -F")
			case f.arg != "":
				b.WriteString(" -r")
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(short(f.usage)))
		}
		fmt.Fprintf(&b, "complete -c scrub -n '%s' -F\n", cond)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// runMan prints the man page scrub(1) in roff.
func runMan(args []string, env Env) error {
	if len(args) > 0 {
		fmt.Fprint(env.Stdout, "Usage: scrub man\n\nPrints the man page scrub(1), made from every command's help, in roff.\n\nExample:\n  scrub man > scrub.1 && man ./scrub.1\n")
		if args[0] == "-h" || args[0] == "--help" {
			return ErrHelp
		}
		return usagef("man takes no arguments")
	}
	return writeMan(env.Stdout, env.Version, time.Now())
}

// roff escapes text for a roff line: backslashes, and a leading dot or
// quote that would start a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var out []string
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func writeMan(w io.Writer, version string, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH SCRUB 1 %q %q \"User Commands\"\n", now.UTC().Format("2006-01-02"), "scrub "+version)
	b.WriteString(".SH NAME\nscrub \\- erase the rows of listed client IDs from exported CSV archives, with a signed audit record\n")
	b.WriteString(".SH SYNOPSIS\n")
	_, synopsis, _ := strings.Cut(usage, "\nUsage:\n")
	synopsis, _, _ = strings.Cut(synopsis, "\n\n")
	for line := range strings.Lines(synopsis) {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "scrub ") {
			fmt.Fprintf(&b, ".B %s\n.br\n", roff(t))
		}
	}
	b.WriteString(".SH DESCRIPTION\n")
	desc, _, _ := strings.Cut(usage, "\nUsage:")
	fmt.Fprintf(&b, "%s\n", roff(strings.TrimSpace(desc)))
	if _, tail, ok := strings.Cut(usage, "SOURCE is a directory"); ok {
		fmt.Fprintf(&b, ".PP\n%s\n", roff("SOURCE is a directory"+strings.TrimRight(tail, "\n")))
	}
	b.WriteString(".SH COMMANDS\n")
	for _, c := range commands {
		h := commandHelp(c.name)
		fmt.Fprintf(&b, ".SS \"scrub %s\"\n%s.\n", c.name, roff(c.summary))
		if h == nil {
			continue
		}
		if head := strings.TrimSpace(h.head); head != "" {
			fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roff(head))
		}
		for _, f := range flagsOf(h) {
			if f.arg != "" {
				fmt.Fprintf(&b, ".TP\n.BI \\-\\-%s \" %s\"\n", roff(f.name), roff(f.arg))
			} else {
				fmt.Fprintf(&b, ".TP\n.B \\-\\-%s\n", roff(f.name))
			}
			usage := f.usage
			if def := h.fs.Lookup(f.name).DefValue; def != "" && def != "0" && def != "false" && def != "[]" {
				usage += " (default " + def + ")"
			}
			fmt.Fprintf(&b, "%s\n", roff(usage))
		}
		if foot := strings.TrimSpace(h.foot); foot != "" {
			fmt.Fprintf(&b, ".PP\n%s\n", roff(foot))
		}
		fmt.Fprintf(&b, ".PP\nExample:\n.PP\n.RS\n.nf\n%s\n.fi\n.RE\n", roff(h.example))
	}
	b.WriteString(".SH EXIT STATUS\n0 done; 1 failure; 2 usage error; 3 partial (some archives failed, the rest done); 4 verify and audit lookup without a trusted signer (consistency only); 5 queue list: a pending request is overdue.\n")
	b.WriteString(".SH SEE ALSO\n.BR ssh\\-keygen (1),\n.BR sha256sum (1).\nThe guides in docs/ of the source: operators' guide, auditors' guide, S3 and IAM, security model.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
