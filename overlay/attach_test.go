package overlay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func attachedManager(t *testing.T) (*Manager, *fakeKernel) {
	t.Helper()
	f := newFakeKernel()
	m := NewManager(f, quiet)
	if err := m.Apply(context.Background(), applyCases()[5].d); err != nil {
		t.Fatal(err)
	}
	return m, f
}

func TestAttachTwoNetworks(t *testing.T) {
	m, f := attachedManager(t)
	got, err := m.Attach(context.Background(), "/run/shoal/netns/t1", "t1", []AttachRequest{
		{"front", netip.MustParseAddr("10.10.1.5")}, {"back", netip.MustParseAddr("10.20.1.9")}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Attachment{
		{Network: "front", IP: pfx("10.10.1.5/24"), Gateway: netip.MustParseAddr("10.10.1.1"), HostVeth: hostVethName("t1", 0)},
		{Network: "back", IP: pfx("10.20.1.9/24"), Gateway: netip.MustParseAddr("10.20.1.1"), HostVeth: hostVethName("t1", 1)},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Attach = %+v, want %+v", got, want)
	}
	v0, v1 := f.veths[hostVethName("t1", 0)], f.veths[hostVethName("t1", 1)]
	if v0.Peer != "eth0" || v0.Bridge != "shoalbr42" || v0.MTU != 1450 || v0.Gateway != want[0].Gateway ||
		!v0.Default || len(v0.Routes) != 0 {
		t.Fatalf("first veth = %v", v0)
	}
	if v1.Peer != "eth1" || v1.Bridge != "shoalbr43" || v1.Default || fmt.Sprint(v1.Routes) != "[10.20.0.0/16]" {
		t.Fatalf("second veth = %v (only the first network gets the default route; the second its CIDR)", v1)
	}
	if n := len(hostVethName(strings.Repeat("x", maxTaskID), maxTaskNets-1)); n > 15 {
		t.Fatalf("host veth name has %d bytes, more than IFNAMSIZ-1", n)
	}
}

func TestAttachRejectsBadRequests(t *testing.T) {
	m, f := attachedManager(t)
	ip := netip.MustParseAddr
	cases := map[string][]AttachRequest{
		"unknown network":   {{"nope", ip("10.10.1.5")}},
		"network address":   {{"front", ip("10.10.1.0")}},
		"gateway address":   {{"front", ip("10.10.1.1")}},
		"broadcast":         {{"front", ip("10.10.1.255")}},
		"other subnet":      {{"front", ip("10.10.2.5")}},
		"network twice":     {{"front", ip("10.10.1.5")}, {"front", ip("10.10.1.6")}},
		"nothing asked for": nil,
	}
	calls := f.calls
	for name, req := range cases {
		if _, err := m.Attach(context.Background(), "/ns/t", "t", req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Attach = %v, want ErrInvalid", name, err)
		}
	}
	if f.calls != calls {
		t.Fatalf("rejected Attach calls touched the kernel %d times", f.calls-calls)
	}
}

// TestAttachRollsBack fails the second veth and checks the first is removed.
func TestAttachRollsBack(t *testing.T) {
	m, f := attachedManager(t)
	f.failIf = failOn("master=shoalbr43")
	_, err := m.Attach(context.Background(), "/ns/t1", "t1", []AttachRequest{
		{"front", netip.MustParseAddr("10.10.1.5")}, {"back", netip.MustParseAddr("10.20.1.9")}})
	if err == nil || !strings.Contains(err.Error(), `network "back"`) {
		t.Fatalf("Attach = %v, want an error naming network back", err)
	}
	if len(f.veths) != 0 {
		t.Fatalf("veths left after failed Attach: %v", f.veths)
	}
}

func TestDetachOnlyThatTask(t *testing.T) {
	m, f := attachedManager(t)
	for _, id := range []string{"t1", "t2"} {
		if _, err := m.Attach(context.Background(), "/ns/"+id, id, []AttachRequest{
			{"front", netip.MustParseAddr(map[string]string{"t1": "10.10.1.5", "t2": "10.10.1.6"}[id])}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Detach(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.veths[hostVethName("t2", 0)]; len(f.veths) != 1 || !ok {
		t.Fatalf("after Detach(t1) veths = %v, want only t2's", f.veths)
	}
	if err := m.Detach(context.Background(), "t1"); err != nil {
		t.Fatalf("second Detach = %v, want nil", err)
	}
}
