package ipvsvm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseOutput(t *testing.T) {
	console := "[    1.0] random kernel line\r\n" +
		"=== RUN   TestConformanceIPVS\r\n" +
		"=== RUN   TestConformanceIPVS/AddService\r\n" +
		"    --- PASS: TestConformanceIPVS/AddService (0.31s)\r\n" +
		"    --- FAIL: TestConformanceIPVS/UDP (1.00s)\r\n" +
		"    --- SKIP: TestConformanceIPVS/Other (0.00s)\r\n" +
		"--- FAIL: TestConformanceIPVS (1.31s)\r\n" +
		"FAIL\r\n" + ResultMarker + " exit=1\r\n[    9.1] reboot: Power down\r\n"
	r := ParseOutput(console)
	if r.Exit != 1 {
		t.Errorf("Exit = %d, want 1", r.Exit)
	}
	if !slices.Equal(r.Passed, []string{"TestConformanceIPVS/AddService"}) ||
		!slices.Equal(r.Failed, []string{"TestConformanceIPVS/UDP", "TestConformanceIPVS"}) ||
		!slices.Equal(r.Skipped, []string{"TestConformanceIPVS/Other"}) {
		t.Errorf("verdicts: passed %v failed %v skipped %v", r.Passed, r.Failed, r.Skipped)
	}
	if r := ParseOutput("Kernel panic - not syncing\n"); r.Exit != -1 {
		t.Errorf("no result line: Exit = %d, want -1", r.Exit)
	}
}

// TestInitramfsArchive checks the archive with cpio(1), the reference
// reader of the format the kernel unpacks.
func TestInitramfsArchive(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	dir := t.TempDir()
	mod := filepath.Join(dir, "x.ko")
	bin := filepath.Join(dir, "t")
	bb := filepath.Join(dir, "busybox")
	for p, b := range map[string]string{mod: "mod", bin: "binary-odd-len", bb: "bb"} {
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ir := Initramfs{Busybox: bb, ModuleFiles: []string{mod}, TestBinary: bin, TestArgs: []string{"-test.run", "it's"}}
	var buf bytes.Buffer
	if err := ir.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpio, "-idm", "--quiet")
	cmd.Dir, cmd.Stdin = out, &buf
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, b)
	}
	for name, want := range map[string]string{"test": "binary-odd-len", "mods/x.ko": "mod", "mods/order": "x.ko\n"} {
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(out, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v; want busybox", target, err)
	}
	init, err := os.ReadFile(filepath.Join(out, "init"))
	if err != nil || !strings.Contains(string(init), `/test '-test.run' 'it'\''s'`) {
		t.Errorf("init does not run the test with quoted args: %s %v", init, err)
	}
	if st, err := os.Stat(filepath.Join(out, "init")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("init not executable: %v %v", st, err)
	}
}

func TestKernelFaults(t *testing.T) {
	console := "boot\n[  402.063258] Dead loop on virtual device shoalvx4096, fix it urgently!\n" +
		"[  402.063892] BUG: IRQ stack guard page was hit\n--- PASS: TestX (1s)\n" +
		"[  403.1] Kernel panic - not syncing: Fatal exception in interrupt\r\n"
	got := KernelFaults(ParseOutput(console))
	if len(got) != 3 || !strings.HasPrefix(got[2], "[  403.1] Kernel panic") {
		t.Fatalf("KernelFaults = %q, want the loop, BUG and panic lines", got)
	}
	if got := KernelFaults(ParseOutput("--- PASS: TestX (1s)\nSHOAL-RESULT exit=0\n")); got != nil {
		t.Fatalf("KernelFaults of a clean console = %q, want none", got)
	}
	if KernelFaults(nil) != nil {
		t.Fatal("KernelFaults(nil) must be nil")
	}
}
