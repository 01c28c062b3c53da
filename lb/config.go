package lb

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrInvalidConfig wraps every reason Apply rejects a Config.
var ErrInvalidConfig = errors.New("lb: invalid config")

// maxSlots bounds the number of selection slots one service expands its
// weights into (see slots).
const maxSlots = 256

// normalize validates cfg and returns its services by key, each with backends
// sorted by address and port. It is pure.
func normalize(cfg Config) (map[string]Service, error) {
	out := make(map[string]Service, len(cfg.Services))
	frontends := make(map[Frontend]string, len(cfg.Services))
	published := make(map[string]string)
	var errs []error
	for _, s := range cfg.Services {
		s, err := normalizeService(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := out[s.Key]; dup {
			errs = append(errs, fmt.Errorf("service %q: key used twice", s.Key))
			continue
		}
		if other, dup := frontends[s.Frontend()]; dup {
			errs = append(errs, fmt.Errorf("service %q: frontend %s already used by service %q", s.Key, s.Frontend(), other))
			continue
		}
		if s.PublishedPort != 0 {
			pk := fmt.Sprintf("%d/%s", s.PublishedPort, s.Proto)
			if other, dup := published[pk]; dup {
				errs = append(errs, fmt.Errorf("service %q: published port %s already used by service %q", s.Key, pk, other))
				continue
			}
			published[pk] = s.Key
		}
		frontends[s.Frontend()] = s.Key
		out[s.Key] = s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return out, nil
}

func normalizeService(s Service) (Service, error) {
	if s.Key == "" {
		return s, fmt.Errorf("service with VIP %s: empty Key", s.VIP)
	}
	s.VIP = s.VIP.Unmap()
	if !s.VIP.Is4() {
		return s, fmt.Errorf("service %q: VIP %q must be an IPv4 address", s.Key, s.VIP)
	}
	if s.Port == 0 {
		return s, fmt.Errorf("service %q: port must not be 0", s.Key)
	}
	if s.Proto != TCP && s.Proto != UDP {
		return s, fmt.Errorf("service %q: protocol %q: use tcp or udp", s.Key, s.Proto)
	}
	bs := make([]Backend, 0, len(s.Backends))
	for _, b := range s.Backends {
		b.IP = b.IP.Unmap()
		switch {
		case !b.IP.Is4():
			return s, fmt.Errorf("service %q: backend %q must be an IPv4 address", s.Key, b.IP)
		case b.Port == 0:
			return s, fmt.Errorf("service %q: backend %s: port must not be 0", s.Key, b.IP)
		case b.Weight < 0:
			return s, fmt.Errorf("service %q: backend %s: negative weight %d", s.Key, b.AddrPort(), b.Weight)
		}
		bs = append(bs, b)
	}
	slices.SortFunc(bs, func(a, b Backend) int { return a.AddrPort().Compare(b.AddrPort()) })
	for i := 1; i < len(bs); i++ {
		if bs[i].AddrPort() == bs[i-1].AddrPort() {
			return s, fmt.Errorf("service %q: backend %s listed twice", s.Key, bs[i].AddrPort())
		}
	}
	s.Backends = bs
	return s, nil
}

// slots expands the backends with a positive weight into the selection
// table a packet's random or incrementing number indexes: each backend gets
// a number of slots proportional to its weight. Weights are divided by their
// greatest common divisor; if the total still exceeds maxSlots they are
// scaled down (keeping at least one slot each), which approximates very
// uneven weights. Backends of weight 0 get no slot. It is pure; bs must be
// sorted.
func slots(bs []Backend) []netip.AddrPort {
	g, total := 0, 0
	for _, b := range bs {
		if b.Weight > 0 {
			g = gcd(g, b.Weight)
		}
	}
	if g == 0 {
		return nil
	}
	for _, b := range bs {
		total += b.Weight / g
	}
	var out []netip.AddrPort
	for _, b := range bs {
		if b.Weight == 0 {
			continue
		}
		n := b.Weight / g
		if total > maxSlots {
			n = max(1, n*maxSlots/total)
		}
		for range n {
			out = append(out, b.AddrPort())
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// flowsToCut lists the connections to cut when the programmed services prev
// become desired: those to every backend that left its service, and to every
// backend of a service that is gone or changed frontend. It is pure.
func flowsToCut(prev, desired map[string]Service) []flowTarget {
	var out []flowTarget
	for _, k := range sortedKeys(prev) {
		p := prev[k]
		var keep []Backend
		if s, ok := desired[k]; ok && s.Frontend() == p.Frontend() {
			if slices.Equal(s.Backends, p.Backends) {
				continue
			}
			keep = s.Backends
		}
		out = append(out, flowTargets(p, removedBackends(p.Backends, keep))...)
	}
	return out
}

// removedBackends returns the addresses present in old and absent (with any
// weight) from new: their connections must be cut.
func removedBackends(old, new []Backend) []netip.AddrPort {
	keep := make(map[netip.AddrPort]bool, len(new))
	for _, b := range new {
		keep[b.AddrPort()] = true
	}
	var out []netip.AddrPort
	for _, b := range old {
		if !keep[b.AddrPort()] {
			out = append(out, b.AddrPort())
		}
	}
	return out
}

// render prints services one per line, sorted by key, with their backends:
// the text form shared by Fake and test failure messages.
func render(svcs map[string]Service) string {
	keys := make([]string, 0, len(svcs))
	for k := range svcs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for _, k := range keys {
		s := svcs[k]
		fmt.Fprintf(&sb, "service %s %s", k, s.Frontend())
		if s.PublishedPort != 0 {
			fmt.Fprintf(&sb, " published=%d", s.PublishedPort)
		}
		sb.WriteString("\n")
		for _, b := range s.Backends {
			fmt.Fprintf(&sb, "  backend %s weight=%d\n", b.AddrPort(), b.Weight)
		}
	}
	return sb.String()
}
