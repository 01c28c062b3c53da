package agent

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"time"

	"github.com/shoal-org/shoal/rollout"
	"github.com/shoal-org/shoal/scheduler"
	"github.com/shoal-org/shoal/store"
)

// maxRevisions is how many past specs a service keeps for rollback.
const maxRevisions = 10

var serviceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// defaultUpdateConfig fills swarm's defaults into unset fields.
func defaultUpdateConfig(u *store.UpdateConfig) {
	if u.FailureAction == "" {
		u.FailureAction = "pause"
	}
	if u.Order == "" {
		u.Order = "stop-first"
	}
	if u.Monitor == 0 {
		u.Monitor = 5 * time.Second
	}
}

// normalizeSpec fills defaults and validates a spec, returning an error a
// user can act on. It changes nothing in the store.
func normalizeSpec(s *store.ServiceSpec) error {
	if !serviceName.MatchString(s.Name) {
		return badRequest("service name %q: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", s.Name)
	}
	if s.Task.Image == "" {
		return badRequest("service %q: an image is required", s.Name)
	}
	if s.Mode.Global && s.Mode.Replicas != 0 {
		return badRequest("service %q: a global service has no replica count (drop --replicas)", s.Name)
	}
	if s.Task.RestartPolicy.Condition == "" {
		s.Task.RestartPolicy.Condition = "any"
	}
	switch s.Task.RestartPolicy.Condition {
	case "none", "on-failure", "any":
	default:
		return badRequest("restart condition %q: use none, on-failure or any", s.Task.RestartPolicy.Condition)
	}
	if s.Task.RestartPolicy.Delay < 0 || s.Task.StopGracePeriod < 0 {
		return badRequest("service %q: durations cannot be negative", s.Name)
	}
	if _, err := scheduler.ParseConstraints(s.Task.Placement.Constraints); err != nil {
		return badRequest("%v", err)
	}
	if _, err := scheduler.ParsePreferences(s.Task.Placement.Preferences); err != nil {
		return badRequest("%v", err)
	}
	if st := s.Task.Placement.Strategy; st != "" && st != "spread" && st != "binpack" {
		return badRequest("placement strategy %q: use spread or binpack", st)
	}
	for _, m := range s.Task.Mounts {
		if m.Type != "bind" && m.Type != "volume" {
			return badRequest("mount %s: type %q: use bind or volume", m.Target, m.Type)
		}
		if m.Target == "" || m.Target[0] != '/' {
			return badRequest("mount target %q: must be an absolute path", m.Target)
		}
	}
	defaultUpdateConfig(&s.Update)
	defaultUpdateConfig(&s.Rollback)
	for _, u := range []struct {
		name    string
		cfg     store.UpdateConfig
		actions []string
	}{{"update", s.Update, []string{"pause", "continue", "rollback"}}, {"rollback", s.Rollback, []string{"pause", "continue"}}} {
		if !contains(u.actions, u.cfg.FailureAction) {
			return badRequest("--%s-failure-action %q: use %v", u.name, u.cfg.FailureAction, u.actions)
		}
		if u.cfg.Order != "stop-first" && u.cfg.Order != "start-first" {
			return badRequest("--%s-order %q: use stop-first or start-first", u.name, u.cfg.Order)
		}
		if u.cfg.MaxFailureRatio < 0 || u.cfg.MaxFailureRatio > 1 {
			return badRequest("--%s-max-failure-ratio %g: use a number between 0 and 1", u.name, u.cfg.MaxFailureRatio)
		}
		if u.cfg.Delay < 0 || u.cfg.Monitor < 0 {
			return badRequest("--%s-delay and --%s-monitor cannot be negative", u.name, u.name)
		}
	}
	if m := s.Endpoint.Mode; m != "" && m != "vip" && m != "dnsrr" {
		return badRequest("endpoint mode %q: use vip or dnsrr", m)
	}
	if s.Endpoint.Mode == "" {
		s.Endpoint.Mode = "vip"
	}
	return normalizePorts(s)
}

// normalizePorts checks published ports: tcp (default) or udp, both ports
// set, each published port once, and not with dnsrr (there is no VIP to
// balance them).
func normalizePorts(s *store.ServiceSpec) error {
	seen := map[string]bool{}
	for i := range s.Endpoint.Ports {
		p := &s.Endpoint.Ports[i]
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return badRequest("published port %d: protocol %q: use tcp or udp", p.PublishedPort, p.Protocol)
		}
		if p.PublishedPort == 0 || p.TargetPort == 0 {
			return badRequest("published port %d:%d: both ports must be between 1 and 65535 (--publish 8080:80)", p.PublishedPort, p.TargetPort)
		}
		key := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
		if seen[key] {
			return badRequest("port %s is published twice", key)
		}
		seen[key] = true
	}
	if len(s.Endpoint.Ports) > 0 && s.Endpoint.Mode == "dnsrr" {
		return badRequest("service %q: published ports need endpoint mode vip (drop --endpoint-mode dnsrr)", s.Name)
	}
	return nil
}

// portClash names a published port of spec that another service already
// publishes.
func portClash(spec store.ServiceSpec, svcs []*store.Service, skipID string) error {
	for _, o := range svcs {
		if o.ID == skipID {
			continue
		}
		for _, p := range o.Spec.Endpoint.Ports {
			for _, q := range spec.Endpoint.Ports {
				if p.PublishedPort == q.PublishedPort && p.Protocol == q.Protocol {
					return &httpError{code: http.StatusConflict, msg: fmt.Sprintf(
						"port %d/%s is already published by service %q: pick another published port",
						q.PublishedPort, q.Protocol, o.Spec.Name)}
				}
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// changeSpec records a new spec on svc (a copy the caller will write):
// a change to the task template or the endpoint starts a new revision and
// a rolling update (a rollback when rollback is set) that replaces every
// outdated slot; a change of replicas alone does not. An update that
// changes nothing of the kind resumes a paused update, as in swarm.
func changeSpec(svc *store.Service, spec store.ServiceSpec, cause string, now time.Time, rollback bool) {
	old := svc.Spec
	svc.Spec = spec
	if reflect.DeepEqual(old.Task, spec.Task) && reflect.DeepEqual(old.Endpoint, spec.Endpoint) {
		if st, ok := rollout.ResumeUpdate(svc.UpdateStatus); ok {
			svc.UpdateStatus = st
		}
		return
	}
	prev := old
	svc.PreviousSpec = &prev
	svc.SpecVersion++
	svc.UpdateStatus = rollout.BeginUpdate(svc.UpdateStatus, now, rollback)
	next := uint64(1)
	if n := len(svc.Revisions); n > 0 {
		next = svc.Revisions[n-1].Number + 1
	}
	svc.Revisions = append(svc.Revisions, store.Revision{Number: next, Spec: spec, CreatedAt: now, Cause: cause})
	if len(svc.Revisions) > maxRevisions {
		svc.Revisions = svc.Revisions[len(svc.Revisions)-maxRevisions:]
	}
}

// revisionSpec finds revision n of svc.
func revisionSpec(svc *store.Service, n uint64) (store.ServiceSpec, error) {
	for _, r := range svc.Revisions {
		if r.Number == n {
			return r.Spec, nil
		}
	}
	have := make([]uint64, 0, len(svc.Revisions))
	for _, r := range svc.Revisions {
		have = append(have, r.Number)
	}
	return store.ServiceSpec{}, badRequest("service %q has no revision %d (kept: %v; see `agentctl service history %s`)",
		svc.Spec.Name, n, have, svc.Spec.Name)
}
