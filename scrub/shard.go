package scrub

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one share of a batch split across N workers that do not talk to
// each other (a Kubernetes Indexed Job, an AWS Batch array job): worker
// Index of Count processes the archives whose path below the source root
// hashes to Index. Every archive belongs to exactly one share, the same one
// on every machine and in every run.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// MaxShards bounds the shard count; beyond it shares are too small to pay
// for a worker.
const MaxShards = 10000

// ShardOf returns the share of n that an archive with path rel (Object.Rel)
// belongs to: the first 8 bytes of SHA-256(rel), big-endian, modulo n.
// Anyone can recompute it, e.g. to check which worker an archive fell to.
func ShardOf(rel string, n int) int {
	sum := sha256.Sum256([]byte(rel))
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(n))
}

// Has reports whether the archive obj belongs to the share.
func (s Shard) Has(obj Object) bool { return ShardOf(obj.Rel, s.Count) == s.Index }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard parses I/N (0 <= I < N). An index of "auto" is read from the
// environment through getenv: JOB_COMPLETION_INDEX (Kubernetes Indexed
// Jobs) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array jobs), both 0-based.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, e.g. 0/4 or auto/4", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 || count > MaxShards {
		return Shard{}, fmt.Errorf("shard %q: COUNT must be a whole number from 1 to %d", s, MaxShards)
	}
	if i == "auto" {
		for _, env := range []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"} {
			if v := getenv(env); v != "" {
				i = v
				break
			}
		}
		if i == "auto" {
			return Shard{}, fmt.Errorf("shard %q: auto needs $JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or $AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job)", s)
		}
	}
	index, err := strconv.Atoi(i)
	if err != nil || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %q: INDEX must be a whole number from 0 to %d", s, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}
