package engineapi

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
)

// eventsFake answers SubscribeEvents with fixed past events and a live
// channel that never delivers.
type eventsFake struct {
	*fakeBackend
	past  []api.Event
	since time.Time
}

func (f *eventsFake) SubscribeEvents(since time.Time) ([]api.Event, <-chan api.Event, func(), error) {
	f.since = since
	var out []api.Event
	for _, e := range f.past {
		if !since.IsZero() && !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out, make(chan api.Event), func() {}, nil
}

// TestEvents: /events sends the kept events from ?since= to ?until= in
// docker's message format, filtered as docker filters, and refuses a bad
// time or filter naming the fix.
func TestEvents(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	f := &eventsFake{fakeBackend: newFake(), past: []api.Event{
		{Time: t0, Type: "service", Action: "create", ID: "s1", Name: "web", Attributes: map[string]string{"name": "web"}},
		{Time: t0.Add(time.Second), Type: "node", Action: "update", ID: "n1", Name: "alpha",
			Attributes: map[string]string{"name": "alpha", "availability.old": "active", "availability.new": "drain"}},
		{Time: t0.Add(2 * time.Second), Type: "service", Action: "remove", ID: "s1", Name: "web", Attributes: map[string]string{"name": "web"}},
	}}
	get := func(q url.Values) []events.Message {
		t.Helper()
		rec := callHandler(t, f, "GET", "/v1.50/events?"+q.Encode())
		if rec.code != 200 {
			t.Fatalf("GET /events?%s: %d %s", q.Encode(), rec.code, rec.body)
		}
		var out []events.Message
		dec := json.NewDecoder(strings.NewReader(rec.body))
		for dec.More() {
			var m events.Message
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("decode %q: %v", rec.body, err)
			}
			out = append(out, m)
		}
		return out
	}
	since := strconv.FormatInt(t0.Unix(), 10)
	all := get(url.Values{"since": {since}, "until": {since + ".5"}})
	if len(all) != 1 || all[0].Actor.ID != "s1" || all[0].Scope != "swarm" || all[0].TimeNano != t0.UnixNano() {
		t.Errorf("since..since+0.5s: %+v", all)
	}
	nodes := get(url.Values{"since": {since}, "until": {strconv.FormatInt(t0.Unix()+5, 10)},
		"filters": {`{"type":{"node":true},"scope":{"swarm":true}}`}})
	if len(nodes) != 1 || nodes[0].Actor.Attributes["availability.new"] != "drain" || nodes[0].Action != "update" {
		t.Errorf("type=node: %+v", nodes)
	}
	removes := get(url.Values{"since": {since}, "until": {strconv.FormatInt(t0.Unix()+5, 10)},
		"filters": {`{"event":{"remove":true},"service":{"web":true}}`}})
	if len(removes) != 1 || removes[0].Action != "remove" {
		t.Errorf("event=remove service=web: %+v", removes)
	}
	if local := get(url.Values{"since": {since}, "until": {strconv.FormatInt(t0.Unix()+5, 10)},
		"filters": {`{"scope":{"local":true}}`}}); len(local) != 0 {
		t.Errorf("scope=local: %+v, want none (shoal has only swarm events)", local)
	}
	for q, want := range map[string]string{
		"since=yesterday":                  "give Unix seconds",
		"until=-5":                         "give Unix seconds",
		`filters={"container":{"x":true}}`: "invalid filter 'container'",
	} {
		if m := message(t, callHandler(t, f, "GET", "/v1.50/events?"+q), 400); !strings.Contains(m, want) {
			t.Errorf("%s: %q, want %q", q, m, want)
		}
	}
}

// callHandler is call for any backend.
func callHandler(t *testing.T, b apiserver.Backend, method, path string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	New(b).Handler(false).ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.String()}
}
