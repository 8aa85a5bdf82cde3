package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/s3store"
	"github.com/scrubtool/scrub/scrub/store"
)

const (
	s3Bucket = "bench"
	s3Prefix = "data"
)

// runScrubS3 runs scrub against a throw-away MinIO (cmd/withminio) that
// holds the scratch copy in s3://bench/data. Starting MinIO and loading
// the bucket are not timed: withminio runs this program's s3child, which
// times scrub alone and then downloads the results for the check.
func runScrubS3(drives int) func(*runEnv, *toolRun) (measurement, error) {
	return func(e *runEnv, tr *toolRun) (measurement, error) { return scrubS3(e, tr, drives) }
}

func scrubS3(e *runEnv, tr *toolRun, drives int) (measurement, error) {
	result := filepath.Join(tr.dir, "s3-result.json")
	args := []string{"run", "./cmd/withminio", "-bin", e.minio, "-drives", fmt.Sprint(drives),
		"-load", tr.in + "=" + s3Bucket + "/" + s3Prefix, "--",
		e.self, "s3child", "-rusage", e.rusage, "-result", result, "-download", tr.out, "--", e.scrub}
	args = append(args, e.scrubArgs(tr.audit)...)
	args = append(args, store.S3URL(s3Bucket, s3Prefix))
	cmd := exec.Command("go", args...)
	cmd.Dir = e.repo
	out, err := cmd.CombinedOutput()
	var m measurement
	if b, rerr := os.ReadFile(result); rerr == nil {
		if jerr := json.Unmarshal(b, &m); jerr != nil {
			return m, jerr
		}
		return m, nil
	}
	return m, fmt.Errorf("withminio: %v\n%s", err, tail(string(out), 15))
}

// s3childMain runs under withminio: it times the scrub command after "--",
// watching the MinIO server's memory too, then downloads every object
// below s3://bench/data into -download.
func s3childMain(args []string) error {
	fl := flag.NewFlagSet("s3child", flag.ContinueOnError)
	result := fl.String("result", "", "write the measurement to `FILE` (JSON)")
	download := fl.String("download", "", "download the objects into `DIR` afterwards")
	wrapper := fl.String("rusage", "", "the cmd/bench/rusage `binary`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	command := fl.Args()
	if len(command) == 0 {
		return fmt.Errorf("s3child: no command")
	}
	m, err := measure(*wrapper, exec.Command(command[0], command[1:]...), siblings()...)
	if err != nil {
		return err
	}
	if *download != "" {
		if err := downloadAll(context.Background(), *download); err != nil {
			return err
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(*result, b, 0o644)
}

func downloadAll(ctx context.Context, dir string) error {
	// The client scrub itself uses: AWS_ENDPOINT_URL (set by
	// cmd/withminio) and path-style addressing.
	cli, err := s3store.NewClient(ctx, s3store.ClientOptions{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pages := s3.NewListObjectsV2Paginator(cli, &s3.ListObjectsV2Input{Bucket: aws.String(s3Bucket), Prefix: aws.String(s3Prefix + "/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if strings.Contains(strings.TrimPrefix(key, s3Prefix+"/"), "/") {
				continue
			}
			if err := downloadObject(ctx, cli, key, filepath.Join(dir, path.Base(key))); err != nil {
				return err
			}
		}
	}
	return nil
}

func downloadObject(ctx context.Context, cli *s3.Client, key, dst string) error {
	out, err := cli.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("get %s: %w", key, err)
	}
	return f.Close()
}

// siblings returns the process IDs of this process's siblings: under
// cmd/withminio, the MinIO server, withminio's other child.
func siblings() []int {
	var pids []int
	for pid, p := range readProcs() {
		if p.ppid == os.Getppid() && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}
