package types

import (
	"path"
	"time"
)

// Swarm's defaults, the one copy in shoal (package spec re-exports them).
// Clients send only what a user set; the leader fills the rest with
// FillDefaults, and a client that must compare what it would send with
// what is stored (stack deploy) fills its copy the same way.
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

// FillDefaults fills every unset field of s that has a default. It is
// idempotent and never overwrites a value the user set: Parallelism 0
// (all at once) is kept, only a nil Parallelism becomes 1. Replicas has no
// "unset" on the wire (0 is a legal count, as in swarm), so a replica
// count is defaulted by the client, not here.
func FillDefaults(s *ServiceSpec) {
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

func defaultUpdate(u *UpdateConfig) {
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

// The file defaults of secrets and configs (FileRef).
const (
	// SecretsDir is where a secret's file goes when its target is a bare
	// name or empty.
	SecretsDir = "/run/secrets"
	// DefaultFileMode is a secret's or config's file mode when none is
	// given.
	DefaultFileMode = 0o444
)

// defaultFiles fills the targets, owners and modes of a spec's secrets
// and configs: a secret's target defaults to /run/secrets/NAME and a
// relative target is taken under /run/secrets; a config's target defaults
// to /NAME and a relative one is taken under /; owner 0:0, mode 0444.
func defaultFiles(t *TaskTemplate) {
	fill := func(refs []FileRef, secret bool) {
		for i := range refs {
			r := &refs[i]
			switch {
			case r.Target == "" && secret:
				r.Target = path.Join(SecretsDir, r.Name)
			case r.Target == "":
				r.Target = "/" + r.Name
			case secret && !path.IsAbs(r.Target):
				r.Target = path.Join(SecretsDir, r.Target)
			case !path.IsAbs(r.Target):
				r.Target = "/" + r.Target
			}
			if r.UID == "" {
				r.UID = "0"
			}
			if r.GID == "" {
				r.GID = "0"
			}
			if r.Mode == 0 {
				r.Mode = DefaultFileMode
			}
		}
	}
	fill(t.Secrets, true)
	fill(t.Configs, false)
}
