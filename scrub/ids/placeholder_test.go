package ids_test

import (
	"testing"

	"github.com/scrubtool/scrub/scrub/ids"
)

func TestPlaceholder(t *testing.T) {
	for id, want := range map[string]bool{
		"unknown": true, "UNKNOWN": true, " null ": true, "None": true, "nil": true, "undefined": true,
		"n/a": true, "N/A": true, "na": true, "-": true, "--": true, "?": true, "0": true, "00000000": true,
		"00000000-0000-0000-0000-000000000000": true, "empty": true, "anonymous": true,
		"9F3A41C07B22E8D1": false, "0A": false, "10": false, "unknown-1": false, "nullable": false,
		"a-b": false, "0x0": false,
	} {
		if got := ids.Placeholder(id); got != want {
			t.Errorf("Placeholder(%q) = %v, want %v", id, got, want)
		}
	}
}
