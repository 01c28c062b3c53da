package resolver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultForwardTimeout bounds the time spent asking upstream servers for
// one query, all of them together.
const DefaultForwardTimeout = 2 * time.Second

// Resolv.conf files read by DefaultUpstreams. The second is systemd-resolved's
// list of real servers, used when the first names only its loopback stub.
const (
	resolvConf        = "/etc/resolv.conf"
	resolvedUpstreams = "/run/systemd/resolve/resolv.conf"
)

// ParseUpstreams returns the "nameserver" entries of a resolv.conf as
// "ip:port" (port 53), in file order, leaving out loopback addresses (a
// stub such as systemd-resolved's 127.0.0.53 forwards back to this host and
// is unreachable from tasks' namespaces) and the addresses in exclude (the
// resolver's own, which would loop).
func ParseUpstreams(r io.Reader, exclude ...netip.Addr) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if a.IsLoopback() || a.IsUnspecified() || slices.ContainsFunc(exclude, func(e netip.Addr) bool { return e.Unmap() == a }) {
			continue
		}
		s := netip.AddrPortFrom(a, 53).String()
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolv.conf: %w", err)
	}
	return out, nil
}

// DefaultUpstreams reads the upstream servers of this host from
// /etc/resolv.conf, or from systemd-resolved's list when /etc/resolv.conf
// names only loopback stubs. A host with neither file has no upstream
// (nil, nil).
func DefaultUpstreams(exclude ...netip.Addr) ([]string, error) {
	for _, path := range []string{resolvConf, resolvedUpstreams} {
		ups, err := readUpstreams(path, exclude)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil || len(ups) > 0 {
			return ups, err
		}
	}
	return nil, nil
}

func readUpstreams(path string, exclude []netip.Addr) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read upstream DNS servers: %w", err)
	}
	defer f.Close()
	ups, err := ParseUpstreams(f, exclude...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ups, nil
}

// forward asks the upstream servers in turn, over the protocol the query
// came in on, and relays the first reply. The forward timeout is shared out
// so that a silent first server leaves time for the next. It returns
// SERVFAIL when there is no upstream, when every upstream fails, or when the
// time is up. Upstreams that are this server's own listening addresses are
// skipped, so a query cannot loop.
func (s *Server) forward(req *dns.Msg, tcp bool) *dns.Msg {
	ups := s.usableUpstreams()
	if len(ups) == 0 {
		return errorReply(req, dns.RcodeServerFailure)
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(s.ctx, s.forwardTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	for i, up := range ups {
		c := &dns.Client{Net: proto, Timeout: time.Until(deadline) / time.Duration(len(ups)-i)}
		resp, err := exchange(ctx, c, req, up)
		if err == nil {
			resp.Id = req.Id
			return resp
		}
		s.logger.Debug("resolver: upstream failed", "upstream", up, "name", req.Question[0].Name, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	return errorReply(req, dns.RcodeServerFailure)
}

// usableUpstreams returns the upstreams that are not this server itself.
func (s *Server) usableUpstreams() []string {
	own := *s.own.Load()
	if len(own) == 0 {
		return s.upstreams
	}
	out := make([]string, 0, len(s.upstreams))
	for _, up := range s.upstreams {
		if ap, err := netip.ParseAddrPort(up); err == nil && ap.Port() == uint16(s.port) && own[ap.Addr().Unmap()] {
			continue
		}
		out = append(out, up)
	}
	return out
}

// exchange sends req to up and reads the reply. Unlike
// dns.Client.ExchangeContext it returns as soon as ctx is cancelled (by
// Close), not only at the deadline: the connection is closed under the
// waiting read.
func exchange(ctx context.Context, c *dns.Client, req *dns.Msg, up string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, up)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, req, conn)
	return resp, err
}
