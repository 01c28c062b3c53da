package spec

import (
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Swarm's defaults, the one copy in shoal. Clients send only what a user
// set; Defaults fills the rest on the leader.
const (
	DefaultReplicas        = 1
	DefaultParallelism     = 1
	DefaultFailureAction   = "pause"
	DefaultMonitor         = 5 * time.Second
	DefaultOrder           = "stop-first"
	DefaultRestartCond     = "any"
	DefaultRestartDelay    = 5 * time.Second
	DefaultEndpointMode    = "vip"
	DefaultStopGracePeriod = 10 * time.Second
	DefaultProtocol        = "tcp"
)

// Defaults fills every unset field of s that has a default. It is
// idempotent and never overwrites a value the user set: Parallelism 0
// (all at once) is kept, only a nil Parallelism becomes 1. Replicas has no
// "unset" on the wire (0 is a legal count, as in swarm), so a replica
// count is defaulted by the client flag, not here.
func Defaults(s *types.ServiceSpec) {
	defaultUpdate(&s.Update)
	defaultUpdate(&s.Rollback)
	rp := &s.Task.RestartPolicy
	if rp.Condition == "" {
		rp.Condition = DefaultRestartCond
		if rp.Delay == 0 {
			rp.Delay = DefaultRestartDelay
		}
	}
	if s.Task.StopGracePeriod == 0 {
		s.Task.StopGracePeriod = DefaultStopGracePeriod
	}
	if s.Endpoint.Mode == "" {
		s.Endpoint.Mode = DefaultEndpointMode
	}
	for i := range s.Endpoint.Ports {
		if s.Endpoint.Ports[i].Protocol == "" {
			s.Endpoint.Ports[i].Protocol = DefaultProtocol
		}
	}
	defaultFiles(&s.Task)
}

func defaultUpdate(u *types.UpdateConfig) {
	if u.Parallelism == nil {
		p := uint64(DefaultParallelism)
		u.Parallelism = &p
	}
	if u.FailureAction == "" {
		u.FailureAction = DefaultFailureAction
	}
	if u.Monitor == 0 {
		u.Monitor = DefaultMonitor
	}
	if u.Order == "" {
		u.Order = DefaultOrder
	}
}
