package leader

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// nodeLoop keeps the nodes table in step with gossip and the raft
// configuration. It owns no state between rounds: each round compares the
// whole picture, so a missed event is repaired by the next tick.
func (l *loops) nodeLoop(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if err := l.syncNodes(ctx); err != nil && ctx.Err() == nil {
			l.Log.Warn("sync nodes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.KickNodes:
		case <-tick.C:
		}
	}
}

func (l *loops) syncNodes(ctx context.Context) error {
	servers, err := l.Replica.Servers()
	if err != nil {
		return err
	}
	roles := map[string]types.Role{}
	for _, s := range servers {
		if s.Voter {
			roles[s.ID] = types.RoleVoter
		} else {
			roles[s.ID] = types.RoleNonvoter
		}
	}
	view := l.Store.View()
	seen := map[string]bool{}
	var ops []store.Op
	for _, m := range l.Members() {
		seen[m.ID] = true
		cur := view.Node(m.ID)
		if cur == nil && m.Status != membership.StatusAlive {
			continue // a removed node that gossip still remembers as gone
		}
		if n := desiredNode(cur, m, roles[m.ID], l.Generation()); n != nil {
			ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableNodes, Node: n, IfVersion: n.Version})
		}
	}
	for _, n := range view.Nodes() {
		if !seen[n.ID] && n.Status != types.NodeDown {
			cp := n.Copy()
			setStatus(cp, types.NodeDown, "node is unknown to gossip")
			ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableNodes, Node: cp, IfVersion: n.Version})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err = l.Apply(ctx, store.Command{Ops: ops})
	if errors.Is(err, store.ErrConflict) {
		l.kick() // someone wrote in between: redo with fresh data
		return nil
	}
	return err
}

// desiredNode returns the node row that gossip says should be stored, or nil
// if the stored one is already right. IfVersion-ready: Version is the
// stored version (0 for a new row).
//
// An alive member of another recovery generation is Unknown, not Ready:
// it is stale and rejoining, and runs none of this cluster's tasks yet.
func desiredNode(cur *types.Node, m membership.Member, role types.Role, gen membership.Generation) *types.Node {
	var n *types.Node
	if cur == nil {
		n = &types.Node{ID: m.ID, Availability: types.AvailabilityActive}
	} else {
		n = cur.Copy()
	}
	n.Hostname = m.Name
	n.Addr = m.Addr
	n.GossipPort = m.Port
	n.APIPort = atoi(m.Tags["api"])
	n.RaftPort = atoi(m.Tags["raft"])
	n.EngineVersion = m.Tags["ver"]
	n.Dataplane = m.Tags["dp"]
	n.Platform = types.Platform{OS: m.Tags["os"], Architecture: m.Tags["arch"]}
	n.Resources = types.Resources{NanoCPUs: int64(atoi(m.Tags["cpus"])), MemoryBytes: int64(atoi(m.Tags["mem"]))}
	if role != "" {
		n.Role = role
	} else if n.Role == "" {
		n.Role = types.RoleNonvoter
	}
	mgen, _ := membership.ParseGeneration(m.Tags[membership.TagGen])
	switch m.Status {
	case membership.StatusAlive:
		if mgen != gen {
			setStatus(n, types.NodeUnknown, fmt.Sprintf("node is at recovery generation %s, the cluster at %s: it is rejoining", mgen, gen))
			break
		}
		setStatus(n, types.NodeReady, "")
	case membership.StatusLeft:
		setStatus(n, types.NodeDown, "node left the cluster")
	case membership.StatusFailed:
		setStatus(n, types.NodeDown, "node failed: no gossip answer")
	default:
		setStatus(n, types.NodeUnknown, "node status "+string(m.Status))
	}
	if cur != nil && sameNode(cur, n) {
		return nil
	}
	return n
}

func setStatus(n *types.Node, s types.NodeStatus, msg string) {
	if n.Status != s {
		n.StatusSince = time.Now().UTC()
	}
	n.Status, n.StatusMessage = s, msg
}

func sameNode(a, b *types.Node) bool {
	return a.Hostname == b.Hostname && a.Addr == b.Addr && a.GossipPort == b.GossipPort &&
		a.APIPort == b.APIPort && a.RaftPort == b.RaftPort && a.EngineVersion == b.EngineVersion && a.Dataplane == b.Dataplane &&
		a.Platform == b.Platform && a.Resources == b.Resources && a.Role == b.Role &&
		a.Status == b.Status && a.StatusMessage == b.StatusMessage
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
