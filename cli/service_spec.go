package cli

import (
	"fmt"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// newSpec is the spec `service create` starts from. It holds only what
// the flags cannot leave unset: the agent fills every default
// (package spec), so an unset flag sends nothing. The replica count is
// the exception: 0 is a legal count on the wire, so the CLI sends 1 when
// --replicas is not given, as docker does.
func newSpec() types.ServiceSpec {
	return types.ServiceSpec{Mode: types.ServiceMode{Replicas: 1}}
}

// updateConfigFlags are the six settings of a rolling update; embedded
// twice, with prefixes update- and rollback-.
type updateConfigFlags struct {
	Parallelism     optValue `placeholder:"N" help:"Tasks changed at once (0 = all at once; default 1)."`
	Delay           optValue `placeholder:"DURATION" help:"Wait between batches (default 0s)."`
	FailureAction   optValue `placeholder:"ACTION" help:"On failure: pause (default), continue, or rollback (updates only)."`
	Monitor         optValue `placeholder:"DURATION" help:"How long a new task must run to count as stable (default 5s)."`
	MaxFailureRatio optValue `placeholder:"RATIO" help:"Fraction of failed tasks tolerated, 0 to 1 (default 0)."`
	Order           optValue `placeholder:"ORDER" help:"stop-first (default) or start-first."`
}

// apply writes the given settings into c; prefix is "update" or "rollback".
func (f *updateConfigFlags) apply(prefix string, c *types.UpdateConfig) error {
	var err error
	if f.Parallelism.Set {
		p, err := parseCount(prefix+"-parallelism", f.Parallelism.Value)
		if err != nil {
			return err
		}
		c.Parallelism = &p
	}
	if f.Delay.Set {
		if c.Delay, err = parseDuration(prefix+"-delay", f.Delay.Value); err != nil {
			return err
		}
	}
	if f.FailureAction.Set {
		actions := []string{"pause", "continue", "rollback"}
		if prefix == "rollback" {
			actions = actions[:2]
		}
		if c.FailureAction, err = parseChoice(prefix+"-failure-action", f.FailureAction.Value, actions...); err != nil {
			return err
		}
	}
	if f.Monitor.Set {
		if c.Monitor, err = parseDuration(prefix+"-monitor", f.Monitor.Value); err != nil {
			return err
		}
	}
	if f.MaxFailureRatio.Set {
		if c.MaxFailureRatio, err = parseRatio(prefix+"-max-failure-ratio", f.MaxFailureRatio.Value); err != nil {
			return err
		}
	}
	if f.Order.Set {
		if c.Order, err = parseChoice(prefix+"-order", f.Order.Value, "stop-first", "start-first"); err != nil {
			return err
		}
	}
	return nil
}

// specFlags are the settings `service create` and `service update` share,
// under the same names; each changes the spec only when given.
type specFlags struct {
	Replicas           optValue `placeholder:"N" help:"Number of tasks (replicated services; default 1)."`
	ReplicasMaxPerNode optValue `name:"replicas-max-per-node" placeholder:"N" help:"At most N tasks of the service per node (0 = no limit)."`
	Entrypoint         optValue `placeholder:"CMD" help:"Override the image's entrypoint (a command line; \"\" resets it)."`
	Workdir            optValue `short:"w" placeholder:"DIR" help:"Working directory inside the container."`
	User               optValue `short:"u" placeholder:"USER" help:"User (name or uid[:gid]) the task runs as."`
	Hostname           optValue `placeholder:"NAME" help:"The tasks' hostname; docker's placeholders work, e.g. {{.Service.Name}}-{{.Task.Slot}} (\"\" resets it)."`

	LimitCPU      optValue `name:"limit-cpu" placeholder:"CPUS" help:"CPU limit, e.g. 0.5."`
	LimitMemory   optValue `name:"limit-memory" placeholder:"SIZE" help:"Memory limit, e.g. 64M or 1G."`
	ReserveCPU    optValue `name:"reserve-cpu" placeholder:"CPUS" help:"CPUs reserved for placement, e.g. 0.25."`
	ReserveMemory optValue `name:"reserve-memory" placeholder:"SIZE" help:"Memory reserved for placement, e.g. 32M."`

	RestartCondition   optValue `placeholder:"COND" help:"Replace finished tasks: any (default), on-failure or none."`
	RestartDelay       optValue `placeholder:"DURATION" help:"Wait before a restart (default 5s)."`
	RestartMaxAttempts optValue `placeholder:"N" help:"Give up after N restarts (0 = never)."`
	RestartWindow      optValue `placeholder:"DURATION" help:"Window over which restarts are counted."`
	StopSignal         optValue `placeholder:"SIGNAL" help:"Signal that stops a task (default SIGTERM)."`
	StopGracePeriod    optValue `placeholder:"DURATION" help:"Time to wait before killing a stopping task."`
	EndpointMode       optValue `placeholder:"MODE" help:"vip (default) or dnsrr."`

	HealthCmd         optValue `placeholder:"CMD" help:"Healthcheck command, run with /bin/sh -c."`
	HealthInterval    optValue `placeholder:"DURATION" help:"Time between healthchecks."`
	HealthTimeout     optValue `placeholder:"DURATION" help:"Time a healthcheck may take."`
	HealthRetries     optValue `placeholder:"N" help:"Consecutive failures before unhealthy."`
	HealthStartPeriod optValue `placeholder:"DURATION" help:"Grace period before failures count."`
	NoHealthcheck     bool     `help:"Disable any healthcheck, the image's included."`

	UpdateCfg   updateConfigFlags `embed:"" prefix:"update-" group:"Rolling updates"`
	RollbackCfg updateConfigFlags `embed:"" prefix:"rollback-" group:"Rollbacks"`

	WithRegistryAuth bool `help:"Send the login 'docker login' stored for the image's registry, for the nodes to pull with (sealed in the cluster, never shown)."`

	Detach bool `short:"d" help:"Return at once instead of showing progress until the service converges."`
	Quiet  bool `short:"q" help:"Do not show progress."`
}

// apply writes every given setting into s, validating each.
func (f *specFlags) apply(s *types.ServiceSpec) error {
	steps := []func(*types.ServiceSpec) error{f.applyMode, f.applyContainer, f.applyResources,
		f.applyRestart, f.applyHealth, f.applyEndpoint,
		func(s *types.ServiceSpec) error { return f.UpdateCfg.apply("update", &s.Update) },
		func(s *types.ServiceSpec) error { return f.RollbackCfg.apply("rollback", &s.Rollback) },
	}
	for _, step := range steps {
		if err := step(s); err != nil {
			return err
		}
	}
	return nil
}

func (f *specFlags) applyMode(s *types.ServiceSpec) error {
	if f.Replicas.Set {
		n, err := parseCount("replicas", f.Replicas.Value)
		if err != nil {
			return err
		}
		if s.Mode.Global {
			return fmt.Errorf("--replicas: service %q is global (one task per eligible node) and has no replica count", s.Name)
		}
		s.Mode.Replicas = n
	}
	if f.ReplicasMaxPerNode.Set {
		n, err := parseCount("replicas-max-per-node", f.ReplicasMaxPerNode.Value)
		if err != nil {
			return err
		}
		s.Task.Placement.MaxReplicas = n
	}
	return nil
}

func (f *specFlags) applyContainer(s *types.ServiceSpec) error {
	if f.Entrypoint.Set {
		words, err := splitWords("entrypoint", f.Entrypoint.Value)
		if err != nil {
			return err
		}
		s.Task.Command = words
	}
	if f.Workdir.Set {
		if v := f.Workdir.Value; v != "" && v[0] != '/' {
			return flagErr("workdir", v, "must be an absolute path, such as /app")
		}
		s.Task.Dir = f.Workdir.Value
	}
	if f.User.Set {
		s.Task.User = f.User.Value
	}
	if f.Hostname.Set {
		s.Task.Hostname = f.Hostname.Value
	}
	if f.StopSignal.Set {
		sig, err := parseSignal("stop-signal", f.StopSignal.Value)
		if err != nil {
			return err
		}
		s.Task.StopSignal = sig
	}
	if f.StopGracePeriod.Set {
		d, err := parseDuration("stop-grace-period", f.StopGracePeriod.Value)
		if err != nil {
			return err
		}
		s.Task.StopGracePeriod = d
	}
	return nil
}

func (f *specFlags) applyResources(s *types.ServiceSpec) error {
	var err error
	set := func(v optValue, flag string, dst *int64, parse func(string, string) (int64, error)) {
		if err == nil && v.Set {
			*dst, err = parse(flag, v.Value)
		}
	}
	set(f.LimitCPU, "limit-cpu", &s.Task.Limits.NanoCPUs, parseCPUs)
	set(f.LimitMemory, "limit-memory", &s.Task.Limits.MemoryBytes, parseBytes)
	set(f.ReserveCPU, "reserve-cpu", &s.Task.Reservations.NanoCPUs, parseCPUs)
	set(f.ReserveMemory, "reserve-memory", &s.Task.Reservations.MemoryBytes, parseBytes)
	return err
}

func (f *specFlags) applyRestart(s *types.ServiceSpec) error {
	p := &s.Task.RestartPolicy
	var err error
	if f.RestartCondition.Set {
		if p.Condition, err = parseChoice("restart-condition", f.RestartCondition.Value, "none", "on-failure", "any"); err != nil {
			return err
		}
	}
	if f.RestartDelay.Set {
		if p.Delay, err = parseDuration("restart-delay", f.RestartDelay.Value); err != nil {
			return err
		}
	}
	if f.RestartMaxAttempts.Set {
		if p.MaxAttempts, err = parseCount("restart-max-attempts", f.RestartMaxAttempts.Value); err != nil {
			return err
		}
	}
	if f.RestartWindow.Set {
		if p.Window, err = parseDuration("restart-window", f.RestartWindow.Value); err != nil {
			return err
		}
	}
	return nil
}

// applyHealth sets the healthcheck: --health-cmd becomes
// ["CMD-SHELL", cmd], --no-healthcheck ["NONE"]; timings without a command
// keep the current command (or the image's, as docker does).
func (f *specFlags) applyHealth(s *types.ServiceSpec) error {
	given := ""
	for _, o := range []struct {
		name string
		v    optValue
	}{{"health-cmd", f.HealthCmd}, {"health-interval", f.HealthInterval}, {"health-timeout", f.HealthTimeout},
		{"health-retries", f.HealthRetries}, {"health-start-period", f.HealthStartPeriod}} {
		if o.v.Set && given == "" {
			given = o.name
		}
	}
	if f.NoHealthcheck {
		if given != "" {
			return fmt.Errorf("--no-healthcheck cannot be combined with --%s: drop one of them", given)
		}
		s.Task.Healthcheck = &types.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if given == "" {
		return nil
	}
	h := types.HealthConfig{}
	if s.Task.Healthcheck != nil {
		h = *s.Task.Healthcheck
		h.Test = append([]string(nil), h.Test...)
	}
	if len(h.Test) == 1 && h.Test[0] == "NONE" {
		h.Test = nil
	}
	if f.HealthCmd.Set {
		h.Test = nil
		if f.HealthCmd.Value != "" {
			h.Test = []string{"CMD-SHELL", f.HealthCmd.Value}
		}
	}
	var err error
	durs := []struct {
		flag string
		v    optValue
		dst  *time.Duration
	}{{"health-interval", f.HealthInterval, &h.Interval}, {"health-timeout", f.HealthTimeout, &h.Timeout},
		{"health-start-period", f.HealthStartPeriod, &h.StartPeriod}}
	for _, d := range durs {
		if d.v.Set {
			if *d.dst, err = parseDuration(d.flag, d.v.Value); err != nil {
				return err
			}
		}
	}
	if f.HealthRetries.Set {
		n, err := parseCount("health-retries", f.HealthRetries.Value)
		if err != nil {
			return err
		}
		h.Retries = int(min(n, 1<<31-1))
	}
	s.Task.Healthcheck = &h
	return nil
}

func (f *specFlags) applyEndpoint(s *types.ServiceSpec) error {
	if f.EndpointMode.Set {
		m, err := parseChoice("endpoint-mode", f.EndpointMode.Value, "vip", "dnsrr")
		if err != nil {
			return err
		}
		s.Endpoint.Mode = m
	}
	return nil
}

// checkSpec validates combinations once every flag is applied.
func checkSpec(s *types.ServiceSpec) error {
	t := s.Task
	if l, r := t.Limits.NanoCPUs, t.Reservations.NanoCPUs; l > 0 && r > l {
		return fmt.Errorf("--reserve-cpu %g is more than --limit-cpu %g: reserve at most the limit", float64(r)/1e9, float64(l)/1e9)
	}
	if l, r := t.Limits.MemoryBytes, t.Reservations.MemoryBytes; l > 0 && r > l {
		return fmt.Errorf("--reserve-memory %s is more than --limit-memory %s: reserve at most the limit", humanBytes(r), humanBytes(l))
	}
	if s.Mode.Global && t.Placement.MaxReplicas > 0 {
		return fmt.Errorf("--replicas-max-per-node applies only to replicated services; a global service already runs one task per node")
	}
	if s.Endpoint.Mode == "dnsrr" && len(s.Endpoint.Ports) > 0 {
		return fmt.Errorf("--endpoint-mode dnsrr cannot be combined with published ports: use --endpoint-mode vip, or publish no port")
	}
	if s.Task.Image == "" {
		return fmt.Errorf("image: must not be empty")
	}
	return nil
}

// registryAuth is the request's registry account for image: the stored
// login with --with-registry-auth, none otherwise.
func (f *specFlags) registryAuth(image string) (string, error) {
	if !f.WithRegistryAuth {
		return "", nil
	}
	return registryAuthFor(image)
}
