package cli_test

import (
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestAcceptUnconditionalRecorded: --accept-unconditional-writes is
// recorded in the options of the batch's audit log; without it the
// options are those of earlier releases, without the key.
func TestAcceptUnconditionalRecorded(t *testing.T) {
	t.Parallel()
	for _, accept := range []bool{false, true} {
		a := scrubtest.NewAudit(t)
		args := []string{"erase", "--ids", scrubtest.IDsFile, "--no-progress"}
		if accept {
			args = append(args, "--accept-unconditional-writes")
		}
		out := runPlain(t, nil, a.WithAudit(append(args, scrubtest.CopyExport(t)))...)
		if out.err != nil {
			t.Fatalf("erase: %v\n%s", out.err, out.stderr)
		}
		start := readBatchEvents(t, a.Dir)[0]
		v, ok := start.Options["accept_unconditional_writes"]
		if start.Type != "batch_start" || ok != accept || (accept && v != true) {
			t.Errorf("--accept-unconditional-writes %v: %s options %v", accept, start.Type, start.Options)
		}
	}
}
