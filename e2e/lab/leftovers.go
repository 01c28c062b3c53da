package lab

// Containerd and runc keep a little state outside the lab's directories,
// keyed by things only the lab's containerds use; Teardown removes it once
// every lab process is dead.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// runcRoot is where containerd's runc shim keeps runc state when the
// client sets no Root option: /run/containerd/runc/NAMESPACE/ID, shared by
// every containerd on the machine whatever its own state dir.
const runcRoot = "/run/containerd/runc"

// cleanRuncState removes the runc state of containers whose rootfs lies
// under the lab's directories and whose init process is gone. Left behind,
// it makes the next lab's `runc create` of the same ID fail with "container
// with given ID already exists".
func cleanRuncState(root string, c Config) error {
	files, err := filepath.Glob(filepath.Join(root, "*", "*", "state.json"))
	if err != nil {
		return fmt.Errorf("list runc state: %w", err)
	}
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // removed meanwhile
		}
		var st struct {
			InitPID int `json:"init_process_pid"`
			Config  struct {
				Rootfs string `json:"rootfs"`
			} `json:"config"`
		}
		if json.Unmarshal(b, &st) != nil || !(underDir(st.Config.Rootfs, c.RunDir) || underDir(st.Config.Rootfs, c.DataDir)) {
			continue
		}
		if procAlive(st.InitPID) {
			errs = append(errs, fmt.Errorf("container %s (pid %d) is still running", filepath.Dir(f), st.InitPID))
			continue
		}
		if err := os.RemoveAll(filepath.Dir(f)); err != nil {
			errs = append(errs, fmt.Errorf("remove runc state: %w", err))
		}
	}
	return errors.Join(errs...)
}

// shimSocketDir is where containerd 1.6 puts shim sockets, named
// sha256(containerd address/namespace/id), whatever its own state dir.
const shimSocketDir = "/run/containerd/s"

// shimSocketName is the socket file name of a shim (containerd's
// shim.SocketAddress). Pure.
func shimSocketName(containerdAddr, ns, id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(containerdAddr, ns, id)))
	return hex.EncodeToString(sum[:])
}

// cleanShimSockets removes the sockets of the shims the lab's containerds
// started (a killed shim leaves its socket behind). It finds them from the
// task bundles under RunDir/nK/containerd.
func cleanShimSockets(dir string, c Config) error {
	bundles, err := filepath.Glob(filepath.Join(c.RunDir, "n*", "containerd", "io.containerd.runtime.v2.task", "*", "*"))
	if err != nil {
		return fmt.Errorf("list task bundles: %w", err)
	}
	var errs []error
	for _, b := range bundles {
		id, ns := filepath.Base(b), filepath.Base(filepath.Dir(b))
		node := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(b))))
		sock := filepath.Join(dir, shimSocketName(filepath.Join(node, "containerd.sock"), ns, id))
		fi, err := os.Lstat(sock)
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			continue
		}
		if err := os.Remove(sock); err != nil {
			errs = append(errs, fmt.Errorf("remove shim socket: %w", err))
		}
	}
	return errors.Join(errs...)
}

// shimSockets returns the socket paths of the containerd shims among pids,
// from their command lines (-namespace NS -id ID -address ADDR).
func shimSockets(pids []int) []string {
	var out []string
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		if s := shimSocketFromArgs(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shimSocketFromArgs returns the socket path of a shim command line, or ""
// if argv is not a containerd shim's. Pure.
func shimSocketFromArgs(argv []string) string {
	if len(argv) == 0 || !strings.HasPrefix(filepath.Base(argv[0]), "containerd-shim") {
		return ""
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(argv); i++ {
		if strings.HasPrefix(argv[i], "-") {
			flags[strings.TrimLeft(argv[i], "-")] = argv[i+1]
		}
	}
	ns, id, addr := flags["namespace"], flags["id"], flags["address"]
	if ns == "" || id == "" || addr == "" {
		return ""
	}
	return filepath.Join(shimSocketDir, shimSocketName(addr, ns, id))
}
