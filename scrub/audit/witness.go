package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// A witness is a second location, apart from the audit location and out
// of reach of whoever can write it, to which each signed batch adds its
// head when it is sealed: one file per batch, BATCH.head, created and
// never overwritten, holding one line
//
//	BATCH CHAIN_HEAD SHA256SUMS_SHA256 FINISHED
//
// (the log's last line hash and the head, as the manifest and scrub erase
// give them, and the manifest's finished time). A batch deleted from the
// audit location, the newest included, is still named there: scrub verify
// --witness finds it missing.
const witnessSuffix = ".head"

// WithWitness makes the Writer add each signed batch's head to witness
// when it is sealed, and record the witness in the manifest.
func WithWitness(witness Location) Option {
	return func(w *Writer) { w.witness = witness }
}

// WithRetention makes the Writer lock each sealed file of the batch in its
// location (a Retainer) for r's period from the seal, and record r in the
// manifest. nil: no retention.
func WithRetention(r *Retention) Option {
	return func(w *Writer) { w.retention = r }
}

// witnessLine is one batch's line in a witness.
func witnessLine(batch, chainHead, head, finished string) string {
	return fmt.Sprintf("%s %s %s %s\n", batch, chainHead, head, finished)
}

// witnessHead adds the sealed batch's head to the witness. A head already
// there (an earlier seal got this far) must be the same.
func (w *Writer) witnessHead(ctx context.Context, manifest []byte, head string) error {
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("%s: %w", w.name+manifestSuffix, err)
	}
	line := witnessLine(w.name, m.ChainHead, head, m.Finished)
	name := w.name + witnessSuffix
	err := w.witness.Create(ctx, name, strings.NewReader(line))
	if errors.Is(err, fs.ErrExist) {
		var had []byte
		if had, err = w.witness.ReadFile(ctx, name); err == nil && !bytes.Equal(had, []byte(line)) {
			err = fmt.Errorf("%s holds another head for this batch: %q", name, strings.TrimSpace(string(had)))
		}
	}
	if err != nil {
		return fmt.Errorf("witness %s: %w", w.witness, err)
	}
	return nil
}

// Witnessed is one batch's head as a witness holds it.
type Witnessed struct {
	Batch, ChainHead, Head, Finished string
}

// ReadWitness reads every head in a witness location. A file that is not
// one well-formed line for the batch it is named after is an error.
func ReadWitness(ctx context.Context, witness Location) ([]Witnessed, error) {
	files, err := witness.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", witness, err)
	}
	var out []Witnessed
	for _, f := range files {
		b, ok := strings.CutSuffix(f, witnessSuffix)
		if !ok || !batchName.MatchString(b) {
			continue
		}
		data, err := witness.ReadFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", witness, err)
		}
		fields := strings.Fields(string(data))
		if len(fields) != 4 || fields[0] != b || strings.Count(string(data), "\n") != 1 {
			return nil, fmt.Errorf("witness %s: %s is not one line \"BATCH CHAIN_HEAD SHA256SUMS_SHA256 TIME\" for %s", witness, f, b)
		}
		if _, err := ParseHead(fields[1]); err != nil {
			return nil, fmt.Errorf("witness %s: %s: chain head: %w", witness, f, err)
		}
		if _, err := ParseHead(fields[2]); err != nil {
			return nil, fmt.Errorf("witness %s: %s: head: %w", witness, f, err)
		}
		out = append(out, Witnessed{Batch: b, ChainHead: fields[1], Head: fields[2], Finished: fields[3]})
	}
	return out, nil
}

// checkWitness checks the batches of rep against a witness: each batch
// the witness names must be here, with the head it recorded, and each
// valid batch whose manifest says it was witnessed must be named there.
func checkWitness(ctx context.Context, witness Location, rep *Report, extra func(*BatchStatus)) error {
	heads, err := ReadWitness(ctx, witness)
	if err != nil {
		return err
	}
	byName := map[string]*BatchStatus{}
	for _, st := range rep.Batches {
		byName[st.Batch] = st
	}
	named := map[string]bool{}
	for _, h := range heads {
		named[h.Batch] = true
		st := byName[h.Batch]
		if st == nil || st.Problem == Missing && st.Head == "" {
			detail := fmt.Sprintf("batch %s is witnessed in %s (head %s, sealed %s) but missing from the audit location", h.Batch, witness, h.Head, h.Finished)
			if st != nil {
				st.Detail = detail + "; " + st.Detail
				continue
			}
			extra(&BatchStatus{Batch: h.Batch, Problem: Missing, Detail: detail})
			continue
		}
		if st.Problem != "" {
			continue // reported already
		}
		if st.Head != h.Head {
			st.Problem, st.Detail, st.Manifest = HashMismatch, fmt.Sprintf("its SHA256SUMS hash %s is not the head witnessed in %s (%s)", st.Head, witness, h.Head), nil
			continue
		}
		if m := st.Manifest; m != nil && m.ChainHead != h.ChainHead {
			st.Problem, st.Detail, st.Manifest = HashMismatch, fmt.Sprintf("its chain head %s is not the one witnessed in %s (%s)", m.ChainHead, witness, h.ChainHead), nil
		}
	}
	var newest string
	for _, st := range rep.Batches {
		m := st.Manifest
		if m == nil || !st.Valid() {
			continue
		}
		switch {
		case named[st.Batch]:
			newest = st.Batch
		case m.Witness != "":
			st.Problem, st.Detail, st.Manifest = Missing, fmt.Sprintf("its manifest says it was witnessed in %s, but %s has no head for it", m.Witness, witness), nil
		default:
			if newest != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s, sealed after the witnessed %s, was sealed without --witness: nothing outside the audit location vouches for it", st.Batch, newest))
			}
		}
	}
	if len(heads) == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the witness %s holds no head", witness))
	}
	return nil
}

// witnessHint returns a note when batches say they were witnessed and no
// witness was given to verify against.
func witnessHint(rep *Report) string {
	seen := map[string]bool{}
	var where []string
	n := 0
	for _, st := range rep.Batches {
		m := st.Manifest
		if m == nil || m.Witness == "" {
			continue
		}
		n++
		if !seen[m.Witness] {
			seen[m.Witness] = true
			where = append(where, m.Witness)
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d batches were witnessed in %s: pass --witness to check that none, the newest included, was deleted", n, strings.Join(where, ", "))
}
