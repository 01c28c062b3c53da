package lb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// nsHandles are the per-namespace kernel handles a dataplane keeps: a netlink
// handle (links, addresses, conntrack) and the namespace itself for nftables
// and sysctls.
type nsHandles struct {
	path string // names ns for APIs that take a path
	ns   netns.NsHandle
	nl   *netlink.Handle
	ct   *nl.SocketHandle // netfilter socket for conntrack deletes; nil until needed
}

// openNS opens the namespace at path, or for "" the calling thread's own,
// so that every handle of the dataplane binds to it whatever thread later
// runs its methods.
func openNS(path string) (*nsHandles, error) {
	h := &nsHandles{path: path}
	var err error
	if path == "" {
		h.ns, err = netns.Get()
		h.path = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h.ns))
	} else {
		h.ns, err = netns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	h.nl, err = netlink.NewHandleAt(h.ns, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("open netlink handle in namespace %q: %w", path, err)
	}
	return h, nil
}

func (h *nsHandles) close() {
	if h.ct != nil {
		h.ct.Close()
	}
	if h.nl != nil {
		h.nl.Close()
	}
	if h.ns.IsOpen() {
		_ = h.ns.Close()
	}
}

// setSysctls writes /proc/sys values (keys like "net/ipv4/vs/conntrack") in
// the handle's namespace. /proc/sys/net shows the namespace of the thread
// that opens the file, so the writes run on a locked thread moved into the
// namespace; the thread is discarded if it cannot be moved back.
func (h *nsHandles) setSysctls(kv map[string]string) error {
	return nsthread.DoPath(h.path, func() error { return writeSysctls(kv) })
}

func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		p := filepath.Join("/proc/sys", k)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), v, err)
		}
	}
	return nil
}
