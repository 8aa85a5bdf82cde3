package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"
)

// floorMain is the speed floor in Go, with the compression library scrub
// uses (klauspost/compress): decompress every archive, several at a time,
// and optionally recompress it at level 1 into -out (the least any
// rewrite costs). It filters nothing.
func floorMain(args []string) error {
	fl := flag.NewFlagSet("floor", flag.ContinueOnError)
	jobs := fl.Int("jobs", 1, "archives at once")
	out := fl.String("out", "", "recompress at level 1 into `DIR` (default: decompress only)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	files := fl.Args()
	return parallel(*jobs, len(files), func(i int) error {
		return floorFile(files[i], *out)
	})
}

func floorFile(path, outDir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var w io.Writer = io.Discard
	finish := func() error { return nil }
	if outDir != "" {
		o, err := os.Create(filepath.Join(outDir, filepath.Base(path)))
		if err != nil {
			return err
		}
		defer o.Close()
		bw := bufio.NewWriterSize(o, 1<<16)
		if strings.HasSuffix(path, ".zip") {
			zw := zip.NewWriter(bw)
			zw.RegisterCompressor(zip.Deflate, deflateLevel(1))
			mw, err := zw.CreateHeader(&zip.FileHeader{Name: strings.TrimSuffix(filepath.Base(path), ".zip") + ".csv", Method: zip.Deflate})
			if err != nil {
				return err
			}
			w, finish = mw, func() error { return errors.Join(zw.Close(), bw.Flush(), o.Close()) }
		} else {
			zw, _ := gzip.NewWriterLevel(bw, 1)
			w, finish = zw, func() error { return errors.Join(zw.Close(), bw.Flush(), o.Close()) }
		}
	}
	if strings.HasSuffix(path, ".zip") {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, m := range zr.File {
			rc, err := m.Open()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			_, err = io.Copy(w, rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	} else {
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if _, err := io.Copy(w, zr); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return finish()
}
