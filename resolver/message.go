package resolver

import (
	"math/rand/v2"

	"github.com/miekg/dns"
)

// TTL is the time to live of every answer, in seconds. Zero keeps caching
// resolvers in tasks from holding on to an address after a scale-down or a
// rolling update: each lookup sees the current replica.
const TTL = 0

// ourUDPSize is the EDNS0 payload size advertised in replies: the size DNS
// flag day 2020 recommends, which avoids IP fragmentation on most paths.
const ourUDPSize = 1232

// check returns the rcode refusing req, or dns.RcodeSuccess if req is a
// question this server can handle.
func check(req *dns.Msg) int {
	switch {
	case req.Response:
		return dns.RcodeFormatError
	case req.Opcode != dns.OpcodeQuery:
		return dns.RcodeNotImplemented
	case len(req.Question) != 1:
		return dns.RcodeFormatError
	case req.Question[0].Qclass != dns.ClassINET:
		return dns.RcodeNotImplemented
	}
	return dns.RcodeSuccess
}

// errorReply returns a reply to req with only rcode set (and RA).
func errorReply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	copyEDNS(req, m)
	return m
}

// answer builds the reply to req for a Found or Hidden result. Several
// addresses are rotated by a random offset so that clients taking the first
// one spread over the tasks.
func answer(req *dns.Msg, res Result) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	if res.Kind == Hidden {
		m.Rcode = dns.RcodeNameError
	}
	if n := len(res.IPs); n > 0 {
		q := req.Question[0]
		hdr := dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL}
		m.Answer = make([]dns.RR, n)
		off := 0
		if n > 1 {
			off = rand.IntN(n)
		}
		for i := range n {
			ip := res.IPs[(i+off)%n].As4()
			m.Answer[i] = &dns.A{Hdr: hdr, A: ip[:]}
		}
	}
	copyEDNS(req, m)
	return m
}

// copyEDNS adds an OPT record to m if req has one (RFC 6891: a reply
// carries OPT only when the query did).
func copyEDNS(req, m *dns.Msg) {
	if opt := req.IsEdns0(); opt != nil && m.IsEdns0() == nil {
		m.SetEdns0(ourUDPSize, false)
	}
}

// fit truncates m, a reply to req, to what the client can receive: over
// UDP the client's EDNS0 size (at least 512 bytes), setting TC when records
// are dropped so that the client retries over TCP; over TCP 64 KiB.
func fit(req, m *dns.Msg, tcp bool) {
	size := dns.MaxMsgSize
	if !tcp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
	}
	m.Truncate(size)
	m.Compress = true
}
