package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// WebAnswer is what the test image's web server answers on GET /.
type WebAnswer struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	Task     string `json:"task"`
}

// HTTPLoad sends GET requests to a URL at a steady rate, each on a connection
// of its own (so that every request goes through the load balancer's
// choice), until Stop. It is bounded: it never sends more than rate × the
// time it runs, and each request times out after 2 s. A tick the loop could
// not take in time (the machine busy) is made up at the next one, so that
// the rate holds on a loaded machine too.
type HTTPLoad struct {
	mu     sync.Mutex
	res    HTTPLoadResult
	cancel context.CancelFunc
	done   chan struct{}
}

// HTTPLoadResult counts a load's answers.
type HTTPLoadResult struct {
	OK, Failed int64
	// Errors are the first ten failures, each with its time.
	Errors []string
	// ByTask and ByVersion count the successful answers per task and
	// per version of the web image.
	ByTask, ByVersion map[string]int
}

// StartHTTPLoad starts a load on hc (whose transport should not keep
// connections alive) against url at rate requests a second.
func StartHTTPLoad(hc *http.Client, url string, rate int) *HTTPLoad {
	client := &http.Client{Transport: hc.Transport, Timeout: 2 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	ld := &HTTPLoad{res: HTTPLoadResult{ByTask: map[string]int{}, ByVersion: map[string]int{}}, cancel: cancel, done: make(chan struct{})}
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

func (ld *HTTPLoad) one(c *http.Client, url string) {
	a, err := GetWeb(c, url)
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if err != nil {
		ld.res.Failed++
		if len(ld.res.Errors) < 10 {
			ld.res.Errors = append(ld.res.Errors, time.Now().Format("15:04:05.000")+" "+err.Error())
		}
		return
	}
	ld.res.OK++
	ld.res.ByTask[a.Task]++
	ld.res.ByVersion[a.Version]++
}

// Stop ends the load, waits for the requests in flight and returns the
// counts.
func (ld *HTTPLoad) Stop() HTTPLoadResult {
	ld.cancel()
	<-ld.done
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.res
}

// GetWeb asks the test image's web server at url who answers.
func GetWeb(c *http.Client, url string) (WebAnswer, error) {
	var a WebAnswer
	resp, err := c.Get(url)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return a, err
	case resp.StatusCode != http.StatusOK:
		return a, fmt.Errorf("GET %s: status %s", url, resp.Status)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("GET %s: %w", url, err)
	}
	return a, nil
}
