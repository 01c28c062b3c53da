package leader

import (
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
)

// TestDesiredNode: gossip decides a node's status; a member alive at
// another recovery generation is Unknown (rejoining), not Ready; a row
// already right needs no write.
func TestDesiredNode(t *testing.T) {
	gen1, gen2 := membership.Generation{Epoch: 1}, membership.Generation{Epoch: 2, ID: "ab"}
	m := membership.Member{ID: "n1", Name: "host1", Addr: "10.0.0.1", Port: 7946, Status: membership.StatusAlive,
		Tags: map[string]string{"api": "7948", membership.TagGen: gen1.String()}}
	n := desiredNode(nil, m, types.RoleVoter, gen1)
	if n == nil || n.Status != types.NodeReady || n.APIPort != 7948 || n.Role != types.RoleVoter || n.Availability != types.AvailabilityActive {
		t.Fatalf("new alive member: %+v", n)
	}
	if again := desiredNode(n, m, types.RoleVoter, gen1); again != nil {
		t.Errorf("unchanged member rewrote its row: %+v", again)
	}
	if stale := desiredNode(n, m, types.RoleVoter, gen2); stale == nil || stale.Status != types.NodeUnknown {
		t.Errorf("member of another generation: %+v, want Unknown", stale)
	}
	m.Status = membership.StatusFailed
	if down := desiredNode(n, m, "", gen1); down == nil || down.Status != types.NodeDown || down.Role != types.RoleVoter {
		t.Errorf("failed member: %+v, want Down keeping its role", down)
	}
}
