package control

import (
	"fmt"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
)

// Node statuses without a leader (see the agent's status.go): a read no
// live leader confirmed shows only the statuses this agent's own gossip
// can vouch for; the others are unknown, and no voter is the Leader.

// statusView is what the answering agent knows besides its replica's node
// records when it derives the statuses it shows.
type statusView struct {
	self   string                       // the answering node's ID
	voters map[string]bool              // raft voters in this agent's configuration
	leader string                       // the leader's ID as raft names it; "" for none
	gossip map[string]membership.Status // this agent's gossip view by node ID
	fresh  api.Freshness                // whether a live leader confirmed the replica
}

// statusView gathers raft's and gossip's view for deriveNodes.
func (cl *Cluster) statusView(fresh api.Freshness) statusView {
	sv := statusView{self: cl.NodeID, voters: map[string]bool{}, gossip: map[string]membership.Status{}, fresh: fresh}
	if servers, err := cl.Servers(); err == nil {
		for _, s := range servers {
			sv.voters[s.ID] = s.Voter
		}
	}
	sv.leader = cl.LeaderID()
	for _, m := range cl.Members() {
		sv.gossip[m.ID] = m.Status
	}
	return sv
}

// deriveNodes decorates the replica's node records with what the answering
// agent shows for them. With a live leader behind the answer the records
// stand as they are. Without one, a node keeps its recorded status only if
// this agent's gossip sees it alive (or saw it leave, for a node recorded
// Down); every other status is unknown, and no voter is shown as Leader.
// Pure.
func deriveNodes(nodes []*types.Node, sv statusView) []api.Node {
	out := make([]api.Node, 0, len(nodes))
	for _, n := range nodes {
		v := api.Node{Node: *n, Self: n.ID == sv.self, Freshness: sv.fresh}
		seen := sv.gossip[n.ID]
		confirmed := sv.fresh.Authoritative || seen == membership.StatusAlive ||
			(seen == membership.StatusLeft && n.Status == types.NodeDown)
		if !confirmed && n.Status != types.NodeUnknown {
			v.ReplicaStatus, v.Status = n.Status, types.NodeUnknown
			v.StatusMessage = fmt.Sprintf("no leader is reachable and this agent's gossip %s; last recorded status: %s",
				gossipWord(seen), n.Status)
		}
		if sv.voters[n.ID] {
			v.ManagerStatus = managerStatus(n.ID, sv, seen)
		}
		out = append(out, v)
	}
	return out
}

// managerStatus is docker's MANAGER STATUS of voter id.
func managerStatus(id string, sv statusView, seen membership.Status) string {
	switch {
	case sv.fresh.Authoritative && id == sv.leader:
		return "Leader"
	case seen == membership.StatusAlive:
		return "Reachable"
	default:
		return "Unreachable"
	}
}

// gossipWord says how gossip sees a node, for status messages.
func gossipWord(s membership.Status) string {
	if s == "" {
		return "does not know the node"
	}
	return "sees the node " + string(s)
}
