package scrub

import (
	"fmt"
	"reflect"
	"testing"
)

// filled returns a Result whose every field but those that are not spooled
// holds a value that is not its zero value and differs with seed, strings
// with bytes that are not UTF-8 among them, so that a field added to Result
// but not to appendResult and readResult fails TestSpoolEveryField.
func filled(t *testing.T, seed int) Result {
	var r Result
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() || sf.Tag.Get("json") == "-" {
			continue // IDTags and resumedTags are for the record only
		}
		fill(t, f, fmt.Sprintf("%s-%d-\xff\xfe<&>\n", sf.Name, seed), int64(seed*1000+i+1))
	}
	return r
}

func fill(t *testing.T, f reflect.Value, s string, n int64) {
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		f.SetInt(n)
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
		fill(t, f.Elem(), s, n)
	case reflect.Slice:
		f.Set(reflect.MakeSlice(f.Type(), 2, 2))
		for j := range 2 {
			fill(t, f.Index(j), fmt.Sprint(s, j), n+int64(j))
		}
	case reflect.Struct:
		for k := range f.NumField() {
			fill(t, f.Field(k), fmt.Sprint(s, k), n+int64(k))
		}
	default:
		t.Fatalf("a field of kind %s: teach fill and appendResult about it", f.Kind())
	}
}

// TestSpoolEveryField: every field of a Result but the record's tags comes
// back from the spool as it went in, strings byte for byte; in the plan's
// order, whatever the order they were put in.
func TestSpoolEveryField(t *testing.T) {
	const n = 300
	sp, err := newResultSpool(n)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	want := make([]Result, n)
	for i := range want {
		want[i] = filled(t, i)
		if i%7 == 0 {
			want[i] = Result{Key: fmt.Sprint(i), Status: Skipped} // nil pointer and slices, empty strings
		}
		if i%11 == 0 {
			want[i].Error = string(make([]byte, 70<<10)) // longer than a flush and the read buffer
		}
	}
	for k := range n {
		i := (k * 7) % n // another order: 7 and 300 are coprime
		r := want[i]
		r.IDTags = []string{"tag"}
		if err := sp.put(i, &r); err != nil {
			t.Fatal(err)
		}
	}
	var got []Result
	if err := sp.each(func(r Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
}

// TestSpoolCorrupt: a record that does not decode is an error, never a
// result made up of what was there.
func TestSpoolCorrupt(t *testing.T) {
	r := filled(t, 1)
	b := appendResult(nil, &r)
	for _, cut := range []int{0, 1, len(b) / 2, len(b) - 1} {
		if _, err := readResult(b[:cut]); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded", cut, len(b))
		}
	}
	if _, err := readResult(append(b, 0)); err == nil {
		t.Error("a record with a byte more decoded")
	}
}
