package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
)

// refusingBackend is a Backend whose every method panics: the requests
// below must be refused before any reaches it.
type refusingBackend struct{ Backend }

// TestRequestDecoding sends the classes of bad requests the API must refuse
// before any handler logic runs, through the real routes: each must get
// its status and a message naming what is wrong.
func TestRequestDecoding(t *testing.T) {
	h := New(refusingBackend{}).Handler(false)
	big := `{"Spec":{"Name":"` + strings.Repeat("a", MaxRequestBody) + `"}}`
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     []string
		allow                    string
	}{
		{"wrong method on a collection", "PUT", "/v1/services", "", 405, []string{"PUT /v1/services", "GET, POST"}, "GET, POST"},
		{"wrong method on an item", "POST", "/v1/tasks/abc", "", 405, []string{"answers GET"}, "GET"},
		{"wrong method on an action", "GET", "/v1/services/web/update", "", 405, []string{"answers POST"}, "POST"},
		{"delete on nodes list", "DELETE", "/v1/nodes", "", 405, []string{"GET"}, "GET"},
		{"unknown path", "GET", "/v1/nope", "", 404, []string{"no API endpoint GET /v1/nope"}, ""},
		{"body over the limit", "POST", "/v1/cluster/join", big, 413, []string{"8 MiB", "8388608"}, ""},
		{"trailing garbage", "POST", "/v1/cluster/join", `{"Token":"x","Peer":"y"} garbage`, 400, []string{"after the JSON value", "offset"}, ""},
		{"two objects", "POST", "/v1/cluster/join", `{"Token":"x"}{"Peer":"y"}`, 400, []string{"exactly one JSON object"}, ""},
		{"type error names field", "POST", "/v1/cluster/join", `{"Token":5}`, 400, []string{`field "Token"`, "expected a string", "got number 5"}, ""},
		{"unknown field named", "POST", "/v1/cluster/join", `{"Token":"x","Peeer":"y"}`, 400, []string{`unknown field "Peeer"`}, ""},
		{"syntax error offset", "POST", "/v1/cluster/init", `{"OverlayCIDR":}`, 400, []string{"not valid JSON at offset 16"}, ""},
		{"truncated", "POST", "/v1/cluster/init", `{"OverlayCIDR":"10.`, 400, []string{"ends early"}, ""},
		{"not an object", "POST", "/v1/cluster/init", `[1,2]`, 400, []string{"expected an object, got array"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			h.ServeHTTP(rec, req)
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("answer is not a JSON error: %q", rec.Body.String())
			}
			if rec.Code != tt.code {
				t.Fatalf("%s %s: code %d (%s), want %d", tt.method, tt.path, rec.Code, e.Message, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

// TestDecodeJSONFields checks that decoder errors name the full path of
// the field, what was expected and the value found.
func TestDecodeJSONFields(t *testing.T) {
	tests := []struct {
		name string
		v    any
		body string
		want string // "" for success
	}{
		{"replicas as string", new(api.ServiceCreateRequest), `{"Spec":{"Mode":{"Replicas":"x"}}}`,
			`field "Spec.Mode.Replicas": expected a non-negative integer that fits in 64 bits, got string "x"`},
		{"negative replicas", new(api.ServiceCreateRequest), `{"Spec":{"Mode":{"Replicas":-1}}}`, `got number -1`},
		{"huge replicas", new(api.ServiceCreateRequest), `{"Spec":{"Mode":{"Replicas":1e100}}}`, `got number 1e100`},
		{"env not an array", new(api.ServiceCreateRequest), `{"Spec":{"TaskTemplate":{"Env":"A=b"}}}`, `field "Spec.TaskTemplate.Env": expected an array, got string "A=b"`},
		{"nested unknown field", new(api.ServiceCreateRequest), `{"Spec":{"Mode":{"Replica":3}}}`, `unknown field "Spec.Mode.Replica"`},
		{"label value not a string", new(api.NodeUpdate), `{"LabelAdd":{"a":true}}`, `expected a string, got bool true`},
		{"escaped quote in value", new(api.JoinRequest), `{"Peer":"a\"b","Token":["x"]}`, `field "Token": expected a string, got array`},
		{"empty body", new(api.InitRequest), ``, ""},
		{"whitespace", new(api.InitRequest), " \n", ""},
		{"good", new(api.NodeUpdate), `{"Availability":"drain"}` + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeJSON([]byte(tt.body), tt.v, true)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("decodeJSON(%q): %v", tt.body, err)
			case tt.want != "" && err == nil:
				t.Fatalf("decodeJSON(%q) accepted it, want %q", tt.body, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("decodeJSON(%q) = %q, want it to contain %q", tt.body, err, tt.want)
			}
		})
	}
}

// TestReadJSONStreamedOverLimit covers a body over the limit sent without
// a Content-Length (chunked), which only reading can find.
func TestReadJSONStreamedOverLimit(t *testing.T) {
	req := httptest.NewRequest("POST", "/", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, MaxRequestBody+1))})
	req.ContentLength = -1
	err := readJSON(req, new(api.InitRequest))
	var he *fault.Error
	if !errors.As(err, &he) || he.Kind != fault.TooLarge {
		t.Fatalf("readJSON of %d bytes: %v, want a 413", MaxRequestBody+1, err)
	}
}
