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
	{
		// `weed mini`; versioning, object lock and conditional writes as
		// AWS (suspended versioning lists the null version after older
		// ones, which the suite does not depend on).
		Name:        "seaweedfs",
		Endpoint:    scrubtest.ServerEndpoint("seaweedfs"),
		Credentials: scrubtest.ServerCredentials("seaweedfs"),
		Buckets:     []storetest.Bucket{storetest.Plain, storetest.VersionedBucket, storetest.LockedBucket},
	},
	{
		// versitygw's posix backend with a versioning directory.
		Name:        "versitygw",
		Endpoint:    scrubtest.ServerEndpoint("versitygw"),
		Credentials: scrubtest.ServerCredentials("versitygw"),
		Buckets:     []storetest.Bucket{storetest.Plain, storetest.VersionedBucket, storetest.LockedBucket},
		// (HEAD of a non-current locked version carries no lock headers,
		// but scrub asks GetObjectRetention/LegalHold per version, so
		// NoLockHeadersOnOldVersions no longer shows through the seam.)
		Bugs: map[storetest.Bucket]map[string]string{
			storetest.VersionedBucket: versityDeleted,
			storetest.LockedBucket:    versityDeleted,
		},
	},
	{
		// moto's server (python3 -m moto.server).
		Name:        "moto",
		Endpoint:    scrubtest.ServerEndpoint("moto"),
		Credentials: scrubtest.ServerCredentials("moto"),
		Buckets:     []storetest.Bucket{storetest.Plain, storetest.VersionedBucket, storetest.LockedBucket},
		Quirks: []storetest.Quirk{
			// CompleteMultipartUpload replaces an object whose ETag no
			// longer matches If-Match.
			storetest.IgnoresIfMatchMultipart,
		},
	},
	{
		// s3rver 3.7.1: no versioning (PutBucketVersioning answers 409),
		// no object lock (501), so plain buckets only.
		Name:        "s3rver",
		Endpoint:    scrubtest.ServerEndpoint("s3rver"),
		Credentials: scrubtest.ServerCredentials("s3rver"),
		Buckets:     []storetest.Bucket{storetest.Plain},
		Quirks: []storetest.Quirk{
			// PutObject with If-None-Match: * overwrites an existing object.
			storetest.IgnoresIfNoneMatch,
			// PutObject with If-Match replaces a changed or deleted object.
			storetest.IgnoresIfMatch,
			// CompleteMultipartUpload ignores If-Match as well.
			storetest.IgnoresIfMatchMultipart,
		},
	},
}

// versityDeleted: in a versioned bucket versitygw treats a key whose
// latest entry is a delete marker as if the object were there: If-Match
// succeeds (scrub checks the key's latest entry just before it writes,
// so a Replace does not recreate an archive deleted meanwhile; the
// deleted_meanwhile checks pass), and If-None-Match: * fails, which no
// storetest.Quirk names yet.
var versityDeleted = map[string]string{
	"FilesCreate/name_of_a_removed_file": "versitygw: PutObject If-None-Match: * fails on a key whose latest entry is a delete marker, so a removed file's name cannot be created again; needs a quirk",
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
