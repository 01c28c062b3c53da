package engineapi

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/engineapi/convert"
)

// The bodies in testdata/requests are what the docker CLIs (28.2.2, API
// 1.50; Debian's 20.10, API 1.41) sent in TestDockerCLI, recorded with
// SHOAL_RECORD_REQUESTS. They seed the fuzzer and must stay accepted.

// requestKinds are the request bodies the Engine API decodes, by the
// prefix of their file name, with where to send them.
var requestKinds = []struct {
	file, method, path string
	convert            func([]byte) error
}{
	{"service-", "POST", "/services/create", func(b []byte) error {
		var s swarm.ServiceSpec
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s.TaskTemplate.Networks = nil // resolved against the backend, not here
		_, err := convert.FromServiceSpec(s, nil)
		return err
	}},
	{"node-", "POST", "/nodes/gamma/update?version=3", func(b []byte) error {
		var s swarm.NodeSpec
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		_, err := convert.NodeUpdate(newFake().nodes[2], s, 3)
		return err
	}},
	{"network-", "POST", "/networks/create", func(b []byte) error {
		var n network.CreateRequest
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		_, err := convert.NetworkCreate(n)
		return err
	}},
}

func recordedRequests(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/requests/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded requests in testdata/requests: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func TestRecordedRequests(t *testing.T) {
	for file, body := range recordedRequests(t) {
		found := false
		for _, k := range requestKinds {
			if strings.HasPrefix(filepath.Base(file), k.file) {
				found = true
				if err := k.convert(body); err != nil {
					t.Errorf("%s: %v", file, err)
				}
			}
		}
		if !found {
			t.Errorf("%s: no request kind for this file name", file)
		}
	}
}

// FuzzRequests sends arbitrary bodies to the endpoints that decode one:
// the answer is a success or a 4xx with a message, never a 500 or a
// panic.
func FuzzRequests(f *testing.F) {
	for file, body := range recordedRequests(f) {
		for i, k := range requestKinds {
			if strings.HasPrefix(filepath.Base(file), k.file) {
				f.Add(uint8(i), body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		k := requestKinds[int(kind)%len(requestKinds)]
		r := call(t, newFake(), k.method, k.path, string(body))
		if r.code/100 == 2 {
			return
		}
		var e struct{ Message string }
		if r.code >= http.StatusInternalServerError || json.Unmarshal([]byte(r.body), &e) != nil || e.Message == "" {
			t.Fatalf("%s %s %q: %d %s", k.method, k.path, body, r.code, r.body)
		}
	})
}
