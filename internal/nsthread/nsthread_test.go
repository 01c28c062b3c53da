package nsthread_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
	"github.com/shoal-org/shoal/internal/testenv"
)

// currentInode is the namespace of the calling thread; call it only from
// code that runs on a locked thread.
func currentInode(t *testing.T) uint64 {
	return testenv.NetNSInode(t, "/proc/thread-self/ns/net")
}

// threadsOutside lists the threads of this process that are not in the
// namespace with inode want.
func threadsOutside(t *testing.T, want uint64) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range tasks {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino != want {
			out = append(out, p)
		}
	}
	return out
}

// TestDoRunsInsideAndLeavesNoThreadBehind runs many functions at once in a
// namespace, checks each ran inside it, and that afterwards every thread of
// the process is back in the test's namespace.
func TestDoRunsInsideAndLeavesNoThreadBehind(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	home := testenv.NetNSInode(t, "/proc/self/ns/net")
	path := testenv.NetNS(t)
	target := testenv.NetNSInode(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- nsthread.DoPath(path, func() error {
				if got := currentInode(t); got != target {
					return errors.New("fn ran outside the namespace")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if left := threadsOutside(t, home); len(left) > 0 {
		t.Fatalf("threads left in another namespace: %v", left)
	}
}

// TestRunMovesBack: a function that moves its thread into a namespace of
// its own leaves no thread there.
func TestRunMovesBack(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	home := testenv.NetNSInode(t, "/proc/self/ns/net")
	var made uint64
	err := nsthread.Run(func() error {
		ns, err := netns.New()
		if err != nil {
			return err
		}
		defer ns.Close()
		made = currentInode(t)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if made == home {
		t.Fatal("netns.New inside Run did not move the thread")
	}
	if left := threadsOutside(t, home); len(left) > 0 {
		t.Fatalf("threads left in another namespace: %v", left)
	}
}

// TestErrors: fn's error comes back as it is; a namespace that cannot be
// opened is named and fn does not run.
func TestErrors(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	sentinel := errors.New("from fn")
	if err := nsthread.DoPath(testenv.NetNS(t), func() error { return sentinel }); err != sentinel {
		t.Errorf("DoPath returned %v, want fn's error unchanged", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	ran := false
	err := nsthread.DoPath(missing, func() error { ran = true; return nil })
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) || ran {
		t.Errorf("DoPath(%s) = %v (fn ran: %v), want a not-exist error naming the path", missing, err, ran)
	}
}

// TestDialAndNew: Dial reaches a listener that exists only inside a
// namespace made by New.
func TestDialAndNew(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	ns, err := nsthread.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil || h.LinkSetUp(lo) != nil {
		t.Fatalf("set lo up in the new namespace: %v", err)
	}
	var ln net.Listener
	if err := nsthread.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("inside"))
			c.Close()
		}
	}()
	path := "/proc/self/fd/" + strconv.Itoa(int(ns))
	c, err := nsthread.Dial(context.Background(), path, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "inside" {
		t.Fatalf("read %q, %v; want %q", b, err, "inside")
	}
}
