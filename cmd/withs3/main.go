// Command withs3 runs a command against throw-away S3-compatible servers:
// MinIO, SeaweedFS, versitygw, moto and s3rver. Like cmd/withminio it is a
// development tool for the tests, not part of scrub.
//
//	go run ./cmd/withs3 [-bin DIR] [-servers minio,seaweedfs,...] -- COMMAND [ARGS...]
//
// Each server of -servers is started on free ports of 127.0.0.1, with its
// own temp directory for data, configuration and log, from the programs
// that make builds into -bin:
//
//	minio      DIR/minio server, 4 drives and a KMS key, as cmd/withminio runs it
//	seaweedfs  DIR/weed mini, every port given, an -s3.config identities file
//	versitygw  DIR/versitygw posix with a versioning directory
//	moto       python3 -m moto.server (the python module, not in DIR)
//	s3rver     node DIR/npm/node_modules/s3rver/bin/s3rver.js
//
// withs3 waits until every server has answered real S3 calls (ListBuckets,
// then CreateBucket, PutObject, DeleteObject and DeleteBucket), then runs
// COMMAND with these variables added to its environment:
//
//	SCRUB_S3_SERVERS                     NAME=URL,... of every running server, e.g.
//	                                     minio=http://127.0.0.1:41234,moto=http://127.0.0.1:40111
//	SCRUB_S3_SKIPPED                     NAME=REASON,... of the servers asked for that are
//	                                     not running and whose tests may skip: only moto,
//	                                     when python3 cannot import it
//	SCRUB_S3_<NAME>_ACCESS_KEY_ID        each running server's credentials, NAME in
//	SCRUB_S3_<NAME>_SECRET_ACCESS_KEY    upper case (SCRUB_S3_SEAWEEDFS_ACCESS_KEY_ID)
//	SCRUB_S3_REGION                      us-east-1, the signing region of every server
//
// Every server is addressed path-style (http://127.0.0.1:PORT/BUCKET/KEY).
// When minio is one of the servers, COMMAND also gets exactly the
// variables cmd/withminio sets, so the tests written for it run unchanged:
//
//	AWS_ENDPOINT_URL, SCRUB_TEST_S3_ENDPOINT   MinIO's URL
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   MinIO's credentials
//	AWS_REGION                                 us-east-1
//	SCRUB_TEST_KMS_KEY                         scrub-test-key
//
// Any of these already set in withs3's environment are removed first.
// scrubtest.Servers reads this contract.
//
// A server that does not start fails withs3 with the tail of its log,
// except moto without its python module, which is reported on one line
// ("moto: python module not installed; its tests are skipped") and listed
// in SCRUB_S3_SKIPPED. withs3 exits with COMMAND's exit status, or 125
// if a server died while COMMAND ran and COMMAND succeeded. Every server
// is stopped and its temp directory removed afterwards, also when withs3
// gets SIGINT or SIGTERM (which it passes on to COMMAND). Its own failures
// exit with 125, like env(1); 126/127 mean COMMAND could not be run.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scrubtool/scrub/cmd/internal/harness"
)

// Test credentials and keys. Nothing here is secret: the servers only
// ever listen on 127.0.0.1 and hold test data.
const (
	region    = "us-east-1"
	kmsKeyID  = "scrub-test-key"
	kmsKey    = "scrub-test-kms-key-32-bytes-long" // MinIO wants exactly 32 bytes
	stopGrace = 10 * time.Second
	logTail   = 40 // lines of a server's log shown when it fails
)

// kind is one S3 server program: how to start it and how to sign in.
type kind struct {
	name                 string
	accessKey, secretKey string
	// command returns the server's command line; s.dir is its temp
	// directory and ports are free loopback ports (want of them).
	command func(bin string, s *server, ports []int) (*exec.Cmd, error)
	want    int
	// missing, when set, reports why the server may be skipped: only for
	// a program that CI machines may lack and that cannot be installed
	// from here. nil means the server must run.
	missing func() error
}

var kinds = []kind{
	{name: "minio", accessKey: "scrubtest", secretKey: "scrubtest-secret", want: 2, command: minioCommand},
	{name: "seaweedfs", accessKey: "scrubtest", secretKey: "scrubtest-secret", want: 11, command: weedCommand},
	{name: "versitygw", accessKey: "scrubtest", secretKey: "scrubtest-secret", want: 1, command: versitygwCommand},
	// moto accepts any credentials.
	{name: "moto", accessKey: "scrubtest", secretKey: "scrubtest-secret", want: 1, command: motoCommand, missing: motoMissing},
	// s3rver knows only its built-in key pair.
	{name: "s3rver", accessKey: "S3RVER", secretKey: "S3RVER", want: 1, command: s3rverCommand},
}

func kindNames() []string {
	var names []string
	for _, k := range kinds {
		names = append(names, k.name)
	}
	return names
}

func lookupKind(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

type options struct {
	bin     string
	kinds   []kind
	timeout time.Duration
	verbose bool
	command []string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "`directory` of the server programs (make builds them there)")
	servers := flag.String("servers", "minio", "comma-separated `names` of the servers to run: "+strings.Join(kindNames(), ","))
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for each server to start")
	flag.BoolVar(&o.verbose, "v", false, "copy the servers' logs to stderr, each line prefixed with the server's name")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: withs3 [flags] -- COMMAND [ARGS...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for name := range strings.SplitSeq(*servers, ",") {
		name = strings.TrimSpace(name)
		k, ok := lookupKind(name)
		if !ok {
			fmt.Fprintf(os.Stderr, "withs3: -servers: unknown server %q (known: %s)\n", name, strings.Join(kindNames(), ", "))
			os.Exit(2)
		}
		if slices.ContainsFunc(o.kinds, func(x kind) bool { return x.name == name }) {
			fmt.Fprintf(os.Stderr, "withs3: -servers: %s twice\n", name)
			os.Exit(2)
		}
		o.kinds = append(o.kinds, k)
	}
	// The servers run in their temp directories: a relative -bin would
	// be looked up there.
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "withs3: -bin: %v\n", err)
		os.Exit(2)
	}
	o.bin = bin
	o.command = flag.Args()
	os.Exit(run(o))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "withs3: "+format+"\n", args...)
}

func run(o options) int {
	// Catch signals first, so that an interrupt at any point still cleans up.
	ctx, cancel, sigs := harness.Catch()
	defer cancel()

	var (
		running []*server
		skipped []string // NAME=REASON
	)
	defer func() { stopAll(running) }()
	for _, k := range o.kinds {
		if k.missing != nil {
			if err := k.missing(); err != nil {
				logf("%s: %v; its tests are skipped", k.name, err)
				skipped = append(skipped, k.name+"="+err.Error())
				continue
			}
		}
		s, err := start(k, o.bin, o.verbose)
		if err != nil {
			logf("%s: %v", k.name, err)
			return harness.ExitHarness
		}
		running = append(running, s)
	}

	// Wait for all of them at once: they start in parallel.
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, s := range running {
		wg.Go(func() { errs[i] = s.waitReady(ctx, o.timeout) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		logf("%v", harness.ErrInterrupted)
		return sigs.ExitCode(harness.ExitHarness)
	}
	failed := false
	for i, s := range running {
		if errs[i] != nil {
			logf("%s: %v", s.name, errs[i])
			s.showLog()
			failed = true
		}
	}
	if failed {
		return harness.ExitHarness
	}
	return runCommand(o.command, running, skipped, sigs)
}

// server is a running server process.
type server struct {
	kind
	*harness.Process
	dir   string // temp directory: data, configuration, log; removed by stop
	url   string // S3 endpoint
	ports []int
}

func start(k kind, bin string, verbose bool) (*server, error) {
	ports, err := harness.FreePorts(k.want)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "withs3-"+k.name+"-")
	if err != nil {
		return nil, err
	}
	s := &server{
		kind:    k,
		Process: &harness.Process{Name: k.name, Log: filepath.Join(dir, k.name+".log"), Logf: logf},
		dir:     dir,
		url:     fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ports:   ports,
	}
	s.Cmd, err = k.command(bin, s, ports)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if s.Cmd.Dir == "" {
		s.Cmd.Dir = dir // no server reads configuration from the caller's directory
	}
	var echo io.Writer
	if verbose {
		echo = &prefixWriter{w: os.Stderr, prefix: k.name + "| "}
	}
	if err := s.Start(echo); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// program returns the path of the server program name in bin, or an
// error that says how to get it.
func program(bin, name string) (string, error) {
	p := filepath.Join(bin, name)
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("no server program: %v (make %s builds it)", err, filepath.Join("bin", name))
	}
	return p, nil
}

// serverEnv is the environment of a server: withs3's, without the
// variables that would configure the server from outside (a name ending
// in "_" is a prefix), plus add.
func serverEnv(drop []string, add ...string) []string {
	drop = append(drop, "AWS_") // servers with S3 clients of their own read these
	return append(harness.WithoutVars(os.Environ(), drop...), add...)
}

func minioCommand(bin string, s *server, ports []int) (*exec.Cmd, error) {
	p, err := program(bin, "minio")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	for i := 1; i <= 4; i++ {
		if err := os.MkdirAll(filepath.Join(data, fmt.Sprintf("d%d", i)), 0o700); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(p, "server",
		"--address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--certs-dir", filepath.Join(s.dir, "certs"), // not ~/.minio/certs
		filepath.Join(data, "d{1...4}"))
	cmd.Env = serverEnv([]string{"MINIO_"},
		"MINIO_CI_CD=1", // lets several drives on one disk start
		"MINIO_ROOT_USER="+s.accessKey,
		"MINIO_ROOT_PASSWORD="+s.secretKey,
		"MINIO_KMS_SECRET_KEY="+kmsKeyID+":"+base64.StdEncoding.EncodeToString([]byte(kmsKey)),
	)
	return cmd, nil
}

// weedCommand runs SeaweedFS's all-in-one server. weed mini picks another
// port for any it finds taken unless the port was given, and derives gRPC
// ports as port+10000 (above 65535 for most free ports): so every port is
// given. Telemetry (on by default), the admin UI, its legacy port, WebDAV
// and the Iceberg and Lance catalogs are off; volumes are small.
func weedCommand(bin string, s *server, ports []int) (*exec.Cmd, error) {
	p, err := program(bin, "weed")
	if err != nil {
		return nil, err
	}
	identities := fmt.Sprintf(`{"identities": [{"name": "scrubtest",
  "credentials": [{"accessKey": %q, "secretKey": %q}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
`, s.accessKey, s.secretKey)
	config := filepath.Join(s.dir, "identities.json")
	if err := os.WriteFile(config, []byte(identities), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	port := func(flag string, i int) string { return fmt.Sprintf("-%s=%d", flag, ports[i]) }
	cmd := exec.Command(p, "mini",
		"-dir="+data,
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-s3.config="+config,
		port("s3.port", 0), port("s3.port.grpc", 1),
		port("master.port", 2), port("master.port.grpc", 3),
		port("volume.port", 4), port("volume.port.grpc", 5),
		port("filer.port", 6), port("filer.port.grpc", 7),
		port("admin.port", 8), port("admin.port.grpc", 9),
		port("webdav.port", 10),
		"-admin.port.legacy=0", "-admin.ui=false", "-webdav=false",
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-master.telemetry=false",
		// Volumes are made per bucket, and their number is bounded by
		// the free disk space divided by their size: with the default
		// 128 MB, a test suite's hundreds of small buckets ran out of
		// volumes (PutObject: 500 InternalError) on a machine with
		// 67 GB free. The tests' objects are small.
		"-master.volumeSizeLimitMB=16",
		"-filer.localSocket="+filepath.Join(s.dir, "filer.sock"),
		"-s3.localSocket="+filepath.Join(s.dir, "s3.sock"),
	)
	// weed reads WEED_* variables and configuration files from ., ~/.seaweedfs
	// and /etc/seaweedfs: keep the first two in the temp directory.
	cmd.Env = serverEnv([]string{"WEED_", "HOME"}, "HOME="+s.dir)
	return cmd, nil
}

func versitygwCommand(bin string, s *server, ports []int) (*exec.Cmd, error) {
	p, err := program(bin, "versitygw")
	if err != nil {
		return nil, err
	}
	data, versions := filepath.Join(s.dir, "data"), filepath.Join(s.dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(p, "--port", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"posix", "--versioning-dir", versions, data)
	// versitygw takes every option from VGW_* too, and the log targets
	// from LOGFILE and WEBHOOK.
	cmd.Env = serverEnv([]string{"VGW_", "ROOT_", "LOGFILE", "WEBHOOK"},
		"ROOT_ACCESS_KEY="+s.accessKey, "ROOT_SECRET_KEY="+s.secretKey)
	return cmd, nil
}

// motoMissing reports whether python3 cannot import moto's server. PyPI
// cannot be reached from every machine, so moto is not installed here.
func motoMissing() error {
	if _, err := exec.LookPath("python3"); err != nil {
		return errors.New("python3 not installed")
	}
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		return errors.New("python module not installed")
	}
	return nil
}

func motoCommand(_ string, s *server, ports []int) (*exec.Cmd, error) {
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(ports[0]))
	cmd.Env = serverEnv([]string{"MOTO_"})
	return cmd, nil
}

func s3rverCommand(bin string, s *server, ports []int) (*exec.Cmd, error) {
	script := filepath.Join(bin, "npm", "node_modules", "s3rver", "bin", "s3rver.js")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("no s3rver: %v (make bin/npm/node_modules/s3rver installs it)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("s3rver needs node: %v", err)
	}
	cmd := exec.Command(node, script, "-d", filepath.Join(s.dir, "data"),
		"-a", "127.0.0.1", "-p", fmt.Sprint(ports[0]), "--no-vhost-buckets", "-s")
	cmd.Env = serverEnv([]string{"NODE_OPTIONS"})
	return cmd, nil
}

func (s *server) client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.url),
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

// waitReady waits until the server has served ListBuckets and then a
// write: a health endpoint (MinIO's) or ListBuckets alone (SeaweedFS's,
// before its volume server has joined) answer before writes work.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	cli := s.client()
	err := s.WaitReady(ctx, timeout, 10*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		return probe(ctx, cli)
	})
	if err == nil {
		logf("%s ready at %s after %.1fs", s.name, s.url, time.Since(start).Seconds())
	}
	return err
}

// probe makes the calls a server must answer to count as started, and
// leaves nothing behind when they succeed.
func probe(ctx context.Context, cli *s3.Client) error {
	if _, err := cli.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return err
	}
	var b [6]byte
	rand.Read(b[:])
	bucket, key := "withs3-ready-"+hex.EncodeToString(b[:]), "ready"
	if _, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return err
	}
	_, err := cli.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: strings.NewReader("ready"), ContentLength: aws.Int64(5),
	})
	if err == nil {
		_, err = cli.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	}
	// Remove the bucket also after a failed write, with a context of its
	// own: a leftover would be listed by tests that list buckets.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, derr := cli.DeleteBucket(dctx, &s3.DeleteBucketInput{Bucket: &bucket})
	var noBucket *types.NoSuchBucket
	if errors.As(derr, &noBucket) {
		derr = nil
	}
	return errors.Join(err, derr)
}

// stopAll stops every server at once.
func stopAll(servers []*server) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(s.stop)
	}
	wg.Wait()
}

// stop terminates the server's process group (SIGTERM, SIGKILL after
// stopGrace) and removes its temp directory.
func (s *server) stop() {
	s.Stop(stopGrace, true)
	if err := os.RemoveAll(s.dir); err != nil {
		logf("%s: %v", s.name, err)
	}
	if s.name == "seaweedfs" {
		// weed mini puts its gRPC sockets in /tmp, named by port, whatever
		// its flags say.
		for _, p := range s.ports {
			socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-grpc-%d.sock", p))
			for _, f := range socks {
				os.Remove(f)
			}
		}
	}
}

// showLog prints the end of the server's log to stderr.
func (s *server) showLog() {
	if err := s.ShowLog(logTail); err != nil {
		logf("%s: %v", s.name, err)
	}
}

// childEnv is the environment of COMMAND; see the package documentation.
func childEnv(running []*server, skipped []string) []string {
	env := harness.WithoutVars(os.Environ(),
		// Set below, or would point the SDK elsewhere or break its config.
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"SCRUB_TEST_S3_ENDPOINT", "SCRUB_TEST_KMS_KEY", "SCRUB_S3_")
	var list []string
	for _, s := range running {
		list = append(list, s.name+"="+s.url)
		upper := strings.ToUpper(s.name)
		env = append(env,
			"SCRUB_S3_"+upper+"_ACCESS_KEY_ID="+s.accessKey,
			"SCRUB_S3_"+upper+"_SECRET_ACCESS_KEY="+s.secretKey)
		if s.name == "minio" {
			env = append(env,
				"AWS_ENDPOINT_URL="+s.url,
				"AWS_ACCESS_KEY_ID="+s.accessKey,
				"AWS_SECRET_ACCESS_KEY="+s.secretKey,
				"AWS_REGION="+region,
				"SCRUB_TEST_S3_ENDPOINT="+s.url,
				"SCRUB_TEST_KMS_KEY="+kmsKeyID)
		}
	}
	env = append(env, "SCRUB_S3_SERVERS="+strings.Join(list, ","), "SCRUB_S3_REGION="+region)
	if len(skipped) > 0 {
		env = append(env, "SCRUB_S3_SKIPPED="+strings.Join(skipped, ","))
	}
	return env
}

// runCommand runs command with the servers' environment and returns its
// exit code.
func runCommand(command []string, running []*server, skipped []string, sigs *harness.Interrupts) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = childEnv(running, skipped)
	code := sigs.Run(cmd, logf, func(done <-chan struct{}) {
		// Report a server that dies while the command runs.
		for _, s := range running {
			go func() {
				select {
				case <-s.Exited:
					logf("%s exited while the command was running: %v", s.name, s.Err)
					s.showLog()
				case <-done:
				}
			}()
		}
		<-done
	})
	if code == 0 {
		for _, s := range running {
			select {
			case <-s.Exited:
				code = harness.ExitHarness
			default:
			}
		}
	}
	return code
}

// prefixWriter writes complete lines to w, each after prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.w.Write(append([]byte(p.prefix), p.buf[:i+1]...))
		p.buf = p.buf[i+1:]
	}
}
