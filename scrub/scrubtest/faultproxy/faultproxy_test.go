package faultproxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// seen is a request as the backend received it.
type seen struct {
	method, uri, host string
	header            http.Header
	body              []byte
	contentLength     int64
	chunked           bool
}

// backend serves body (10000 bytes unless set) to every request and
// records what it received.
type backend struct {
	*httptest.Server
	body []byte
	mu   sync.Mutex
	reqs []seen
}

func newBackend(t *testing.T) *backend {
	b := &backend{body: bytes.Repeat([]byte("0123456789"), 1000)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("backend: read body: %v", err)
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), data, r.ContentLength,
			len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"})
		b.mu.Unlock()
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("X-Amz-Meta-Echo", r.Header.Get("X-Amz-Meta-Echo"))
		w.Header().Set("Content-Length", strconv.Itoa(len(b.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(b.body)
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) requests() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.reqs...)
}

// client never pools connections, so that a fault on one request cannot
// reach the next.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
}

func do(t *testing.T, method, u string, body io.Reader, hdr map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

func TestForwardVerbatim(t *testing.T) {
	b := newBackend(t)
	p := Start(t, b.URL, nil)
	host := strings.TrimPrefix(p.URL(), "http://")
	// A key that a careless proxy would re-encode, and a signed-looking
	// header set.
	const uri = "/bucket/dir/a%2Bb%20c%3D%21%28x%29.csv.gz?versionId=3%2F4&x-id=GetObject"
	body := []byte("part data\r\n")
	resp, got, err := do(t, http.MethodPut, p.URL()+uri, bytes.NewReader(body), map[string]string{
		"Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"X-Amz-Date":    "20260101T000000Z", "Content-Md5": "c2lnbmVk", "X-Amz-Meta-Echo": "kept",
		"If-Match": `"etag"`, "Connection": "X-Drop-Me", "X-Drop-Me": "hop-by-hop",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !bytes.Equal(got, b.body) || resp.Header.Get("ETag") != `"abc"` || resp.Header.Get("X-Amz-Meta-Echo") != "kept" {
		t.Errorf("response %d %q, %d bytes", resp.StatusCode, resp.Header, len(got))
	}
	if resp.ContentLength != int64(len(b.body)) {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(b.body))
	}
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests reached the backend", len(reqs))
	}
	r := reqs[0]
	switch {
	case r.method != http.MethodPut, r.uri != uri:
		t.Errorf("request line %s %s, want PUT %s", r.method, r.uri, uri)
	case r.host != host:
		t.Errorf("Host %q, want the proxy's %q as the client sent it", r.host, host)
	case !bytes.Equal(r.body, body), r.contentLength != int64(len(body)):
		t.Errorf("body %q (Content-Length %d)", r.body, r.contentLength)
	case r.header.Get("X-Drop-Me") != "":
		t.Error("a header named in Connection was forwarded")
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "Content-Md5", "If-Match", "User-Agent"} {
		if r.header.Get(k) == "" {
			t.Errorf("header %s not forwarded", k)
		}
	}
	if r.header.Get("Accept-Encoding") != "" {
		t.Errorf("the proxy added Accept-Encoding %q", r.header.Get("Accept-Encoding"))
	}
	if p.Requests() != 1 || p.Injected() != 0 {
		t.Errorf("Requests %d, Injected %d", p.Requests(), p.Injected())
	}
}

func TestForwardChunkedAndHead(t *testing.T) {
	b := newBackend(t)
	p := Start(t, b.URL, nil)
	// An io.Reader of unknown length goes out with Transfer-Encoding:
	// chunked, as aws-chunked uploads of unseekable bodies do, and with
	// Expect: 100-continue.
	body := bytes.Repeat([]byte("chunk;"), 50000)
	_, _, err := do(t, http.MethodPut, p.URL()+"/b/k", io.MultiReader(bytes.NewReader(body)), map[string]string{
		"Expect": "100-continue", "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(body)),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, got, err := do(t, http.MethodHead, p.URL()+"/b/k", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(b.body)) || len(got) != 0 {
		t.Errorf("HEAD: Content-Length %d, body %d bytes", resp.ContentLength, len(got))
	}
	reqs := b.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].body, body) || !reqs[0].chunked || reqs[0].header.Get("Content-Encoding") != "aws-chunked" {
		t.Errorf("chunked upload not forwarded intact: %d requests", len(reqs))
	}
}

func TestErrorReply(t *testing.T) {
	b := newBackend(t)
	p := Start(t, b.URL, func(r *Request) Action {
		switch r.Method {
		case http.MethodGet:
			return Action{Status: 503, Code: "SlowDown"}
		case http.MethodHead:
			return Action{Status: 500}
		}
		return Action{Status: 500, Forward: true}
	})
	resp, got, err := do(t, http.MethodGet, p.URL()+"/b/k", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e s3Error
	if err := xml.Unmarshal(got, &e); err != nil || resp.StatusCode != 503 || e.Code != "SlowDown" || e.Resource != "/b/k" {
		t.Errorf("GET: %d %q (%v)", resp.StatusCode, got, err)
	}
	if resp.Header.Get("Content-Type") != "application/xml" || resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("GET: headers %v", resp.Header)
	}
	resp, got, err = do(t, http.MethodHead, p.URL()+"/b/k", nil, nil)
	if err != nil || resp.StatusCode != 500 || len(got) != 0 {
		t.Errorf("HEAD: %v %v %q", resp, err, got)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("%d answered requests reached the backend", n)
	}
	// A lost response: the backend got the upload, the client an error.
	resp, got, err = do(t, http.MethodPut, p.URL()+"/b/k", strings.NewReader("data"), nil)
	if err != nil || resp.StatusCode != 500 || !bytes.Contains(got, []byte("<Code>InternalError</Code>")) {
		t.Errorf("PUT: %v %v %q", resp, err, got)
	}
	if reqs := b.requests(); len(reqs) != 1 || string(reqs[0].body) != "data" {
		t.Errorf("the lost-response PUT did not reach the backend whole: %d requests", len(reqs))
	}
	if p.Injected() != 3 {
		t.Errorf("Injected %d, want 3", p.Injected())
	}
}

func TestBodyFaults(t *testing.T) {
	b := newBackend(t)
	for _, tc := range []struct {
		name  string
		a     Action
		n     int // bytes the client gets
		check func(error) bool
	}{
		{"reset", Action{Body: Reset, After: 1234}, 1234, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"truncate", Action{Body: Truncate, After: 4321}, 4321, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"beyond the end", Action{Body: Reset, After: 1 << 20}, 10000, func(err error) bool { return err == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, b.URL, func(*Request) Action { return tc.a })
			resp, err := client().Get(p.URL() + "/b/k")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != 10000 {
				t.Errorf("Content-Length %d, want the original 10000", resp.ContentLength)
			}
			got, err := io.ReadAll(resp.Body)
			if len(got) != tc.n || !bytes.Equal(got, b.body[:len(got)]) || !tc.check(err) {
				t.Errorf("got %d bytes, %v; want %d", len(got), err, tc.n)
			}
		})
	}
	// At 0 the fault comes before the response: the request did reach
	// the backend.
	for _, f := range []Fault{Reset, Truncate} {
		t.Run(f.String()+" before the response", func(t *testing.T) {
			before := len(b.requests())
			p := Start(t, b.URL, func(*Request) Action { return Action{Body: f} })
			if _, _, err := do(t, http.MethodPut, p.URL()+"/b/k", strings.NewReader("x"), nil); err == nil {
				t.Error("the client got a response")
			}
			if len(b.requests()) != before+1 {
				t.Error("the request was not forwarded")
			}
		})
	}
}

func TestStallAndHold(t *testing.T) {
	b := newBackend(t)
	t.Run("stall mid-body", func(t *testing.T) {
		p := Start(t, b.URL, func(*Request) Action { return Action{Body: Stall, After: 5000, Delay: 300 * time.Millisecond} })
		start := time.Now()
		_, got, err := do(t, http.MethodGet, p.URL()+"/b/k", nil, nil)
		if err != nil || !bytes.Equal(got, b.body) || time.Since(start) < 300*time.Millisecond {
			t.Errorf("%d bytes in %v: %v", len(got), time.Since(start), err)
		}
	})
	t.Run("delay before forwarding", func(t *testing.T) {
		before := len(b.requests())
		p := Start(t, b.URL, func(*Request) Action { return Action{Delay: 300 * time.Millisecond} })
		start := time.Now()
		if _, _, err := do(t, http.MethodPut, p.URL()+"/b/k", strings.NewReader("x"), nil); err != nil || time.Since(start) < 300*time.Millisecond {
			t.Errorf("after %v: %v", time.Since(start), err)
		}
		if len(b.requests()) != before+1 {
			t.Error("not forwarded")
		}
	})
	t.Run("hold an upload after its body", func(t *testing.T) {
		before := len(b.requests())
		held, release := make(chan struct{}), make(chan struct{})
		p := Start(t, b.URL, func(*Request) Action {
			return Action{Hold: func() { close(held); <-release }}
		})
		errc := make(chan error, 1)
		go func() {
			_, _, err := do(t, http.MethodPut, p.URL()+"/b/k", strings.NewReader("the whole body"), nil)
			errc <- err
		}()
		<-held
		if len(b.requests()) != before {
			t.Error("forwarded while held")
		}
		close(release)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if reqs := b.requests(); len(reqs) != before+1 || string(reqs[before].body) != "the whole body" {
			t.Error("not forwarded after the hold")
		}
	})
	t.Run("hold a download mid-body", func(t *testing.T) {
		release := make(chan struct{})
		p := Start(t, b.URL, func(*Request) Action {
			return Action{Body: Stall, After: 3000, Hold: func() { <-release }}
		})
		resp, err := client().Get(p.URL() + "/b/k")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := make([]byte, 3000)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		close(release)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(append(first, rest...), b.body) {
			t.Errorf("%d+%d bytes: %v", len(first), len(rest), err)
		}
	})
}

// TestBounded: Limited caps the faults, a client that gives up ends a
// stall, and Close ends every stall and hold at once.
func TestBounded(t *testing.T) {
	b := newBackend(t)
	t.Run("Limited", func(t *testing.T) {
		p := Start(t, b.URL, Limited(func(r *Request) Action {
			if r.Method == http.MethodGet {
				return Action{Status: 500}
			}
			return Action{}
		}, 2))
		var codes []int
		for range 4 {
			resp, _, err := do(t, http.MethodGet, p.URL()+"/b/k", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, resp.StatusCode)
		}
		if want := []int{500, 500, 200, 200}; !equal(codes, want) || p.Injected() != 2 || p.Requests() != 4 {
			t.Errorf("statuses %v, want %v; Injected %d", codes, want, p.Injected())
		}
	})
	t.Run("client gives up", func(t *testing.T) {
		p := Start(t, b.URL, func(*Request) Action { return Action{Delay: time.Hour} })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/b/k", nil)
		if _, err := client().Do(req); err == nil {
			t.Fatal("a response despite the stall")
		}
		start := time.Now()
		p.Close()
		if time.Since(start) > 5*time.Second {
			t.Errorf("Close took %v", time.Since(start))
		}
	})
	t.Run("Close", func(t *testing.T) {
		p := Start(t, b.URL, func(r *Request) Action {
			if r.Path == "/b/hold" {
				return Action{Hold: func() { select {} }}
			}
			return Action{Body: Stall, After: 100, Delay: time.Hour}
		})
		errc := make(chan error, 2)
		for _, path := range []string{"/b/hold", "/b/stall"} {
			go func() {
				_, _, err := do(t, http.MethodGet, p.URL()+path, nil, nil)
				errc <- err
			}()
		}
		for p.Requests() < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		p.Close()
		for range 2 {
			if err := <-errc; err == nil {
				t.Error("a stalled request completed")
			}
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("Close took %v", time.Since(start))
		}
		// Closed: new connections are refused.
		if _, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL(), "http://"), time.Second); err == nil {
			t.Error("still listening after Close")
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOp(t *testing.T) {
	for _, tc := range []struct {
		method, target  string
		header          string
		op, bucket, key string
	}{
		{"GET", "/", "", "ListBuckets", "", ""},
		{"GET", "/b?versions&prefix=k", "", "ListObjectVersions", "b", ""},
		{"GET", "/b?list-type=2&prefix=x", "", "ListObjectsV2", "b", ""},
		{"GET", "/b?uploads", "", "ListMultipartUploads", "b", ""},
		{"GET", "/b?versioning", "", "GetBucketVersioning", "b", ""},
		{"GET", "/b?object-lock", "", "GetObjectLockConfiguration", "b", ""},
		{"PUT", "/b", "", "CreateBucket", "b", ""},
		{"HEAD", "/b/dir/k.zip", "", "HeadObject", "b", "dir/k.zip"},
		{"GET", "/b/dir/k.zip?versionId=v1&x-id=GetObject", "", "GetObject", "b", "dir/k.zip"},
		{"GET", "/b/k?tagging&versionId=v1", "", "GetObjectTagging", "b", "k"},
		{"PUT", "/b/k?x-id=PutObject", "", "PutObject", "b", "k"},
		{"PUT", "/b/k", "", "PutObject", "b", "k"},
		{"PUT", "/b/k", "X-Amz-Copy-Source", "CopyObject", "b", "k"},
		{"PUT", "/b/k?partNumber=2&uploadId=u&x-id=UploadPart", "", "UploadPart", "b", "k"},
		{"POST", "/b/k?uploads&x-id=CreateMultipartUpload", "", "CreateMultipartUpload", "b", "k"},
		{"POST", "/b/k?uploadId=u&x-id=CompleteMultipartUpload", "", "CompleteMultipartUpload", "b", "k"},
		{"DELETE", "/b/k?uploadId=u&x-id=AbortMultipartUpload", "", "AbortMultipartUpload", "b", "k"},
		{"DELETE", "/b/k?versionId=v1&x-id=DeleteObject", "", "DeleteObject", "b", "k"},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		r := &Request{Method: tc.method, Path: u.Path, Query: u.Query(), Header: http.Header{}}
		if tc.header != "" {
			r.Header.Set(tc.header, "x")
		}
		if r.Op() != tc.op || r.Bucket() != tc.bucket || r.Key() != tc.key {
			t.Errorf("%s %s: %s %q %q, want %s %q %q", tc.method, tc.target, r.Op(), r.Bucket(), r.Key(), tc.op, tc.bucket, tc.key)
		}
	}
}

func TestAttempt(t *testing.T) {
	for hdr, want := range map[string]int{"attempt=1; max=4": 1, "attempt=3;max=8": 3, "": 0, "max=4": 0} {
		r := &Request{Header: http.Header{"Amz-Sdk-Request": {hdr}}}
		if got := r.Attempt(); got != want {
			t.Errorf("%q: attempt %d, want %d", hdr, got, want)
		}
	}
}

func TestSeq(t *testing.T) {
	b := newBackend(t)
	var mu sync.Mutex
	var seqs []int
	p := Start(t, b.URL, func(r *Request) Action {
		mu.Lock()
		seqs = append(seqs, r.Seq)
		mu.Unlock()
		return Action{}
	})
	for range 3 {
		if _, _, err := do(t, http.MethodGet, p.URL()+"/b/k", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !equal(seqs, []int{1, 2, 3}) {
		t.Errorf("Seq %v", seqs)
	}
}
