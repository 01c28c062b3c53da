package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Teardown removes the lab that c locates: every process in its namespaces
// (and their descendants), every process whose command line names the
// lab's directories, mounts under those directories, the namespaces (and
// with the hub the nft rules), and the directories themselves. It needs no
// state file, so it works after a crash or with a garbled one; it is
// idempotent; and it only touches namespaces named PREFIX-hub / PREFIX-nK
// and directories that carry the lab's marker file.
func Teardown(c Config) error {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names, err := labNetns(c)
	if err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	var errs []error
	for _, ns := range names {
		if err := killNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killByPath(ctx, c); err != nil {
		errs = append(errs, err)
	}
	for _, dir := range []string{c.RunDir, c.DataDir} {
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cleanRuncState(runcRoot, c); err != nil {
		errs = append(errs, err)
	}
	if err := cleanShimSockets(shimSocketDir, c); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range names {
		if err := deleteNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		for _, dir := range []string{c.RunDir, c.DataDir} {
			if err := removeLabDir(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	if len(names) > 0 {
		c.Logger.Info("lab down", "namespaces", len(names))
	}
	return nil
}

// labDaemons are the executables the lab starts (and containerd's shims).
var labDaemons = map[string]bool{"agent": true, "containerd": true, "docker-registry": true,
	"containerd-shim": true, "containerd-shim-runc-v1": true, "containerd-shim-runc-v2": true}

// killByPath SIGKILLs lab daemons (and their descendants) whose command
// line names a path under the lab's directories: daemons whose namespace
// was deleted by hand still name their config, socket or data dir. Other
// programs that merely name a lab path (a tail -f of a log) are left alone.
func killByPath(ctx context.Context, c Config) error {
	parents, err := listPIDs()
	if err != nil {
		return err
	}
	self := os.Getpid()
	roots := map[int]bool{}
	for pid := range parents {
		exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		if pid == self || err != nil || !labDaemons[filepath.Base(strings.TrimSuffix(exe, " (deleted)"))] {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(b, []byte{0}) {
			if underDir(string(arg), c.RunDir) || underDir(string(arg), c.DataDir) {
				roots[pid] = true
				break
			}
		}
	}
	pids := withDescendants(parents, roots, map[int]bool{self: true})
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := waitGone(ctx, pids, 10*time.Second); err != nil {
		return fmt.Errorf("kill lab processes: %w", err)
	}
	return nil
}

// underDir reports whether p is dir or a path below it. Pure.
func underDir(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// mountsUnder returns the mount points of mountinfo that are dir or below
// it, deepest (latest mounted) first. Pure.
func mountsUnder(mountinfo, dir string) []string {
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if underDir(mp, dir) {
			out = append(out, mp)
		}
	}
	// mountinfo lists in mount order; undo it in reverse, and deeper paths
	// before their parents when the order is ambiguous.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i], "/") > strings.Count(out[j], "/")
	})
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space). Pure.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything mounted at or below dir (containerd's
// overlay and shm mounts, the agent's namespace bind mounts), lazily if a
// mount is busy.
func unmountUnder(dir string) error {
	for range 5 {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fmt.Errorf("read mounts: %w", err)
		}
		mps := mountsUnder(string(b), dir)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := unix.Unmount(mp, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				_ = unix.Unmount(mp, unix.MNT_DETACH)
			}
		}
	}
	return fmt.Errorf("unmount under %s: mounts remain; see /proc/self/mountinfo", dir)
}

// removeLabDir deletes dir if the lab created it (it holds the marker). A
// missing dir is fine; a dir without the marker is left alone.
func removeLabDir(dir string) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("refusing to remove %s: it has no %s marker, so the lab did not create it; remove it by hand if it is a lab leftover", dir, markerFile)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
