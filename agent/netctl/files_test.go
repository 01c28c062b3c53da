package netctl

import (
	"net/netip"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// TestTaskFiles: the node's resolver comes first in resolv.conf, the
// spec's servers after it; the task's address names its hostname in
// /etc/hosts, then the spec's lines.
func TestTaskFiles(t *testing.T) {
	gw, ip := netip.MustParseAddr("10.240.1.1"), netip.MustParseAddr("10.240.1.7")
	if got := string(resolvConf(gw, nil)); got != "nameserver 10.240.1.1\noptions ndots:0\n" {
		t.Errorf("resolv.conf without DNS settings:\n%s", got)
	}
	d := &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"a.example", "b.example"}, Options: []string{"ndots:2", "edns0"}}
	want := "nameserver 10.240.1.1\nnameserver 10.0.0.2\nsearch a.example b.example\noptions ndots:0 ndots:2 edns0\n"
	if got := string(resolvConf(gw, d)); got != want {
		t.Errorf("resolv.conf:\n%s\nwant\n%s", got, want)
	}
	want = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.240.1.7\tweb-1\n10.0.0.5\tdb db.local\n"
	if got := string(hostsFile("web-1", ip, []string{"10.0.0.5 db  db.local"})); got != want {
		t.Errorf("hosts:\n%s\nwant\n%s", got, want)
	}
}
