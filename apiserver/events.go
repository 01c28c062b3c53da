package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
)

// StreamEvents answers an events request: the kept events from since,
// then new ones as they happen, until until (none for the zero time) or the
// client goes. Each event that keep accepts is written by write and
// flushed; a write error ends the stream. Errors come back only before the
// status line is sent (no cluster, say); after it the stream just ends.
// Both /v1/events and the Engine API's /events use it.
func StreamEvents(w http.ResponseWriter, r *http.Request, b Lifecycle, since, until time.Time,
	keep func(api.Event) bool, write func(api.Event) error) error {
	past, live, cancel, err := b.SubscribeEvents(since)
	if err != nil {
		return err
	}
	defer cancel()
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	w.WriteHeader(http.StatusOK)
	flush(w)
	send := func(e api.Event) bool {
		if !until.IsZero() && e.Time.After(until) {
			return false
		}
		if keep(e) {
			if write(e) != nil {
				return false
			}
			flush(w)
		}
		return true
	}
	for _, e := range past {
		if !send(e) {
			return nil
		}
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-deadline:
			return nil
		case e, ok := <-live:
			if !ok || !send(e) {
				return nil
			}
		}
	}
}

// flush sends what is buffered, for streams.
func flush(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

// events answers GET /v1/events?since=RFC3339&until=RFC3339&type=T: one
// JSON event a line.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var times [2]time.Time
	for i, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return fault.Invalidf("%s %q: give an RFC 3339 time such as 2026-12-04T10:00:00Z", k, v)
			}
			times[i] = t
		}
	}
	kinds := q["type"]
	for _, t := range kinds {
		switch t {
		case "service", "node", "network":
		default:
			return fault.Invalidf("type %q: events are about a service, node or network", t)
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w) // one object a line
	return StreamEvents(w, r, s.b, times[0], times[1], func(e api.Event) bool {
		return len(kinds) == 0 || slices.Contains(kinds, e.Type)
	}, func(e api.Event) error { return enc.Encode(e) })
}
