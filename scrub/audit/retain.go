package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Retainer is implemented by a Location that can lock its files against
// deletion and change for a time: an S3 bucket with Object Lock
// (s3store.Dir). The sealed files of a batch (log, manifest, SHA256SUMS,
// signature) are written with a retention; the journal, the lock objects
// and the chain tip, which are rewritten and removed, never are.
type Retainer interface {
	// ObjectLock reports whether the location locks objects, and its
	// default retention: mode ("" if none) and period (0 if none).
	ObjectLock(ctx context.Context) (enabled bool, mode string, period time.Duration, err error)
	// CreateRetained is Create, the new file locked in mode until until.
	CreateRetained(ctx context.Context, name string, r io.Reader, mode string, until time.Time) error
	// Retention returns a file's retention: mode "" if it has none.
	Retention(ctx context.Context, name string) (mode string, until time.Time, err error)
	// Deleted returns the names of the files whose newest version is a
	// deletion (a delete marker), their locked versions kept below it.
	Deleted(ctx context.Context) ([]string, error)
}

// retainedCreator is the part of a Retainer the writer uses.
type retainedCreator interface {
	CreateRetained(ctx context.Context, name string, r io.Reader, mode string, until time.Time) error
}

// Retention modes, as S3 Object Lock spells them.
const (
	Governance = "GOVERNANCE" // a user with s3:BypassGovernanceRetention can still delete
	Compliance = "COMPLIANCE" // nobody can delete before the date, the root account included
)

// Retention is how long a batch's files are locked against deletion, as its
// manifest records it: the mode, and the period from the batch's start
// (each file is retained at least until started + period).
type Retention struct {
	Mode    string `json:"mode"`
	Seconds int64  `json:"seconds"`
}

func (r *Retention) period() time.Duration { return time.Duration(r.Seconds) * time.Second }

// RetentionRequest is what the operator asked for: a period (--audit-retain;
// 0 for the bucket's default) and a mode ("" for the bucket's default, else
// GOVERNANCE).
type RetentionRequest struct {
	Period time.Duration
	Mode   string
}

// PlanRetention decides how the sealed files of batches in loc are retained:
// nil when loc cannot lock objects, or locks them but no period was given
// and the bucket has no default (warning then says that the bundles can be
// deleted). A period asked for where objects cannot be locked is an error:
// the operator believes the bundles are protected.
func PlanRetention(ctx context.Context, loc Location, req RetentionRequest) (plan *Retention, warning string, err error) {
	r, ok := unguard(loc).(Retainer)
	if !ok {
		if req.Period > 0 {
			return nil, "", fmt.Errorf("--audit-retain: the audit location %s cannot lock objects (only an S3 bucket with Object Lock can)", loc)
		}
		return nil, "", nil
	}
	enabled, mode, period, err := r.ObjectLock(ctx)
	switch {
	case err != nil && req.Period > 0:
		return nil, "", fmt.Errorf("--audit-retain: the object lock configuration of the audit location %s: %w", loc, err)
	case err != nil:
		return nil, fmt.Sprintf("cannot read the object lock configuration of the audit location %s (%v): the bundles are written without retention", loc, err), nil
	case !enabled && req.Period > 0:
		return nil, "", fmt.Errorf("--audit-retain: the bucket of the audit location %s has no object lock (it is enabled when the bucket is created)", loc)
	case !enabled:
		return nil, "", nil
	}
	if req.Period > 0 {
		period = req.Period
	}
	if req.Mode != "" {
		mode = req.Mode
	}
	if mode == "" {
		mode = Governance
	}
	if period <= 0 {
		return nil, "the audit bucket has object lock but no default retention and no --audit-retain: the bundles can be deleted", nil
	}
	return &Retention{Mode: mode, Seconds: int64(period / time.Second)}, "", nil
}

// ParseRetainMode checks a retention mode given by a user.
func ParseRetainMode(s string) (string, error) {
	switch m := strings.ToUpper(s); m {
	case Governance, Compliance:
		return m, nil
	}
	return "", fmt.Errorf("%q: want governance or compliance", s)
}

// ParsePeriod parses a retention period: a number and a unit, y (365
// days), d or h, such as 7y, 90d or 12h; or a sum of them (1y30d).
func ParsePeriod(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty period")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 {
			return 0, fmt.Errorf("%q: want a number and a unit (y, d or h), such as 7y, 90d or 12h", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		var unit time.Duration
		switch rest[i] {
		case 'y':
			unit = 365 * 24 * time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		default:
			return 0, fmt.Errorf("%q: want a number and a unit (y, d or h), such as 7y, 90d or 12h", s)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q: the period must be positive", s)
	}
	return total, nil
}

// unguard returns the location a lock guards.
func unguard(loc Location) Location {
	if g, ok := loc.(*guarded); ok {
		return g.Location
	}
	return loc
}

// sealedFile reports whether name is one of a batch's sealed files, and
// the batch.
func sealedFile(name string) (string, bool) {
	for _, suf := range []string{sigSuffix, sumsSuffix, manifestSuffix, logSuffix} {
		if b, ok := strings.CutSuffix(name, suf); ok && batchName.MatchString(b) {
			return b, true
		}
	}
	return "", false
}

// checkRetention checks, in a location that locks objects, that every
// sealed file of every batch is retained, until no earlier than its batch
// recorded, and not expired; and that no batch's file was deleted (a
// delete marker over its locked versions). Problems go into rep.
func checkRetention(ctx context.Context, loc Location, rep *Report, extra func(*BatchStatus), now time.Time) error {
	r, ok := unguard(loc).(Retainer)
	if !ok {
		return nil
	}
	enabled, _, _, err := r.ObjectLock(ctx)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("cannot read the object lock configuration of %s (%v): the retention of the bundles was not checked", loc, err))
		return nil
	}
	if !enabled {
		return nil
	}
	files, err := loc.List(ctx)
	if err != nil {
		return fmt.Errorf("audit location %s: %w", loc, err)
	}
	byBatch := map[string][]string{}
	for _, f := range files {
		if b, ok := sealedFile(f); ok {
			byBatch[b] = append(byBatch[b], f)
		}
	}
	present := map[string]*BatchStatus{}
	for _, st := range rep.Batches {
		present[st.Batch] = st
	}
	for _, st := range rep.Batches {
		fs := byBatch[st.Batch]
		if len(fs) == 0 {
			continue
		}
		m := st.Manifest
		if m == nil {
			m = st.claimed
		}
		var want time.Time
		if m != nil && m.Retention != nil {
			if t, err := time.Parse(timeFormat, m.Started); err == nil {
				want = t.Add(m.Retention.period())
			}
		}
		var bad []string
		for _, f := range fs {
			mode, until, err := r.Retention(ctx, f)
			if err != nil {
				return fmt.Errorf("audit location %s: retention of %s: %w", loc, f, err)
			}
			switch {
			case mode == "":
				bad = append(bad, f+" has no retention")
			case !until.After(now):
				bad = append(bad, f+" was retained until "+until.UTC().Format(timeFormat)+", which is past")
			case !want.IsZero() && until.Before(want):
				bad = append(bad, fmt.Sprintf("%s is retained until %s, before the %s its batch recorded", f, until.UTC().Format(timeFormat), want.UTC().Format(timeFormat)))
			}
		}
		if len(bad) > 0 && st.Problem == "" {
			st.Problem, st.Detail, st.Manifest = NotRetained, strings.Join(bad, "; ")+": it can be deleted", nil
		}
	}
	deleted, err := r.Deleted(ctx)
	if err != nil {
		return fmt.Errorf("audit location %s: %w", loc, err)
	}
	hidden := map[string][]string{}
	var order []string
	for _, f := range deleted {
		if b, ok := sealedFile(f); ok {
			if hidden[b] == nil {
				order = append(order, b)
			}
			hidden[b] = append(hidden[b], f)
		}
	}
	for _, b := range order {
		detail := "deleted: " + strings.Join(hidden[b], ", ") + " hidden by a delete marker (the locked versions are still in the bucket)"
		if st := present[b]; st != nil {
			if st.Problem == "" || st.Problem == Missing {
				st.Problem, st.Detail, st.Manifest = Missing, detail, nil
			}
			continue
		}
		extra(&BatchStatus{Batch: b, Problem: Missing, Detail: detail})
	}
	return nil
}
