package testenv_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

// TestDaemonInNetNSAndCleanStop starts containerd inside a fresh netns, runs
// a container on it, and checks that Stop leaves no shim, process or mount
// behind.
func TestDaemonInNetNSAndCleanStop(t *testing.T) {
	testenv.RequireContainerd(t)
	ns := testenv.NetNS(t)
	dir := t.TempDir()
	ctx := context.Background()
	d, err := testenv.StartContainerd(ctx, testenv.ContainerdOptions{Dir: dir, NetNSPath: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	if got, want := testenv.NetNSInode(t, "/proc/"+strconv.Itoa(d.Pid())+"/ns/net"), testenv.NetNSInode(t, ns); got != want {
		t.Fatalf("containerd runs in netns inode %d, want %d", got, want)
	}
	if testenv.NetNSInode(t, "/proc/self/ns/net") == testenv.NetNSInode(t, ns) {
		t.Fatal("the test process was left in the daemon's netns")
	}

	imgs, err := testimages.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(ctx, runtime.Config{Address: d.Address, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.Open(imgs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := r.ImportArchive(ctx, f); err != nil {
		t.Fatal(err)
	}
	// Host network here is the daemon's netns, so :80 is free.
	if err := r.Create(ctx, runtime.Spec{ID: "left-running", Image: "web:v1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, "left-running"); err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(ctx, "left-running")
	if err != nil || !st.Running {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if got := testenv.NetNSInode(t, "/proc/"+strconv.Itoa(int(st.Pid))+"/ns/net"); got != testenv.NetNSInode(t, ns) {
		t.Fatal("host-network container is not in the daemon's netns")
	}

	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(int(st.Pid), 0); err == nil {
		t.Errorf("container process %d survived Stop", st.Pid)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mounts, []byte(" "+dir+"/")) {
		t.Errorf("mounts left under %s", dir)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), d.Address) {
			t.Errorf("process %s still refers to %s: %q", p, d.Address, b)
		}
	}
}
