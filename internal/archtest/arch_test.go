// Package archtest checks the shape of the tree that docs/ARCHITECTURE.md
// describes: which floor each package stands on, that no package imports
// one on a higher floor, that agentctl links no part of the daemon, and
// that no package outgrows the others. It needs the go command.
package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/shoal-org/shoal"

// floors maps package paths (relative to the module; a trailing "/..."
// covers a subtree) to their floor. A package imports only packages on its
// own floor or below. Test infrastructure (e2e, testenv, testimages,
// typestest, the load balancer's conformance suite and IPVS VM) stands
// outside the floors, and no placed package may import it.
var floors = []struct {
	path  string
	floor int
}{
	{"cmd/...", 5},
	{"cli/...", 4},
	{"agent", 3},
	{"apiserver", 2}, {"engineapi/...", 2}, {"control", 2}, {"leader", 2}, {"agent/worker", 2}, {"agent/runtime", 2}, {"agent/netctl", 2}, {"doctor", 2}, {"events", 2},
	{"api", 1}, {"store", 1}, {"scheduler", 1}, {"rollout", 1}, {"spec", 1}, {"stack", 1}, {"netplan", 1}, {"membership", 1},
	{"overlay", 1}, {"lb/...", 1}, {"resolver", 1},
	{"api/types", 0}, {"api/placement", 0}, {"pki", 0}, {"keyring", 0}, {"internal/fault", 0}, {"internal/idgen", 0}, {"internal/logrec", 0},
	{"internal/hostaddr", 0}, {"internal/nsthread", 0},
}

var outside = []string{"e2e/...", "lb/lbtest", "lb/ipvsvm", "internal/testenv", "internal/testimages/...", "api/types/typestest", "store/storetest", "internal/archtest"}

func match(pattern, rel string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == p || strings.HasPrefix(rel, p+"/")
	}
	return rel == pattern
}

// floorOf returns rel's floor, -1 for test infrastructure, and false for a
// package the table does not place.
func floorOf(rel string) (int, bool) {
	for _, o := range outside {
		if match(o, rel) {
			return -1, true
		}
	}
	best, floor := -1, 0
	for _, f := range floors {
		// The longest matching entry wins: "api/types" over "api".
		if match(f.path, rel) && len(f.path) > best {
			best, floor = len(f.path), f.floor
		}
	}
	return floor, best >= 0
}

type pkg struct {
	ImportPath                string
	Dir                       string
	Imports                   []string
	Deps                      []string
	GoFiles                   []string
	TestGoFiles, XTestGoFiles []string
}

func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func root(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// TestFloors: every package of the module is placed, and none imports a
// package on a higher floor. (Go forbids cycles; floors forbid the arrows
// that would make one possible later.)
func TestFloors(t *testing.T) {
	for _, p := range goList(t, "./...") {
		from, _ := rel(p.ImportPath)
		ff, placed := floorOf(from)
		if !placed {
			t.Errorf("package %s is on no floor: add it to floors in internal/archtest and to docs/ARCHITECTURE.md", from)
			continue
		}
		if ff < 0 {
			continue
		}
		for _, imp := range p.Imports {
			to, ours := rel(imp)
			if !ours {
				continue
			}
			tf, _ := floorOf(to)
			if tf < 0 {
				t.Errorf("%s (floor %d) imports test infrastructure %s", from, ff, to)
			} else if tf > ff {
				t.Errorf("%s (floor %d) imports %s (floor %d): an arrow up the floors", from, ff, to, tf)
			}
		}
	}
}

// TestAgentctlLinksNoDaemon: the client binary links no containerd, raft,
// netlink or nftables, and cli (agentctl's commands) imports only the API
// packages, pki and stack (compose files, converted client side) from
// this module.
func TestAgentctlLinksNoDaemon(t *testing.T) {
	p := goList(t, "./cmd/agentctl")[0]
	for _, d := range p.Deps {
		for _, banned := range []string{"github.com/containerd/", "github.com/hashicorp/raft", "github.com/vishvananda/netlink",
			"github.com/google/nftables", "github.com/mdlayher/netlink", "github.com/hashicorp/memberlist"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("agentctl links %s", d)
			}
		}
	}
	allowed := map[string]bool{"api": true, "api/types": true, "api/placement": true, "pki": true, "stack": true}
	for _, imp := range goList(t, "./cli")[0].Imports {
		if r, ours := rel(imp); ours && !allowed[r] {
			t.Errorf("package cli imports %s: agentctl's commands use only the api packages", r)
		}
	}
}

// TestAgentctlSize: agentctl stays a small client (at most 20 MB as built
// by `make build`). It was 13 MB before `stack deploy`; compose-go (its
// YAML parser, JSON schema validator and mapstructure) adds about 4 MB.
func TestAgentctlSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds agentctl; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "agentctl")
	// Built as scripts/mkdeb.sh builds what is shipped.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/agentctl")
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 15<<20 {
		t.Errorf("agentctl as shipped is %.1f MB, over 15 MB", float64(st.Size())/(1<<20))
	}
	t.Logf("agentctl: %.1f MB", float64(st.Size())/(1<<20))
}

// TestNoPackageDominates: no package holds more than 20 % of the module's
// Go lines (tests included), so that no room becomes the house.
func TestNoPackageDominates(t *testing.T) {
	lines := map[string]int{}
	total := 0
	for _, p := range goList(t, "./...") {
		files := append(append(append([]string{}, p.GoFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(b, []byte("\n"))
			lines[p.ImportPath] += n
			total += n
		}
	}
	for path, n := range lines {
		if share := float64(n) / float64(total); share > 0.20 {
			t.Errorf("%s holds %.0f %% of the module's lines (%d of %d)", path, 100*share, n, total)
		}
	}
}

// TestArchitectureDocNamesRealPaths: every file or directory that
// docs/ARCHITECTURE.md names in backquotes exists, so the doc stays true
// to the tree.
func TestArchitectureDocNamesRealPaths(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root(t), "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	parts := strings.Split(string(doc), "`")
	for i := 1; i < len(parts); i += 2 { // the text between backquotes
		word := parts[i]
		if !strings.HasSuffix(word, ".go") && !strings.Contains(word, "/") || strings.ContainsAny(word, " :=<>{") ||
			strings.HasPrefix(word, "/") {
			continue
		}
		named++
		if m, _ := filepath.Glob(filepath.Join(root(t), word)); len(m) == 0 {
			t.Errorf("docs/ARCHITECTURE.md names %s, which does not exist", word)
		}
	}
	if named < 20 {
		t.Fatalf("found only %d paths in docs/ARCHITECTURE.md: is the parser broken?", named)
	}
}
