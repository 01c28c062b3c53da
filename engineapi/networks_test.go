package engineapi

import (
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

func TestNetworks(t *testing.T) {
	b := newFake()
	create := `{"Name":"back","Driver":"overlay","Scope":"swarm","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.99.0.0/24"}]},"Labels":{"app":"x"},"Options":{}}`
	r := call(t, b, "POST", "/v1.50/networks/create", create)
	if r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	id := decode[network.CreateResponse](t, r).ID
	message(t, call(t, b, "POST", "/networks/create", create), 409)
	for body, want := range map[string]string{
		`{"Name":"br","Driver":"bridge"}`:                                                      "driver \"bridge\"",
		`{"Name":"a","Driver":"overlay","Attachable":true}`:                                    "Attachable",
		`{"Name":"six","Driver":"overlay","EnableIPv6":true}`:                                  "EnableIPv6",
		`{"Name":"two","IPAM":{"Config":[{"Subnet":"10.1.0.0/24"},{"Subnet":"10.2.0.0/24"}]}}`: "2 subnets",
		`{"Name":"gw","IPAM":{"Config":[{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"}]}}`:      "Gateway",
	} {
		if m := message(t, call(t, b, "POST", "/networks/create", body), 400); !strings.Contains(m, want) {
			t.Errorf("create %s: %q, want %q", body, m, want)
		}
	}
	n := decode[network.Inspect](t, call(t, b, "GET", "/networks/back", ""))
	if n.ID != id || n.Driver != "overlay" || n.Scope != "swarm" || len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet.String() != "10.99.0.0/24" || n.Labels["app"] != "x" {
		t.Fatalf("inspect %+v", n)
	}
	for f, want := range map[string]int{"": 2, `{"name":{"bac":true}}`: 1, `{"driver":{"bridge":true}}`: 0, `{"scope":{"swarm":true}}`: 2, `{"label":{"app=x":true}}`: 1} {
		if got := len(decode[[]network.Summary](t, call(t, b, "GET", "/networks?filters="+url.QueryEscape(f), ""))); got != want {
			t.Errorf("filters %s: %d networks, want %d", f, got, want)
		}
	}

	// A service names its networks by ID (the docker CLI resolves them) or
	// by name; shoal stores names and Docker is shown IDs and VIPs.
	spec := `{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"` + id + `"}]}}`
	if r := call(t, b, "POST", "/services/create", spec); r.code != 201 {
		t.Fatalf("create with network: %d %s", r.code, r.body)
	}
	if got := b.services[0].Spec.Task.Networks; len(got) != 1 || got[0] != "back" {
		t.Fatalf("stored networks %v, want [back]", got)
	}
	b.services[0].VIPs = map[string]string{"back": "10.99.0.2"}
	s := decode[swarm.Service](t, call(t, b, "GET", "/services/api", ""))
	if nets := s.Spec.TaskTemplate.Networks; len(nets) != 1 || nets[0].Target != id {
		t.Fatalf("networks shown %+v, want the ID %s", nets, id)
	}
	if v := s.Endpoint.VirtualIPs; len(v) != 1 || v[0].NetworkID != id || v[0].Addr.String() != "10.99.0.2/24" {
		t.Fatalf("VIPs %+v", v)
	}
	message(t, call(t, b, "POST", "/services/create", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"nosuch"}]}}`), 404)

	if r := call(t, b, "DELETE", "/v1.50/networks/back", ""); r.code != 204 {
		t.Fatalf("rm: %d %s", r.code, r.body)
	}
	message(t, call(t, b, "DELETE", "/networks/back", ""), 404)
}
