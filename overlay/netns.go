package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// CreateNetNS creates a new network namespace and pins it by bind-mounting it
// on path (e.g. /run/shoal/netns/<taskID>), creating the parent directory.
// The namespace lives until DeleteNetNS, whether or not a process is in it.
// It fails (wrapping os.ErrExist) when path already exists. The caller's
// thread is not moved: the namespace is made on a thread of its own. The
// agent and containerd must share a mount namespace for runc to see it.
func CreateNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("overlay: create netns %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("overlay: create netns %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("overlay: create netns %s: %w", path, err)
	}
	if err := pinNewNetNS(path); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("overlay: create netns %s: %w", path, err)
	}
	return nil
}

// DeleteNetNS unpins the namespace at path and removes the file; the
// namespace (and the veth peers in it) goes away once no process uses it.
// A missing or already unmounted path is not an error.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("overlay: delete netns %s: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("overlay: delete netns %s: %w", path, err)
	}
	return nil
}

// pinNewNetNS creates a namespace on a thread of its own and bind-mounts
// it on path, which keeps it alive once the thread has left it.
func pinNewNetNS(path string) error {
	return nsthread.Run(func() error {
		ns, err := netns.New() // moves this thread; Run moves it back
		if err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		_ = ns.Close()
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount: %w", err)
		}
		return nil
	})
}
