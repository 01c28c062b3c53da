package testimages

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// trimDpkg keeps documentation, manuals and translations out of the image
// (the copyright files stay).
var trimDpkg = []string{
	"path-exclude=/usr/share/doc/*",
	"path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/info/*",
	"path-exclude=/usr/share/locale/*",
	"path-exclude=/usr/share/lintian/*",
}

// mergedUsrHooks makes the /usr-merged layout without the usrmerge package
// (which pulls in perl).
const mergedUsrHooks = "/usr/share/mmdebstrap/hooks/merged-usr"

// customizeScript is run by mmdebstrap on the finished root filesystem ($1):
// it drops apt's and dpkg's caches and logs, copies the image's files in,
// records the installed versions and runs the image's own script.
const customizeScript = `#!/bin/sh
set -eu
root="$1"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
	"$root"/var/lib/dpkg/*-old "$root"/var/cache/ldconfig/aux-cache
find "$root/var/log" -type f -delete
cp -a %[1]s/. "$root"/
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n' > %[2]s
%[3]s
`

// mmdebstrap builds b's root filesystem as work/rootfs.tar and returns the
// installed packages' versions by name.
func mmdebstrap(ctx context.Context, b debBuild, work string) (map[string]string, error) {
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return nil, errNoMmdebstrap
	}
	files := filepath.Join(work, "files")
	for p, content := range b.files {
		dst := filepath.Join(files, filepath.Clean("/"+p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(files, 0o755); err != nil {
		return nil, err
	}
	versions := filepath.Join(work, "versions")
	script := filepath.Join(work, "customize.sh")
	body := fmt.Sprintf(customizeScript, shellQuote(files), shellQuote(versions), b.img.script)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return nil, err
	}
	// unshare mode: mmdebstrap's mounts live in a mount namespace of its
	// own, so that none outlives it (root mode mounts on the host, and a
	// killed build would leave them under work).
	args := []string{"--mode=unshare", "--variant=essential", "--include=" + strings.Join(b.img.packages, ","),
		"--customize-hook=" + script}
	if _, err := os.Stat(mergedUsrHooks); err == nil {
		args = append(args, "--hook-dir="+mergedUsrHooks)
	}
	for _, o := range trimDpkg {
		args = append(args, "--dpkgopt="+o)
	}
	args = append(args, b.suite, filepath.Join(work, "rootfs.tar"), b.sources)
	cmd := exec.CommandContext(ctx, bin, args...)
	// On cancellation mmdebstrap gets SIGTERM and time to clean up.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch.Unix(), 10), "TMPDIR="+work)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mmdebstrap %s: %w: %s", strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	raw, err := os.ReadFile(versions)
	if err != nil {
		return nil, fmt.Errorf("installed versions: %w", err)
	}
	installed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok {
			installed[name] = v
		}
	}
	return installed, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// tail is the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
