package doctor

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
)

func TestRuntime(t *testing.T) {
	runCases(t, []checkCase{
		{name: "containerd answers", id: "containerd", want: OK, detail: []string{"version 1.6.20~ds1 at /run/containerd/containerd.sock"}},
		{name: "no socket", mutate: func(h *fakeHost) { delete(h.files, "/run/containerd/containerd.sock") }, id: "containerd",
			want: Fail, detail: []string{"no socket at /run/containerd/containerd.sock"}, fix: "apt-get install containerd"},
		{name: "socket elsewhere", opts: Options{Containerd: "/run/k/c.sock"}, id: "containerd", want: Fail, detail: []string{"/run/k/c.sock"}},
		{name: "socket does not answer", mutate: func(h *fakeHost) { h.ctrErr = errors.New("context deadline exceeded") },
			id: "containerd", want: Fail, detail: []string{"does not answer: context deadline exceeded"}, fix: "systemctl restart containerd"},
		{name: "runc", id: "runc", want: OK, detail: []string{"runc version 1.1.5+ds1 (/usr/sbin/runc)"}},
		{name: "runc missing", mutate: func(h *fakeHost) { delete(h.programs, "runc") }, id: "runc", want: Fail, fix: "apt-get install runc"},
		{name: "runc broken", mutate: func(h *fakeHost) { h.outputs = nil }, id: "runc", want: Fail, detail: []string{"--version failed"}},
	})
}

func TestPorts(t *testing.T) {
	agentUp := func(h *fakeHost) { h.agentErr = nil; h.info = api.Info{Name: "n1"} }
	runCases(t, []checkCase{
		{name: "free", id: "port/gossip-udp", want: OK, detail: []string{"udp 0.0.0.0:7946 is free"}},
		{name: "api taken", mutate: func(h *fakeHost) { h.taken["tcp 0.0.0.0:7948"] = true }, id: "port/api", want: Fail,
			detail: []string{"address already in use"}, fix: "--api-port"},
		{name: "udp taken, tcp free", mutate: func(h *fakeHost) { h.taken["udp 0.0.0.0:7946"] = true }, id: "port/gossip-tcp", want: OK},
		{name: "udp taken", mutate: func(h *fakeHost) { h.taken["udp 0.0.0.0:7946"] = true }, id: "port/gossip-udp", want: Fail, fix: "--gossip-port"},
		{name: "taken by the running agent", mutate: func(h *fakeHost) { agentUp(h); h.taken["tcp 0.0.0.0:7947"] = true },
			id: "port/raft", want: Skip, detail: []string{"agent's own", "/run/shoal/agent.sock"}},
		{name: "other ports and bind", opts: Options{Bind: "10.0.0.5", RaftPort: 8001},
			mutate: func(h *fakeHost) { h.taken["tcp 10.0.0.5:8001"] = true }, id: "port/raft", want: Fail, detail: []string{"10.0.0.5:8001"}},
	})
}

func TestUnderlay(t *testing.T) {
	link := func(mtu int, v6 bool) func(*fakeHost) {
		return func(h *fakeHost) { h.link = Link{Name: "eth0", MTU: mtu, IPv6: v6} }
	}
	runCases(t, []checkCase{
		{name: "mtu 1500", id: "mtu", want: OK, detail: []string{"eth0 (10.0.0.1) has MTU 1500: tasks get MTU 1450"}},
		{name: "a bind IP is the advertised one", opts: Options{Bind: "10.0.0.7"}, id: "mtu", want: OK, detail: []string{"eth0 (10.0.0.7)"}},
		{name: "advertise wins over bind", opts: Options{Bind: "10.0.0.7", Advertise: "10.0.0.8"}, id: "mtu", want: OK,
			detail: []string{"eth0 (10.0.0.8)"}},
		{name: "mtu 9000", mutate: link(9000, false), id: "mtu", want: OK, detail: []string{"8950"}},
		{name: "mtu 1400", mutate: link(1400, false), id: "mtu", want: Warn, detail: []string{"tasks get MTU 1350"}, fix: "ip link set eth0 mtu 1500"},
		{name: "ipv6 underlay 1500", mutate: link(1500, true), id: "mtu", want: Warn, detail: []string{"MTU 1430", "VXLAN takes 70"}, fix: "mtu 1520"},
		{name: "mtu 1450 exactly leaves room", mutate: link(1500, false), id: "mtu", want: OK},
		{name: "mtu too small", mutate: link(620, false), id: "mtu", want: Fail, detail: []string{"leaves 570, under the overlay's minimum 576"}},
		{name: "no underlay", mutate: func(h *fakeHost) { h.linkErr = errors.New("no IPv4 address to advertise") }, id: "mtu", want: Fail,
			detail: []string{"no IPv4 address to advertise"}, fix: "--advertise"},
		{name: "forwarding off", id: "ip-forward", want: OK, detail: []string{"ip_forward=0; not needed", "eth0 when it runs a load balancer"}},
		{name: "forwarding on", mutate: func(h *fakeHost) { h.files["/proc/sys/net/ipv4/ip_forward"] = "1\n" }, id: "ip-forward", want: OK,
			detail: []string{"ip_forward=1"}},
		{name: "read-only /proc/sys", mutate: func(h *fakeHost) { h.readOnly["/proc/sys/net/ipv4/conf/eth0/forwarding"] = true },
			id: "ip-forward", want: Fail, detail: []string{"not writable"}, fix: "read-write"},
		{name: "ip_forward unreadable", mutate: func(h *fakeHost) { delete(h.files, "/proc/sys/net/ipv4/ip_forward") },
			id: "ip-forward", want: Warn, fix: "mount /proc"},
		{name: "forwarding skipped without underlay", mutate: func(h *fakeHost) { h.linkErr = errors.New("x") }, id: "ip-forward", want: Skip},
	})
}

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 13, 0, 0, 300e6, time.UTC) // local send time
	sample := func(skew time.Duration) ClockSample {
		// The member reads its clock 10ms after the send; Date drops the fraction.
		return ClockSample{Sent: t0, Received: t0.Add(20 * time.Millisecond), Date: t0.Add(10*time.Millisecond + skew).Truncate(time.Second)}
	}
	joined := func(clocks map[string]ClockSample) func(*fakeHost) {
		return func(h *fakeHost) {
			h.agentErr = nil
			h.info = api.Info{NodeID: "id1", Name: "n1", InCluster: true}
			h.members = []api.Member{
				{ID: "id1", Name: "n1", Addr: "10.0.0.1:7946", Status: "alive", Tags: map[string]string{"api": "7948"}},
				{ID: "id2", Name: "n2", Addr: "10.0.0.2:7946", Status: "alive", Tags: map[string]string{"api": "7948"}},
				{ID: "id3", Name: "n3", Addr: "10.0.0.3:7946", Status: "alive", Tags: map[string]string{"api": "9000"}},
				{ID: "id4", Name: "n4", Addr: "10.0.0.4:7946", Status: "failed", Tags: map[string]string{"api": "7948"}},
			}
			h.clocks = clocks
			h.clockErrs = map[string]error{"10.0.0.1:7948": errors.New("asked itself"), "10.0.0.4:7948": errors.New("asked a failed member")}
		}
	}
	both := func(s2, s3 ClockSample) map[string]ClockSample {
		return map[string]ClockSample{"10.0.0.2:7948": s2, "10.0.0.3:9000": s3}
	}
	runCases(t, []checkCase{
		{name: "no agent", id: "clock", want: Skip, detail: []string{"no local agent answers on /run/shoal/agent.sock"}},
		{name: "not in a cluster", mutate: func(h *fakeHost) { h.agentErr = nil }, id: "clock", want: Skip, detail: []string{"in no cluster"}},
		{name: "alone", mutate: func(h *fakeHost) {
			joined(nil)(h)
			h.members = h.members[:1]
		}, id: "clock", want: Skip, detail: []string{"no other live member"}},
		{name: "in step", mutate: joined(both(sample(0), sample(-300*time.Millisecond))), id: "clock", want: OK,
			detail: []string{"within 1s of n2, n3"}},
		{name: "1.2s ahead is within Date's resolution", mutate: joined(both(sample(0), sample(1200*time.Millisecond))), id: "clock", want: OK},
		{name: "3s ahead", mutate: joined(both(sample(0), sample(3*time.Second))), id: "clock", want: Warn,
			detail: []string{"from n3 by 2.68s..3.7s"}, fix: "systemd-timesyncd"},
		{name: "3s behind", mutate: joined(both(sample(-3*time.Second), sample(0))), id: "clock", want: Warn,
			detail: []string{"from n2 by -3.32s..-2.3s"}},
		{name: "one unreachable", mutate: joined(map[string]ClockSample{"10.0.0.2:7948": sample(0)}), id: "clock", want: OK,
			detail: []string{"within 1s of n2; not asked: n3 (connection refused)"}},
		{name: "none reachable", mutate: joined(nil), id: "clock", want: Skip, detail: []string{"no member answered: n2 (connection refused); n3"}},
	})
}
