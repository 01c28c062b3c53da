//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
)

// webAnswer is what the test image's web server answers on GET /.
type webAnswer struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	Task     string `json:"task"`
}

// load sends GET requests to url from node's namespace at a steady rate, each
// on a new connection (so that every request goes through the load
// balancer's choice), until stop is called. Bounded: it never sends more
// than rate × the time it runs, and each request times out after 2 s. A
// tick the loop could not take in time (the machine busy) is made up at
// the next one, so that the rate holds on a loaded machine too.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	byTask     map[string]int
	cancel     context.CancelFunc
	done       chan struct{}
}

func startLoad(t *testing.T, l *lab.Lab, node, url string, rate int) *load {
	t.Helper()
	hc, err := l.HTTPClient(node)
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	ld := &load{byTask: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ld.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		start, sent := time.Now(), int64(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int64(time.Since(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				wg.Add(1)
				go func() { defer wg.Done(); ld.one(client, url) }()
			}
		}
	}()
	return ld
}

func (ld *load) one(c *http.Client, url string) {
	resp, err := c.Get(url)
	var a webAnswer
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case rerr != nil:
			err = rerr
		case resp.StatusCode != http.StatusOK:
			err = fmt.Errorf("status %s", resp.Status)
		default:
			err = json.Unmarshal(b, &a)
		}
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if err != nil {
		ld.failed.Add(1)
		if len(ld.errs) < 10 {
			ld.errs = append(ld.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
		}
		return
	}
	ld.ok.Add(1)
	ld.byTask[a.Task]++
}

// stop ends the load and returns the counts.
func (ld *load) stop() (ok, failed int64, errs []string) {
	ld.cancel()
	<-ld.done
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.ok.Load(), ld.failed.Load(), ld.errs
}
