package convert

import (
	"net/netip"
	"strconv"

	"github.com/moby/moby/api/types/network"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// Network is the overlay network n as Docker shows a swarm-scoped overlay
// network.
func Network(n *types.Network) network.Inspect {
	out := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.CreatedAt, Scope: "swarm", Driver: "overlay", EnableIPv4: true,
			IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}},
			Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": strconv.FormatUint(uint64(n.VNI), 10)},
			Labels:  labels(n.Labels),
		},
		Containers: map[string]network.EndpointResource{},
	}
	if p, err := netip.ParsePrefix(n.Subnet); err == nil {
		out.IPAM.Config = []network.IPAMConfig{{Subnet: p}}
	}
	return out
}

// NetworkCreate is shoal's request for Docker's: an overlay network with at
// most one subnet. Anything else Docker can ask of a network is refused,
// naming it.
func NetworkCreate(in network.CreateRequest) (api.NetworkCreateRequest, error) {
	out := api.NetworkCreateRequest{Name: in.Name, Labels: nilIfEmpty(in.Labels)}
	if in.Driver != "" && in.Driver != "overlay" {
		return out, fault.Invalidf("network %q: driver %q is not served by shoal: its networks are overlay networks (--driver overlay)", in.Name, in.Driver)
	}
	if in.Scope != "" && in.Scope != "swarm" {
		return out, fault.Invalidf("network %q: scope %q is not served by shoal: its networks span the cluster (scope swarm)", in.Name, in.Scope)
	}
	if in.EnableIPv4 != nil && !*in.EnableIPv4 {
		return out, fault.Invalidf("network %q: EnableIPv4 false is not served by shoal: its overlay networks are IPv4", in.Name)
	}
	if err := refuseSet("network "+strconv.Quote(in.Name), &in, "Name", "Driver", "Scope", "EnableIPv4", "IPAM", "Labels"); err != nil {
		return out, err
	}
	if ipam := in.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return out, fault.Invalidf("network %q: IPAM driver %q is not served by shoal", in.Name, ipam.Driver)
		}
		if len(ipam.Options) > 0 {
			return out, fault.Invalidf("network %q: IPAM options are not served by shoal", in.Name)
		}
		if len(ipam.Config) > 1 {
			return out, fault.Invalidf("network %q: %d subnets: a shoal network has one (--subnet)", in.Name, len(ipam.Config))
		}
		for _, c := range ipam.Config {
			if err := refuseSet("network "+strconv.Quote(in.Name)+" IPAM.Config", &c, "Subnet"); err != nil {
				return out, err
			}
			out.Subnet = c.Subnet.String()
		}
	}
	return out, nil
}
