// Package faultproxy is a loopback HTTP proxy for tests that puts faults
// between an S3 client and a real S3-compatible server (MinIO): error
// replies, lost responses, connections reset or cut short in the middle of
// a body, stalls, and holds at a chosen point of a request.
//
// The proxy forwards each request verbatim: the request line as it was
// sent, every header but the hop-by-hop ones, the Host header unchanged and
// the body byte for byte (aws-chunked and Transfer-Encoding: chunked
// bodies included), so AWS Signature Version 4 signatures stay valid. A
// client points its endpoint at Proxy.URL; path-style addressing is assumed
// by Request.Bucket, Request.Key and Request.Op.
//
// A rule decides per request what happens (an Action). Faults are bounded:
// Limited caps how many a rule injects, a stall lasts its Delay at most,
// and everything the proxy holds is let go, and its connections closed,
// when the test ends.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Request is what a rule sees of a request.
type Request struct {
	Method string
	Path   string // unescaped, as in url.URL.Path: "/bucket/key"
	Query  url.Values
	Header http.Header // a copy
	// Seq counts the requests the proxy has seen, from 1.
	Seq int
}

// Bucket is the first element of the path (path-style addressing).
func (r *Request) Bucket() string {
	b, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
	return b
}

// Key is the object key: the path after the bucket, "" for a request on
// a bucket.
func (r *Request) Key() string {
	_, k, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
	return k
}

// Attempt is the attempt number an AWS SDK gives a request in its
// amz-sdk-request header (1 for the first, 2 for the first retry), or 0.
// A rule that faults only first attempts lets every retry through.
func (r *Request) Attempt() int {
	for _, f := range strings.Split(r.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// Op names the S3 operation of a path-style request ("GetObject",
// "UploadPart", "ListObjectVersions", ...) for the operations scrub uses
// and a few more; others are "METHOD bucket" or "METHOD object".
func (r *Request) Op() string {
	q, h := r.Query, r.Header
	has := func(k string) bool { _, ok := q[k]; return ok }
	plain := len(q) == 0 || len(q) == 1 && has("x-id") // the AWS SDKs add x-id=Operation
	if r.Key() == "" {
		switch {
		case r.Bucket() == "" && r.Method == http.MethodGet:
			return "ListBuckets"
		case r.Method == http.MethodGet && has("versions"):
			return "ListObjectVersions"
		case r.Method == http.MethodGet && has("uploads"):
			return "ListMultipartUploads"
		case r.Method == http.MethodGet && has("versioning"):
			return "GetBucketVersioning"
		case r.Method == http.MethodGet && has("object-lock"):
			return "GetObjectLockConfiguration"
		case r.Method == http.MethodGet && q.Get("list-type") == "2":
			return "ListObjectsV2"
		case r.Method == http.MethodGet && plain:
			return "ListObjects"
		case r.Method == http.MethodPut && has("versioning"):
			return "PutBucketVersioning"
		case r.Method == http.MethodPut && plain:
			return "CreateBucket"
		case r.Method == http.MethodPost && has("delete"):
			return "DeleteObjects"
		case r.Method == http.MethodHead:
			return "HeadBucket"
		}
		return r.Method + " bucket"
	}
	switch r.Method {
	case http.MethodHead:
		return "HeadObject"
	case http.MethodGet:
		switch {
		case has("tagging"):
			return "GetObjectTagging"
		case has("uploadId"):
			return "ListParts"
		case has("retention"):
			return "GetObjectRetention"
		case has("legal-hold"):
			return "GetObjectLegalHold"
		case plain || has("versionId") || has("partNumber"):
			return "GetObject"
		}
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId") && h.Get("X-Amz-Copy-Source") != "":
			return "UploadPartCopy"
		case has("partNumber") && has("uploadId"):
			return "UploadPart"
		case has("tagging"):
			return "PutObjectTagging"
		case has("legal-hold"):
			return "PutObjectLegalHold"
		case has("retention"):
			return "PutObjectRetention"
		case h.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		case plain:
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload"
		case has("tagging"):
			return "DeleteObjectTagging"
		default:
			return "DeleteObject"
		}
	}
	return r.Method + " object"
}

// Fault is something that goes wrong in the response to a forwarded
// request, Action.After bytes into its body.
type Fault int

// The faults of a response body.
const (
	None Fault = iota
	// Reset resets the connection (TCP RST): the client's read fails.
	Reset
	// Truncate closes the connection cleanly. The response keeps its
	// Content-Length, so the client sees a short body.
	Truncate
	// Stall stops sending for Action.Delay, and calls Action.Hold, then
	// goes on.
	Stall
)

func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case Reset:
		return "reset"
	case Truncate:
		return "truncate"
	case Stall:
		return "stall"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Action is what the proxy does with a request. The zero Action forwards
// it unchanged.
type Action struct {
	// Status, if not 0, answers the request with this HTTP status and an
	// S3 error document holding Code (by default one that fits the
	// status: InternalError for 500, ServiceUnavailable for 503), after
	// reading the request's body. The request is not forwarded, unless
	// Forward is set.
	Status int
	Code   string
	// Forward, with Status, forwards the request first and throws the
	// server's response away: the server did the work, the client is told
	// it failed (a lost response).
	Forward bool

	// Body is a fault in the response of a forwarded request, After bytes
	// into its body. With After 0 the fault comes before the status line:
	// the request reached the server, the client gets no response (Reset,
	// Truncate) or waits for it (Stall). A body shorter than After is
	// sent whole.
	Body  Fault
	After int64

	// Delay stalls the request for this long, and Hold, if set, is called
	// and may block as long as it likes: both before the request is
	// forwarded or answered (after its body has been read), or with Body
	// Stall, at that point of the response. A client that gives up ends
	// the stall, and so does the end of the test.
	Delay time.Duration
	Hold  func()
}

// faulty reports whether a does anything but forward.
func (a Action) faulty() bool {
	return a.Status != 0 || a.Body != None || a.Delay > 0 || a.Hold != nil
}

func (a Action) String() string {
	var parts []string
	if a.Status != 0 {
		s := fmt.Sprintf("reply %d %s", a.Status, a.code())
		if a.Forward {
			s = "forward, then " + s
		}
		parts = append(parts, s)
	}
	if a.Body != None {
		parts = append(parts, fmt.Sprintf("%s after %d bytes", a.Body, a.After))
	}
	if a.Delay > 0 {
		parts = append(parts, "delay "+a.Delay.String())
	}
	if a.Hold != nil {
		parts = append(parts, "hold")
	}
	if len(parts) == 0 {
		return "forward"
	}
	return strings.Join(parts, ", ")
}

func (a Action) code() string {
	if a.Code != "" {
		return a.Code
	}
	switch a.Status {
	case http.StatusInternalServerError:
		return "InternalError"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusPreconditionFailed:
		return "PreconditionFailed"
	case http.StatusNotFound:
		return "NoSuchKey"
	}
	return strings.ReplaceAll(http.StatusText(a.Status), " ", "")
}

// Limited returns a rule that injects at most n faults of rule's and then
// forwards everything. It is safe for concurrent use if rule is.
func Limited(rule func(*Request) Action, n int) func(*Request) Action {
	var mu sync.Mutex
	return func(r *Request) Action {
		a := rule(r)
		if !a.faulty() {
			return a
		}
		mu.Lock()
		defer mu.Unlock()
		if n <= 0 {
			return Action{}
		}
		n--
		return a
	}
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	t         testing.TB
	target    *url.URL
	rule      func(*Request) Action
	url       string
	srv       *http.Server
	transport *http.Transport

	seq      atomic.Int64
	injected atomic.Int64
	conns    atomic.Int64

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Start starts a proxy on a random port of 127.0.0.1 that forwards to
// target (a base URL such as http://127.0.0.1:9000) and applies rule to
// every request; a nil rule forwards everything. rule is called from
// several goroutines at once. The proxy is closed when the test ends.
func Start(t testing.TB, target string, rule func(*Request) Action) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		t.Fatalf("faultproxy: target %q is not an http(s) base URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{
		t:      t,
		target: u,
		rule:   rule,
		url:    "http://" + ln.Addr().String(),
		transport: &http.Transport{
			Proxy:                 nil, // never an HTTP_PROXY from the environment
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			DisableCompression:    true, // bodies pass as they are
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       30 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				p.conns.Add(1)
			}
		},
	}
	go p.srv.Serve(ln)
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's base URL, http://127.0.0.1:PORT.
func (p *Proxy) URL() string { return p.url }

// Requests counts the requests seen so far.
func (p *Proxy) Requests() int { return int(p.seq.Load()) }

// Conns counts the client connections accepted so far: with Requests, it
// tells how well a client reuses its connections.
func (p *Proxy) Conns() int { return int(p.conns.Load()) }

// Injected counts the requests that got a fault (an Action other than the
// zero one).
func (p *Proxy) Injected() int { return int(p.injected.Load()) }

// Close stops the proxy: it ends stalls and holds, closes every
// connection and waits for the requests in flight. A Hold that still
// blocks is left to return on its own. Start arranges for Close to be
// called when the test ends; calling it earlier is fine.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cancel()
	p.mu.Unlock()
	p.srv.Close()
	p.wg.Wait()
	p.transport.CloseIdleConnections()
}

// enter registers a request in flight, unless the proxy is closed.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		panic(http.ErrAbortHandler) // closed: drop the connection
	}
	defer p.wg.Done()
	seq := int(p.seq.Add(1))
	req := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Seq: seq}
	var a Action
	if p.rule != nil {
		a = p.rule(req)
	}
	if a.faulty() {
		p.injected.Add(1)
		p.t.Logf("faultproxy: #%d %s %s: %v", seq, req.Op(), r.URL.Path, a)
	}
	// Requests end when the client goes away or the proxy closes.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()

	var body io.Reader = r.Body
	if a.Status != 0 || (a.Body != Stall && (a.Delay > 0 || a.Hold != nil)) {
		// The request is read whole before it is held, answered, or
		// forwarded after a delay.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		body = bytes.NewReader(b)
	}
	if a.Body != Stall && !p.pause(ctx, a) {
		panic(http.ErrAbortHandler)
	}
	if a.Status != 0 && !a.Forward {
		p.reply(w, r, a, seq)
		return
	}

	out := p.outgoing(ctx, r, body)
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if ctx.Err() != nil {
			panic(http.ErrAbortHandler)
		}
		p.reply(w, r, Action{Status: http.StatusBadGateway, Code: "BadGateway"}, seq)
		return
	}
	defer resp.Body.Close()
	if a.Status != 0 { // Forward: the response is lost
		io.Copy(io.Discard, resp.Body)
		p.reply(w, r, a, seq)
		return
	}
	if a.Body != None && a.After == 0 {
		p.fault(ctx, w, a, false)
	}
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	removeHop(h)
	if r.Method != http.MethodHead && resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	p.copyBody(ctx, w, resp.Body, a)
}

// outgoing is r addressed to the target: the same request line, headers
// (Host included) and body.
func (p *Proxy) outgoing(ctx context.Context, r *http.Request, body io.Reader) *http.Request {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	u := &url.URL{Scheme: p.target.Scheme, Host: p.target.Host, Opaque: path, RawQuery: r.URL.RawQuery}
	if strings.HasPrefix(path, "//") || !strings.HasPrefix(path, "/") {
		u = &url.URL{Scheme: p.target.Scheme, Host: p.target.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	}
	out := (&http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header.Clone(),
		Host:          r.Host,
		ContentLength: r.ContentLength,
	}).WithContext(ctx)
	removeHop(out.Header)
	switch {
	case r.ContentLength == 0:
		out.Body = http.NoBody
	default:
		out.Body = io.NopCloser(body)
	}
	return out
}

// pause carries out a's Delay and Hold, and reports false if the request
// ended first.
func (p *Proxy) pause(ctx context.Context, a Action) bool {
	if a.Delay > 0 {
		t := time.NewTimer(a.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	if a.Hold != nil {
		held := make(chan struct{})
		go func() {
			defer close(held)
			a.Hold()
		}()
		select {
		case <-held:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// copyBody sends the response body, with a's fault at a.After bytes.
func (p *Proxy) copyBody(ctx context.Context, w http.ResponseWriter, body io.Reader, a Action) {
	buf := make([]byte, 32<<10)
	fired := a.Body == None || a.After == 0
	var n int64
	for {
		if !fired && n == a.After {
			fired = true
			p.fault(ctx, w, a, true)
		}
		lim := int64(len(buf))
		if !fired {
			lim = min(lim, a.After-n)
		}
		k, err := body.Read(buf[:lim])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				panic(http.ErrAbortHandler)
			}
			n += int64(k)
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler) // the server's body broke off
		}
	}
}

// fault carries out a.Body at the current point of the response; started
// tells whether the status line has been written.
func (p *Proxy) fault(ctx context.Context, w http.ResponseWriter, a Action, started bool) {
	rc := http.NewResponseController(w)
	if started {
		rc.Flush()
	}
	switch a.Body {
	case Stall:
		if !p.pause(ctx, a) {
			panic(http.ErrAbortHandler)
		}
	case Reset, Truncate:
		conn, _, err := rc.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok && a.Body == Reset {
			tc.SetLinger(0) // Close sends RST
		}
		conn.Close()
		panic(http.ErrAbortHandler)
	}
}

// s3Error is S3's error document.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
}

// reply answers with a's error, the body of the request read first so
// that the connection stays usable.
func (p *Proxy) reply(w http.ResponseWriter, r *http.Request, a Action, seq int) {
	io.Copy(io.Discard, r.Body)
	id := "faultproxy-" + strconv.Itoa(seq)
	doc, _ := xml.Marshal(s3Error{Code: a.code(), Message: "injected by faultproxy", Resource: r.URL.Path, RequestID: id})
	doc = append([]byte(xml.Header), doc...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Amz-Request-Id", id)
	if r.Method == http.MethodHead {
		w.WriteHeader(a.Status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(a.Status)
	w.Write(doc)
}
