package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
)

// startContainerd writes n's config and starts its containerd in n's
// namespace, returning the PID. It does not wait for readiness.
func startContainerd(ctx context.Context, n Node) (int, error) {
	for _, d := range []string{n.ContainerdRoot, n.ContainerdRun, filepath.Dir(n.ContainerdSock)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return 0, fmt.Errorf("containerd on %s: %w", n.Name, err)
		}
	}
	if err := os.WriteFile(n.ContainerdConf, []byte(testenv.ContainerdConfig(n.ContainerdRoot, n.ContainerdRun, n.ContainerdSock)), 0o644); err != nil {
		return 0, fmt.Errorf("containerd on %s: write config: %w", n.Name, err)
	}
	pid, err := startDaemon(ctx, daemon{
		netns:   n.Netns,
		argv:    []string{"/usr/bin/containerd", "--config", n.ContainerdConf},
		log:     n.ContainerdLog,
		pidFile: n.ContainerdConf + ".pid",
	})
	if err != nil {
		return 0, fmt.Errorf("containerd on %s: %w", n.Name, err)
	}
	return pid, nil
}

// waitContainerd waits until `ctr version` succeeds on n's socket, failing
// early if the process died.
func waitContainerd(ctx context.Context, n Node, pid int, timeout time.Duration) error {
	var last error
	err := waitFor(ctx, timeout, func() (bool, error) {
		if !procAlive(pid) {
			return false, fmt.Errorf("containerd on %s exited; read %s:\n%s", n.Name, n.ContainerdLog, tailFile(n.ContainerdLog, 10))
		}
		if _, err := os.Stat(n.ContainerdSock); err != nil {
			last = err
			return false, nil
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, last = run(actx, "", "ctr", "--address", n.ContainerdSock, "version")
		return last == nil, nil
	}, func() string {
		return fmt.Sprintf("containerd on %s not ready (%v); read %s", n.Name, last, n.ContainerdLog)
	})
	if err != nil {
		return fmt.Errorf("wait for containerd on %s: %w", n.Name, err)
	}
	return nil
}
