package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/miekg/dns"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// listener is one address served over UDP and TCP.
type listener struct {
	udp, tcp *dns.Server
}

// shutdown stops both servers; the goroutines running them then return.
func (l *listener) shutdown() {
	_ = l.udp.Shutdown()
	_ = l.tcp.Shutdown()
}

// SetListen makes the server listen on exactly addrs (port Config.Port,
// UDP and TCP): it opens the addresses not yet served, then closes those no
// longer wanted. It may be called again with the same set. An address must
// already be assigned to an interface (the agent calls this right after
// giving a bridge its gateway address; IPv4 addresses are usable as soon as
// they are added). Errors name each address that failed; the others are
// served anyway. After Close it returns ErrClosed.
func (s *Server) SetListen(addrs []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	want := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		want[a.Unmap()] = true
	}
	var errs []error
	added := sortedAddrs(want)
	for _, a := range added {
		if s.listeners[a] != nil {
			continue
		}
		l, err := s.start(a)
		if err != nil {
			errs = append(errs, err)
			delete(want, a)
			continue
		}
		s.listeners[a] = l
	}
	for a, l := range s.listeners {
		if !want[a] {
			l.shutdown()
			delete(s.listeners, a)
			s.logger.Info("resolver: stopped listening", "addr", a.String())
		}
	}
	own := make(map[netip.Addr]bool, len(s.listeners))
	for a := range s.listeners {
		own[a] = true
	}
	s.own.Store(&own)
	return errors.Join(errs...)
}

// Listening returns the addresses being served, sorted.
func (s *Server) Listening() []netip.Addr {
	return sortedAddrs(*s.own.Load())
}

func sortedAddrs(set map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// start binds a's sockets and runs a dns.Server on each, returning once
// both accept queries.
func (s *Server) start(a netip.Addr) (*listener, error) {
	ap := netip.AddrPortFrom(a, uint16(s.port))
	pc, ln, err := s.bind(ap)
	if err != nil {
		return nil, err
	}
	h := dns.HandlerFunc(s.serveDNS)
	l := &listener{
		udp: &dns.Server{PacketConn: pc, Handler: h},
		tcp: &dns.Server{Listener: ln, Handler: h},
	}
	for _, srv := range []*dns.Server{l.udp, l.tcp} {
		if err := s.serve(srv); err != nil {
			l.shutdown()
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("resolver: serve DNS on %s: %w", ap, err)
		}
	}
	s.logger.Info("resolver: listening", "addr", ap.String())
	return l, nil
}

// serve runs srv in a goroutine counted by s.wg and waits until it has
// started (or failed to).
func (s *Server) serve(srv *dns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.ActivateAndServe(); err != nil {
			s.logger.Warn("resolver: DNS server stopped", "err", err)
			failed <- err
		}
	}()
	select {
	case <-started:
		return nil
	case err := <-failed:
		return err
	}
}

// bind opens the UDP and TCP sockets for ap, inside Config.NetNS if set.
func (s *Server) bind(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	if s.netns == "" {
		return listenBoth(ap)
	}
	var pc net.PacketConn
	var ln net.Listener
	err := nsthread.DoPath(s.netns, func() (err error) {
		pc, ln, err = listenBoth(ap)
		return err
	})
	return pc, ln, err
}

// listenBoth binds UDP and TCP on ap, or neither.
func listenBoth(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp", ap.String())
	if err != nil {
		return nil, nil, listenError(ap, "udp", err)
	}
	ln, err := lc.Listen(context.Background(), "tcp", ap.String())
	if err != nil {
		pc.Close()
		return nil, nil, listenError(ap, "tcp", err)
	}
	return pc, ln, nil
}

// listenError explains the usual causes of a failed bind with their fix.
func listenError(ap netip.AddrPort, proto string, err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = fmt.Sprintf("port %d is in use by another program (find it with `ss -lnp 'sport = :%d'`) "+
			"and stop it or make it listen on other addresses", ap.Port(), ap.Port())
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = fmt.Sprintf("%s is not assigned to any interface here; assign it (to the network's bridge) before listening", ap.Addr())
	case errors.Is(err, syscall.EACCES):
		hint = fmt.Sprintf("binding port %d needs root or CAP_NET_BIND_SERVICE", ap.Port())
	}
	if hint == "" {
		return fmt.Errorf("resolver: listen on %s/%s: %w", ap, proto, err)
	}
	return fmt.Errorf("resolver: listen on %s/%s: %s: %w", ap, proto, hint, err)
}
