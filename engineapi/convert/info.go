package convert

import (
	"net"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
)

// SwarmInfo is /info's Swarm block for the agent described by in, whose
// cluster has the given nodes. `docker stack deploy` refuses to run unless
// LocalNodeState is active and ControlAvailable is true: every agent takes
// writes (forwarding them to the leader), so every agent in a cluster is
// a control point.
func SwarmInfo(in api.Info, nodes []api.Node) swarm.Info {
	if !in.InCluster {
		return swarm.Info{NodeID: in.NodeID, NodeAddr: in.Addr, LocalNodeState: swarm.LocalNodeStateInactive}
	}
	out := swarm.Info{
		NodeID: in.NodeID, NodeAddr: in.Addr,
		LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true,
		Nodes:   len(nodes),
		Cluster: &swarm.ClusterInfo{ID: in.ClusterID},
	}
	if out.Nodes == 0 {
		out.Nodes = in.Nodes
	}
	for _, n := range nodes {
		if n.ManagerStatus == "" {
			continue
		}
		out.Managers++
		out.RemoteManagers = append(out.RemoteManagers, swarm.Peer{NodeID: n.ID, Addr: net.JoinHostPort(n.Addr, strconv.Itoa(n.RaftPort))})
	}
	if out.Managers == 0 {
		out.Managers = in.Voters
	}
	return out
}

// Swarm is the answer to GET /swarm: the cluster as Docker describes it.
// Join tokens are left empty: shoal's one token is printed by
// `agent join-token` on a node, and the Engine API does not hand it out.
func Swarm(in api.Info) swarm.Swarm {
	return swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: in.ClusterID}}
}
