package convert

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

func TestNetwork(t *testing.T) {
	got := Network(&types.Network{ID: "n1", Name: "back", Subnet: "10.99.0.0/24", VNI: 4097})
	if got.Name != "back" || got.ID != "n1" || got.Driver != "overlay" || got.Scope != "swarm" || got.Labels == nil || got.Containers == nil ||
		!reflect.DeepEqual(got.IPAM.Config, []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.99.0.0/24")}}) ||
		got.Options["com.docker.network.driver.overlay.vxlanid_list"] != "4097" {
		t.Fatalf("got %+v", got)
	}
}

func TestNetworkCreate(t *testing.T) {
	yes, no := true, false
	subnet := func(s ...string) *network.IPAM {
		ipam := &network.IPAM{Driver: "default"}
		for _, p := range s {
			ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: netip.MustParsePrefix(p)})
		}
		return ipam
	}
	tests := []struct {
		name    string
		in      network.CreateRequest
		want    api.NetworkCreateRequest
		wantErr string
	}{
		{"what docker network create -d overlay sends", network.CreateRequest{Name: "back", Driver: "overlay", Scope: "swarm", IPAM: subnet(), Options: map[string]string{}, Labels: map[string]string{}},
			api.NetworkCreateRequest{Name: "back"}, ""},
		{"subnet and labels", network.CreateRequest{Name: "b", IPAM: subnet("10.99.0.0/24"), EnableIPv4: &yes, Labels: map[string]string{"a": "1"}},
			api.NetworkCreateRequest{Name: "b", Subnet: "10.99.0.0/24", Labels: map[string]string{"a": "1"}}, ""},
		{"bridge", network.CreateRequest{Name: "b", Driver: "bridge"}, api.NetworkCreateRequest{}, "driver \"bridge\""},
		{"local scope", network.CreateRequest{Name: "b", Scope: "local"}, api.NetworkCreateRequest{}, "scope \"local\""},
		{"no IPv4", network.CreateRequest{Name: "b", EnableIPv4: &no}, api.NetworkCreateRequest{}, "EnableIPv4"},
		{"internal", network.CreateRequest{Name: "b", Internal: true}, api.NetworkCreateRequest{}, "Internal"},
		{"driver options", network.CreateRequest{Name: "b", Options: map[string]string{"encrypted": ""}}, api.NetworkCreateRequest{}, "Options"},
		{"two subnets", network.CreateRequest{Name: "b", IPAM: subnet("10.1.0.0/24", "10.2.0.0/24")}, api.NetworkCreateRequest{}, "2 subnets"},
		{"IPAM driver", network.CreateRequest{Name: "b", IPAM: &network.IPAM{Driver: "dhcp"}}, api.NetworkCreateRequest{}, "IPAM driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NetworkCreate(tt.in)
			expect(t, got, err, tt.want, tt.wantErr)
		})
	}
}
