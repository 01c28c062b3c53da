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
	c := claims{frontends: map[Frontend]string{}, vips: map[netip.Addr]string{},
		allPorts: map[netip.Addr]string{}, published: map[string]string{}}
	var errs []error
	for _, s := range cfg.Services {
		s, err := normalizeService(s)
		if err == nil {
			if _, dup := out[s.Key]; dup {
				err = fmt.Errorf("service %q: key used twice", s.Key)
			}
		}
		if err == nil {
			err = c.claim(s)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[s.Key] = s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return out, nil
}

// claims records which service holds each frontend, VIP and published port.
type claims struct {
	frontends map[Frontend]string   // port VIP frontends
	vips      map[netip.Addr]string // VIPs of port VIP services
	allPorts  map[netip.Addr]string // VIPs of all-port services
	published map[string]string     // "port/proto"
}

// claim records what s uses, or says which service already uses it.
func (c claims) claim(s Service) error {
	if s.VIP.IsValid() {
		fe := s.Frontend()
		if other, dup := c.allPorts[s.VIP]; dup {
			return fmt.Errorf("service %q: VIP %s already used on all ports by service %q", s.Key, s.VIP, other)
		}
		if other, dup := c.vips[s.VIP]; dup && s.AllPorts() {
			return fmt.Errorf("service %q: VIP %s for all ports is already used by service %q", s.Key, s.VIP, other)
		}
		if other, dup := c.frontends[fe]; dup {
			return fmt.Errorf("service %q: frontend %s already used by service %q", s.Key, fe, other)
		}
	}
	if s.PublishedPort != 0 {
		pk := fmt.Sprintf("%d/%s", s.PublishedPort, s.Proto)
		if other, dup := c.published[pk]; dup {
			return fmt.Errorf("service %q: published port %s already used by service %q", s.Key, pk, other)
		}
		c.published[pk] = s.Key
	}
	switch {
	case s.VIP.IsValid() && s.AllPorts():
		c.allPorts[s.VIP] = s.Key
	case s.VIP.IsValid():
		c.frontends[s.Frontend()] = s.Key
		c.vips[s.VIP] = s.Key
	}
	return nil
}

// checkShape validates the fields that select a service's shape (see
// Service).
func checkShape(s Service) error {
	if s.VIP.IsValid() && !s.VIP.Is4() {
		return fmt.Errorf("service %q: VIP %q must be an IPv4 address", s.Key, s.VIP)
	}
	if !s.VIP.IsValid() && s.PublishedPort == 0 {
		return fmt.Errorf("service %q: no VIP and no published port: set VIP, PublishedPort or both", s.Key)
	}
	if s.AllPorts() {
		switch {
		case !s.VIP.IsValid():
			return fmt.Errorf("service %q: published port %d needs a target Port", s.Key, s.PublishedPort)
		case s.Proto != "":
			return fmt.Errorf("service %q: protocol %q on an all-port service (Port 0): leave Proto empty, it answers TCP and UDP", s.Key, s.Proto)
		case s.PublishedPort != 0:
			return fmt.Errorf("service %q: published port %d on an all-port service (Port 0): publish it in a service of its own with a target Port", s.Key, s.PublishedPort)
		}
		return nil
	}
	if s.Proto != TCP && s.Proto != UDP {
		return fmt.Errorf("service %q: protocol %q: use tcp or udp", s.Key, s.Proto)
	}
	return nil
}

func normalizeService(s Service) (Service, error) {
	if s.Key == "" {
		return s, fmt.Errorf("service with VIP %s: empty Key", s.VIP)
	}
	s.VIP = s.VIP.Unmap()
	if err := checkShape(s); err != nil {
		return s, err
	}
	bs := make([]Backend, 0, len(s.Backends))
	for _, b := range s.Backends {
		b.IP = b.IP.Unmap()
		switch {
		case !b.IP.Is4():
			return s, fmt.Errorf("service %q: backend %q must be an IPv4 address", s.Key, b.IP)
		case s.AllPorts() && b.Port != 0:
			return s, fmt.Errorf("service %q: backend %s: port %d in an all-port service: leave it 0, connections keep their port", s.Key, b.IP, b.Port)
		case !s.AllPorts() && b.Port == 0:
			return s, fmt.Errorf("service %q: backend %s: port must not be 0", s.Key, b.IP)
		case b.Weight < 0:
			return s, fmt.Errorf("service %q: backend %s: negative weight %d", s.Key, backendString(b.AddrPort()), b.Weight)
		}
		bs = append(bs, b)
	}
	slices.SortFunc(bs, func(a, b Backend) int { return a.AddrPort().Compare(b.AddrPort()) })
	for i := 1; i < len(bs); i++ {
		if bs[i].AddrPort() == bs[i-1].AddrPort() {
			return s, fmt.Errorf("service %q: backend %s listed twice", s.Key, backendString(bs[i].AddrPort()))
		}
	}
	s.Backends = bs
	return s, nil
}

// backendString renders a backend as address:port, or its address alone
// when the port is 0 (all-port services).
func backendString(ap netip.AddrPort) string {
	if ap.Port() == 0 {
		return ap.Addr().String()
	}
	return ap.String()
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
			fmt.Fprintf(&sb, "  backend %s weight=%d\n", backendString(b.AddrPort()), b.Weight)
		}
	}
	return sb.String()
}
