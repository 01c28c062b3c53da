// Package ipvsvm runs tests that need IPVS inside a qemu VM booted with
// Debian's stock kernel, for machines whose own kernel has no IPVS and cannot
// load modules.
//
// The kernel package (the one linux-image-amd64 depends on) is fetched with
// apt-get download and unpacked with dpkg -x into a cache directory (no
// change to the host's root filesystem); depmod indexes its modules, and the
// bzImage's xz payload is extracted into an uncompressed vmlinux, which qemu
// boots through its PVH entry point about twice as fast. An initramfs made of
// busybox-static, the modules a test needs (with their dependencies, in
// load order) and a statically linked Go test binary boots under qemu's
// software emulation (-accel tcg -cpu max); its init loads the modules, runs
// the test binary and prints a result line on the serial console, which the
// host parses.
//
// Host requirements (Debian packages): qemu-system-x86, busybox-static, kmod
// (depmod, modprobe), and apt/dpkg with Debian's package lists; xz-utils is
// optional (without it the slower bzImage boots).
package ipvsvm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultCacheDir holds fetched kernels between runs.
const DefaultCacheDir = "/var/cache/shoal-ipvsvm"

// ErrKernelUnavailable is returned when the Debian kernel package cannot be
// resolved or fetched.
var ErrKernelUnavailable = errors.New("ipvsvm: Debian kernel package unavailable")

// Kernel is an unpacked Debian kernel package.
type Kernel struct {
	Package string // e.g. linux-image-6.1.0-56-amd64
	Version string // e.g. 6.1.0-56-amd64
	Root    string // dpkg -x tree: boot/, lib/modules/
	// Image is what qemu boots: the extracted vmlinux, or the bzImage when
	// it could not be extracted.
	Image string
}

// Logf receives progress messages.
type Logf func(format string, args ...any)

// EnsureKernel returns the Debian kernel cached under cacheDir, fetching and
// preparing it first if needed. Concurrent callers serialize on a lock file.
func EnsureKernel(ctx context.Context, cacheDir string, logf Logf) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create kernel cache %s: %w", cacheDir, err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	pkg, err := kernelPackage(ctx, logf)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, pkg)
	k := &Kernel{Package: pkg, Root: filepath.Join(dir, "root")}
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		if err := prepare(ctx, dir, pkg, logf); err != nil {
			return nil, err
		}
	}
	mods, err := os.ReadDir(filepath.Join(k.Root, "lib/modules"))
	if err != nil || len(mods) != 1 {
		return nil, fmt.Errorf("kernel cache %s: want one lib/modules version (%v); delete the directory to refetch", dir, err)
	}
	k.Version = mods[0].Name()
	k.Image = filepath.Join(dir, "vmlinux")
	if _, err := os.Stat(k.Image); err != nil {
		k.Image = filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version)
	}
	return k, nil
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock of %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// kernelPackage names the package linux-image-amd64 depends on, updating
// the package lists once if they do not know it.
func kernelPackage(ctx context.Context, logf Logf) (string, error) {
	pkg, err := dependsOf(ctx, "linux-image-amd64")
	if err == nil {
		return pkg, nil
	}
	logf("resolving linux-image-amd64 failed (%v); running apt-get update", err)
	if uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
		return "", fmt.Errorf("%w: apt-cache depends linux-image-amd64: %v; apt-get update: %v", ErrKernelUnavailable, err, uerr)
	}
	pkg, err = dependsOf(ctx, "linux-image-amd64")
	if err != nil {
		return "", fmt.Errorf("%w: %v (after apt-get update; is a Debian mirror reachable?)", ErrKernelUnavailable, err)
	}
	return pkg, nil
}

func dependsOf(ctx context.Context, meta string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w: %s", meta, err, bytes.TrimSpace(out))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s names no linux-image package", meta)
}

// prepare downloads and unpacks pkg into dir, indexes its modules and
// extracts vmlinux; "ready" marks a complete directory.
func prepare(ctx context.Context, dir, pkg string, logf Logf) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	dl := filepath.Join(dir, "deb")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dl, err)
	}
	logf("fetching %s", pkg)
	if err := run(ctx, dl, "apt-get", "download", pkg); err != nil {
		logf("apt-get download failed (%v); running apt-get update and retrying", err)
		if uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
			return fmt.Errorf("%w: apt-get download %s: %v; apt-get update: %v", ErrKernelUnavailable, pkg, err, uerr)
		}
		if err := run(ctx, dl, "apt-get", "download", pkg); err != nil {
			return fmt.Errorf("%w: apt-get download %s: %v", ErrKernelUnavailable, pkg, err)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("%w: apt-get download %s left %d .deb files", ErrKernelUnavailable, pkg, len(debs))
	}
	root := filepath.Join(dir, "root")
	if err := run(ctx, "", "dpkg", "-x", debs[0], root); err != nil {
		return fmt.Errorf("unpack %s: %w", debs[0], err)
	}
	if err := os.RemoveAll(dl); err != nil {
		return fmt.Errorf("remove %s: %w", dl, err)
	}
	mods, err := os.ReadDir(filepath.Join(root, "lib/modules"))
	if err != nil || len(mods) != 1 {
		return fmt.Errorf("package %s: want one lib/modules version (%v)", pkg, err)
	}
	kver := mods[0].Name()
	if err := run(ctx, "", "depmod", "-b", root, kver); err != nil {
		return fmt.Errorf("depmod %s: %w", kver, err)
	}
	if err := extractVmlinux(ctx, filepath.Join(root, "boot", "vmlinuz-"+kver), filepath.Join(dir, "vmlinux")); err != nil {
		logf("no vmlinux, booting the bzImage (slower): %v", err)
	}
	return os.WriteFile(filepath.Join(dir, "ready"), []byte(pkg+"\n"), 0o644)
}

// extractVmlinux decompresses the xz payload of a bzImage (Debian builds
// with CONFIG_KERNEL_XZ) with xz(1).
func extractVmlinux(ctx context.Context, bzImage, out string) error {
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("read %s: %w", bzImage, err)
	}
	i := bytes.Index(data, []byte("\xfd7zXZ\x00"))
	if i < 0 {
		return fmt.Errorf("%s has no xz payload", bzImage)
	}
	cmd := exec.CommandContext(ctx, "xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(data[i:])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	elf, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("xz -d payload of %s: %w: %s", bzImage, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if !bytes.HasPrefix(elf, []byte("\x7fELF")) {
		return fmt.Errorf("payload of %s is not an ELF image", bzImage)
	}
	return os.WriteFile(out, elf, 0o644)
}

func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := out
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(tail))
	}
	return nil
}
