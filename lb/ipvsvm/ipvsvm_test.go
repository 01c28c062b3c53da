package ipvsvm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/lb/ipvsvm"
)

// TestIPVSInVM runs lb's conformance suite for the IPVS dataplane (and, as a
// check on an older stock kernel, for the nftables one) inside a VM booted
// with Debian's stock kernel, which has IPVS, and checks the verdicts it
// prints on the serial console. Set SHOAL_IPVSVM_SHOW=1 to log the console,
// SHOAL_IPVSVM_CACHE to move the kernel cache.
func TestIPVSInVM(t *testing.T) {
	testenv.RequireRoot(t, "the kernel cache lives in "+ipvsvm.DefaultCacheDir+" and apt-get may need to run")
	testenv.RequireCommands(t, "qemu-system-x86", "qemu-system-x86_64")
	for _, tool := range []string{"/bin/busybox", "apt-get", "dpkg", "depmod", "modprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install busybox-static, kmod and apt/dpkg", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cache := os.Getenv("SHOAL_IPVSVM_CACHE")
	if cache == "" {
		cache = ipvsvm.DefaultCacheDir
	}
	k, err := ipvsvm.EnsureKernel(ctx, cache, t.Logf)
	if err != nil {
		t.Fatalf("prepare Debian kernel: %v", err)
	}
	t.Logf("kernel %s, booting %s", k.Version, filepath.Base(k.Image))
	mods, err := ipvsvm.ModuleOrder(ctx, k, ipvsvm.Modules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lb.test")
	if err := ipvsvm.BuildTestBinary(ctx, "github.com/shoal-org/shoal/lb", bin); err != nil {
		t.Fatal(err)
	}
	ir := ipvsvm.Initramfs{
		ModuleFiles: mods,
		TestBinary:  bin,
		TestArgs:    []string{"-test.run", "^TestConformance(IPVS|Nftables)$", "-test.v", "-test.count=1", "-test.timeout=8m"},
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := ir.WriteFile(initrd); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := ipvsvm.Boot(ctx, ipvsvm.BootConfig{Kernel: k, Initrd: initrd, Timeout: 9 * time.Minute})
	if oops := ipvsvm.KernelFaults(res); len(oops) > 0 {
		t.Fatalf("the guest kernel faulted: %s\nconsole tail:\n%s", strings.Join(oops, " | "), tailOf(res))
	}
	if err != nil {
		t.Fatalf("VM run: %v\nconsole tail:\n%s", err, tailOf(res))
	}
	t.Logf("VM ran for %s: %d passed, %d failed, %d skipped", time.Since(start).Round(time.Second),
		len(res.Passed), len(res.Failed), len(res.Skipped))
	if res.Exit != 0 || len(res.Failed) > 0 {
		t.Fatalf("conformance suite failed in the VM (exit %d), failed: %s\nconsole:\n%s",
			res.Exit, strings.Join(res.Failed, ", "), res.Output)
	}
	for _, name := range []string{"TestConformanceIPVS", "TestConformanceNftables"} {
		if !slices.Contains(res.Passed, name) || slices.Contains(res.Skipped, name) {
			t.Fatalf("%s did not run and pass in the VM\nconsole:\n%s", name, res.Output)
		}
	}
	if os.Getenv("SHOAL_IPVSVM_SHOW") != "" {
		t.Log(res.Output)
	}
	for _, p := range res.Passed {
		t.Logf("in VM: PASS %s", p)
	}
}

func tailOf(r *ipvsvm.Result) string {
	if r == nil {
		return ""
	}
	return r.Tail(60)
}
