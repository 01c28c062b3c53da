package spec

import (
	"github.com/shoal-org/shoal/api/types"
)

// Swarm's defaults; the one copy lives in api/types so that a client that
// compares specs (stack deploy) fills them exactly as the leader does.
const (
	DefaultReplicas        = types.DefaultReplicas
	DefaultParallelism     = types.DefaultParallelism
	DefaultFailureAction   = types.DefaultFailureAction
	DefaultMonitor         = types.DefaultMonitor
	DefaultOrder           = types.DefaultOrder
	DefaultRestartCond     = types.DefaultRestartCond
	DefaultRestartDelay    = types.DefaultRestartDelay
	DefaultEndpointMode    = types.DefaultEndpointMode
	DefaultStopGracePeriod = types.DefaultStopGracePeriod
	DefaultProtocol        = types.DefaultProtocol
)

// Defaults fills every unset field of s that has a default (see
// types.FillDefaults). It is idempotent and never overwrites a value the
// user set.
func Defaults(s *types.ServiceSpec) { types.FillDefaults(s) }
