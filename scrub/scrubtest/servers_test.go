package scrubtest_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
// that the S3-truth issue (15) depends on, logs them as a markdown table
// (go test -v -run TestServersProbe ./scrub/scrubtest), and checks them
// against the matrix of docs/s3-compatibility.md: a cell that is not what
// was measured on a server that ran fails the test, naming the cell.
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
	if t.Failed() {
		return // a probe that could not run measured nothing to compare
	}
	doc, err := readMatrix(matrixPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		for _, s := range names {
			got := rec.get(s, p.fact)
			if want, ok := doc.cell(p.fact, s); !ok {
				t.Errorf("%s: no cell (%s, %s); measured %q", matrixPath, p.fact, s, got)
			} else if want != got {
				t.Errorf("%s: cell (%s, %s) says %q, measured %q (%s)", matrixPath, p.fact, s, want, got, p.what)
			}
		}
	}
}

// TestServersMatrix checks, without any server, that the matrix of
// docs/s3-compatibility.md has a row for every fact TestServersProbe
// measures, a column for every server of the tier, a value in every cell,
// and no row that is not measured.
func TestServersMatrix(t *testing.T) {
	doc, err := readMatrix(matrixPath)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, p := range probes {
		known[p.fact] = true
		for _, s := range scrubtest.ServerNames {
			if v, ok := doc.cell(p.fact, s); !ok || v == "" {
				t.Errorf("%s: no value in cell (%s, %s)", matrixPath, p.fact, s)
			}
		}
	}
	for _, f := range doc.facts {
		if !known[f] {
			t.Errorf("%s: row %q is not a fact TestServersProbe measures", matrixPath, f)
		}
	}
}

// matrixPath is the compatibility matrix, from this package's directory.
var matrixPath = filepath.Join("..", "..", "docs", "s3-compatibility.md")

// matrix is the table of docs/s3-compatibility.md whose header starts
// with "fact": a row per fact (the first cell, backquotes trimmed), a
// column per server (the header cells that name one); other columns
// (what scrub does) are not read.
type matrix struct {
	facts []string
	cells map[[2]string]string // by fact, server
}

func (m *matrix) cell(fact, server string) (string, bool) {
	v, ok := m.cells[[2]string{fact, server}]
	return v, ok
}

func readMatrix(path string) (*matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &matrix{cells: map[[2]string]string{}}
	var columns []string // the server a column holds, or ""
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.Trim(strings.TrimSpace(cells[j]), "`")
		}
		switch {
		case !in && cells[0] == "fact":
			in = true
			for _, c := range cells {
				if slices.Contains(scrubtest.ServerNames, c) {
					columns = append(columns, c)
				} else {
					columns = append(columns, "")
				}
			}
		case !in:
		case strings.Trim(cells[0], "-: ") == "":
			// the delimiter row
		default:
			if len(cells) != len(columns) {
				return nil, fmt.Errorf("%s:%d: %d cells, the header has %d", path, i+1, len(cells), len(columns))
			}
			if slices.Contains(m.facts, cells[0]) {
				return nil, fmt.Errorf("%s:%d: a second row %q", path, i+1, cells[0])
			}
			m.facts = append(m.facts, cells[0])
			for j, s := range columns {
				if s != "" {
					m.cells[[2]string{cells[0], s}] = cells[j]
				}
			}
		}
	}
	if !in {
		return nil, fmt.Errorf("%s: no table whose header starts with | fact |", path)
	}
	return m, nil
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

func (r *record) get(server, fact string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[[2]string{server, fact}]
}

func (r *record) markdown(servers []string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "| fact | %s |\n|---|%s\n", strings.Join(servers, " | "), strings.Repeat("---|", len(servers)))
	for _, p := range probes {
		fmt.Fprintf(&b, "| `%s` |", p.fact)
		for _, s := range servers {
			fmt.Fprintf(&b, " %s |", r.values[[2]string{s, p.fact}])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// A probe measures one fact about a server and answers in a few words,
// the words of its cell in docs/s3-compatibility.md; the details go to
// the test's log. A failure that is the answer (a server without the
// feature) is a value, not a test failure.
type probe struct {
	fact string // the row's key in the matrix
	what string // what is measured
	run  func(t *testing.T, srv scrubtest.Server) string
}

var probes = []probe{
	{"versioning", "PutBucketVersioning Enabled, two PUTs: both listed, the older readable by id", probeVersioning},
	{"suspended-listing", "two versions, versioning suspended, a third PUT (the null version): the listing's order", probeSuspended},
	{"delete-marker", "DeleteObject on a versioned bucket", probeDeleteMarker},
	{"lock-bucket", "CreateBucket with object lock, then GetObjectLockConfiguration", probeLockBucket},
	{"lock-head", "HEAD of a non-current version under governance retention and legal hold", probeLockHead},
	{"lock-get", "GetObjectRetention / GetObjectLegalHold with the VersionId of that version", probeLockGet},
	{"put-if-match", "PutObject with If-Match on a wrong ETag over an object", probePutIfMatch},
	{"put-if-none-match", "PutObject with If-None-Match: * over an object", probePutIfNoneMatch},
	{"complete-if-match", "CompleteMultipartUpload with If-Match on a wrong ETag over an object", probeCompleteIfMatch},
	{"complete-if-none-match", "CompleteMultipartUpload with If-None-Match: * over an object", probeCompleteIfNoneMatch},
	{"multipart-etag", "ETag of a 2-part upload", probeMultipartETag},
	{"multipart-head-checksum", "HEAD with checksum mode after a 2-part upload sent without checksums", probeHeadChecksumMultipart},
	{"multipart-crc32c", "HEAD with checksum mode after a 2-part upload with CRC32C", probeMultipartCRC32C},
	{"multipart-sha256", "HEAD with checksum mode after a 2-part upload with SHA-256 (as scrub uploads)", probeMultipartSHA256},
	{"put-crc32c", "PutObject with CRC32C, then HEAD with checksum mode", probePutCRC32C},
}

// code is an S3 error's HTTP status, or its text when it has none.
func code(err error) string {
	if s := status(err); s != 0 {
		return strconv.Itoa(s)
	}
	return err.Error()
}

func probeVersioning(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "ver", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		t.Logf("PutBucketVersioning: %s", describe(err))
		return "no (" + code(err) + ")"
	}
	v1 := put(t, cli, bucket, "k", []byte("one"))
	put(t, cli, bucket, "k", []byte("two"))
	vs, _, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		t.Logf("ListObjectVersions: %s", describe(err))
		return "no (ListObjectVersions " + code(err) + ")"
	}
	if len(vs) != 2 {
		return fmt.Sprintf("no (%d versions listed)", len(vs))
	}
	if v1 == "" {
		return "no (no version id)"
	}
	got, err := tryGet(ctx, cli, bucket, "k", v1)
	if err != nil {
		t.Logf("GET of the old version: %s", describe(err))
		return "no (GET of a version " + code(err) + ")"
	}
	if string(got) != "one" {
		return "no (GET of a version: wrong data)"
	}
	return "yes"
}

func probeSuspended(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "susp", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		return "n/a"
	}
	older := []string{put(t, cli, bucket, "k", []byte("v1")), put(t, cli, bucket, "k", []byte("v2"))}
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusSuspended); err != nil {
		t.Logf("PutBucketVersioning Suspended: %s", describe(err))
		return "cannot suspend (" + code(err) + ")"
	}
	put(t, cli, bucket, "k", []byte("v3"))
	vs, _, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		t.Logf("ListObjectVersions: %s", describe(err))
		return "ListObjectVersions " + code(err)
	}
	// Name each listed version: null (v3), v1 or v2, * for the latest.
	var order []string
	nullLatest := false
	for _, v := range vs {
		id := aws.ToString(v.VersionId)
		name := "?"
		switch i := slices.Index(older, id); {
		case id == "null":
			name, nullLatest = "null", aws.ToBool(v.IsLatest)
		case i >= 0:
			name = fmt.Sprintf("v%d", i+1)
		}
		if aws.ToBool(v.IsLatest) {
			name += "*"
		}
		order = append(order, name)
	}
	t.Logf("suspended versioning lists %s", strings.Join(order, ", "))
	var unlisted, dropped int
	for _, id := range older {
		if !slices.ContainsFunc(vs, func(v types.ObjectVersion) bool { return aws.ToString(v.VersionId) == id }) {
			unlisted++
			if _, err := tryGet(ctx, cli, bucket, "k", id); err != nil {
				t.Logf("GET of unlisted version %s: %s", id, describe(err))
				dropped++
			}
		}
	}
	var v string
	switch strings.Join(order, ", ") {
	case "null*, v2, v1":
		v = "null first"
	case "v2, v1, null*":
		v = "null after older"
	case "null*":
		v = "null only"
	default:
		v = strings.Join(order, ", ")
	}
	switch {
	case dropped == len(older):
		v += ", older dropped"
	case unlisted > 0:
		v += fmt.Sprintf(", %d older unlisted (%d dropped)", unlisted, dropped)
	}
	if !nullLatest && !strings.Contains(v, "*") {
		v += ", null not latest"
	}
	return v
}

func probeDeleteMarker(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "dm", false)
	if err := trySetVersioning(ctx, cli, bucket, types.BucketVersioningStatusEnabled); err != nil {
		return "n/a"
	}
	put(t, cli, bucket, "k", []byte("v1"))
	out, err := cli.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		t.Logf("DeleteObject: %s", describe(err))
		return "DeleteObject " + code(err)
	}
	vs, markers, err := listVersions(ctx, cli, bucket, "k")
	if err != nil {
		t.Logf("ListObjectVersions: %s", describe(err))
		return "ListObjectVersions " + code(err)
	}
	latest := false
	for _, m := range markers {
		latest = latest || aws.ToBool(m.IsLatest)
	}
	if aws.ToBool(out.DeleteMarker) && len(vs) == 1 && len(markers) == 1 && latest {
		return "marker, latest"
	}
	return fmt.Sprintf("marker in response %v, %d version(s), %d marker(s), latest %v",
		aws.ToBool(out.DeleteMarker), len(vs), len(markers), latest)
}

func probeLockBucket(t *testing.T, srv scrubtest.Server) string {
	bucket, err := tryMakeBucket(t, srv, "lock", true)
	if err != nil {
		t.Logf("CreateBucket with object lock: %s", describe(err))
		return "no (CreateBucket " + code(err) + ")"
	}
	out, err := srv.Client.GetObjectLockConfiguration(t.Context(), &s3.GetObjectLockConfigurationInput{Bucket: &bucket})
	switch {
	case err != nil:
		t.Logf("GetObjectLockConfiguration: %s", describe(err))
		return "no (GetObjectLockConfiguration " + code(err) + ")"
	case out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		return "no (not enabled)"
	}
	return "yes"
}

// lockedOldVersion writes a version with a legal hold and a governance
// retention and a newer one on top, and returns the old version's id.
func lockedOldVersion(t *testing.T, srv scrubtest.Server) (bucket, version string, err error) {
	ctx, cli := t.Context(), srv.Client
	bucket, err = tryMakeBucket(t, srv, "lockv", true)
	if err != nil {
		return "", "", fmt.Errorf("n/a")
	}
	out, err := cli.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("old"),
		ObjectLockMode:            types.ObjectLockModeGovernance,
		ObjectLockRetainUntilDate: aws.Time(time.Now().Add(24 * time.Hour)),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn,
		ChecksumAlgorithm:         types.ChecksumAlgorithmCrc32, // AWS wants one with a lock
	})
	if err != nil {
		t.Logf("PUT with lock: %s", describe(err))
		return "", "", fmt.Errorf("PUT with lock %s", code(err))
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
		t.Logf("HEAD: %s", describe(err))
		return "HEAD " + code(err)
	}
	t.Logf("HEAD of the locked old version: mode %q, retain until %s, legal hold %q",
		out.ObjectLockMode, timeOrNone(out.ObjectLockRetainUntilDate), out.ObjectLockLegalHoldStatus)
	mode, until, hold := out.ObjectLockMode != "", out.ObjectLockRetainUntilDate != nil, out.ObjectLockLegalHoldStatus != ""
	switch {
	case out.ObjectLockMode == types.ObjectLockModeGovernance && until && out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn:
		return "lock headers"
	case !mode && !until && !hold:
		return "no lock headers"
	}
	return fmt.Sprintf("mode %q, until set %v, legal hold %q", out.ObjectLockMode, until, out.ObjectLockLegalHoldStatus)
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
		t.Logf("GetObjectRetention: %s", describe(err))
		parts = append(parts, code(err))
	case ret.Retention == nil:
		parts = append(parts, "none")
	case ret.Retention.Mode == types.ObjectLockRetentionModeGovernance:
		parts = append(parts, "yes")
	default:
		parts = append(parts, strings.ToLower(string(ret.Retention.Mode)))
	}
	hold, err := cli.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: &bucket, Key: aws.String("k"), VersionId: &version})
	switch {
	case err != nil:
		t.Logf("GetObjectLegalHold: %s", describe(err))
		parts = append(parts, code(err))
	case hold.LegalHold == nil:
		parts = append(parts, "none")
	case hold.LegalHold.Status == types.ObjectLockLegalHoldStatusOn:
		parts = append(parts, "yes")
	default:
		parts = append(parts, strings.ToLower(string(hold.LegalHold.Status)))
	}
	return strings.Join(parts, " / ")
}

// wrongETag is a well-formed ETag that no object here has.
const wrongETag = `"00000000000000000000000000000000"`

// conditional says how a conditional write ended, judged by what the key
// then holds: "412" (or another status) when it was refused and the
// object left alone, "ignored" when it overwrote the object.
func conditional(t *testing.T, cli *s3.Client, bucket string, err error, before []byte) string {
	if err != nil {
		t.Logf("conditional write: %s", describe(err))
	}
	got := get(t, cli, bucket, "k", "")
	switch {
	case err == nil && bytes.Equal(got, before):
		return "200, not written"
	case err == nil:
		return "ignored"
	case bytes.Equal(got, before):
		return code(err)
	}
	return code(err) + ", overwritten"
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
		t.Logf("multipart upload: %s", describe(err))
		return "upload failed (" + code(err) + ")"
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
		return "MD5 of part MD5s -N"
	case hex.EncodeToString(whole.Sum(nil)):
		return "MD5 of whole object"
	}
	t.Logf("multipart ETag %q", etag)
	return "other"
}

func probeHeadChecksumMultipart(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mphead", false)
	if _, err := multipart(ctx, cli, bucket, "k", twoParts(), "", &s3.CompleteMultipartUploadInput{}); err != nil {
		t.Logf("multipart upload: %s", describe(err))
		return "upload failed (" + code(err) + ")"
	}
	out, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Logf("HEAD: %s", describe(err))
		return "HEAD " + code(err)
	}
	t.Logf("HEAD: %s", checksums(out))
	var algos []string
	for _, c := range []struct{ name, v string }{
		{"CRC32", aws.ToString(out.ChecksumCRC32)}, {"CRC32C", aws.ToString(out.ChecksumCRC32C)},
		{"CRC64NVME", aws.ToString(out.ChecksumCRC64NVME)}, {"SHA1", aws.ToString(out.ChecksumSHA1)},
		{"SHA256", aws.ToString(out.ChecksumSHA256)},
	} {
		if c.v != "" {
			algos = append(algos, c.name)
		}
	}
	if len(algos) == 0 {
		return "none"
	}
	v := strings.Join(algos, ", ")
	if out.ChecksumType != "" {
		v += " (" + strings.ToLower(strings.ReplaceAll(string(out.ChecksumType), "_", " ")) + ")"
	}
	return v
}

func probeMultipartCRC32C(t *testing.T, srv scrubtest.Server) string {
	return probeMultipartChecksum(t, srv, types.ChecksumAlgorithmCrc32c)
}

func probeMultipartSHA256(t *testing.T, srv scrubtest.Server) string {
	return probeMultipartChecksum(t, srv, types.ChecksumAlgorithmSha256)
}

// sum is the checksum of data with algo (CRC32C or SHA256), raw.
func sum(algo types.ChecksumAlgorithm, data []byte) []byte {
	if algo == types.ChecksumAlgorithmCrc32c {
		return binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	}
	s := sha256.Sum256(data)
	return s[:]
}

// probeMultipartChecksum uploads two parts with checksums of algo, reads
// the object's checksum back with HEAD, and says which it is: the
// composite one (the checksum of the parts' checksums) with or without
// "-N", or the whole object's.
func probeMultipartChecksum(t *testing.T, srv scrubtest.Server, algo types.ChecksumAlgorithm) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "mpsum", false)
	parts := twoParts()
	out, err := multipart(ctx, cli, bucket, "k", parts, algo, &s3.CompleteMultipartUploadInput{})
	if err != nil {
		t.Logf("multipart upload: %s", describe(err))
		return "upload failed (" + code(err) + ")"
	}
	head, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Logf("HEAD: %s", describe(err))
		return "HEAD " + code(err)
	}
	t.Logf("%s: CompleteMultipartUpload answered %q; HEAD: %s", algo,
		aws.ToString(out.ChecksumCRC32C)+aws.ToString(out.ChecksumSHA256), checksums(head))
	var partSums []byte
	for _, p := range parts {
		partSums = append(partSums, sum(algo, p)...)
	}
	composite := base64.StdEncoding.EncodeToString(sum(algo, partSums))
	whole := base64.StdEncoding.EncodeToString(sum(algo, bytes.Join(parts, nil)))
	switch got := aws.ToString(head.ChecksumCRC32C) + aws.ToString(head.ChecksumSHA256); got {
	case "":
		return "none"
	case composite + "-2":
		return "composite -N"
	case composite:
		return "composite without -N"
	case whole:
		return "whole object"
	}
	return "neither composite nor whole"
}

func probePutCRC32C(t *testing.T, srv scrubtest.Server) string {
	ctx, cli := t.Context(), srv.Client
	bucket := makeBucket(t, srv, "putcrc", false)
	data := []byte("checksummed")
	out, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"),
		Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Logf("PUT: %s", describe(err))
		return "PUT " + code(err)
	}
	head, err := cli.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Logf("HEAD: %s", describe(err))
		return "HEAD " + code(err)
	}
	want := base64.StdEncoding.EncodeToString(sum(types.ChecksumAlgorithmCrc32c, data))
	sent, got := aws.ToString(out.ChecksumCRC32C), aws.ToString(head.ChecksumCRC32C)
	t.Logf("PUT answered %q, HEAD %q, the data's %q", sent, got, want)
	switch {
	case got == "":
		return "none"
	case got == want:
		return "yes"
	}
	return "wrong"
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
