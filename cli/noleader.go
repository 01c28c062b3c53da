package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/shoal-org/shoal/api"
)

// Answers given without a live leader (see api.Freshness) come with one
// warning line on stderr, so that --format json, templates and -q output
// stay as scripts expect while a person at the terminal is told.

// sinceText fills format with the clock time of t and how long ago that
// was at now ("12:03:04", "41s"); the date is added when t is not today.
// It returns "" for a zero t: an agent that never started watching.
func sinceText(t, now time.Time, format string) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(now.Location())
	layout := time.TimeOnly
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		layout = time.DateTime
	}
	// Another agent's clock may run ahead of this one's.
	return fmt.Sprintf(format, t.Format(layout), max(now.Sub(t), 0).Round(time.Second))
}

// warnNoLeader prints one line on stderr when an answer did not come from
// a live leader, saying since when none is reachable and what that means
// for the output (consequence). Stderr keeps --format json and -q output
// clean for scripts.
func warnNoLeader(w io.Writer, f api.Freshness, now time.Time, consequence string) {
	if f.Authoritative {
		return
	}
	fmt.Fprintf(w, "warning: no leader is reachable%s; %s\n", sinceText(f.NoLeaderSince, now, " (since %s, %s ago)"), consequence)
}

// warnNodes prints the no-leader line on stderr if any of nodes was
// answered without a live leader.
func warnNodes(nodes []api.Node) {
	for _, nd := range nodes {
		if !nd.Authoritative {
			warnNoLeader(stderr, nd.Freshness, nowFunc(), "statuses not confirmed by gossip show as Unknown")
			return
		}
	}
}

// warnServices prints the no-leader line on stderr if the service counts
// were answered without a live leader.
//
// The REPLICAS column itself stays "running/desired": swarm users and their
// scripts read that column as two numbers (docker only appends "(max N per
// node)"), every row of one answer comes from the same unconfirmed replica,
// so one line above the table says it once instead of "(stale)" on each
// row, and says since when, which a per-row mark could not.
func warnServices(svcs []api.Service) {
	for _, s := range svcs {
		if !s.Authoritative {
			warnNoLeader(stderr, s.Freshness, nowFunc(), "replica counts are this agent's last copy and may be out of date")
			return
		}
	}
}
