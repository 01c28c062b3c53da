package lb

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftSockBuf is the netlink socket buffer size forced on nftables
// connections: a batch is one sendmsg that must fit the send buffer, and the
// kernel queues one ack per message in the receive buffer. 1,000 services
// need about 1 MiB.
const nftSockBuf = 64 << 20

// elemChunk bounds the elements sent in one message: a message's element
// list is a netlink attribute, whose length is 16 bits.
const elemChunk = 128

// newNftConn opens a lasting nftables connection in the namespace of h with
// enlarged socket buffers.
func newNftConn(h *nsHandles) (*nftables.Conn, error) {
	cc, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(forceBuffers), nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection in namespace %q: %w", h.path, err)
	}
	return cc, nil
}

func forceBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, nftSockBuf); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nftSockBuf)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set nftables socket buffers: %w", serr)
	}
	return nil
}

// batch queues operations on a connection and counts them, so that an Apply
// with nothing to change sends nothing.
type batch struct {
	cc  *nftables.Conn
	ops int
	err error
}

func (b *batch) addElems(s *nftables.Set, elems []nftables.SetElement) {
	for len(elems) > 0 && b.err == nil {
		n := min(len(elems), elemChunk)
		if err := b.cc.SetAddElements(s, elems[:n]); err != nil {
			b.err = fmt.Errorf("queue elements of %s: %w", s.Name, err)
		}
		elems = elems[n:]
		b.ops++
	}
}

func (b *batch) delElems(s *nftables.Set, elems []nftables.SetElement) {
	for len(elems) > 0 && b.err == nil {
		n := min(len(elems), elemChunk)
		if err := b.cc.SetDeleteElements(s, elems[:n]); err != nil {
			b.err = fmt.Errorf("queue removal of elements of %s: %w", s.Name, err)
		}
		elems = elems[n:]
		b.ops++
	}
}

func (b *batch) addSet(s *nftables.Set, elems []nftables.SetElement) {
	if b.err != nil {
		return
	}
	if err := b.cc.AddSet(s, nil); err != nil {
		b.err = fmt.Errorf("queue set %s: %w", s.Name, err)
		return
	}
	b.ops++
	b.addElems(s, elems)
}

func (b *batch) addChain(c *nftables.Chain) *nftables.Chain {
	b.ops++
	return b.cc.AddChain(c)
}

func (b *batch) addRule(r *nftables.Rule) {
	b.ops++
	b.cc.AddRule(r)
}

func (b *batch) flushChain(c *nftables.Chain) {
	b.ops++
	b.cc.FlushChain(c)
}

func (b *batch) delChain(c *nftables.Chain) {
	b.ops++
	b.cc.DelChain(c)
}

func (b *batch) delSet(s *nftables.Set) {
	b.ops++
	b.cc.DelSet(s)
}

// commit sends the queued operations as one atomic transaction.
func (b *batch) commit() error {
	if b.err != nil {
		return b.err
	}
	if b.ops == 0 {
		return nil
	}
	if err := b.cc.Flush(); err != nil {
		return fmt.Errorf("commit nftables transaction of %d operations: %w", b.ops, err)
	}
	return nil
}
