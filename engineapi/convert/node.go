package convert

import (
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// Node is n as Docker shows a swarm node. The raft voters are Docker's
// managers (ManagerStatus set, Leader on the leader); every other agent is
// a worker.
func Node(n api.Node) swarm.Node {
	out := swarm.Node{
		ID:   n.ID,
		Meta: meta(n.Meta),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: labels(n.Labels)},
			Role:         NodeRole(n.Role),
			Availability: swarm.NodeAvailability(n.Availability),
		},
		Description: swarm.NodeDescription{
			Hostname:  n.Hostname,
			Platform:  swarm.Platform{OS: n.Platform.OS, Architecture: n.Platform.Architecture},
			Resources: swarm.Resources{NanoCPUs: n.Resources.NanoCPUs, MemoryBytes: n.Resources.MemoryBytes},
			Engine:    swarm.EngineDescription{EngineVersion: n.EngineVersion},
		},
		Status: swarm.NodeStatus{State: swarm.NodeState(n.Status), Message: n.StatusMessage, Addr: n.Addr},
	}
	if n.Role == types.RoleVoter {
		ms := &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Leader: n.ManagerStatus == "Leader"}
		switch n.ManagerStatus {
		case "Unreachable":
			ms.Reachability = swarm.ReachabilityUnreachable
		case "":
			ms.Reachability = swarm.ReachabilityUnknown
		}
		if n.Addr != "" {
			ms.Addr = net.JoinHostPort(n.Addr, strconv.Itoa(n.RaftPort))
		}
		out.ManagerStatus = ms
	}
	return out
}

// NodeRole is Docker's role for a node with raft suffrage r.
func NodeRole(r types.Role) swarm.NodeRole {
	if r == types.RoleVoter {
		return swarm.NodeRoleManager
	}
	return swarm.NodeRoleWorker
}

// NodeUpdate turns a whole Docker NodeSpec into the change it makes to cur:
// its availability and its labels (added, changed and removed). version is
// the ?version= the client read. A role change is refused (voters are
// chosen automatically), and so is a node name, which Docker has and shoal
// does not.
func NodeUpdate(cur api.Node, spec swarm.NodeSpec, version uint64) (api.NodeUpdate, error) {
	if spec.Role != "" && spec.Role != NodeRole(cur.Role) {
		return api.NodeUpdate{}, fault.Invalidf("node %s: its role cannot be set to %s: shoal chooses the raft voters (Docker's managers) automatically "+
			"among the agents, so any node may become one; leave the role as it is", cur.Hostname, spec.Role)
	}
	if spec.Name != "" {
		return api.NodeUpdate{}, fault.Invalidf("node %s: Spec.Name is not served by shoal: a node is named by its hostname", cur.Hostname)
	}
	upd := api.NodeUpdate{Availability: string(spec.Availability), Version: version}
	for k, v := range spec.Labels {
		if old, ok := cur.Labels[k]; !ok || old != v {
			if upd.LabelAdd == nil {
				upd.LabelAdd = map[string]string{}
			}
			upd.LabelAdd[k] = v
		}
	}
	for k := range cur.Labels {
		if _, ok := spec.Labels[k]; !ok {
			upd.LabelRm = append(upd.LabelRm, k)
		}
	}
	slices.Sort(upd.LabelRm)
	return upd, nil
}

func meta(m types.Meta) swarm.Meta {
	return swarm.Meta{Version: swarm.Version{Index: m.Version}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// labels is m, never nil: Docker's Annotations.Labels has no omitempty and
// clients index it.
func labels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
