package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// chainTipFile names the signed batch sealed last, and the batch it
// follows: what the next batch sealed links to. Batches are sealed one at
// a time (under SealLock), so each links to the one sealed before it and
// the batches form one chain, whatever order they started in. (Linking to
// the newest batch by name, as before, made a batch that started earlier
// but was sealed later follow the same batch as another: a fork, in which
// a batch that nothing follows could go unnoticed.) It is a hint, not part
// of the record: verify checks the links in the manifests.
const chainTipFile = ".chain-tip"

type chainTip struct {
	Batch          string `json:"batch"`
	PrevBatch      string `json:"prev_batch,omitempty"`
	PrevSHA256SUMS string `json:"prev_sha256sums,omitempty"`
}

// linkTo returns the batch that w, sealed now, follows and the SHA-256 of
// its SHA256SUMS: the batch the chain tip names, once it has its
// manifest; if it has none yet (its run died as it began sealing), the
// batch that one was to follow, which it will then follow in turn, if
// that is there as the tip says. The tip is not signed: one that names
// nothing usable (missing, unreadable, a batch gone, a predecessor not as
// recorded), and a location without a tip (written by an earlier
// release), link to the newest batch that no other follows. A tip that
// names an older batch makes a fork, which verify reports.
func (w *Writer) linkTo(ctx context.Context) (string, string, error) {
	data, err := w.loc.ReadFile(ctx, chainTipFile)
	if errors.Is(err, fs.ErrNotExist) {
		return newestLeaf(ctx, w.loc, w.name)
	}
	if err != nil {
		return "", "", err
	}
	var t chainTip
	if json.Unmarshal(data, &t) != nil || !batchName.MatchString(t.Batch) {
		return newestLeaf(ctx, w.loc, w.name)
	}
	if t.Batch != w.name {
		sums, ok, err := sumsOf(ctx, w.loc, t.Batch)
		if err != nil || ok {
			return t.Batch, sums, err
		}
	}
	if t.PrevBatch != "" && batchName.MatchString(t.PrevBatch) {
		if sums, ok, err := sumsOf(ctx, w.loc, t.PrevBatch); err != nil || ok && sums == t.PrevSHA256SUMS {
			return t.PrevBatch, sums, err
		}
	}
	return newestLeaf(ctx, w.loc, w.name)
}

// newestLeaf returns the newest signed batch (by name) that no other
// signed batch follows, and the SHA-256 of its SHA256SUMS; "" if there is
// none. (Among batches of earlier releases, which linked to the newest by
// name, two may follow one: the newest by name can be followed already.)
func newestLeaf(ctx context.Context, loc Location, self string) (string, string, error) {
	files, err := loc.List(ctx)
	if err != nil {
		return "", "", err
	}
	var signed []string
	for _, f := range files {
		if b, ok := strings.CutSuffix(f, sigSuffix); ok && batchName.MatchString(b) && b != self {
			signed = append(signed, b)
		}
	}
	slices.Sort(signed)
	followed := map[string]bool{}
	sums := map[string]string{}
	for _, b := range signed {
		data, err := loc.ReadFile(ctx, b+sumsSuffix)
		if err != nil {
			return "", "", err
		}
		sums[b] = sha256Hex(data)
		manifest, err := loc.ReadFile(ctx, b+manifestSuffix)
		if err != nil {
			return "", "", err
		}
		var m Manifest
		if json.Unmarshal(manifest, &m) == nil && m.PrevSHA256SUMS != "" {
			followed[m.PrevSHA256SUMS] = true
		}
	}
	for i := len(signed) - 1; i >= 0; i-- {
		if b := signed[i]; !followed[sums[b]] {
			return b, sums[b], nil
		}
	}
	if len(signed) > 0 { // every one followed: a cycle no writer makes
		b := signed[len(signed)-1]
		return b, sums[b], nil
	}
	return "", "", nil
}

// setTip records w as the chain tip, following prev, before its manifest
// is written: a batch sealed meanwhile (after a crash of this one) then
// follows it, or what it follows.
func (w *Writer) setTip(ctx context.Context, prev, prevSums string) error {
	if _, sealed, err := sumsOf(ctx, w.loc, w.name); err != nil || sealed {
		// Its manifest is there: its link is made, and a batch
		// sealed since may follow it.
		return err
	}
	data, _ := json.Marshal(chainTip{Batch: w.name, PrevBatch: prev, PrevSHA256SUMS: prevSums})
	return w.loc.Put(ctx, chainTipFile, bytes.NewReader(append(data, '\n')))
}

// sumsOf returns the SHA-256 of a batch's SHA256SUMS, worked out from its
// manifest if the SHA256SUMS is not written yet; ok is false if the batch
// has no manifest.
func sumsOf(ctx context.Context, loc Location, batch string) (string, bool, error) {
	sums, err := loc.ReadFile(ctx, batch+sumsSuffix)
	if err == nil {
		return sha256Hex(sums), true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	manifest, err := loc.ReadFile(ctx, batch+manifestSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", false, fmt.Errorf("%s%s: %w", batch, manifestSuffix, err)
	}
	return sha256Hex([]byte(sumsText(m.LogSHA256, batch+logSuffix, manifest, batch+manifestSuffix))), true, nil
}

// sumsText is the content of a batch's SHA256SUMS.
func sumsText(logSHA256, logName string, manifest []byte, manifestName string) string {
	return fmt.Sprintf("%s  %s\n%s  %s\n", logSHA256, logName, sha256Hex(manifest), manifestName)
}
