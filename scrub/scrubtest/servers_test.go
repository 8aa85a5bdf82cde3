package scrubtest_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// versioning says which servers of the tier offer bucket versioning.
var versioning = map[string]bool{
	"minio": true, "seaweedfs": true, "versitygw": true, "moto": true, "s3rver": false,
}

// TestServersSmoke checks that every server of the compatibility tier
// takes a bucket, versioning where it offers it, and an object.
func TestServersSmoke(t *testing.T) {
	for _, srv := range scrubtest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			if got := scrubtest.ServerEndpoint(srv.Name)(t); got != srv.Endpoint {
				t.Errorf("ServerEndpoint(%q) = %q, Servers has %q", srv.Name, got, srv.Endpoint)
			}
			if ak, sk := scrubtest.ServerCredentials(srv.Name)(t); ak != srv.AccessKey || sk != srv.SecretKey || ak == "" {
				t.Errorf("ServerCredentials(%q) = %q, %q; Servers has %q, %q", srv.Name, ak, sk, srv.AccessKey, srv.SecretKey)
			}
			ctx, cli := t.Context(), srv.Client
			bucket := makeBucket(t, srv, "smoke", false)
			if versioning[srv.Name] {
				setVersioning(t, cli, bucket, types.BucketVersioningStatusEnabled)
				out, err := cli.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
				if err != nil {
					t.Fatalf("GetBucketVersioning: %v", err)
				}
				if out.Status != types.BucketVersioningStatusEnabled {
					t.Errorf("versioning status %q after enabling it", out.Status)
				}
			}
			want := []byte("Timestamp,Client ID\n2017-11-22 10:00:00,9F3A41C07B22E8D1\n")
			put(t, cli, bucket, "a/b.csv", want)
			if got := get(t, cli, bucket, "a/b.csv", ""); !bytes.Equal(got, want) {
				t.Errorf("GET returned %q, want %q", got, want)
			}
		})
	}
}

// TestServersProbe measures, for every server of the tier, the behaviours
// that the S3-truth issue (15) depends on, and logs them as a markdown
// table (go test -v -run TestServersProbe ./scrub/scrubtest). It asserts
// nothing about them yet: it is the record docs/s3-compatibility.md is
// drawn from.
func TestServersProbe(t *testing.T) {
	servers := scrubtest.Servers(t)
	rec := &record{values: map[[2]string]string{}}
	t.Run("servers", func(t *testing.T) {
		for _, srv := range servers {
			t.Run(srv.Name, func(t *testing.T) {
				t.Parallel()
				for _, p := range probes {
					v := p.run(t, srv)
					t.Logf("%s: %s", p.fact, v)
					rec.set(srv.Name, p.fact, v)
				}
			})
		}
	})
	var names []string
	for _, srv := range servers {
		names = append(names, srv.Name)
	}
	t.Log("measured behaviour:\n" + rec.markdown(names))
}

// record collects the probes' answers by server and fact.
type record struct {
	mu     sync.Mutex
	values map[[2]string]string
}

func (r *record) set(server, fact, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[[2]string{server, fact}] = value
}

func (r *record) markdown(servers []string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "| fact | %s |\n|---|%s\n", strings.Join(servers, " | "), strings.Repeat("---|", len(servers)))
	for _, p := range probes {
		fmt.Fprintf(&b, "| %s |", p.fact)
		for _, s := range servers {
			fmt.Fprintf(&b, " %s |", r.values[[2]string{s, p.fact}])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// A probe measures one fact about a server and describes it in a few
// words. A failure that is the answer (a server without the feature) is
// a value, not a test failure.
type probe struct {
	fact string
	run  func(t *testing.T, srv scrubtest.Server) string
}

var probes = []probe{
	{"versioning", probeVersioning},
	{"suspended versioning: listing order (newest first expected)", probeSuspended},
	{"delete on a versioned bucket", probeDeleteMarker},
	{"object lock bucket", probeLockBucket},
	{"HEAD of a non-current version: lock headers", probeLockHead},
	{"GetObjectRetention / GetObjectLegalHold with VersionId", probeLockGet},
	{"PutObject If-Match (wrong ETag)", probePutIfMatch},
	{"PutObject If-None-Match: *", probePutIfNoneMatch},
	{"CompleteMultipartUpload If-Match (wrong ETag)", probeCompleteIfMatch},
	{"CompleteMultipartUpload If-None-Match: *", probeCompleteIfNoneMatch},
	{"multipart ETag (2 parts)", probeMultipartETag},
	{"HEAD with ChecksumMode after multipart", probeHeadChecksumMultipart},
	{"multipart with CRC32C: checksum read back", probeMultipartCRC32C},
	{"multipart with SHA256 (as scrub): checksum read back", probeMultipartSHA256},
	{"PutObject with CRC32C: checksum read back", probePutCRC32C},
}

func probeVersioning(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "ver", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		return "no: PutBucketVersioning " + describe(err)
	}
	v1 := put(t, cli, bucket, "k", []byte("one"))
	put(t, cli, bucket, "k", []byte("two"))
	vs, _, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		return "no: ListObjectVersions " + describe(err)
	}
	if len(vs) != 2 {
		return fmt.Sprintf("no: %d versions listed after 2 PUTs", len(vs))
	}
	if v1 == "" {
		return "no: PUT returned no version id"
	}
	got, err := tryGet(ctx, cli, bucket, "k", v1)
	if err != nil {
		return "no: GET of the old version " + describe(err)
	}
	if string(got) != "one" {
		return fmt.Sprintf("no: GET of the old version returned %q", got)
	}
	return "yes"
}

func probeSuspended(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "susp", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		return "n/a (no versioning)"
	}
	older := []string{put(t, cli, bucket, "k", []byte("v1")), put(t, cli, bucket, "k", []byte("v2"))}
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusSuspended); err != nil {
		return "cannot suspend: " + describe(err)
	}
	put(t, cli, bucket, "k", []byte("v3"))
	vs, _, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		return "ListObjectVersions " + describe(err)
	}
	// Name each listed version by its content (v3 is the null version),
	// * the latest, then the older ones the listing lacks.
	var order []string
	for _, v := range vs {
		body, err := tryGet(ctx, cli, bucket, "k", aws.ToString(v.VersionId))
		name := string(body)
		if err != nil {
			name = "?"
		}
		if aws.ToString(v.VersionId) == "null" {
			name += "(null)"
		}
		if aws.ToBool(v.IsLatest) {
			name += "*"
		}
		order = append(order, name)
	}
	for i, id := range older {
		if !slices.ContainsFunc(vs, func(v types.ObjectVersion) bool { return aws.ToString(v.VersionId) == id }) {
			_, err := tryGet(ctx, cli, bucket, "k", id)
			order = append(order, fmt.Sprintf("v%d not listed (GET: %s)", i+1, orDescribe(err, "200")))
		}
	}
	return strings.Join(order, ", ")
}

func probeDeleteMarker(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "dm", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		return "n/a (no versioning)"
	}
	put(t, cli, bucket, "k", []byte("v1"))
	out, err := cli.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		return "DeleteObject " + describe(err)
	}
	vs, markers, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		return "ListObjectVersions " + describe(err)
	}
	latest := ""
	for _, m := range markers {
		if aws.ToBool(m.IsLatest) {
			latest = ", the marker latest"
		}
	}
	return fmt.Sprintf("marker in response %v; listed: %d version(s), %d marker(s)%s",
		aws.ToBool(out.DeleteMarker), len(vs), len(markers), latest)
}

func probeLockBucket(t *testing.T, srv scrubtest.Server) string {
	bucket, err := tryMakeBucket(t, srv, "lock", true)
	if err != nil {
		return "no: CreateBucket " + describe(err)
	}
	out, err := srv.Client.GetObjectLockConfiguration(t.Context(), &s3.GetObjectLockConfigurationInput{Bucket: &bucket})
	switch {
	case err != nil:
		return "no: created, but GetObjectLockConfiguration " + describe(err)
	case out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		return "no: created, but lock not enabled"
	}
	return "yes"
}

// lockedOldVersion writes a version with a legal hold and a governance
// retention and a newer one on top, and returns the old version's id.
func lockedOldVersion(t *testing.T, srv scrubtest.Server) (bucket, version string, err error) {
	ctx, cli := t.Context(), srv.Client
	bucket, err = tryMakeBucket(t, srv, "lockv", true)
	if err != nil {
		return "", "", fmt.Errorf("n/a (no object lock bucket)")
	}
	out, err := cli.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("old"),
		ObjectLockMode:            types.ObjectLockModeGovernance,
		ObjectLockRetainUntilDate: aws.Time(time.Now().Add(24 * time.Hour)),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn,
		ChecksumAlgorithm:         types.ChecksumAlgorithmCrc32, // AWS wants one with a lock
	})
	if err != nil {
		return "", "", fmt.Errorf("PUT with lock: %s", describe(err))
	}
	put(t, cli, bucket, "k", []byte("new"))
	return bucket, aws.ToString(out.VersionId), nil
}

func probeLockHead(t *testing.T, srv scrubtest.Server) string {
	bucket, version, err := lockedOldVersion(t, srv)
	if err != nil {
		return err.Error()
	}
	out, err := srv.Client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), VersionId: &version})
	if err != nil {
		return "HEAD " + describe(err)
	}
	return fmt.Sprintf("mode %q, retain until %s, legal hold %q",
		out.ObjectLockMode, timeOrNone(out.ObjectLockRetainUntilDate), out.ObjectLockLegalHoldStatus)
}

func probeLockGet(t *testing.T, srv scrubtest.Server) string {
	bucket, version, err := lockedOldVersion(t, srv)
	if err != nil {
		return err.Error()
	}
	ctx, cli := t.Context(), srv.Client
	var parts []string
	ret, err := cli.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &bucket, Key: aws.String("k"), VersionId: &version})
	switch {
	case err != nil:
		parts = append(parts, "retention "+describe(err))
	case ret.Retention == nil:
		parts = append(parts, "no retention")
	default:
		parts = append(parts, fmt.Sprintf("retention %q", ret.Retention.Mode))
	}
	hold, err := cli.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: &bucket, Key: aws.String("k"), VersionId: &version})
	switch {
	case err != nil:
		parts = append(parts, "legal hold "+describe(err))
	case hold.LegalHold == nil:
		parts = append(parts, "no legal hold")
	default:
		parts = append(parts, fmt.Sprintf("legal hold %q", hold.LegalHold.Status))
	}
	return strings.Join(parts, ", ")
}

// wrongETag is a well-formed ETag that no object here has.
const wrongETag = `"00000000000000000000000000000000"`

// conditional describes how a conditional write ended, and checks what
// the key then holds.
func conditional(t *testing.T, cli *s3.Client, bucket string, err error, before []byte) string {
	got := get(t, cli, bucket, "k", "")
	switch {
	case err == nil && bytes.Equal(got, before):
		return "ignored: 200, object unchanged"
	case err == nil:
		return "ignored: 200, object overwritten"
	case status(err) == http.StatusPreconditionFailed && bytes.Equal(got, before):
		return "honoured (412)"
	case bytes.Equal(got, before):
		return "refused with " + describe(err)
	}
	return describe(err) + ", object overwritten"
}

func probePutIfMatch(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "ifm", false)
	put(t, cli, bucket, "k", []byte("first"))
	_, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("second"), IfMatch: aws.String(wrongETag)})
	return conditional(t, cli, bucket, err, []byte("first"))
}

func probePutIfNoneMatch(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "ifnm", false)
	put(t, cli, bucket, "k", []byte("first"))
	_, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("second"), IfNoneMatch: aws.String("*")})
	return conditional(t, cli, bucket, err, []byte("first"))
}

// multipart uploads parts as one object at key and completes the upload
// with the conditions of complete (its Bucket, Key, UploadId and parts
// are filled in). With an algorithm (CRC32C or SHA256, "" for none) the
// upload and its parts carry checksums.
func multipart(ctx context.Context, cli *s3.Client, bucket, key string, parts [][]byte, algo types.ChecksumAlgorithm, complete *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error) {
	create := &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: algo}
	up, err := cli.CreateMultipartUpload(ctx, create)
	if err != nil {
		return nil, fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		in := &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
			ChecksumAlgorithm: algo}
		out, err := cli.UploadPart(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("UploadPart: %w", err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: in.PartNumber,
			ChecksumCRC32C: out.ChecksumCRC32C, ChecksumSHA256: out.ChecksumSHA256})
	}
	complete.Bucket, complete.Key, complete.UploadId = &bucket, &key, up.UploadId
	complete.MultipartUpload = &types.CompletedMultipartUpload{Parts: done}
	out, err := cli.CompleteMultipartUpload(ctx, complete)
	if err != nil {
		cli.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId})
	}
	return out, err
}

func probeCompleteIfMatch(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mpifm", false)
	put(t, cli, bucket, "k", []byte("first"))
	_, err := multipart(ctx, cli, bucket, "k", [][]byte{[]byte("second")}, "",
		&s3.CompleteMultipartUploadInput{IfMatch: aws.String(wrongETag)})
	return conditional(t, cli, bucket, err, []byte("first"))
}

func probeCompleteIfNoneMatch(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mpifnm", false)
	put(t, cli, bucket, "k", []byte("first"))
	_, err := multipart(ctx, cli, bucket, "k", [][]byte{[]byte("second")}, "",
		&s3.CompleteMultipartUploadInput{IfNoneMatch: aws.String("*")})
	return conditional(t, cli, bucket, err, []byte("first"))
}

// twoParts are the parts of the multipart probes: the smallest first
// part S3 allows and a short last one.
func twoParts() [][]byte {
	a := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	return [][]byte{a, []byte("the last part")}
}

func probeMultipartETag(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mpetag", false)
	parts := twoParts()
	out, err := multipart(ctx, cli, bucket, "k", parts, "", &s3.CompleteMultipartUploadInput{})
	if err != nil {
		return describe(err)
	}
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	var partSums []byte
	whole := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		partSums = append(partSums, s[:]...)
		whole.Write(p)
	}
	s := md5.Sum(partSums)
	switch etag {
	case hex.EncodeToString(s[:]) + "-2":
		return "MD5 of the parts' MD5s, -2 (as AWS)"
	case hex.EncodeToString(whole.Sum(nil)):
		return "MD5 of the whole object"
	}
	return fmt.Sprintf("other: %q", etag)
}

func probeHeadChecksumMultipart(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mphead", false)
	if _, err := multipart(ctx, cli, bucket, "k", twoParts(), "", &s3.CompleteMultipartUploadInput{}); err != nil {
		return describe(err)
	}
	out, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return "HEAD " + describe(err)
	}
	return "200, " + checksums(out)
}

func probeMultipartCRC32C(t *testing.T, srv scrubtest.Server) string {
	return probeMultipartChecksum(t, srv, types.ChecksumAlgorithmCrc32c)
}

func probeMultipartSHA256(t *testing.T, srv scrubtest.Server) string {
	return probeMultipartChecksum(t, srv, types.ChecksumAlgorithmSha256)
}

// probeMultipartChecksum uploads two parts with checksums of algo and
// reads the object's checksum back with HEAD.
func probeMultipartChecksum(t *testing.T, srv scrubtest.Server, algo types.ChecksumAlgorithm) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mpsum", false)
	out, err := multipart(ctx, cli, bucket, "k", twoParts(), algo, &s3.CompleteMultipartUploadInput{})
	if err != nil {
		return describe(err)
	}
	sum := aws.ToString(out.ChecksumCRC32C) + aws.ToString(out.ChecksumSHA256)
	head, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return fmt.Sprintf("complete: %q; HEAD %s", sum, describe(err))
	}
	return fmt.Sprintf("complete: %q; HEAD: %s", sum, checksums(head))
}

func probePutCRC32C(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "putcrc", false)
	out, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"),
		Body: strings.NewReader("checksummed"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		return "PUT " + describe(err)
	}
	head, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return "HEAD " + describe(err)
	}
	sent := aws.ToString(out.ChecksumCRC32C)
	switch got := aws.ToString(head.ChecksumCRC32C); {
	case got == "":
		return fmt.Sprintf("PUT answered %q; HEAD: none", sent)
	case got == sent:
		return "yes, the same in PUT and HEAD"
	default:
		return fmt.Sprintf("PUT answered %q, HEAD %q", sent, got)
	}
}

// checksums lists the checksums a HEAD returned.
func checksums(out *s3.HeadObjectOutput) string {
	var cs []string
	for _, c := range []struct{ name, v string }{
		{"CRC32", aws.ToString(out.ChecksumCRC32)}, {"CRC32C", aws.ToString(out.ChecksumCRC32C)},
		{"CRC64NVME", aws.ToString(out.ChecksumCRC64NVME)}, {"SHA1", aws.ToString(out.ChecksumSHA1)},
		{"SHA256", aws.ToString(out.ChecksumSHA256)},
	} {
		if c.v != "" {
			cs = append(cs, c.name+" "+c.v)
		}
	}
	if len(cs) == 0 {
		return "no checksum"
	}
	if out.ChecksumType != "" {
		cs = append(cs, "type "+string(out.ChecksumType))
	}
	return strings.Join(cs, ", ")
}

// describe names an S3 error by HTTP status and code.
func describe(err error) string {
	var api smithy.APIError
	code := "?"
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if s := status(err); s != 0 {
		return fmt.Sprintf("%d %s", s, code)
	}
	return err.Error()
}

// orDescribe is describe(err), or ok without an error.
func orDescribe(err error, ok string) string {
	if err == nil {
		return ok
	}
	return describe(err)
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func timeOrNone(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// makeBucket creates a bucket with a fresh name on srv.
func makeBucket(t *testing.T, srv scrubtest.Server, what string, lock bool) string {
	t.Helper()
	b, err := tryMakeBucket(t, srv, what, lock)
	if err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return b
}

func tryMakeBucket(t *testing.T, srv scrubtest.Server, what string, lock bool) (string, error) {
	var r [4]byte
	rand.Read(r[:])
	bucket := "scrub-" + what + "-" + hex.EncodeToString(r[:])
	in := &s3.CreateBucketInput{Bucket: &bucket}
	if lock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	_, err := srv.Client.CreateBucket(t.Context(), in)
	return bucket, err
}

func trySetVersioning(ctx context.Context, cli *s3.Client, bucket string, status types.BucketVersioningStatus) error {
	_, err := cli.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: status},
	})
	return err
}

func setVersioning(t *testing.T, cli *s3.Client, bucket string, status types.BucketVersioningStatus) {
	t.Helper()
	if err := trySetVersioning(t.Context(), cli, bucket, status); err != nil {
		t.Fatalf("PutBucketVersioning %s: %v", status, err)
	}
}

// put writes an object and returns its version id.
func put(t *testing.T, cli *s3.Client, bucket, key string, data []byte) string {
	t.Helper()
	out, err := cli.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

func tryGet(ctx context.Context, cli *s3.Client, bucket, key, version string) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if version != "" {
		in.VersionId = &version
	}
	out, err := cli.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func get(t *testing.T, cli *s3.Client, bucket, key, version string) []byte {
	t.Helper()
	b, err := tryGet(t.Context(), cli, bucket, key, version)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	return b
}

// listVersions lists the versions and delete markers of exactly key, in
// the server's order.
func listVersions(ctx context.Context, cli *s3.Client, bucket, key string) ([]types.ObjectVersion, []types.DeleteMarkerEntry, error) {
	var vs []types.ObjectVersion
	var ms []types.DeleteMarkerEntry
	p := s3.NewListObjectVersionsPaginator(cli, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key {
				vs = append(vs, v)
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				ms = append(ms, m)
			}
		}
	}
	return vs, ms, nil
}
