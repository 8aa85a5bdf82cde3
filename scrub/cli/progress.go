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

// progress shows a bar over bytes and archives on a terminal, and nothing
// elsewhere.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
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

func (p *progress) Start(archives int, bytes int64) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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

func (p *progress) Done(obj scrub.Object) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.bar.Describe(p.desc())
	p.bar.Add64(obj.Size)
}

func (p *progress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
