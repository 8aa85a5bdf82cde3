// Command gen writes scrub's test fixtures: a small, deterministic imitation
// of an analytics platform's raw-data export of an application's usage
// telemetry (product 2376158762), plus the ID list of clients whose rows must
// be erased.
//
// Run it from the repository root:
//
//	go run ./testdata/gen -out testdata
//
// It writes testdata/ids.txt and testdata/export/... and prints a summary of
// every file (rows, victim rows, trap rows). The output is byte-for-byte
// reproducible: all randomness comes from math/rand/v2 PCG generators with
// fixed seeds, every timestamp is fixed, and the compressors come from the
// github.com/klauspost/compress version pinned in go.mod. gen_test.go fails
// whenever the committed files differ from what this program produces.
//
// The tables, their headers, the clients' attributes and the rows' content
// come from scrub/scrubtest/exportgen, which cmd/bench draws its large data
// sets from too; this command adds the traps, the file layout and the
// containers.
//
// # Deliberate traps for an erasure tool
//
//  1. ID list: ids.txt lists three victims (victimIDs) that occur in the
//     Client ID column, plus absentID, which occurs in no file at all. The
//     list has a "# comment" line, a blank line and a line with surrounding
//     spaces.
//  2. Look-alike IDs that are not listed and whose rows must survive:
//     superstringID (victim 1 plus a trailing "A", so a listed ID is its
//     prefix) and prefixID (victim 2 minus its last digit, so it is a prefix
//     of a listed ID).
//  3. Victim IDs inside other columns of non-victims' rows: Custom Values
//     "(ReferredBy,<victim>)" in custom-event files and an exception Message
//     "... locked by installation <victim>, ..." in exception files.
//  4. Client ID fields quoted although nothing requires it ("9F3A..."), for
//     victims as well as for other clients.
//  5. 2376158762_exc_2017-11-20.zip: every data row belongs to a victim, so
//     an erased copy holds only the header row.
//  6. 2376158762_cust_2017-11-21.zip: no victim rows at all (but traps 2 and
//     3), so an erasure must leave the file byte-for-byte untouched.
//
// Format variations: daily zips; monthly zips in export/monthly/ (the
// custom-event one also holds README.txt, an archive comment and a member
// comment); a gzip file; a multi-member gzip whose second member continues
// the CSV without a header row; a plain CSV with UTF-8 BOM and CRLF line
// endings; a file named .zip that is really gzip; and a CSV whose last row
// has no trailing newline (2376158762_cust_2017-11-22.zip).
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "testdata", "directory that receives ids.txt and export/")
	flag.Parse()

	files, stats := generate()
	if err := writeFiles(*out, files); err != nil {
		log.Fatal(err)
	}
	printSummary(os.Stdout, files, stats)
}

// outputFile is one generated file; path is slash-separated and relative to
// the output directory.
type outputFile struct {
	path string
	data []byte
}

// generate builds every output file in a fixed order.
func generate() ([]outputFile, []fileStats) {
	p := newPool()
	files := []outputFile{{path: "ids.txt", data: []byte(idsFile())}}
	var stats []fileStats
	for _, spec := range exportSpecs() {
		f, st := buildExport(p, spec)
		files = append(files, f)
		stats = append(stats, st)
	}
	return files, stats
}

// writeFiles writes files below dir, creating directories as needed.
func writeFiles(dir string, files []outputFile) error {
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// idsFile returns the content of ids.txt (trap 1).
func idsFile() string {
	return "# GDPR erasure requests for product 2376158762 (tickets DPO-2017-0412, DPO-2017-0419)\n" +
		victimIDs[0] + "\n" +
		"\n" +
		"  " + victimIDs[1] + "  \n" +
		victimIDs[2] + "\n" +
		absentID + "\n"
}
