package main_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// tinyFS mounts a tmpfs of the given size (in KiB) and returns its path.
// It needs the privilege to mount; without it the test is skipped, since no
// unprivileged way fills a file system or makes one read-only for root.
func tinyFS(t *testing.T, kib int, opts string) string {
	t.Helper()
	dir := t.TempDir()
	o := opts
	if kib > 0 {
		o = "size=" + itoa(kib) + "k," + opts
	}
	o = strings.TrimSuffix(o, ",")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDiskFull: the archives are on a file system with no room for their
// rewrites. The batch stops with a clear error, every archive is either
// untouched or completely erased, nothing is left behind, the audit bundle
// is sealed; once there is room, the same command finishes the job.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	fsDir := tinyFS(t, 512, "")
	data := filepath.Join(fsDir, "data")
	if err := os.CopyFS(data, os.DirFS(scrubtest.ExportDir)); err != nil {
		t.Fatal(err)
	}
	// Fill the file system but for a few KiB.
	filler := filepath.Join(fsDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	os.Truncate(filler, mustSize(t, filler)-6*1024)

	a := scrubtest.NewAudit(t)
	args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", data})
	r := scrubCmd(t, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("exit %d, want 1 with the cause:\n%s", r.code, r.stderr)
	}
	t.Logf("full disk:\n%s", r.stderr)
	checkArchives(t, scrubtest.ExportDir, data, true)
	if out := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); out.code != 0 {
		t.Errorf("verify after a full disk: exit %d\n%s", out.code, out.stdout)
	}

	os.Remove(filler)
	if r := scrubCmd(t, nil, args...); r.code != 0 {
		t.Fatalf("after freeing space: exit %d\n%s", r.code, r.stderr)
	}
	checkArchives(t, scrubtest.ExportDir, data, false)
}

// TestReadOnly: the archives are on a read-only file system. The batch
// stops with a clear error and changes nothing.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	fsDir := tinyFS(t, 1024, "")
	data := filepath.Join(fsDir, "data")
	if err := os.CopyFS(data, os.DirFS(scrubtest.ExportDir)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", fsDir).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v %s", err, out)
	}
	before := scrubtest.Snapshot(t, data)
	a := scrubtest.NewAudit(t)
	r := scrubCmd(t, nil, a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", data})...)
	if r.code != 1 || !strings.Contains(r.stderr, "read-only file system") {
		t.Fatalf("exit %d, want 1 with the cause:\n%s", r.code, r.stderr)
	}
	t.Logf("read-only:\n%s", r.stderr)
	scrubtest.SameFiles(t, before, scrubtest.Snapshot(t, data), nil)
	if out := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); out.code != 0 {
		t.Errorf("verify: exit %d\n%s", out.code, out.stdout)
	}
}

func mustSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// checkArchives checks that each archive below orig is in data as the
// original minus the victims' rows (or, with whole, untouched), that
// nothing else is there but hidden files left behind, which are errors, and
// returns how many files data holds.
func checkArchives(t *testing.T, orig, data string, whole bool) int {
	t.Helper()
	filepath.WalkDir(orig, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(orig, p)
		before, _ := os.ReadFile(p)
		after, err := os.ReadFile(filepath.Join(data, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if !whole || !bytes.Equal(before, after) {
			scrubtest.CheckArchive(t, rel, before, after)
		}
		return nil
	})
	n := 0
	filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
			if strings.HasPrefix(d.Name(), ".") {
				t.Errorf("left behind: %s", p)
			}
		}
		return err
	})
	return n
}

// TestTempDirFaults: the temporary directory where S3 rewrites are staged
// is full, or read-only. The batch stops with the cause and every object is
// as it was or completely erased, with no version lost; once the directory
// is usable, the same command finishes.
func TestTempDirFaults(t *testing.T) {
	c, ep := minio(t)
	for _, tt := range []struct {
		name, opts, want string
	}{
		{"full", "size=64k", "no space left on device"},
		{"read-only", "size=1m,ro", "read-only file system"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmp := tinyFS(t, 0, tt.opts)
			bucket, orig := versionedExport(t, c, 1)
			big := bigCSV()
			key := "exports/big.csv"
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(big)}); err != nil {
				t.Fatal(err)
			}
			orig[key] = big
			a := scrubtest.NewAudit(t)
			args := a.WithAudit([]string{"erase", "--ids", scrubtest.IDsFile, "--no-progress", "--jobs", "1", "--endpoint", ep, "s3://" + bucket + "/exports"})
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), tt.want) {
				t.Fatalf("exit %d, want 1 with %q:\n%s", cmd.ProcessState.ExitCode(), tt.want, out)
			}
			checkWholeOrErasedS3(t, c, bucket, orig)
			if r := scrubCmd(t, nil, args...); r.code != 0 {
				t.Fatalf("with a usable TMPDIR: exit %d\n%s", r.code, r.stderr)
			}
			checkBucket(t, c, bucket, orig)
			if r := scrubCmd(t, nil, "verify", "--pub", a.Pub, a.Dir); r.code != 0 {
				t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

// checkWholeOrErasedS3 checks that each key's current version is the
// original or the original minus the victims' rows.
func checkWholeOrErasedS3(t *testing.T, c *s3.Client, bucket string, orig map[string][]byte) {
	t.Helper()
	for key, data := range orig {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		now, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(now, data) {
			scrubtest.CheckArchive(t, key, data, now)
		}
	}
}
