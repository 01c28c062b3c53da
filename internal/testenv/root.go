package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips tb unless it runs as root; why says what needs root
// ("creates network namespaces") and ends up in the skip message.
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skipf("needs root: %s", why)
	}
}

// RequireCommands skips tb unless every command is on PATH; pkg names the
// Debian package(s) that install them, for the skip message.
func RequireCommands(tb testing.TB, pkg string, commands ...string) {
	tb.Helper()
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			tb.Skipf("needs %s (apt-get install %s)", c, pkg)
		}
	}
}
