// Command withminio runs a command against a throw-away MinIO server.
// It is a development tool for the integration tests and demos, not part
// of scrub.
//
//	go run ./cmd/withminio [flags] -- COMMAND [ARGS...]
//
// It starts bin/minio on a free loopback port with a fresh 4-drive data
// directory (erasure-coded, as the object-lock tests were written for;
// -drives 1 runs the single-drive server most people run locally) and a
// built-in KMS key, waits until MinIO answers a real S3 call, optionally
// uploads local directories (-load), then runs COMMAND with
//
//	AWS_ENDPOINT_URL, SCRUB_TEST_S3_ENDPOINT   http://127.0.0.1:PORT
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the test credentials
//	AWS_REGION                                 us-east-1
//	SCRUB_TEST_KMS_KEY                         scrub-test-key
//
// added to its environment. withminio exits with COMMAND's exit status.
// MinIO is always stopped and its data removed afterwards, also when
// withminio gets SIGINT or SIGTERM (which it passes on to COMMAND).
// Its own failures exit with 125, like env(1); 126/127 mean COMMAND
// could not be run.
//
// MinIO's output goes to a log file in the temp dir. Its tail is shown
// when the server fails; -v copies it to stderr as it is written.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/cmd/internal/harness"
)

// Fixed test credentials and KMS key. Nothing here is secret: the
// server only ever listens on 127.0.0.1 and holds test data.
const (
	accessKey = "scrubtest"
	secretKey = "scrubtest-secret"
	region    = "us-east-1"
	kmsKeyID  = "scrub-test-key"
	kmsKey    = "scrub-test-kms-key-32-bytes-long" // MinIO wants exactly 32 bytes
	stopGrace = 10 * time.Second
)

// loadFlag collects the repeatable -load DIR=BUCKET/PREFIX flag.
type loadFlag []load

type load struct{ dir, bucket, prefix string }

func (l *loadFlag) String() string { return fmt.Sprint(*l) }

func (l *loadFlag) Set(s string) error {
	dir, dst, ok := strings.Cut(s, "=")
	bucket, prefix, _ := strings.Cut(dst, "/")
	if !ok || dir == "" || bucket == "" {
		return errors.New("want DIR=BUCKET or DIR=BUCKET/PREFIX")
	}
	*l = append(*l, load{dir, bucket, strings.Trim(prefix, "/")})
	return nil
}

func main() {
	var loads loadFlag
	bin := flag.String("bin", "bin/minio", "MinIO server `binary` (make bin/minio builds it)")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for MinIO to start")
	verbose := flag.Bool("v", false, "copy MinIO's log to stderr")
	versioned := flag.Bool("versioned", false, "enable versioning on the buckets that -load creates")
	drives := flag.Int("drives", 4, "data `directories`: 4 (erasure-coded) or 1 (a single drive)")
	flag.Var(&loads, "load", "before COMMAND, upload every file below `DIR=BUCKET/PREFIX` (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: withminio [flags] -- COMMAND [ARGS...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *drives != 1 && *drives != 4 {
		fmt.Fprintln(os.Stderr, "withminio: -drives is 1 or 4")
		os.Exit(2)
	}
	os.Exit(run(*bin, *drives, *timeout, *verbose, *versioned, loads, flag.Args()))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "withminio: "+format+"\n", args...)
}

func run(bin string, drives int, timeout time.Duration, verbose, versioned bool, loads []load, command []string) int {
	// Catch signals first, so that an interrupt at any point still cleans up.
	ctx, cancel, sigs := harness.Catch()
	defer cancel()

	start := time.Now()
	srv, err := startMinIO(bin, drives, verbose)
	if err != nil {
		logf("%v", err)
		return harness.ExitHarness
	}
	defer srv.stop()

	cli := newClient(srv.url)
	if err := srv.waitReady(ctx, cli, timeout); err != nil {
		logf("%v", err)
		if ctx.Err() == nil {
			srv.showLog()
		}
		return sigs.ExitCode(harness.ExitHarness)
	}
	logf("MinIO ready at %s after %.1fs", srv.url, time.Since(start).Seconds())
	for _, l := range loads {
		if err := upload(ctx, cli, l, versioned); err != nil {
			logf("-load %s: %v", l.dir, err)
			return sigs.ExitCode(harness.ExitHarness)
		}
	}
	return runCommand(command, srv, sigs)
}

// drivePattern names the drives of the server: MinIO's ellipsis for
// several.
func drivePattern(drives int) string {
	if drives == 1 {
		return "d1"
	}
	return fmt.Sprintf("d{1...%d}", drives)
}

// server is a running MinIO process.
type server struct {
	*harness.Process
	tmp string // removed by stop
	url string // S3 endpoint
}

func startMinIO(bin string, drives int, verbose bool) (*server, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("no MinIO server binary: %v (make bin/minio builds it)", err)
	}
	ports, err := harness.FreePorts(2)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "withminio-")
	if err != nil {
		return nil, err
	}
	s := &server{
		Process: &harness.Process{Name: "MinIO", Log: filepath.Join(tmp, "minio.log"), Logf: logf},
		tmp:     tmp,
		url:     fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
	}
	data := filepath.Join(tmp, "data")
	for i := 1; i <= drives; i++ {
		if err := os.MkdirAll(filepath.Join(data, fmt.Sprintf("d%d", i)), 0o700); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	s.Cmd = exec.Command(bin, "server",
		"--address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--certs-dir", filepath.Join(tmp, "certs"), // not ~/.minio/certs
		filepath.Join(data, drivePattern(drives)))
	s.Cmd.Env = append(harness.WithoutVars(os.Environ(), "MINIO_"),
		"MINIO_CI_CD=1", // lets several drives on one disk start
		"MINIO_ROOT_USER="+accessKey,
		"MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_KMS_SECRET_KEY="+kmsKeyID+":"+base64.StdEncoding.EncodeToString([]byte(kmsKey)),
	)
	var echo io.Writer
	if verbose {
		echo = os.Stderr
	}
	if err := s.Start(echo); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return s, nil
}

// waitReady waits until ListBuckets succeeds: /minio/health/live answers
// before MinIO can serve requests.
func (s *server) waitReady(ctx context.Context, cli *s3.Client, timeout time.Duration) error {
	err := s.WaitReady(ctx, timeout, 2*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := cli.ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		return err
	})
	if err != nil && !errors.Is(err, harness.ErrInterrupted) {
		return fmt.Errorf("MinIO %v", err)
	}
	return err
}

// stop terminates MinIO (SIGTERM, SIGKILL after stopGrace) and removes
// its data.
func (s *server) stop() {
	s.Stop(stopGrace, false)
	if err := os.RemoveAll(s.tmp); err != nil {
		logf("%v", err)
	}
}

// showLog prints the end of MinIO's log to stderr.
func (s *server) showLog() {
	if err := s.ShowLog(40); err != nil {
		logf("%v", err)
	}
}

func newClient(url string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(url),
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// upload creates l.bucket and copies every regular file below l.dir to it.
func upload(ctx context.Context, cli *s3.Client, l load, versioned bool) error {
	_, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &l.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) { // two -load flags may share a bucket
		return err
	}
	if versioned {
		_, err := cli.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  &l.bucket,
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		})
		if err != nil {
			return err
		}
	}
	var files, size int64
	err = filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		key := path.Join(l.prefix, filepath.ToSlash(rel))
		_, err = cli.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &l.bucket, Key: &key, Body: f, ContentLength: aws.Int64(info.Size()),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		files++
		size += info.Size()
		return nil
	})
	if err != nil {
		return err
	}
	logf("loaded %d files (%d bytes) from %s to s3://%s/%s", files, size, l.dir, l.bucket, l.prefix)
	return nil
}

// runCommand runs command with the server's environment and returns
// its exit code.
func runCommand(command []string, s *server, sigs *harness.Interrupts) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(harness.WithoutVars(os.Environ(),
		// Set below, or would point the SDK elsewhere or break its config.
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"SCRUB_TEST_S3_ENDPOINT", "SCRUB_TEST_KMS_KEY"),
		"AWS_ENDPOINT_URL="+s.url,
		"AWS_ACCESS_KEY_ID="+accessKey,
		"AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_REGION="+region,
		"SCRUB_TEST_S3_ENDPOINT="+s.url,
		"SCRUB_TEST_KMS_KEY="+kmsKeyID,
	)
	return sigs.Run(cmd, logf, func(done <-chan struct{}) {
		select {
		case <-done:
		case <-s.Exited:
			logf("MinIO exited while the command was running: %v", s.Err)
			s.showLog()
			<-done
		}
	})
}
