package main

import (
	"bytes"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zip"

	"github.com/scrubtool/scrub/scrub/scrubtest/exportgen"
)

// csvStyle describes the byte-level layout of a CSV file.
type csvStyle struct {
	crlf         bool // end lines with CRLF instead of LF
	bom          bool // start with a UTF-8 byte order mark
	noFinalBreak bool // the last line has no line terminator
}

const utf8BOM = "\uFEFF"

// eol returns the line terminator.
func (s csvStyle) eol() string {
	if s.crlf {
		return "\r\n"
	}
	return "\n"
}

// csvLines renders the header and every record as complete lines, each with
// its terminator; join them with joinLines.
func csvLines(t table, style csvStyle) []string {
	eol := style.eol()
	lines := []string{string(exportgen.AppendRecord(nil, t.header, false, eol))}
	for _, rec := range t.records {
		lines = append(lines, string(exportgen.AppendRecord(nil, rec.fields, rec.quotedID, eol)))
	}
	return lines
}

// joinLines concatenates lines, adding the BOM and dropping the final line
// terminator as style asks.
func joinLines(lines []string, style csvStyle) []byte {
	s := strings.Join(lines, "")
	if style.noFinalBreak {
		s = strings.TrimSuffix(s, style.eol())
	}
	if style.bom {
		s = utf8BOM + s
	}
	return []byte(s)
}

// zipMember is one file inside a zip archive.
type zipMember struct {
	name    string
	comment string
	data    []byte
}

// zipArchive writes members, all deflated and stamped with modified, and
// sets the archive comment.
func zipArchive(members []zipMember, modified time.Time, comment string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{
			Name:     m.name,
			Comment:  m.comment,
			Method:   zip.Deflate,
			Modified: modified,
		})
		must(err)
		_, err = w.Write(m.data)
		must(err)
	}
	if comment != "" {
		must(zw.SetComment(comment))
	}
	must(zw.Close())
	return buf.Bytes()
}

// gzipMembers writes each part as its own gzip member, one after the other,
// every header carrying name and modified.
func gzipMembers(parts [][]byte, name string, modified time.Time) []byte {
	var buf bytes.Buffer
	for _, part := range parts {
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		must(err)
		zw.Name = name
		zw.ModTime = modified
		_, err = zw.Write(part)
		must(err)
		must(zw.Close())
	}
	return buf.Bytes()
}

// must panics on errors that writing to memory cannot produce.
func must(err error) {
	if err != nil {
		panic(err)
	}
}
