// Package nsthread runs code inside a network namespace without letting the
// namespace leak into the rest of the program.
//
// A network namespace belongs to an OS thread, not to a process or a
// goroutine, and the Go runtime moves goroutines between threads freely. So
// each call here runs its function on a fresh goroutine locked to its
// thread, moves the thread into the namespace, and moves it back afterwards.
// A thread that cannot be moved back stays locked: the runtime then
// discards it when the goroutine ends instead of running other goroutines
// in the wrong namespace.
//
// What the function creates keeps the namespace it was created in: sockets,
// netlink handles, processes forked by os/exec (the child inherits the
// forking thread's namespace). Goroutines the function starts do not run in
// the namespace.
//
// The daemon (overlay, lb, resolver), the test environment
// (internal/testenv) and the lab all switch namespaces through this package.
package nsthread

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs fn on an OS thread of its own and waits for it. fn may move the
// thread into any network namespace (netns.New, netns.Set): afterwards the
// thread is moved back to the namespace it started in, or discarded if that
// fails. The caller's own thread is never moved. Run returns fn's error,
// joined with the error of moving back.
func Run(fn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- runLocked(fn) }()
	return <-errc
}

// runLocked must run on a goroutine of its own: it locks the thread and
// unlocks it only once the thread is back in its original namespace.
func runLocked(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread() // not moved yet
		return fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Do runs fn on an OS thread of its own inside the namespace ns and waits
// for it (see Run for what happens to the thread). fn's error is returned
// as it is; errors of entering or leaving the namespace are wrapped.
func Do(ns netns.NsHandle, fn func() error) error { return do(ns, "", fn) }

// DoPath is Do for the namespace at path (/run/netns/NAME,
// /proc/PID/ns/net, a bind mount of one); its own errors name the path.
func DoPath(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return do(ns, path, fn)
}

func do(ns netns.NsHandle, path string, fn func() error) error {
	return Run(func() error {
		if err := netns.Set(ns); err != nil {
			if path != "" {
				return fmt.Errorf("enter network namespace %s: %w", path, err)
			}
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return fn()
	})
}

// New creates a network namespace without moving the caller's thread. It
// lives until the handle and everything in it (sockets, processes, links
// whose peers are elsewhere) are gone; Close the handle when done.
func New() (netns.NsHandle, error) {
	ns := netns.None()
	err := Run(func() error {
		var err error
		ns, err = netns.New() // moves this thread; Run moves it back
		return err
	})
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		return netns.None(), fmt.Errorf("create network namespace: %w", err)
	}
	return ns, nil
}

// Dial connects to addr (an IP literal: the namespace's resolver is not
// consulted) from inside the namespace at path, as net.Dialer.DialContext
// does, and returns its error as it is. Only the socket's creation needs
// the namespace, so the connection may be used from any goroutine.
func Dial(ctx context.Context, path, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := DoPath(path, func() error {
		// The dialer creates the socket on this goroutine for a single
		// address, so on this thread.
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	return conn, nil
}
