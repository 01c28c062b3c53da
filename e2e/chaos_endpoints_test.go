//go:build e2e && chaos

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/membership"
)

// failureDetection is the longest memberlist takes, with shoal's timing, to
// declare a silent node dead when no other agent confirms the suspicion:
// the first probe and its round, Lifeguard's longest suspicion timeout,
// and three gossip rounds to spread the verdict (see membership.DefaultTiming).
func failureDetection() time.Duration {
	tm := membership.DefaultTiming()
	return 2*tm.ProbeInterval + time.Duration(tm.SuspicionMaxTimeoutMult*tm.SuspicionMult)*tm.ProbeInterval + 3*tm.GossipInterval
}

// endpointSample is one node's view of a service at one moment: the
// addresses its embedded DNS gives for tasks.NAME, the backends of the
// service's VIP in its nftables table, and the tasks its containerd runs.
type endpointSample struct {
	At   time.Time
	DNS  []string
	VIP  []string
	Runs map[string]string // container (task) ID -> PID
	Err  string
}

// endpointWatch samples every node's view of one service.
type endpointWatch struct {
	mu      sync.Mutex
	samples map[string][]endpointSample
	stops   []*sampler
}

// watchEndpoints samples each node every period, with one command per
// node: dig against the node's embedded resolver (the gateway of its
// subnet of the default network), nft, ctr.
func watchEndpoints(l *lab.Lab, svc, vip string, gws map[string]string, period time.Duration) *endpointWatch {
	w := &endpointWatch{samples: map[string][]endpointSample{}}
	for node, gw := range gws {
		script := fmt.Sprintf("dig +short +time=1 +tries=1 @%s tasks.%s; echo @@@; nft list table ip shoal; echo @@@; ctr -n shoal task ls", gw, svc)
		w.stops = append(w.stops, startSampler(period, func(time.Time) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, stderr, err := l.Exec(ctx, node, "sh", "-c", script)
			cancel()
			s := parseEndpointSample(out, vip)
			// Stamped when the command ends: the ctr listing, last, is the
			// freshest, and a stale view then counts for longer, not shorter.
			s.At = time.Now()
			if err != nil {
				s.Err = err.Error() + ": " + stderr
			}
			w.mu.Lock()
			w.samples[node] = append(w.samples[node], s)
			w.mu.Unlock()
		}))
	}
	return w
}

func (w *endpointWatch) stop() map[string][]endpointSample {
	for _, s := range w.stops {
		s.stop()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

// last returns node's latest sample.
func (w *endpointWatch) last(node string) endpointSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	ss := w.samples[node]
	if len(ss) == 0 {
		return endpointSample{}
	}
	return ss[len(ss)-1]
}

var (
	nftVIPRe      = `%s \. (?:tcp|udp) : goto (svc-\d+)`
	nftElementsRe = `map slots-%s \{[^}]*?elements = \{([^}]*)\}`
	ipRe          = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+`)
)

// parseEndpointSample parses the output of watchEndpoints' script. Pure.
func parseEndpointSample(out, vip string) endpointSample {
	parts := strings.SplitN(out, "@@@", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	s := endpointSample{DNS: ipRe.FindAllString(parts[0], -1), Runs: parseCtrTasks(parts[2])}
	if m := regexp.MustCompile(fmt.Sprintf(nftVIPRe, regexp.QuoteMeta(vip))).FindStringSubmatch(parts[1]); m != nil {
		num := strings.TrimPrefix(m[1], "svc-")
		if e := regexp.MustCompile(fmt.Sprintf(nftElementsRe, num)).FindStringSubmatch(parts[1]); e != nil {
			// Elements read "0 : 10.240.1.2, 1 : 10.240.2.2": weights
			// repeat a backend over several slots.
			for _, ip := range ipRe.FindAllString(e[1], -1) {
				if !slices.Contains(s.VIP, ip) {
					s.VIP = append(s.VIP, ip)
				}
			}
		}
	}
	slices.Sort(s.DNS)
	slices.Sort(s.VIP)
	return s
}

// gateways returns, per node, the gateway of its subnet of the default
// network: the address its embedded DNS answers on.
func gateways(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	var shoal types.Network
	apiGet(t, l, "n1", "/v1/networks/shoal", &shoal)
	gws := map[string]string{}
	for _, r := range nodeLs(t, l, "n1") {
		sub := shoal.Leases[r.ID]
		if sub == "" {
			t.Fatalf("node %s has no lease of network shoal: %v", r.Hostname, shoal.Leases)
		}
		gws[r.Hostname] = gatewayOf(strings.TrimSuffix(sub, sub[strings.LastIndex(sub, "/"):]))
	}
	return gws
}

// staleness is the analysis of an endpoint watch.
type staleness struct {
	max      time.Duration // longest a node listed an endpoint already gone
	maxWhere string
	twice    violations // a view listing two copies of the one slot
	unknown  violations // a view listing an address of no task
}

// analyse checks every sample against the truth of its moment. An
// endpoint (a task's address) is gone for a node from the moment the
// partition separates the node from the task's node, or from the last
// sample of the task's node that showed its container running. The
// service has one slot, so a view listing two addresses lists two copies.
func analyse(samples map[string][]endpointSample, tasks []api.Task, isolated string, cut, healed time.Time) *staleness {
	byIP := map[string]api.Task{}
	for _, tk := range tasks {
		byIP[tk.Addresses["shoal"]] = tk
	}
	st := &staleness{}
	for node, ss := range samples {
		for _, s := range ss {
			if s.Err != "" {
				continue
			}
			for kind, ips := range map[string][]string{"DNS": s.DNS, "VIP": s.VIP} {
				if len(ips) > 1 {
					st.twice.add("%s's %s at %s lists %v", node, kind, s.At.Format("15:04:05.000"), ips)
				}
				for _, ip := range ips {
					tk, ok := byIP[ip]
					if !ok {
						st.unknown.add("%s's %s at %s lists %s", node, kind, s.At.Format("15:04:05.000"), ip)
						continue
					}
					since, gone := goneSince(samples[tk.NodeHostname], tk.ID, s.At)
					if s.At.After(cut) && s.At.Before(healed) && (node == isolated) != (tk.NodeHostname == isolated) {
						if !gone || cut.Before(since) {
							since, gone = cut, true
						}
					}
					if d := s.At.Sub(since); gone && d > st.max {
						st.max = d
						st.maxWhere = fmt.Sprintf("%s's %s listed %s (task %s on %s) at %s, gone since %s",
							node, kind, ip, tk.ID[:8], tk.NodeHostname, s.At.Format("15:04:05.000"), since.Format("15:04:05.000"))
					}
				}
			}
		}
	}
	return st
}

// goneSince reports whether task id's container was gone at time at, by
// the samples of its node: neither the last sample at or before at nor
// the first after it shows it running. It is gone since the last sample
// that showed it running.
func goneSince(ss []endpointSample, id string, at time.Time) (time.Time, bool) {
	var lastRunning time.Time
	before, after := false, false
	for _, s := range ss {
		if s.Err != "" {
			continue
		}
		_, runs := s.Runs[id]
		if !s.At.After(at) {
			before = runs
			if runs {
				lastRunning = s.At
			}
			continue
		}
		after = runs
		break
	}
	if before || after || lastRunning.IsZero() {
		return time.Time{}, false
	}
	return lastRunning, true
}
