package types

import (
	"maps"
	"slices"
)

// Deep copies. Objects read from a View are shared and must not be
// modified; Copy returns one that may be. Every Copy is nil-safe and keeps
// nil slices and maps nil. copy_test.go fills every field by reflection, so
// a field added to types.go without a matching line here fails the tests.

// Copy returns a deep copy of c.
func (c *Cluster) Copy() *Cluster {
	if c == nil {
		return nil
	}
	n := *c
	n.CACertPEM = slices.Clone(c.CACertPEM)
	n.CAKeyPEM = slices.Clone(c.CAKeyPEM)
	n.GossipKey = slices.Clone(c.GossipKey)
	n.Limits = maps.Clone(c.Limits)
	return &n
}

// Copy returns a deep copy of n.
func (n *Node) Copy() *Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Labels = maps.Clone(n.Labels)
	return &c
}

// Copy returns a deep copy of s.
func (s *Service) Copy() *Service {
	if s == nil {
		return nil
	}
	c := *s
	c.Spec = s.Spec.Copy()
	if s.PreviousSpec != nil {
		prev := s.PreviousSpec.Copy()
		c.PreviousSpec = &prev
	}
	if s.Revisions != nil {
		c.Revisions = make([]Revision, len(s.Revisions))
		for i, r := range s.Revisions {
			r.Spec = r.Spec.Copy()
			c.Revisions[i] = r
		}
	}
	if s.UpdateStatus != nil {
		us := *s.UpdateStatus
		us.BatchSlots = slices.Clone(us.BatchSlots)
		us.BatchNodes = slices.Clone(us.BatchNodes)
		c.UpdateStatus = &us
	}
	c.VIPs = maps.Clone(s.VIPs)
	c.RegistryAuth = s.RegistryAuth.Copy()
	return &c
}

// Copy returns a deep copy of the spec.
func (s ServiceSpec) Copy() ServiceSpec {
	s.Labels = maps.Clone(s.Labels)
	s.Task = s.Task.Copy()
	s.Endpoint.Ports = slices.Clone(s.Endpoint.Ports)
	s.Update = s.Update.Copy()
	s.Rollback = s.Rollback.Copy()
	return s
}

// Copy returns a deep copy of the update configuration.
func (u UpdateConfig) Copy() UpdateConfig {
	if u.Parallelism != nil {
		p := *u.Parallelism
		u.Parallelism = &p
	}
	return u
}

// Batch is the number of slots replaced at once: 0 for all at once, and
// the default 1 when Parallelism is unset (a spec the server has not
// filled, such as one built by a test).
func (u UpdateConfig) Batch() uint64 {
	if u.Parallelism == nil {
		return 1
	}
	return *u.Parallelism
}

// Copy returns a deep copy of the template.
func (t TaskTemplate) Copy() TaskTemplate {
	t.Command = slices.Clone(t.Command)
	t.Args = slices.Clone(t.Args)
	t.Env = slices.Clone(t.Env)
	t.Mounts = slices.Clone(t.Mounts)
	t.Placement.Constraints = slices.Clone(t.Placement.Constraints)
	t.Placement.Preferences = slices.Clone(t.Placement.Preferences)
	if t.Healthcheck != nil {
		hc := *t.Healthcheck
		hc.Test = slices.Clone(hc.Test)
		t.Healthcheck = &hc
	}
	t.Networks = slices.Clone(t.Networks)
	if t.Aliases != nil {
		aliases := make(map[string][]string, len(t.Aliases))
		for n, as := range t.Aliases {
			aliases[n] = slices.Clone(as)
		}
		t.Aliases = aliases
	}
	t.Secrets = slices.Clone(t.Secrets)
	t.Configs = slices.Clone(t.Configs)
	t.Labels = maps.Clone(t.Labels)
	t.Extra = maps.Clone(t.Extra)
	t.Hosts = slices.Clone(t.Hosts)
	if t.DNS != nil {
		d := DNSConfig{Nameservers: slices.Clone(t.DNS.Nameservers), Search: slices.Clone(t.DNS.Search), Options: slices.Clone(t.DNS.Options)}
		t.DNS = &d
	}
	return t
}

// Copy returns a deep copy of t.
func (t *Task) Copy() *Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Spec = t.Spec.Copy()
	if t.Status.Healthy != nil {
		h := *t.Status.Healthy
		c.Status.Healthy = &h
	}
	c.Addresses = maps.Clone(t.Addresses)
	return &c
}

// Copy returns a deep copy of n.
func (n *Network) Copy() *Network {
	if n == nil {
		return nil
	}
	c := *n
	c.Labels = maps.Clone(n.Labels)
	c.Leases = maps.Clone(n.Leases)
	return &c
}
