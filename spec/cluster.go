package spec

import (
	"fmt"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// Cluster is the state the checks against other objects read: a snapshot
// of the leader's replica.
type Cluster struct {
	Services []*types.Service
	Nodes    []*types.Node
	Networks []*types.Network
}

// CheckService checks spec (for the service with ID id; a new service
// has an ID not yet in c) against the rest of the cluster: its name
// differs from every other service's in more than case (as swarm, since
// DNS is case-insensitive), its published ports are neither another
// service's (same protocol) nor an agent's own ports, and the cluster
// stays within the service and task limits. It checks spec's own limits
// (CheckLimits) first.
func CheckService(c Cluster, spec *types.ServiceSpec, id string, lim Limits) error {
	subject := fmt.Sprintf("service %q", spec.Name)
	if err := CheckLimits(spec, lim); err != nil {
		return about(err, subject)
	}
	var others int64
	var tasks int64
	for _, o := range c.Services {
		if o.ID == id {
			continue
		}
		others++
		tasks += desiredTasks(&o.Spec, len(c.Nodes))
		if strings.EqualFold(o.Spec.Name, spec.Name) {
			return &Error{Subject: subject, Field: "name", Value: spec.Name, Conflict: true,
				Problem: fmt.Sprintf("clashes with service %q (names differ only in case, and DNS ignores case)", o.Spec.Name),
				Fix:     "pick another name, or change that service with `agentctl service update`"}
		}
		if err := portsClash(spec, o); err != nil {
			return about(err, subject)
		}
	}
	if others >= lim.Services && !hasService(c.Services, id) {
		return about(overLimit("services", others+1, lim.Services, "services"), subject)
	}
	if t := tasks + desiredTasks(spec, len(c.Nodes)); t > lim.Tasks {
		return about(overLimit("tasks in the cluster", t, lim.Tasks, "tasks"), subject)
	}
	return about(agentPorts(spec, c.Nodes), subject)
}

func hasService(svcs []*types.Service, id string) bool {
	for _, s := range svcs {
		if s.ID == id {
			return true
		}
	}
	return false
}

// desiredTasks is how many tasks spec wants with n nodes.
func desiredTasks(spec *types.ServiceSpec, n int) int64 {
	if spec.Mode.Global {
		return int64(n)
	}
	return clampInt(spec.Mode.Replicas)
}

func portsClash(spec *types.ServiceSpec, o *types.Service) error {
	for _, p := range o.Spec.Endpoint.Ports {
		for _, q := range spec.Endpoint.Ports {
			if p.PublishedPort == q.PublishedPort && p.Protocol == q.Protocol {
				return &Error{Field: "publish", Value: fmt.Sprintf("%d/%s", q.PublishedPort, q.Protocol), Conflict: true,
					Problem: fmt.Sprintf("is already published by service %q", o.Spec.Name), Fix: "pick another published port"}
			}
		}
	}
	return nil
}

// agentPorts refuses publishing a port the agents listen on themselves:
// the defaults and every node's advertised gossip, raft and API ports.
// Published ports answer on every node, so such a port would lead into a
// container instead of the agent.
func agentPorts(spec *types.ServiceSpec, nodes []*types.Node) error {
	own := map[int]string{api.DefaultGossipPort: "gossip", api.DefaultRaftPort: "raft", api.DefaultAPIPort: "API"}
	for _, n := range nodes {
		own[n.GossipPort], own[n.RaftPort], own[n.APIPort] = "gossip", "raft", "API"
	}
	delete(own, 0)
	for _, p := range spec.Endpoint.Ports {
		if what, ok := own[int(p.PublishedPort)]; ok {
			return invalid("publish", fmt.Sprintf("%d", p.PublishedPort),
				"is the agents' own "+what+" port", "publish another port: this one must reach the agent on every node")
		}
		if what, ok := nodePorts[nodePort{p.PublishedPort, protocolOf(p.Protocol)}]; ok {
			return invalid("publish", fmt.Sprintf("%d/%s", p.PublishedPort, protocolOf(p.Protocol)),
				"is "+what, "publish another port")
		}
	}
	return nil
}

// nodePort is a port and protocol on a node's own addresses.
type nodePort struct {
	port  uint16
	proto string
}

// nodePorts are what else answers on every node's addresses: a published
// port there would capture it.
var nodePorts = map[nodePort]string{
	{4789, "udp"}: "the overlay's VXLAN port: every node's tunnel traffic would go to a container",
	{53, "udp"}:   "the tasks' DNS resolver port (it answers on each node's bridge address): every task's name lookups would go to a container",
	{53, "tcp"}:   "the tasks' DNS resolver port (it answers on each node's bridge address): every task's name lookups would go to a container",
}

func protocolOf(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}
