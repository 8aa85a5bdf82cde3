package archive

import "io"

// ScanFunc reads the archive in src under the limits of opt and hands each
// CSV stream to fn, in order: the whole of a plain CSV file (name ""), the
// content of a gzip file (named by its header, often ""), or a zip member
// whose name IsCSVName accepts (by its name). fn reports what it read, which
// goes into the report, and whether to stop: a zip's remaining members are
// then not read. Other zip members are listed in the report, unread. The
// archive is checked as [Rewrite] checks it, so that every pass over an
// archive (a scan, an erasure, an export) accepts and refuses the same
// archives.
func ScanFunc(src io.ReaderAt, size int64, opt Options, fn func(name string, r io.Reader) (st Stats, stop bool, err error)) (*Report, error) {
	format, err := Detect(src, size)
	if err != nil {
		return nil, err
	}
	m := newMeter(src, size, opt)
	rep := &Report{Format: format}
	scan := func(name string, r io.Reader) (bool, error) {
		st, stop, err := fn(name, r)
		rep.Members = append(rep.Members, Member{Name: name, CSV: true, Rows: st.Rows, Removed: st.Removed, Expired: st.Expired})
		return stop, err
	}
	switch format {
	case CSV:
		_, err = scan("", io.NewSectionReader(src, 0, size))
		return rep, err
	case Gzip:
		zr, err := m.gzip()
		if err != nil {
			return nil, err
		}
		name := zr.zr.Name // before the reader, which changes it, goes ahead
		r := newAhead(m.stream(zr, 0, 0))
		defer r.Close()
		_, err = scan(name, r)
		return rep, err
	}
	zr, err := openZip(m)
	if err != nil {
		return nil, err
	}
	for _, zf := range zr.File {
		if !IsCSVName(zf.Name) || zf.FileInfo().IsDir() {
			mem := Member{Name: zf.Name, crc32: zf.CRC32, size: zf.UncompressedSize64}
			if !zf.FileInfo().IsDir() {
				mem.Reason = "not read: the name does not end in .csv or .tsv"
			}
			rep.Members = append(rep.Members, mem)
			continue
		}
		stop, _, err := withMember(m, zf, -1, func(r io.Reader) (bool, error) { return scan(zf.Name, r) })
		if err != nil {
			return rep, err
		}
		if stop {
			return rep, nil
		}
	}
	return rep, nil
}
