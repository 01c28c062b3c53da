package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// runCtl parses `agentctl ARGS` with the real command tree and runs it.
func runCtl(t *testing.T, g *Globals, args ...string) error {
	t.Helper()
	var c CtlCLI
	k, err := kong.New(&c, kong.Name("agentctl"))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(args)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return kctx.Run(g)
}

// captureStderr sends warnings to a buffer for the rest of the test.
func captureStderr(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	t.Cleanup(func() { stderr = old })
	return &buf
}

// networkFixture is a fake agent with the default network, a labelled
// one leased to both nodes (one of which has left the node list), and a
// service on it.
func networkFixture(t *testing.T) (*fakeAgent, *Globals, *bytes.Buffer) {
	f, g, out := newFakeAgent(t)
	def := f.addNetwork("shoal", "10.240.0.0/16", nil)
	def.Default = true
	def.Leases = map[string]string{"node-w1": "10.240.1.0/24"}
	front := f.addNetwork("front", "10.242.0.0/16", map[string]string{"team": "web"})
	front.Leases = map[string]string{"node-w2": "10.242.2.0/24", "node-w1": "10.242.1.0/24", "node-gone": "10.242.3.0/24"}
	f.addNetwork("back", "", nil)
	for _, h := range []string{"w1", "w2"} {
		var n api.Node
		n.ID, n.Hostname = "node-"+h, "worker"+strings.TrimPrefix(h, "w")
		f.nodes = append(f.nodes, n)
	}
	web := webSpec()
	web.Task.Networks = []string{"front"}
	f.add(web).VIPs = map[string]string{"front": "10.242.0.2"}
	return f, g, out
}

func TestNetworkCreate(t *testing.T) {
	f, g, out := newFakeAgent(t)
	if err := runCtl(t, g, "network", "create", "--subnet", "10.242.0.0/16", "-l", "team=web", "--label", "tier", "front"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 || w[0].String() != "POST /v1/networks" {
		t.Fatalf("writes = %v, want one POST /v1/networks", w)
	}
	want := api.NetworkCreateRequest{Name: "front", Subnet: "10.242.0.0/16", Labels: map[string]string{"team": "web", "tier": ""}}
	if got := decodeBody[api.NetworkCreateRequest](t, w[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("request = %+v, want %+v", got, want)
	}
	if out.String() != f.nets[0].ID+"\n" {
		t.Errorf("printed %q, want the new network's ID", out)
	}
	// Without --subnet the agent picks one: nothing is sent for it.
	if err := runCtl(t, g, "network", "create", "back"); err != nil {
		t.Fatal(err)
	}
	if got := string(f.writes()[1].Body); strings.Contains(got, "Subnet") || strings.Contains(got, "Labels") {
		t.Errorf("create without flags sent %s", got)
	}
}

func TestNetworkCreateErrors(t *testing.T) {
	f, g, _ := newFakeAgent(t)
	f.addNetwork("front", "", nil)
	for _, tt := range []struct {
		args   []string
		want   string
		writes int // requests that reach the agent
	}{
		{[]string{"--subnet", "10.242.0.0", "x"}, "--subnet 10.242.0.0: use an IPv4 range in CIDR form, such as 10.242.0.0/16", 0},
		{[]string{"--subnet", "fd00::/64", "x"}, "--subnet fd00::/64: use an IPv4 range in CIDR form, such as 10.242.0.0/16", 0},
		{[]string{"--subnet", "10.242.1.0/16", "x"}, "--subnet 10.242.1.0/16: host bits are set: use 10.242.0.0/16", 0},
		{[]string{"--label", "=v", "x"}, "--label =v: expected KEY=VALUE", 0},
		// The agent's refusals are shown as they are.
		{[]string{"front"}, `network "front" already exists`, 1},
		{[]string{"bad.name"}, `network name "bad.name": use 1-32 letters, digits, '-' or '_', starting with a letter or digit`, 1},
	} {
		before := len(f.writes())
		err := runCtl(t, g, append([]string{"network", "create"}, tt.args...)...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %s", tt.args, err, tt.want)
		}
		if got := len(f.writes()) - before; got != tt.writes {
			t.Errorf("%q sent %d writes, want %d", tt.args, got, tt.writes)
		}
	}
}

func TestNetworkLsOutput(t *testing.T) {
	_, g, out := networkFixture(t)
	for _, args := range [][]string{nil, {"-q"}, {"--format", "json"}, {"--format", "{{.Name}} {{.Subnet}}"}, {"--no-trunc"}} {
		if err := runCtl(t, g, append([]string{"network", "ls"}, args...)...); err != nil {
			t.Fatalf("ls %q: %v", args, err)
		}
		out.WriteString("--\n")
	}
	golden(t, "network_ls", out.String())
}

func TestNetworkInspect(t *testing.T) {
	f, g, out := networkFixture(t)
	if err := runCtl(t, g, "network", "inspect", "front", "shoal"); err != nil {
		t.Fatal(err)
	}
	var got []types.Network
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("inspect printed no JSON array: %v\n%s", err, out)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], *f.nets[1]) || !reflect.DeepEqual(got[1], *f.nets[0]) {
		t.Errorf("inspect = %+v, want front and shoal as stored", got)
	}

	out.Reset()
	if err := runCtl(t, g, "network", "inspect", "-f", "{{.Name}} {{.VNI}} {{len .Leases}}", "front"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "front 4098 3\n" {
		t.Errorf("template printed %q", out)
	}

	out.Reset()
	if err := runCtl(t, g, "network", "inspect", "--pretty", "front", "shoal", "back"); err != nil {
		t.Fatal(err)
	}
	golden(t, "network_inspect_pretty", out.String())

	if err := runCtl(t, g, "network", "inspect", "front", "nosuch"); err == nil || err.Error() != `network "nosuch" not found` {
		t.Errorf("inspect of a missing network: %v", err)
	}
}

func TestNetworkRm(t *testing.T) {
	f, g, out := networkFixture(t)
	err := runCtl(t, g, "network", "rm", "shoal", "back", "front", "nosuch")
	want := `network "shoal" is the default network and cannot be removed` + "\n" +
		`network "front" is in use by service "web": remove the service or update it with --network-rm front first` + "\n" +
		`network "nosuch" not found`
	if err == nil || err.Error() != want {
		t.Errorf("rm err =\n%v\nwant\n%s", err, want)
	}
	if out.String() != "back\n" {
		t.Errorf("rm printed %q, want only the removed network", out)
	}
	if len(f.nets) != 2 || f.findNetwork("back") != nil {
		t.Errorf("networks left: %d, back still there: %v", len(f.nets), f.findNetwork("back") != nil)
	}
}

func TestServiceNetworksAndPortsReachTheAgent(t *testing.T) {
	f, g, _ := networkFixture(t)
	if err := runCtl(t, g, "service", "create", "-d", "--name", "api", "--network", "back", "--network", "front",
		"-p", "8443:443", "--publish", "published=5353,target=53,protocol=udp", "api:1"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	spec := decodeBody[api.ServiceCreateRequest](t, w[len(w)-1]).Spec
	wantPorts := []types.PortConfig{{Protocol: "tcp", TargetPort: 443, PublishedPort: 8443}, {Protocol: "udp", TargetPort: 53, PublishedPort: 5353}}
	if !reflect.DeepEqual(spec.Task.Networks, []string{"back", "front"}) || !reflect.DeepEqual(spec.Endpoint.Ports, wantPorts) {
		t.Errorf("create sent networks %q ports %+v", spec.Task.Networks, spec.Endpoint.Ports)
	}

	warnings := captureStderr(t)
	if err := runCtl(t, g, "service", "update", "-d", "--network-rm", "front", "--network-add", "back", "--network-rm", "other",
		"--publish-rm", "5353/udp", "--publish-rm", "9999", "--publish-add", "8080:80", "api"); err != nil {
		t.Fatal(err)
	}
	w = f.writes()
	spec = decodeBody[api.ServiceUpdateRequest](t, w[len(w)-1]).Spec
	wantPorts = []types.PortConfig{{Protocol: "tcp", TargetPort: 443, PublishedPort: 8443}, {Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}
	if !reflect.DeepEqual(spec.Task.Networks, []string{"back"}) || !reflect.DeepEqual(spec.Endpoint.Ports, wantPorts) {
		t.Errorf("update sent networks %q ports %+v", spec.Task.Networks, spec.Endpoint.Ports)
	}
	wantWarn := `Warning: --publish-rm 9999: service "api" publishes no such port` + "\n" +
		`Warning: --network-rm other: service "api" does not name network "other"` + "\n"
	if warnings.String() != wantWarn {
		t.Errorf("warnings:\n%s\nwant:\n%s", warnings, wantWarn)
	}
}

func TestParsePortForms(t *testing.T) {
	tcp := func(pub, target uint16) types.PortConfig {
		return types.PortConfig{Protocol: "tcp", PublishedPort: pub, TargetPort: target}
	}
	udp := func(pub, target uint16) types.PortConfig {
		return types.PortConfig{Protocol: "udp", PublishedPort: pub, TargetPort: target}
	}
	for _, tt := range []struct {
		in      string
		publish types.PortConfig // parsePort; zero: an error
		remove  types.PortConfig // parsePortRef; zero: an error
	}{
		{"8080:80", tcp(8080, 80), tcp(8080, 80)},
		{"8080:80/udp", udp(8080, 80), udp(8080, 80)},
		{"8080", types.PortConfig{}, tcp(8080, 0)},
		{"53/udp", types.PortConfig{}, udp(53, 0)},
		{"published=8080,target=80", tcp(8080, 80), tcp(8080, 80)},
		{"target=80, published=8080, protocol=udp, mode=ingress", udp(8080, 80), udp(8080, 80)},
		{"published=8080", types.PortConfig{}, tcp(8080, 0)},
		{"PUBLISHED=8080,Target=80", tcp(8080, 80), tcp(8080, 80)},
		{"published=8080,target=80,mode=host", types.PortConfig{}, types.PortConfig{}},
		{"65536:80", types.PortConfig{}, types.PortConfig{}},
	} {
		p, err := parsePort("publish", tt.in)
		if (err == nil) != (tt.publish != types.PortConfig{}) || (err == nil && p != tt.publish) {
			t.Errorf("parsePort(%q) = %+v, %v; want %+v", tt.in, p, err, tt.publish)
		}
		var fe *flagError
		if err != nil && (!errors.As(err, &fe) || fe.Flag != "publish" || fe.Value != tt.in) {
			t.Errorf("parsePort(%q) error %v does not name the flag and value", tt.in, err)
		}
		r, err := parsePortRef("publish-rm", tt.in)
		if (err == nil) != (tt.remove != types.PortConfig{}) || (err == nil && r != tt.remove) {
			t.Errorf("parsePortRef(%q) = %+v, %v; want %+v", tt.in, r, err, tt.remove)
		}
	}
}
