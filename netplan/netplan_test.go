package netplan

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

func TestPlanLeasesKeepsAndFrees(t *testing.T) {
	nw := &types.Network{Name: "shoal", Subnet: "10.240.0.0/16",
		Leases: map[string]string{"a": "10.240.5.0/24", "gone": "10.240.1.0/24"}}
	nodes := []*types.Node{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	changed, errs := PlanLeases([]*types.Network{nw}, nodes)
	if len(errs) != 0 || len(changed) != 1 {
		t.Fatalf("changed %d, errs %v", len(changed), errs)
	}
	got := changed[0].Leases
	want := map[string]string{"a": "10.240.5.0/24", "b": "10.240.1.0/24", "c": "10.240.2.0/24"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("leases = %v, want %v (a keeps its block, the VIP block 10.240.0.0/24 stays free, gone's block is reused)", got, want)
	}
	if nw.Leases["gone"] == "" {
		t.Error("PlanLeases modified its input")
	}
	if again, _ := PlanLeases(changed, nodes); len(again) != 0 {
		t.Errorf("second round changed %d networks, want none", len(again))
	}
}

func TestPlanLeasesFullNetwork(t *testing.T) {
	// A /24 has 16 blocks of /28: one for VIPs, 15 for nodes.
	nw := &types.Network{Name: "small", Subnet: "10.9.0.0/24"}
	var nodes []*types.Node
	for i := range 17 {
		nodes = append(nodes, &types.Node{ID: fmt.Sprintf("n%02d", i)})
	}
	changed, errs := PlanLeases([]*types.Network{nw}, nodes)
	if len(changed) != 1 || len(changed[0].Leases) != 15 {
		t.Fatalf("want 15 leases, got %v", changed)
	}
	if len(errs) != 2 {
		t.Errorf("want 2 errors for the nodes left without a block, got %v", errs)
	}
}

func TestAllocVIPs(t *testing.T) {
	a := &types.Network{Name: "a", Subnet: "10.240.0.0/16"}
	b := &types.Network{Name: "b", Subnet: "10.241.0.0/24"}
	used := map[string]bool{"a/10.240.0.2": true, "a/10.240.0.3": true}
	got, err := AllocVIPs([]*types.Network{a, b}, map[string]string{"b": "10.241.0.9"}, "vip", used)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != "10.240.0.4" || got["b"] != "10.241.0.9" {
		t.Errorf("VIPs = %v, want a=10.240.0.4 (lowest free) and b kept", got)
	}
	if got, _ := AllocVIPs([]*types.Network{a}, nil, "dnsrr", used); got != nil {
		t.Errorf("dnsrr service got VIPs %v", got)
	}
	// b's VIP block is a /28: .2 to .14 are VIPs.
	full := map[string]bool{}
	for i := 2; i <= 14; i++ {
		full[fmt.Sprintf("b/10.241.0.%d", i)] = true
	}
	_, err = AllocVIPs([]*types.Network{b}, nil, "vip", full)
	var he *fault.Error
	if !errors.As(err, &he) || he.Kind != fault.Conflict {
		t.Errorf("full VIP block: err = %v, want a 409", err)
	}
}

func TestNewNetworkRange(t *testing.T) {
	nets := []*types.Network{{Subnet: "10.241.0.0/24"}, {Subnet: "10.241.2.0/23"}}
	p, err := NewNetworkRange(nets)
	if err != nil || p.String() != "10.241.1.0/24" {
		t.Errorf("NewNetworkRange = %v, %v; want 10.241.1.0/24", p, err)
	}
	if v := NextVNI([]*types.Network{{VNI: 4096}, {VNI: 4100}}); v != 4101 {
		t.Errorf("NextVNI = %d", v)
	}
}
