package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/scrubtool/scrub/scrub/filter"
)

// age is a parsed --older-than: a span back from the start of the batch,
// or a fixed cutoff.
type age struct {
	span time.Duration
	at   time.Time // if not zero, the cutoff itself
}

// parseAge parses --older-than: a whole number of days (365d) or weeks
// (2w), a Go duration (12h, 90m, 1h30m), or a time as the time column
// holds it (2025-01-01, 2025-01-01T00:00:00+02:00), a fixed cutoff.
func parseAge(s string) (age, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (age, error) {
		return age{}, usagef("--older-than %q: %s (want a duration like 365d, 2w or 12h, or a date like 2025-01-01)", s, why)
	}
	if t, ok := filter.ParseTime([]byte(s)); ok {
		return age{at: t.UTC()}, nil
	}
	var d time.Duration
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); len(n) < len(s) && (unit == "d" || unit == "w") {
		k, err := strconv.ParseInt(n, 10, 64)
		if err != nil || k > 100*366 {
			return bad("not a whole number of days or weeks up to 100 years")
		}
		d = time.Duration(k) * 24 * time.Hour
		if unit == "w" {
			d *= 7
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return bad("not a duration or a date")
		}
	}
	if d <= 0 {
		return bad("not a positive duration")
	}
	return age{span: d}, nil
}

// cutoff resolves the age at now, to the second, in UTC.
func (a age) cutoff(now time.Time) time.Time {
	if !a.at.IsZero() {
		return a.at
	}
	return now.UTC().Truncate(time.Second).Add(-a.span)
}

// parseRetention checks --older-than and --time-column.
func (o *eraseOptions) parseRetention() error {
	switch {
	case o.olderThan == "" && o.timeColumn != filter.DefaultTimeColumn:
		return usagef("--time-column goes with --older-than")
	case o.olderThan == "":
		return nil
	case strings.TrimSpace(o.timeColumn) == "":
		return usagef("--time-column needs a name")
	}
	a, err := parseAge(o.olderThan)
	if err != nil {
		return err
	}
	o.age = &a
	return nil
}

// resolveCutoff fixes the batch's cutoff, once, as it starts. A fixed
// cutoff in the future is refused: it would purge rows not yet old.
func (o *eraseOptions) resolveCutoff(now time.Time) error {
	if o.age == nil {
		return nil
	}
	o.cutoff = o.age.cutoff(now)
	if o.cutoff.After(now) {
		return usagef("--older-than %s is in the future: every row would go", o.olderThan)
	}
	return nil
}

// printCutoff tells the user what goes by age.
func (o *eraseOptions) printCutoff(w io.Writer) {
	if o.age != nil {
		fmt.Fprintf(w, "scrub: rows whose %s is before %s go (--older-than %s)\n", o.timeColumn, o.cutoff.Format(time.RFC3339Nano), strings.TrimSpace(o.olderThan))
	}
}
