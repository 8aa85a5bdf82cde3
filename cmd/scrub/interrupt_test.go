package main_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestInterrupt: Ctrl-C during a batch, while the archives are listed or
// once some are done, says how far it got and what to do, not "context
// canceled"; the same command again finishes the work.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	const n = 300
	for _, tc := range []struct {
		name string
		// ready reports, from a line of stderr and the audit directory,
		// when to interrupt.
		ready func(line, audit string) bool
		want  string
	}{
		// Mostly while listing; on a slow machine the listing may be
		// over before the signal lands.
		{"early", func(line, _ string) bool { return strings.Contains(line, "IDs to erase") }, "interrupted "},
		{"midway", func(_, audit string) bool {
			js, _ := filepath.Glob(filepath.Join(audit, "*.journal"))
			for _, j := range js {
				if b, _ := os.ReadFile(j); bytes.Contains(b, []byte(`"type":"archive"`)) {
					return true
				}
			}
			return false
		}, fmt.Sprintf(" of %d archives", n)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			for i := range n {
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				fmt.Fprintf(zw, "Timestamp,Client ID\n2017-11-24T00:00:00Z,%s\n2017-11-24T00:00:01Z,KEEP%d\n", scrubtest.Victims[i%len(scrubtest.Victims)], i)
				zw.Close()
				dir := filepath.Join(data, fmt.Sprintf("d%02d", i/100))
				os.MkdirAll(dir, 0o755)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("e%04d.csv.gz", i)), b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			a := scrubtest.NewAudit(t)
			args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", data})
			cmd := exec.Command(bin, args...)
			pipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			var once sync.Once
			interrupt := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGINT) }) }
			done := make(chan struct{})
			go func() { // watches the audit directory
				for {
					select {
					case <-done:
						return
					case <-time.After(2 * time.Millisecond):
					}
					if tc.ready("", a.Dir) {
						interrupt()
						return
					}
				}
			}()
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				stderr.WriteString(sc.Text() + "\n")
				if tc.ready(sc.Text(), "") {
					interrupt()
				}
			}
			err = cmd.Wait()
			close(done)
			last := lastLine(stderr.String())
			if cmd.ProcessState.ExitCode() != 1 || !strings.HasPrefix(last, "scrub: interrupted ") || !strings.Contains(last, tc.want) ||
				!strings.Contains(last, "run the same command") || strings.Contains(stderr.String(), "context canceled") {
				t.Fatalf("interrupted: %v, last line %q, want it to say %q\n%s", err, last, tc.want, tail(stderr.String()))
			}
			t.Log(last)
			// Every archive the batch did not reach is named, skipped.
			var finished, total int
			if _, err := fmt.Sscanf(strings.TrimPrefix(last, "scrub: interrupted after "), "%d of %d archives", &finished, &total); err == nil {
				if named := strings.Count(stderr.String(), "\nSKIPPED "); named != total-finished {
					t.Errorf("%d archives named SKIPPED, want %d (%d of %d done)", named, total-finished, finished, total)
				}
			}
			r := scrubCmd(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("the same command again: exit %d\n%s", r.code, tail(r.stderr))
			}
			scrubtest.CheckNoIDs(t, data)
		})
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}
