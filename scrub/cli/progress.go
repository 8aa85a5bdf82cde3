package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/scrubtool/scrub/scrub"
)

// progress shows, on a terminal, how many archives the listing has found,
// then a bar over the bytes of the archives as they are read, with the
// archives done; elsewhere nothing.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	list  *progressbar.ProgressBar // the spinner while listing
	done  int
	total int
}

// newProgress returns a progress display on w if w is a terminal and on is
// set; otherwise one that shows nothing.
func newProgress(w io.Writer, on bool) *progress {
	f, ok := w.(*os.File)
	if !on || !ok {
		return &progress{}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &progress{}
	}
	return &progress{w: w}
}

// Listing shows the archives found so far, on a spinner.
func (p *progress) Listing(found int) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		return
	}
	if p.list == nil {
		p.list = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	p.list.Describe(fmt.Sprintf("listing: %d archives found", found))
	p.list.Add(1)
}

func (p *progress) Start(archives int, bytes int64) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.list != nil {
		p.list.Finish()
		p.list = nil
	}
	p.total = archives
	p.bar = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetDescription(p.desc()),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *progress) desc() string { return fmt.Sprintf("archives %d/%d", p.done, p.total) }

// Read moves the bar by bytes read, within an archive too.
func (p *progress) Read(n int64) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *progress) Done(scrub.Object) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar != nil {
		p.bar.Describe(p.desc())
	}
}

func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.list != nil {
		p.list.Finish()
	}
	if p.bar != nil {
		p.bar.Finish()
	}
}
