package archive

import "io"

// ScanFunc reads the archive in src under the limits of opt and hands each
// stream to fn, in order: the whole of a plain file (name ""), the content
// of a gzip file (named by its header, often ""), or a zip member (directory
// entries aside). fn reports what it read, which goes into the report, and
// whether to stop: a zip's remaining members are then not read.
//
// What a stream is, is decided by its content, never by a name: a stream
// that starts like a format scrub does not read is refused (see [Detect];
// inside a zip member, a compressed stream or archive is nested:
// [ErrNested]), and one that fn fails with an error whose NotTable method
// reports true (the filter's error for a stream without a header row or an
// ID column, or whose first line is not CSV text) is not read as CSV: it is
// listed in the report with the reason (CSV false), and the pass goes on.
// Such a stream is read to its end all the same, so that a corrupt one is
// an error. A zip member whose name says it is an archive (.gz, .zip...)
// is refused (ErrNested).
//
// The archive is checked as [Rewrite] checks it, so that every pass over
// an archive (a scan, an erasure, an export) accepts and refuses the same
// archives, and reports the same streams not read.
func ScanFunc(src io.ReaderAt, size int64, opt Options, fn func(name string, r io.Reader) (st Stats, stop bool, err error)) (*Report, error) {
	return scanFunc(src, size, opt, nil, fn)
}

// Reread is [ScanWith] of the archive that [Rewrite] wrote, with rep its
// report and f the filter of [Options.Reread]: a zip member that the
// rewrite read back as it wrote it is confirmed by its compressed bytes,
// read from src and hashed (SHA-256), and by its header's CRC-32 and sizes,
// and reported as the read-back found it, rather than inflated and scanned
// again. A member that does not match what was read back, and every other
// stream, is read as ScanWith reads it. The limits of opt apply to the
// streams read.
func Reread(src io.ReaderAt, size int64, rep *Report, f Filter, opt Options) (*Report, error) {
	return scanFunc(src, size, opt, rep, func(_ string, r io.Reader) (Stats, bool, error) {
		st, err := f.Filter(nil, r)
		return st, false, err
	})
}

// scanFunc is ScanFunc, and Reread with prior the rewrite's report.
func scanFunc(src io.ReaderAt, size int64, opt Options, prior *Report, fn func(name string, r io.Reader) (st Stats, stop bool, err error)) (*Report, error) {
	format, what, err := detect(src, size)
	if err != nil {
		return nil, err
	}
	m := newMeter(src, size, opt)
	rep := &Report{Format: format}
	// scan hands one stream to fn, judged by content: plain files are
	// judged by detect already.
	scan := func(mem Member, r io.Reader, judged bool) (bool, error) {
		var st Stats
		var stop bool
		run := func(r io.Reader) error {
			var err error
			st, stop, err = fn(mem.Name, r)
			return err
		}
		var err error
		if judged {
			err = run(r)
			if reason, ok := notTableReason(err, what); ok {
				mem.Reason, err = reason, nil
			}
		} else {
			mem.Reason, err = content(r, format == Zip, run)
		}
		if mem.Reason == "" {
			mem.CSV, mem.Rows, mem.Removed, mem.Expired = true, st.Rows, st.Removed, st.Expired
		}
		rep.Members = append(rep.Members, mem)
		return stop && mem.CSV, err
	}
	switch format {
	case CSV:
		_, err = scan(Member{}, io.NewSectionReader(src, 0, size), true)
		return rep, err
	case Gzip:
		if prior != nil && len(prior.Members) == 1 && prior.Members[0].read != nil {
			read := prior.Members[0].read
			ok, err := confirmFile(src, size, read)
			if err != nil {
				return nil, err
			}
			if ok {
				st := read.st
				rep.Members = append(rep.Members, Member{Name: read.name, CSV: true, Rows: st.Rows, Removed: st.Removed, Expired: st.Expired})
				return rep, nil
			}
		}
		zr, err := m.gzip()
		if err != nil {
			return nil, err
		}
		defer zr.release() // after the read-ahead's Close, below
		name := zr.zr.Name // before the reader, which changes it, goes ahead
		r := newAhead(m.stream(zr, 0, 0))
		defer r.Close()
		_, err = scan(Member{Name: name}, r, false)
		return rep, err
	}
	zr, err := openZip(m)
	if err != nil {
		return nil, err
	}
	for i, zf := range zr.File {
		mem := Member{Name: zf.Name, crc32: zf.CRC32, size: zf.UncompressedSize64}
		if zf.FileInfo().IsDir() {
			rep.Members = append(rep.Members, mem)
			continue
		}
		if prior != nil && i < len(prior.Members) && prior.Members[i].read != nil && prior.Members[i].Name == zf.Name {
			read := prior.Members[i].read
			ok, err := confirm(zf, read)
			if err != nil {
				return rep, err
			}
			if ok {
				mem.CSV, mem.Rows, mem.Removed, mem.Expired = true, read.st.Rows, read.st.Removed, read.st.Expired
				rep.Members = append(rep.Members, mem)
				continue
			}
		}
		stop, _, err := withMember(m, zf, -1, func(r io.Reader) (bool, error) { return scan(mem, r, false) })
		if err != nil {
			return rep, err
		}
		if stop {
			return rep, nil
		}
	}
	return rep, nil
}
