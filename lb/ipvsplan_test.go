package lb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables"
)

func TestScheduler(t *testing.T) {
	tests := []struct {
		bs   []Backend
		want string
	}{
		{nil, "rr"},
		{[]Backend{be("10.0.0.1:80", 3), be("10.0.0.2:80", 3)}, "rr"},
		{[]Backend{be("10.0.0.1:80", 1), be("10.0.0.2:80", 0), be("10.0.0.3:80", 1)}, "rr"},
		{[]Backend{be("10.0.0.1:80", 1), be("10.0.0.2:80", 2)}, "wrr"},
	}
	for _, tt := range tests {
		if got := scheduler(tt.bs); got != tt.want {
			t.Errorf("scheduler(%v) = %s, want %s", tt.bs, got, tt.want)
		}
	}
}

func planText(ops []ipvsOp) string {
	var sb strings.Builder
	for _, op := range ops {
		sb.WriteString(op.String() + "\n")
	}
	return sb.String()
}

func TestIPVSPlan(t *testing.T) {
	api := Service{Key: "api", VIP: ip("10.96.0.2"), Port: 53, Proto: UDP}
	all := Service{Key: "all", VIP: ip("10.96.0.3")}
	pub := web
	pub.PublishedPort = 8080
	tests := []struct {
		name       string
		have, want []Service
		plan       string
	}{
		{"add", nil, []Service{withBackends(web, be("10.0.0.1:80", 1))},
			"add-service 10.96.0.1:80/tcp sched=rr\nadd-dest 10.96.0.1:80/tcp 10.0.0.1:80 weight=1\n"},
		{"remove", []Service{web, withBackends(api, be("10.0.0.1:53", 1))}, []Service{web},
			"del-service 10.96.0.2:53/udp\n"},
		{"replace backend adds before deleting",
			[]Service{withBackends(web, be("10.0.0.1:80", 1))}, []Service{withBackends(web, be("10.0.0.2:80", 1))},
			"add-dest 10.96.0.1:80/tcp 10.0.0.2:80 weight=1\ndel-dest 10.96.0.1:80/tcp 10.0.0.1:80\n"},
		{"weights switch scheduler",
			[]Service{withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.2:80", 1))},
			[]Service{withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.2:80", 3))},
			"update-service 10.96.0.1:80/tcp sched=wrr\nupdate-dest 10.96.0.1:80/tcp 10.0.0.2:80 weight=3\n"},
		{"drain keeps the real server",
			[]Service{withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.2:80", 1))},
			[]Service{withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.2:80", 0))},
			"update-dest 10.96.0.1:80/tcp 10.0.0.2:80 weight=0\n"},
		{"unchanged", []Service{web, api}, []Service{api, web}, ""},
		{"all-port VIP is a firewall-mark service with port 0 real servers", nil,
			[]Service{withBackends(all, Backend{IP: ip("10.0.0.1"), Weight: 1})},
			"add-service fwmark 0x100001 sched=rr\nadd-dest fwmark 0x100001 10.0.0.1 weight=1\n"},
		{"published port is a firewall-mark service beside its VIP:port", nil,
			[]Service{withBackends(pub, be("10.0.0.1:80", 1))},
			"add-service 10.96.0.1:80/tcp sched=rr\nadd-dest 10.96.0.1:80/tcp 10.0.0.1:80 weight=1\n" +
				"add-service fwmark 0x100002 sched=rr\nadd-dest fwmark 0x100002 10.0.0.1:80 weight=1\n"},
	}
	marks := map[markOwner]uint32{{VIP: all.VIP}: 0x100001, {Proto: TCP, Port: 8080}: 0x100002}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := ipvsDesired(byKey(tt.have), marks)
			got := planText(ipvsPlan(have, ipvsDesired(byKey(tt.want), marks)))
			if got != tt.plan {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.plan)
			}
		})
	}
}

func byKey(svcs []Service) map[string]Service {
	m, err := normalize(Config{Services: svcs})
	if err != nil {
		panic(err)
	}
	return m
}

// TestIPVSPlanConverges replays random transitions: performing a plan's
// steps on the state it was made from always reaches the desired state,
// and planning again from there yields nothing.
func TestIPVSPlanConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	have := map[vsKey]ipvsVS{}
	var marks map[markOwner]uint32
	var last uint32
	for i := range 300 {
		svcs := randomServices(r)
		var err error
		if marks, last, err = assignMarks(marks, svcs, usedMarks(have), DefaultMasqueradeMark, last); err != nil {
			t.Fatal(err)
		}
		want := ipvsDesired(svcs, marks)
		for _, op := range ipvsPlan(have, want) {
			applyOp(have, op)
		}
		if !reflect.DeepEqual(normVS(have), normVS(want)) {
			t.Fatalf("step %d: plan did not converge:\nhave %v\nwant %v", i, have, want)
		}
		if ops := ipvsPlan(have, want); len(ops) != 0 {
			t.Fatalf("step %d: second plan not empty:\n%s", i, planText(ops))
		}
	}
}

func normVS(m map[vsKey]ipvsVS) map[vsKey]ipvsVS {
	out := map[vsKey]ipvsVS{}
	for k, v := range m {
		if v.Dests == nil {
			v.Dests = map[netip.AddrPort]int{}
		}
		out[k] = v
	}
	return out
}

func randomServices(r *rand.Rand) map[string]Service {
	svcs := map[string]Service{}
	for i := range r.IntN(5) {
		s := Service{Key: fmt.Sprint("s", i), VIP: netip.AddrFrom4([4]byte{10, 96, 0, byte(r.IntN(3))}),
			Port: uint16(80 + i), Proto: TCP}
		switch r.IntN(3) {
		case 0: // all ports, on a VIP of its own
			s.VIP, s.Port, s.Proto = netip.AddrFrom4([4]byte{10, 96, 1, byte(i)}), 0, ""
		case 1:
			s.PublishedPort = uint16(30000 + r.IntN(3)*10 + i)
		}
		for j := range 4 {
			if r.IntN(2) == 0 {
				s.Backends = append(s.Backends, Backend{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(j)}), Port: min(s.Port, 80), Weight: r.IntN(3)})
			}
		}
		svcs[s.Key] = s
	}
	return svcs
}

// TestIPVSNftPlanElems: an element whose mark changes is deleted and
// re-added (nftables does not overwrite a map element), unchanged ones are
// left alone; the table's state splits marks by owner.
func TestIPVSNftPlanElems(t *testing.T) {
	vip := markOwner{VIP: ip("10.96.0.5")}
	pub := markOwner{Proto: TCP, Port: 8080}
	have := map[markOwner]uint32{vip: 0x100001, pub: 0x100002}
	want := map[markOwner]uint32{vip: 0x100001, pub: 0x100003}
	del, add := elemDiff(have, want, markOwner.compare, func(o markOwner, m uint32) []nftables.SetElement {
		return []nftables.SetElement{{Key: pubKey(o.Proto, o.Port), Val: markVal(m)}}
	})
	if len(del) != 1 || len(add) != 1 || !reflect.DeepEqual(add[0].Val, markVal(0x100003)) {
		t.Errorf("changed mark: del %v add %v, want one of each with the new mark", del, add)
	}
	st := ipvsNftWant(byKey([]Service{all, pubOnly}), map[markOwner]uint32{{VIP: all.VIP}: 0x100001, pub: 0x100002})
	if len(st.vipMarks) != 1 || len(st.pubMarks) != 1 || len(st.portVIPs) != 0 || !st.vipAddrs[all.VIP] {
		t.Errorf("ipvsNftWant: %+v", st)
	}
}
