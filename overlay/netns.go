package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CreateNetNS creates a new network namespace and pins it by bind-mounting it
// on path (e.g. /run/shoal/netns/<taskID>), creating the parent directory.
// The namespace lives until DeleteNetNS, whether or not a process is in it.
// It fails (wrapping os.ErrExist) when path already exists. The caller's
// thread is not moved: the namespace is made on a throw-away OS thread. The
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
	errc := make(chan error, 1)
	go func() { errc <- pinNewNetNS(path) }()
	if err := <-errc; err != nil {
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

// doInNetNS runs fn on an OS thread switched into ns and waits for it. The
// calling goroutine's thread is untouched; if the thread cannot be switched
// back it is discarded rather than returned to the runtime.
func doInNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- runInNetNS(ns, fn) }()
	return <-errc
}

// pinNewNetNS must run on its own goroutine: it locks the thread and never
// unlocks it, so the thread leaves the Go runtime with the goroutine, taking
// the new namespace with it.
func pinNewNetNS(path string) error {
	runtime.LockOSThread()
	ns, err := netns.New()
	if err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	_ = ns.Close()
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	return nil
}

// runInNetNS must run on its own goroutine; it unlocks the thread only when
// it has restored the thread's namespace.
func runInNetNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("leave netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
