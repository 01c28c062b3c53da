package testenv_test

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestOnlyTestsAndTheLabImportIt keeps the test tree out of the daemon:
// the test environment and the test images may be imported by _test.go
// files (which go list's Imports leaves out), by test helper packages
// (named …test, like lb/lbtest), by the lab (e2e/…) and by each other;
// by nothing else.
func TestOnlyTestsAndTheLabImportIt(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/shoal-org/shoal/"
	guarded := map[string]bool{mod + "internal/testenv": true, mod + "internal/testimages": true}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		checked++
		allowed := guarded[pkg] || strings.HasPrefix(pkg, mod+"e2e/") || strings.HasSuffix(path.Base(pkg), "test")
		for _, imp := range f[1:] {
			if guarded[imp] && !allowed {
				t.Errorf("%s imports %s: only tests, test helper packages (…test) and the lab (e2e/) may", pkg, imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list named only %d packages:\n%s", checked, out)
	}
}
