package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
)

// EventsCmd is `agentctl events`, docker's `docker events` for the
// cluster: services, nodes and networks created, updated and removed.
type EventsCmd struct {
	Since  string   `placeholder:"TIME" help:"Show the kept events since TIME: a duration ago (10m) or an RFC 3339 time."`
	Until  string   `placeholder:"TIME" help:"Stop at TIME: a duration ago (0s for now) or an RFC 3339 time; without it, follow new events until interrupted."`
	Filter []string `short:"f" placeholder:"type=KIND" help:"Only events of this kind: type=service, type=node or type=network; repeatable."`
	Format string   `help:"json for one JSON object a line, or a Go template such as '{{.Type}} {{.Action}} {{.Name}}'."`
}

// Run prints the events.
func (e *EventsCmd) Run(g *Globals) error {
	now := time.Now()
	since, err := eventTime("--since", e.Since, now)
	if err != nil {
		return err
	}
	until, err := eventTime("--until", e.Until, now)
	if err != nil {
		return err
	}
	var kinds []string
	for _, f := range e.Filter {
		k, v, _ := strings.Cut(f, "=")
		if k != "type" || !slices.Contains([]string{"service", "node", "network"}, v) {
			return fmt.Errorf("--filter %q: use type=service, type=node or type=network", f)
		}
		kinds = append(kinds, v)
	}
	show, err := eventPrinter(e.Format)
	if err != nil {
		return err
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return c.Events(ctx, since, until, kinds, func(ev api.Event) error { return show(g, ev) })
}

// eventTime reads a --since or --until value: "" for none, a duration ago,
// or an RFC 3339 time.
func eventTime(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: give a duration ago (10m, 0s for now) or an RFC 3339 time such as 2026-12-04T10:00:00Z", flag, v)
	}
	return t, nil
}

// eventPrinter prints one event: docker's line by default
// ("TIME TYPE ACTION ID (k=v, ...)"), JSON, or a template.
func eventPrinter(format string) (func(*Globals, api.Event) error, error) {
	switch format {
	case "":
		return func(g *Globals, ev api.Event) error {
			var attrs []string
			for _, k := range slices.Sorted(maps.Keys(ev.Attributes)) {
				attrs = append(attrs, k+"="+ev.Attributes[k])
			}
			_, err := fmt.Fprintf(g.Out, "%s %s %s %s (%s)\n", ev.Time.Format(time.RFC3339Nano), ev.Type, ev.Action, ev.ID, strings.Join(attrs, ", "))
			return err
		}, nil
	case "json":
		return func(g *Globals, ev api.Event) error { return json.NewEncoder(g.Out).Encode(ev) }, nil
	}
	if _, err := parseTemplate(format); err != nil {
		return nil, err
	}
	return func(g *Globals, ev api.Event) error { return printTemplate(g.Out, format, []api.Event{ev}) }, nil
}
