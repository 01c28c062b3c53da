package ipvsvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// BootConfig says how to boot one VM.
type BootConfig struct {
	Kernel *Kernel
	Initrd string
	// MemoryMB defaults to 1024.
	MemoryMB int
	// Timeout bounds the VM's life; default 5 minutes.
	Timeout time.Duration
	// Console, when set, receives a copy of the serial console as it runs.
	Console io.Writer
	// QEMU is the emulator binary; default qemu-system-x86_64.
	QEMU string
}

// ErrNoResult is returned when the VM ended without printing its result
// line (a kernel panic, a timeout, a crashed init).
var ErrNoResult = errors.New("ipvsvm: VM printed no result")

// Result is what a VM run reported.
type Result struct {
	// Exit is the test binary's exit status.
	Exit int
	// Passed, Failed and Skipped name the tests (and subtests) by the
	// go test -v lines "--- PASS: name", "--- FAIL: name", "--- SKIP: name".
	Passed, Failed, Skipped []string
	// Output is the whole serial console.
	Output string
}

// Boot runs the VM to its end under software emulation and parses its
// console. A VM that printed no result line returns ErrNoResult together
// with the Result holding the console output.
func Boot(ctx context.Context, cfg BootConfig) (*Result, error) {
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.QEMU,
		"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(cfg.MemoryMB),
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-kernel", cfg.Kernel.Image, "-initrd", cfg.Initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1")
	var out bytes.Buffer
	w := io.Writer(&out)
	if cfg.Console != nil {
		w = io.MultiWriter(&out, cfg.Console)
	}
	cmd.Stdout, cmd.Stderr = w, w
	runErr := cmd.Run()
	res := ParseOutput(out.String())
	if res.Exit < 0 {
		if ctx.Err() != nil {
			return res, fmt.Errorf("%w: VM still running after %s", ErrNoResult, cfg.Timeout)
		}
		return res, fmt.Errorf("%w (qemu: %v)", ErrNoResult, runErr)
	}
	return res, nil
}

// ParseOutput reads a VM's serial console: the result line and the go test
// -v verdict lines. Exit is -1 when there is no result line. It is pure.
func ParseOutput(console string) *Result {
	res := &Result{Exit: -1, Output: console}
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		if i := strings.Index(line, ResultMarker+" exit="); i >= 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(line[i+len(ResultMarker)+6:])); err == nil {
				res.Exit = n
			}
			continue
		}
		t := strings.TrimSpace(line)
		for prefix, list := range map[string]*[]string{
			"--- PASS: ": &res.Passed, "--- FAIL: ": &res.Failed, "--- SKIP: ": &res.Skipped,
		} {
			if name, ok := strings.CutPrefix(t, prefix); ok {
				if i := strings.Index(name, " ("); i >= 0 {
					name = name[:i]
				}
				*list = append(*list, name)
			}
		}
	}
	return res
}

// Tail returns the last n lines of the console, for error messages.
func (r *Result) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(r.Output, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kernelFaultMarkers start the console lines of a kernel that crashed or
// found itself in a state it cannot trust.
var kernelFaultMarkers = []string{"Kernel panic", "BUG:", "Oops:", "general protection fault", "Dead loop on virtual device"}

// KernelFaults returns the console lines of r (nil: none) that report a
// kernel panic, BUG, oops or packet loop. A run with any of them failed,
// whatever its tests printed.
func KernelFaults(r *Result) []string {
	if r == nil {
		return nil
	}
	return FaultLines(r.Output)
}

// FaultLines returns the lines of a serial console that report a kernel
// panic, BUG, oops or packet loop (nil: none). It is pure.
func FaultLines(console string) []string {
	var out []string
	for _, line := range strings.Split(console, "\n") {
		for _, m := range kernelFaultMarkers {
			if strings.Contains(line, m) {
				out = append(out, strings.TrimSpace(strings.TrimRight(line, "\r")))
				break
			}
		}
	}
	return out
}
