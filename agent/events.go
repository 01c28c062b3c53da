package agent

import (
	"time"

	"github.com/shoal-org/shoal/api"
)

// runEvents feeds the cluster's event log from the replica once it has
// caught up: the changes it replays at start are history, not events.
func (cl *cluster) runEvents() {
	if cl.waitCaughtUp(cl.ctx) != nil {
		return
	}
	cl.events.Run(cl.ctx, cl.store)
}

// SubscribeEvents returns the kept events at or after since and a channel
// of the new ones (see events.Log.Subscribe).
func (a *Agent) SubscribeEvents(since time.Time) ([]api.Event, <-chan api.Event, func(), error) {
	cl, err := a.cluster()
	if err != nil {
		return nil, nil, nil, err
	}
	past, live, cancel := cl.events.Subscribe(since)
	return past, live, cancel, nil
}
