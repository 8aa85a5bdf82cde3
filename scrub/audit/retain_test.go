package audit

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "7y", want: 7 * 365 * day},
		{in: "90d", want: 90 * day},
		{in: "12h", want: 12 * time.Hour},
		{in: "1y30d", want: 395 * day},
		{in: "", err: true},
		{in: "7", err: true},
		{in: "y", err: true},
		{in: "7w", err: true},
		{in: "0d", err: true},
		{in: "-1d", err: true},
		{in: "7 years", err: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePeriod(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParsePeriod(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// lockDir is a Location that says it locks objects, with a default.
type lockDir struct {
	Location
	enabled bool
	mode    string
	period  time.Duration
	err     error
}

func (d lockDir) ObjectLock(context.Context) (bool, string, time.Duration, error) {
	return d.enabled, d.mode, d.period, d.err
}
func (d lockDir) CreateRetained(context.Context, string, io.Reader, string, time.Time) error {
	return nil
}
func (d lockDir) Retention(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}
func (d lockDir) Deleted(context.Context) ([]string, error) { return nil, nil }
func (d lockDir) String() string                            { return "s3://bucket/audit/" }

func TestPlanRetention(t *testing.T) {
	const day = 24 * time.Hour
	plain := Location(nil)
	for _, tt := range []struct {
		name    string
		loc     Location
		req     RetentionRequest
		want    *Retention
		warning string
		err     string
	}{
		{name: "a directory", loc: plain},
		{name: "a directory, --audit-retain", loc: plain, req: RetentionRequest{Period: day}, err: "cannot lock objects"},
		{name: "no object lock", loc: lockDir{}},
		{name: "no object lock, --audit-retain", loc: lockDir{}, req: RetentionRequest{Period: day}, err: "has no object lock"},
		{name: "locked, no default", loc: lockDir{enabled: true},
			warning: "the audit bucket has object lock but no default retention and no --audit-retain: the bundles can be deleted"},
		{name: "locked, bucket default", loc: lockDir{enabled: true, mode: Compliance, period: 2 * day},
			want: &Retention{Mode: Compliance, Seconds: 2 * 86400}},
		{name: "locked, no default, --audit-retain", loc: lockDir{enabled: true}, req: RetentionRequest{Period: day},
			want: &Retention{Mode: Governance, Seconds: 86400}},
		{name: "flags over the default", loc: lockDir{enabled: true, mode: Governance, period: 2 * day}, req: RetentionRequest{Period: day, Mode: Compliance},
			want: &Retention{Mode: Compliance, Seconds: 86400}},
		{name: "configuration unreadable", loc: lockDir{err: errors.New("AccessDenied")}, warning: "written without retention"},
		{name: "configuration unreadable, --audit-retain", loc: lockDir{err: errors.New("AccessDenied")}, req: RetentionRequest{Period: day}, err: "AccessDenied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loc := tt.loc
			if loc == nil {
				loc = plainDir{}
			}
			got, warning, err := PlanRetention(context.Background(), loc, tt.req)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want %q", err, tt.err)
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want:
				t.Errorf("plan %+v, want %+v", got, tt.want)
			case tt.warning == "" && warning != "" || !strings.Contains(warning, tt.warning):
				t.Errorf("warning %q, want %q", warning, tt.warning)
			}
		})
	}
}

// plainDir is a Location that cannot lock objects.
type plainDir struct{ Location }

func (plainDir) String() string { return "dir" }
