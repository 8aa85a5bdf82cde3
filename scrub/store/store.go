// Package store is the one place that knows how a location is spelt: a
// local path (a directory tree, or a single archive file) or
// s3://bucket/prefix. Open parses a location and opens it on its backend,
// package local or package s3store; everything above receives opened
// stores and never looks at a scheme. The S3 client is built here, once per
// Opener, and shared by every location it opens (sources, the audit
// location, a blocklist, an export's output).
//
// A location is seen two ways: as the archives below it (Location.Archives,
// a scrub.Store for the engine) and as a flat directory of small files
// (Location.Files, for audit bundles, blocklists and export archives).
// Abilities that only some backends have (versions, object lock,
// conditional writes, staged-file cleanup) are found by the engine through
// the small interfaces of package scrub, never by asserting a backend's
// type.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scrubtool/scrub/scrub"
	"github.com/scrubtool/scrub/scrub/local"
	"github.com/scrubtool/scrub/scrub/s3store"
)

// s3Scheme starts the locations in S3 or an S3-compatible store.
const s3Scheme = "s3://"

// Options configure an Opener.
type Options struct {
	// Endpoint is the S3 endpoint URL for S3-compatible stores such as
	// MinIO; "" means AWS, or $AWS_ENDPOINT_URL.
	Endpoint string
	// PartSize is the multipart part size of S3 uploads; 0 means
	// s3store.DefaultPartSize.
	PartSize int64
	// ReadOnly opens archives for a pass that only reads them (an
	// export): objects under retention or legal hold can be read.
	ReadOnly bool
	// AcceptUnconditionalWrites replaces archives in an S3 store that
	// ignores conditional writes (If-Match), accepting that another
	// writer's object put there meanwhile could be overwritten; see
	// s3store.Store.Prepare. Warn is told when that happens.
	AcceptUnconditionalWrites bool
	// Share, if set, names the share of a sharded request this run
	// works on ("2-of-3"), so that the shares, run at once, each check an
	// S3 store's conditional writes on a scratch object of their own.
	Share string
	// Warn, if set, is told about staged files of another run in a local
	// tree, and about an S3 store found to ignore conditional writes when
	// that was accepted.
	Warn func(msg string)
	// Jobs is the number of archives a batch on these locations
	// processes at once (its --jobs), for which the S3 client's
	// connection pool is sized; 0 means the default.
	Jobs int
	// Client, if set, is the S3 client to use instead of one built from
	// the standard AWS configuration (tests wrap the real client).
	Client *s3.Client
}

// DefaultPartSize is the default Options.PartSize.
const DefaultPartSize = s3store.DefaultPartSize

// Opener opens locations with one set of options and one S3 client, made
// on first use. It is safe for concurrent use.
type Opener struct {
	opt Options

	mu     sync.Mutex
	client *s3.Client
}

// New returns an Opener.
func New(opt Options) *Opener { return &Opener{opt: opt, client: opt.Client} }

// Open opens location with the options opt: the same as New(opt).Open.
func Open(ctx context.Context, location string, opt Options) (*Location, error) {
	return New(opt).Open(ctx, location)
}

// LocationError is a location that is not spelt as one: a scheme other
// than s3://, or an s3:// URL without a bucket. It is the user's mistake.
type LocationError struct {
	Location string
	Reason   string
}

func (e *LocationError) Error() string { return fmt.Sprintf("%q: %s", e.Location, e.Reason) }

// Location is an opened location.
type Location struct {
	name string
	o    *Opener
	// A local location has path; an S3 one bucket and prefix.
	path           string
	bucket, prefix string
}

// Parse checks how location is spelt, without opening it.
func Parse(location string) (*Location, error) {
	if rest, ok := strings.CutPrefix(location, s3Scheme); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, &LocationError{location, "no bucket"}
		}
		return &Location{name: location, bucket: bucket, prefix: prefix}, nil
	}
	if strings.Contains(location, "://") {
		return nil, &LocationError{location, "only local paths and " + s3Scheme + " URLs are supported"}
	}
	if location == "" {
		return nil, &LocationError{location, "empty"}
	}
	return &Location{name: location, path: location}, nil
}

// Open parses location and opens it: for an S3 location, on the opener's
// client, built from the standard AWS configuration on first use. Nothing
// is read yet; a local location need not exist.
func (o *Opener) Open(ctx context.Context, location string) (*Location, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	l.o = o
	if l.Remote() {
		if _, err := o.s3Client(ctx); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// s3Client returns the opener's S3 client, made on first use: the one
// place the client is built.
func (o *Opener) s3Client(ctx context.Context) (*s3.Client, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.client == nil {
		c, err := s3store.NewClient(ctx, s3store.ClientOptions{Endpoint: o.opt.Endpoint, Connections: o.opt.Jobs})
		if err != nil {
			return nil, err
		}
		o.client = c
	}
	return o.client, nil
}

// String returns the location as given.
func (l *Location) String() string { return l.name }

// Remote reports whether the location is in an object store.
func (l *Location) Remote() bool { return l.bucket != "" }

// Label names the location by its last path element (the bucket, for a
// whole bucket), or "source" when it has none.
func (l *Location) Label() string {
	n := l.path
	if l.Remote() {
		n = l.bucket + "/" + l.prefix
	}
	n = path.Base(filepath.ToSlash(strings.TrimRight(n, "/")))
	if n == "." || n == "/" || n == "" {
		n = "source"
	}
	return n
}

// Overlaps reports whether one location holds the other (or they are the
// same): two local paths, compared once symbolic links are resolved, or
// two prefixes of one bucket, one of which is inside the other. Whatever
// is kept at one (audit bundles, a blocklist, exports) would be read as
// archives of the other. S3 prefixes are directories, as s3store lists
// them: "exports" holds "exports/x" but not "exports2/x".
func (l *Location) Overlaps(m *Location) (bool, error) {
	switch {
	case l.Remote() && m.Remote():
		a, b := strings.Trim(l.prefix, "/"), strings.Trim(m.prefix, "/")
		return l.bucket == m.bucket && (a == "" || b == "" || a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")), nil
	case l.Remote() || m.Remote():
		return false, nil
	}
	a, err := resolve(l.path)
	if err != nil {
		return false, err
	}
	b, err := resolve(m.path)
	if err != nil {
		return false, err
	}
	return within(a, b) || within(b, a), nil
}

// resolve returns the absolute path p names once symbolic links are
// resolved in its longest existing prefix: a link cannot hide that one
// location is inside the other, and a location not created yet (an audit
// directory before its first run) resolves through its parent.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for dir := abs; ; {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Archives returns the archives below the location, for the engine: a
// local directory tree or single file, which must exist, or the objects
// below an S3 prefix.
func (l *Location) Archives(ctx context.Context) (scrub.Source, error) {
	src := scrub.Source{Name: l.name, Label: l.Label()}
	if !l.Remote() {
		if _, err := os.Stat(l.path); err != nil {
			return src, err
		}
		src.Store = &local.Store{Root: l.path, Warn: l.o.opt.Warn}
		return src, nil
	}
	client, err := l.o.s3Client(ctx)
	if err != nil {
		return src, err
	}
	st := s3store.New(client, l.bucket, l.prefix)
	st.PartSize = l.o.opt.PartSize
	st.ReadOnly = l.o.opt.ReadOnly
	st.AcceptUnconditional = l.o.opt.AcceptUnconditionalWrites
	st.ProbeTag = l.o.opt.Share
	st.Warn = l.o.opt.Warn
	src.Store = st
	return src, nil
}

// Files is a location seen as a flat directory of small files: what audit
// bundles, blocklists and export archives are kept in. It is an
// audit.Location.
type Files interface {
	// List returns the names of the files, sorted.
	List(ctx context.Context) ([]string, error)
	// ReadFile returns the content of one file; a missing file is an
	// error wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Create stores a new file with the content of r, durably, and fails
	// with an error wrapping fs.ErrExist if the name is taken.
	Create(ctx context.Context, name string, r io.Reader) error
	// Put stores a file, replacing one of the same name; Remove deletes
	// one.
	Put(ctx context.Context, name string, r io.Reader) error
	Remove(ctx context.Context, name string) error
	String() string
	// CreateFile stores the first size bytes of r as a new file, streamed,
	// and fails with an error wrapping fs.ErrExist if the name is taken.
	CreateFile(ctx context.Context, name string, r io.ReaderAt, size int64, contentType string) error
}

var (
	_ Files = local.Dir("")
	_ Files = (*s3store.Dir)(nil)
)

// Files returns the location as a flat directory of files. A local one is
// created on first write.
func (l *Location) Files(ctx context.Context) (Files, error) {
	if !l.Remote() {
		return local.Dir(l.path), nil
	}
	client, err := l.o.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	return s3store.NewDir(client, l.bucket, l.prefix), nil
}

// IsLocationError reports whether err is a location spelt wrong.
func IsLocationError(err error) bool {
	var le *LocationError
	return errors.As(err, &le)
}

// S3URL returns the location of prefix in bucket.
func S3URL(bucket, prefix string) string { return s3Scheme + bucket + "/" + prefix }
