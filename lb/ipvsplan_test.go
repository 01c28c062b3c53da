package lb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := ipvsDesired(byKey(tt.have))
			got := planText(ipvsPlan(have, ipvsDesired(byKey(tt.want))))
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
	have := map[Frontend]ipvsVS{}
	for i := range 300 {
		want := ipvsDesired(randomServices(r))
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

func normVS(m map[Frontend]ipvsVS) map[Frontend]ipvsVS {
	out := map[Frontend]ipvsVS{}
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
		for j := range 4 {
			if r.IntN(2) == 0 {
				s.Backends = append(s.Backends, Backend{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(j)}), Port: 80, Weight: r.IntN(3)})
			}
		}
		svcs[s.Key] = s
	}
	return svcs
}
