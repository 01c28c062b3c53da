// Package hostaddr picks the address an agent advertises when it is given
// none, so that the agent and `agent doctor` agree on it.
package hostaddr

import (
	"errors"
	"fmt"
	"net"
)

// First returns the first global unicast IPv4 address of an interface that
// is up and not loopback, in the kernel's interface order.
func First() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("no usable IPv4 address found to advertise: pass --advertise with this host's IP")
}
