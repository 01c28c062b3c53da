//go:build e2e

package e2e

import (
	"net/http"
	"testing"

	"github.com/shoal-org/shoal/e2e/lab"
)

// load is lab.HTTPLoad from a lab node's namespace: GET requests to a URL
// at a steady rate, each on a connection of its own, until stop.
type load struct {
	*lab.HTTPLoad
	byTask map[string]int // filled by stop
}

func startLoad(t *testing.T, l *lab.Lab, node, url string, rate int) *load {
	t.Helper()
	hc, err := l.HTTPClient(node)
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &load{HTTPLoad: lab.StartHTTPLoad(&http.Client{Transport: tr}, url, rate)}
}

// stop ends the load and returns the counts.
func (ld *load) stop() (ok, failed int64, errs []string) {
	r := ld.Stop()
	ld.byTask = r.ByTask
	return r.OK, r.Failed, r.Errors
}
