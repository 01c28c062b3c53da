package agent

import (
	"fmt"
	"net"
	"os"
)

// notifySystemd tells the service manager about the agent's state (for
// example "READY=1" or "STOPPING=1") when the agent runs as a systemd unit
// of Type=notify, which sets $NOTIFY_SOCKET; without it, it does nothing.
// The unit's start job completes on READY=1, so `systemctl start` returns
// once the API answers and, on a member, the cluster machinery is up.
func notifySystemd(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd at %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}
