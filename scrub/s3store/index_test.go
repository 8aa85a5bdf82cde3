package s3store

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/ids"
	"github.com/scrubtool/scrub/scrub/index"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/scrubtest"
)

// TestIndexIdentity: in a versioned bucket, an erasure with the index
// learns each archive as listed (ETag and size), its rewrites included,
// so that the same request again reads only the archive the index has no
// entry for; an object rewritten behind scrub's back (a new ETag) is read
// in full, and its listed rows erased, whatever its old entry said; one
// put again with the same bytes (the same ETag) is still ruled out.
func TestIndexIdentity(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	bucket := newBucket(t, c, versioned)
	before := uploadExport(t, c, bucket, "exports")
	files := local.Dir(t.TempDir())
	key := index.NewKey(bytes.Repeat([]byte{9}, 32))
	var opened []*index.Index
	withIndex := func(opt *scrub.Options) {
		ix, err := index.Open(ctx, files, key, opt.MatchSpec())
		if err != nil {
			t.Fatal(err)
		}
		var hashes []uint64
		ids.New(scrubtest.Listed...).Each(func(id string) { hashes = append(hashes, ix.Hash([]byte(id))) })
		ix.SetListed(hashes)
		opt.Index, opt.IndexSkip = ix, true
		opened = append(opened, ix)
	}
	flush := func() {
		for _, ix := range opened {
			if err := ix.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		opened = nil
	}

	sum := erase(ctx, t, newStore(c, bucket, "exports"), withIndex)
	flush()
	if sum.Totals.Erased != 13 || sum.Totals.AbsentByIndex != 0 || sum.Totals.RowsRemoved != 343 {
		t.Fatalf("first erasure, empty index: %+v", sum.Totals)
	}
	sum = erase(ctx, t, newStore(c, bucket, "exports"), withIndex)
	flush()
	// The monthly zip with a member that is not CSV has no entry.
	if sum.Totals.AbsentByIndex != 13 || sum.Totals.Unchanged != 1 {
		t.Fatalf("the same request again: %+v", sum.Totals)
	}

	// Behind scrub's back: one clean archive gets a listed ID's rows
	// (new ETag), another is put again as it is (same ETag).
	dirty := "exports/2376158762_cust_2017-11-21.zip"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(dirty)}, before["exports/2376158762_exc_2017-11-22.zip"])
	same := "exports/2376158762_exc_2017-11-23.zip"
	put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(same)}, get(t, c, bucket, same, ""))

	sum = erase(ctx, t, newStore(c, bucket, "exports"), withIndex)
	flush()
	results, err := sum.Results()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		switch r.Key {
		case "s3://" + bucket + "/" + dirty:
			if r.Status != scrub.Erased || r.RowsRemoved == 0 {
				t.Errorf("%s, rewritten with listed rows behind scrub's back: %s, %d rows removed", dirty, r.Status, r.RowsRemoved)
			}
		case "s3://" + bucket + "/" + same:
			if r.Status != scrub.AbsentByIndex {
				t.Errorf("%s, put again with the same bytes: %s", same, r.Status)
			}
		}
	}
	checkNoVictims(t, c, bucket)
}
