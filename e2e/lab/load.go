package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
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
	// Errors are the first ten failures, each with the time it ended,
	// when it began, the local address of its connection and how far it
	// got (see Failure.String).
	Errors []string
	// ByTask and ByVersion count the successful answers per task and
	// per version of the web image.
	ByTask, ByVersion map[string]int
	// Slowest is the longest a successful request took, and OverSecond
	// how many took longer than a second: a request that is slow but
	// answers tells a stalled host from a lost packet, which never does.
	Slowest    time.Duration
	OverSecond int64
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
	f := &Failure{Began: time.Now()}
	a, err := GetWeb(c, url, f)
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if err != nil {
		f.mu.Lock()
		f.Ended, f.Err = time.Now(), err
		f.mu.Unlock()
		ld.res.Failed++
		if len(ld.res.Errors) < 10 {
			ld.res.Errors = append(ld.res.Errors, f.String())
		}
		return
	}
	ld.res.OK++
	if took := time.Since(f.Began); took > ld.res.Slowest {
		ld.res.Slowest = took
	}
	if time.Since(f.Began) > time.Second {
		ld.res.OverSecond++
	}
	ld.res.ByTask[a.Task]++
	ld.res.ByVersion[a.Version]++
}

// Failure is how far a failed request got, to place it on a timeline
// beside the dataplane's changes: a request that never connected lost its
// SYN (or its SYN-ACK), one that wrote its request and got no answer lost
// it on an established connection. Its local address names its flow in
// conntrack.
type Failure struct {
	mu           sync.Mutex // the trace's callbacks may run after the request ended
	Began, Ended time.Time
	Local        string        // the connection's local address; "" if it never connected
	Connected    time.Duration // after Began; 0 if it never connected
	Wrote        time.Duration // request written, after Began; 0 if never
	Err          error
}

// String is "ENDED (began BEGAN, local ADDR, connected +D, wrote +D): ERR".
func (f *Failure) String() string {
	ms := func(d time.Duration) string {
		if d == 0 {
			return "never"
		}
		return "+" + d.Round(100*time.Microsecond).String()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("%s (began %s, local %s, connected %s, wrote %s): %v", f.Ended.Format("15:04:05.000"),
		f.Began.Format("15:04:05.000"), f.Local, ms(f.Connected), ms(f.Wrote), f.Err)
}

func (f *Failure) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.Local, f.Connected = i.Conn.LocalAddr().String(), time.Since(f.Began)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.Wrote = time.Since(f.Began)
		},
	}
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

// GetWeb asks the test image's web server at url who answers. A non-nil
// f records how far the request got (its Began must be set; it is read under its lock afterwards).
func GetWeb(c *http.Client, url string, f *Failure) (WebAnswer, error) {
	var a WebAnswer
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return a, err
	}
	if f != nil {
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), f.trace()))
	}
	resp, err := c.Do(req)
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
