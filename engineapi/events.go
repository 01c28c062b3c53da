package engineapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/internal/fault"
)

// events answers GET /events: the cluster's events (services, nodes,
// networks) in swarm scope, as `docker events` reads them: the kept ones
// from ?since=, then new ones as they happen, until ?until= or the client
// goes. Filters: type, event, scope, and service, node, network (by ID or
// name).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := dockerTime("since", q.Get("since"))
	if err != nil {
		return err
	}
	until, err := dockerTime("until", q.Get("until"))
	if err != nil {
		return err
	}
	f, err := parseFilters(q.Get("filters"), "type", "event", "scope", "service", "node", "network")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	return apiserver.StreamEvents(w, r, s.b, since, until, func(e api.Event) bool { return matchEvent(f, e) },
		func(e api.Event) error { return enc.Encode(eventMessage(e)) })
}

// eventMessage is e as the Engine API's event message.
func eventMessage(e api.Event) events.Message {
	return events.Message{Type: events.Type(e.Type), Action: events.Action(e.Action),
		Actor: events.Actor{ID: e.ID, Attributes: e.Attributes}, Scope: "swarm",
		Time: e.Time.Unix(), TimeNano: e.Time.UnixNano()}
}

// matchEvent applies docker's event filters: each given key must match.
func matchEvent(f filters, e api.Event) bool {
	is := func(want string) func(string) bool { return func(v string) bool { return v == want } }
	object := func(v string) bool { return v == e.ID || v == e.Name }
	return f.any("type", is(e.Type)) && f.any("event", is(e.Action)) && f.any("scope", is("swarm")) &&
		(!f.has("service") || e.Type == "service" && f.any("service", object)) &&
		(!f.has("node") || e.Type == "node" && f.any("node", object)) &&
		(!f.has("network") || e.Type == "network" && f.any("network", object))
}

// dockerTime parses ?since= and ?until= as the docker CLI sends them: Unix
// seconds, optionally with a fraction ("1700000000.123456789"). The CLI
// turns durations and dates into that form itself.
func dockerTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	secs, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	var ns int64
	if err == nil && frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	if err != nil || s < 0 {
		return time.Time{}, fault.Invalidf("%s %q: give Unix seconds, such as 1700000000 or 1700000000.5 (the docker CLI converts durations and dates)", name, v)
	}
	return time.Unix(s, ns), nil
}
