package scrubtest

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ServerNames are the S3-compatible servers of the compatibility tier,
// the ones `make test` starts (cmd/withs3 -servers).
var ServerNames = []string{"minio", "seaweedfs", "versitygw", "moto", "s3rver"}

// Server is one running S3-compatible server of the compatibility tier.
type Server struct {
	Name                 string // one of ServerNames
	Endpoint             string // http://127.0.0.1:PORT, addressed path-style
	AccessKey, SecretKey string
	Region               string
	// Client is a client of the server built with the AWS SDK directly,
	// not through scrub's code: path-style addressing, the static
	// credentials above, checksums computed and validated only when the
	// operation requires them.
	Client *s3.Client
}

// Servers returns every server of the compatibility tier that cmd/withs3
// started (SCRUB_S3_SERVERS), in the order of ServerNames. Without any the
// test skips. Under CI=true it fails instead, and also when one of
// ServerNames is missing, unless withs3 reported it as one that may be
// skipped (SCRUB_S3_SKIPPED: moto without its python module); the reason
// is logged.
func Servers(t testing.TB) []Server {
	t.Helper()
	running := parseList(os.Getenv("SCRUB_S3_SERVERS"))
	skipped := parseList(os.Getenv("SCRUB_S3_SKIPPED"))
	var out []Server
	var absent []string
	for _, name := range ServerNames {
		if ep, ok := running[name]; ok {
			out = append(out, newServer(name, ep))
			continue
		}
		if why, ok := skipped[name]; ok {
			t.Logf("%s: %s; its tests are skipped", name, why)
			continue
		}
		absent = append(absent, name)
	}
	if len(absent) > 0 && os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and no %s: run the tests through `make test` (cmd/withs3 sets SCRUB_S3_SERVERS)", strings.Join(absent, ", "))
	}
	if len(out) == 0 {
		t.Skip("no S3 servers (SCRUB_S3_SERVERS unset); `make test` starts them")
	}
	return out
}

// LookupServer returns the server name of the compatibility tier, or
// skips the test when it is not running: under CI=true it fails instead,
// unless cmd/withs3 reported it as one that may be skipped.
func LookupServer(t testing.TB, name string) Server {
	t.Helper()
	if !slices.Contains(ServerNames, name) {
		t.Fatalf("no S3 server %q in the compatibility tier (%s)", name, strings.Join(ServerNames, ", "))
	}
	if ep, ok := parseList(os.Getenv("SCRUB_S3_SERVERS"))[name]; ok {
		return newServer(name, ep)
	}
	if why, ok := parseList(os.Getenv("SCRUB_S3_SKIPPED"))[name]; ok {
		t.Skipf("%s: %s", name, why)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and no %s: run the tests through `make test` (cmd/withs3 sets SCRUB_S3_SERVERS)", name)
	}
	t.Skipf("no %s (not in SCRUB_S3_SERVERS); `make test` starts it", name)
	return Server{}
}

// ServerEndpoint returns a function that returns the endpoint of the
// server name as LookupServer finds it: what storetest.S3Server wants.
func ServerEndpoint(name string) func(testing.TB) string {
	return func(t testing.TB) string {
		t.Helper()
		return LookupServer(t, name).Endpoint
	}
}

// ServerCredentials returns a function that returns the access key and
// secret of the server name as LookupServer finds it: what
// storetest.S3Server's Credentials wants.
func ServerCredentials(name string) func(testing.TB) (accessKey, secretKey string) {
	return func(t testing.TB) (string, string) {
		t.Helper()
		s := LookupServer(t, name)
		return s.AccessKey, s.SecretKey
	}
}

// newServer reads the server's credentials from the environment that
// cmd/withs3 set.
func newServer(name, endpoint string) Server {
	upper := strings.ToUpper(name)
	s := Server{
		Name:      name,
		Endpoint:  endpoint,
		AccessKey: os.Getenv("SCRUB_S3_" + upper + "_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("SCRUB_S3_" + upper + "_SECRET_ACCESS_KEY"),
		Region:    os.Getenv("SCRUB_S3_REGION"),
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	s.Client = s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     s.Region,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return s
}

// parseList parses NAME=VALUE,NAME=VALUE.
func parseList(s string) map[string]string {
	m := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if name, value, ok := strings.Cut(strings.TrimSpace(item), "="); ok && name != "" {
			m[name] = value
		}
	}
	return m
}
