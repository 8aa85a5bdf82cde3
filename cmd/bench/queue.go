package main

// bench queue: what working many queued requests at once costs against
// working one. The same archives are erased by `scrub queue run` with a
// queue of 1 request and with one of N (each request one listed ID): a dry
// run (one scan: read and filter every archive, write nothing) and a real
// erasure, each on a fresh copy. The queues are built with the queue
// package (not timed); the timed run opens and checks every change of the
// queue, as a nightly run does.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scrubtool/scrub/scrub/audit"
	"github.com/scrubtool/scrub/scrub/audit/sshsig"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/queue"
)

func queueMain(args []string) error {
	fl := flag.NewFlagSet("queue", flag.ContinueOnError)
	data := fl.String("data", "build/bench/data-100MB", "the data set `DIR` (bench gen -out)")
	scrubBin := fl.String("scrub", "bin/scrub", "the scrub `BINARY` (with scrub queue)")
	scratch := fl.String("scratch", "build/bench/queue", "scratch `DIR` for the copies, queues and keys")
	sizes := fl.String("requests", "1,1000", "queue sizes to compare, comma-separated `N,M`")
	runs := fl.Int("runs", 3, "runs of each, interleaved; the median is shown")
	jobs := fl.Int("jobs", 2, "scrub --jobs")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-requests %q: want sizes such as 1,1000", *sizes)
		}
		ns = append(ns, n)
	}
	m, err := readManifest(*data)
	if err != nil {
		return fmt.Errorf("%s: %w (make it with bench gen -out %s)", *data, err, *data)
	}
	ids, err := readIDs(filepath.Join(*data, "ids.txt"))
	if err != nil {
		return err
	}
	if len(ids) < slices.Max(ns) {
		return fmt.Errorf("%s lists %d IDs, fewer than %d requests", *data, len(ids), slices.Max(ns))
	}
	if err := os.RemoveAll(*scratch); err != nil {
		return err
	}
	keys := filepath.Join(*scratch, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	signer, idKey := filepath.Join(keys, "signer"), filepath.Join(keys, "id.key")
	if out, err := exec.Command(*scrubBin, "keygen", "--out", signer, "--id-key", idKey).CombinedOutput(); err != nil {
		return fmt.Errorf("scrub keygen: %v: %s", err, out)
	}
	for _, n := range ns {
		if err := makeQueue(filepath.Join(*scratch, fmt.Sprintf("queue-%d", n)), signer, idKey, ids[:n]); err != nil {
			return err
		}
	}
	var csvBytes int64
	for _, f := range m.Files {
		csvBytes += f.CSVBytes
	}
	type row struct {
		n      int
		dry    bool
		walls  []time.Duration
		cpu    []time.Duration
		totals string
	}
	var rows []*row
	for _, dry := range []bool{true, false} {
		for _, n := range ns {
			rows = append(rows, &row{n: n, dry: dry})
		}
	}
	for run := range *runs {
		for _, r := range rows {
			dir := filepath.Join(*scratch, "run")
			in := filepath.Join(dir, "in")
			os.RemoveAll(dir)
			if err := os.MkdirAll(in, 0o755); err != nil {
				return err
			}
			for _, f := range m.Files {
				if err := copyFile(filepath.Join(*data, "archives", f.Name), filepath.Join(in, f.Name)); err != nil {
					return err
				}
			}
			q := filepath.Join(dir, "queue")
			if err := os.CopyFS(q, os.DirFS(filepath.Join(*scratch, fmt.Sprintf("queue-%d", r.n)))); err != nil {
				return err
			}
			syscall.Sync()
			args := []string{"queue", "run", "--queue", q, "--key", signer, "--id-key", idKey, "--audit", filepath.Join(dir, "audit"),
				"--no-progress", "--json", "--jobs", strconv.Itoa(*jobs), "--max-share", "1"}
			if r.dry {
				args = append(args, "--dry-run")
			}
			cmd := exec.Command(*scrubBin, append(args, in)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			out, err := cmd.Output()
			wall := time.Since(start)
			if err != nil {
				return fmt.Errorf("scrub %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
			}
			var sum struct {
				Totals struct {
					Archives    int   `json:"archives"`
					RowsScanned int64 `json:"rows_scanned"`
					RowsRemoved int64 `json:"rows_removed"`
				} `json:"totals"`
				Queue struct {
					Done    []string `json:"done"`
					Pending []string `json:"pending"`
				} `json:"queue"`
			}
			if err := json.Unmarshal(out, &sum); err != nil {
				return fmt.Errorf("scrub's summary: %w", err)
			}
			if !r.dry && len(sum.Queue.Done) != r.n {
				return fmt.Errorf("%d requests: %d marked done", r.n, len(sum.Queue.Done))
			}
			r.walls = append(r.walls, wall)
			r.cpu = append(r.cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			r.totals = fmt.Sprintf("%d archives, %s of %s rows %s", sum.Totals.Archives, commas(int(sum.Totals.RowsRemoved)),
				commas(int(sum.Totals.RowsScanned)), map[bool]string{true: "would go", false: "removed"}[r.dry])
			logf("queue run %d/%d: %d requests, dry run %v: %.2fs", run+1, *runs, r.n, r.dry, wall.Seconds())
		}
	}
	fmt.Printf("Data: %s, %d archives, %s of CSV; scrub --jobs %d; median of %d runs (min–max), interleaved, each on a fresh copy.\n\n",
		*data, len(m.Files), mb(csvBytes), *jobs, *runs)
	fmt.Println("| queue run | requests | wall | MB/s | CPU | what it did | × 1 request |")
	fmt.Println("|---|---:|---:|---:|---:|---|---:|")
	base := map[bool]time.Duration{}
	for _, r := range rows {
		w := median(r.walls)
		if _, ok := base[r.dry]; !ok {
			base[r.dry] = w
		}
		kind := "erase"
		if r.dry {
			kind = "dry run"
		}
		fmt.Printf("| %s | %s | %.2f s (%.2f–%.2f) | %.1f | %.2f s | %s | %.2f |\n", kind, commas(r.n), w.Seconds(),
			slices.Min(r.walls).Seconds(), slices.Max(r.walls).Seconds(), float64(csvBytes)/1e6/w.Seconds(),
			median(r.cpu).Seconds(), r.totals, w.Seconds()/base[r.dry].Seconds())
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// readIDs reads an ID list, one a line.
func readIDs(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			ids = append(ids, s)
		}
	}
	return ids, sc.Err()
}

// makeQueue writes a queue in dir of one request per ID.
func makeQueue(dir, signerFile, idKeyFile string, ids []string) error {
	pem, err := os.ReadFile(signerFile)
	if err != nil {
		return err
	}
	signer, _, err := sshsig.ParsePrivateKey(pem)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(idKeyFile)
	if err != nil {
		return err
	}
	k, err := audit.ParseIDKey(raw, idKeyFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	trust := &queue.Trust{Keys: []ed25519.PublicKey{signer.Public().(ed25519.PublicKey)}}
	q, err := queue.Open(context.Background(), local.Dir(dir), k, trust)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i, id := range ids {
		r := queue.Request{Ticket: fmt.Sprintf("BENCH-%05d", i), Type: queue.DefaultType, Tags: []string{k.Tag([]byte(id))},
			Received: now.Format(queue.DateLayout), Due: now.Add(queue.DueAfter).Format(queue.DateLayout)}
		if _, err := q.Add(context.Background(), signer, now, "bench", r); err != nil {
			return err
		}
	}
	if len(q.Requests()) != len(ids) {
		return errors.New("the queue lost requests")
	}
	return nil
}
