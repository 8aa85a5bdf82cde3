package store_test

import (
	"testing"

	"github.com/scrubtool/scrub/scrub/scrubtest"
	"github.com/scrubtool/scrub/scrub/store/storetest"
)

// s3Servers are the S3-compatible servers the stores are checked against,
// one entry each: where the server is, how to sign in, the kinds of bucket
// it offers and the quirks it is known to have (see storetest.Quirk). A
// listed quirk that no check shows fails the suite, so the list stays
// true. A server that cmd/withs3 starts is one more entry, e.g.
//
//	{
//		Name:     "moto",
//		Endpoint: scrubtest.ServerEndpoint("moto"),
//		Credentials: func(t testing.TB) (string, string) {
//			s := scrubtest.LookupServer(t, "moto")
//			return s.AccessKey, s.SecretKey
//		},
//		Buckets: []storetest.Bucket{storetest.Plain, storetest.VersionedBucket, storetest.LockedBucket},
//		Quirks:  []storetest.Quirk{storetest.IgnoresIfMatchMultipart},
//	},
var s3Servers = []storetest.S3Server{
	{
		// `make test` starts it (cmd/withminio), with credentials in
		// the environment.
		Name:     "minio",
		Endpoint: scrubtest.S3Endpoint,
		Buckets:  []storetest.Bucket{storetest.Plain, storetest.VersionedBucket, storetest.LockedBucket},
	},
}

// TestConformance runs the store suite over a local directory and every
// kind of bucket of every S3 server.
func TestConformance(t *testing.T) {
	suites := []*storetest.Suite{storetest.Local()}
	for _, srv := range s3Servers {
		suites = append(suites, srv.Suites()...)
	}
	for _, s := range suites {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			s.Run(t)
		})
	}
}
