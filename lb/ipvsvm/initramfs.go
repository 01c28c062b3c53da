package ipvsvm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Modules are what the lb conformance suite needs in the VM: IPVS and its
// schedulers, conntrack with its netlink interface, nftables with NAT,
// numgen, fib and reject, and veth, bridge, dummy and VXLAN links. Dependencies
// are added by ModuleOrder.
var Modules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr",
	"nf_conntrack", "nf_conntrack_netlink", "nf_nat",
	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_numgen",
	"nft_fib_ipv4", "nft_reject_ipv4", "nft_ct",
	"veth", "bridge", "dummy", "vxlan",
}

// ModuleOrder returns the module files (paths under k.Root) that load mods
// with their dependencies, in load order and without duplicates. Modules
// built into the kernel are skipped.
func ModuleOrder(ctx context.Context, k *Kernel, mods []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, m := range mods {
		cmd := exec.CommandContext(ctx, "modprobe", "-d", k.Root, "-S", k.Version, "--show-depends", m)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("modprobe --show-depends %s for kernel %s: %w: %s", m, k.Version, err, bytes.TrimSpace(stderr.Bytes()))
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "insmod" && !seen[f[1]] {
				seen[f[1]] = true
				out = append(out, f[1])
			}
		}
	}
	return out, nil
}

// Initramfs describes the VM's root filesystem.
type Initramfs struct {
	// Busybox is a statically linked busybox (default /bin/busybox).
	Busybox string
	// ModuleFiles are loaded in order at boot (see ModuleOrder).
	ModuleFiles []string
	// TestBinary is a statically linked program, copied to /test.
	TestBinary string
	// TestArgs are its arguments.
	TestArgs []string
}

// ResultMarker starts the line init prints after the test binary exits:
// "<marker> exit=N".
const ResultMarker = "SHOAL-IPVSVM-RESULT"

// initScript mounts the pseudo filesystems, loads the modules, runs the
// test and powers off.
func (ir Initramfs) initScript() string {
	args := make([]string, len(ir.TestArgs))
	for i, a := range ir.TestArgs {
		args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return `#!/bin/sh
export PATH=/bin HOME=/ TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
for m in $(cat /mods/order); do insmod /mods/$m || echo "insmod $m failed"; done
echo "=== init: modules loaded, uptime $(cut -d' ' -f1 /proc/uptime)"
cd /tmp
/test ` + strings.Join(args, " ") + `
echo "` + ResultMarker + ` exit=$?"
poweroff -f
`
}

// Write writes the initramfs as an uncompressed newc cpio archive.
func (ir Initramfs) Write(w io.Writer) error {
	bb := ir.Busybox
	if bb == "" {
		bb = "/bin/busybox"
	}
	c := newCpio(w)
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "mods", "run"} {
		c.dir(d)
	}
	c.file("bin/busybox", 0o755, bb)
	for _, a := range []string{"sh", "mount", "insmod", "poweroff", "echo", "cat", "cut", "sleep", "dmesg"} {
		c.symlink("bin/"+a, "busybox")
	}
	var order strings.Builder
	for _, m := range ir.ModuleFiles {
		name := path.Base(m)
		c.file("mods/"+name, 0o644, m)
		order.WriteString(name + "\n")
	}
	c.data("mods/order", 0o644, []byte(order.String()))
	c.file("test", 0o755, ir.TestBinary)
	c.data("init", 0o755, []byte(ir.initScript()))
	return c.close()
}

// WriteFile writes the initramfs to file p.
func (ir Initramfs) WriteFile(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("create initramfs: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = ir.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write initramfs %s: %w", filepath.Base(p), err)
	}
	return nil
}
