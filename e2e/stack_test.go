//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
)

// stackCompose is a two-service stack: front publishes 8080 and reaches
// back over the stack's default network.
func stackCompose(front, back string, withBack bool) string {
	s := fmt.Sprintf(`version: "3.8"
services:
  front:
    image: %s
    ports: ["8080:80"]
    build: ./front
    deploy:
      replicas: 2
      update_config: {parallelism: 2, order: start-first}
`, front)
	if withBack {
		s += fmt.Sprintf(`  back:
    image: %s
    stop_grace_period: 3s
    volumes: ["data:/data"]
    secrets: [pw]
    deploy:
      replicas: 1
      placement:
        constraints: [node.role == manager]
volumes:
  data:
secrets:
  pw: {file: ./pw.txt}
`, back)
	}
	return s
}

// stackSecret is the data of the stack's secret pw.
const stackSecret = "stack-s3cret"

// stackLab is a lab with the compose file of stack e2e.
type stackLab struct {
	l    *lab.Lab
	img  map[string]string
	file string
}

func (s stackLab) write(t *testing.T, compose string) {
	t.Helper()
	if err := os.WriteFile(s.file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deploy runs `agentctl stack deploy -c FILE ARGS e2e` on n1.
func (s stackLab) deploy(t *testing.T, args ...string) string {
	t.Helper()
	return agentctl(t, s.l, "n1", append(append([]string{"stack", "deploy", "-c", s.file}, args...), "e2e")...)
}

// versions maps the stack's services to their Meta.Version and
// SpecVersion, as n1 sees them.
func (s stackLab) versions(t *testing.T) map[string][2]uint64 {
	t.Helper()
	var svcs []api.Service
	apiGet(t, s.l, "n1", "/v1/services", &svcs)
	out := map[string][2]uint64{}
	for _, sv := range svcs {
		if sv.Spec.Labels["com.docker.stack.namespace"] == "e2e" {
			out[sv.Spec.Name] = [2]uint64{sv.Version, sv.SpecVersion}
		}
	}
	return out
}

// TestStack deploys a compose file with `agentctl stack deploy` and walks
// it through the stack commands: ls/services/ps (agentctl's and the docker
// CLI's), the published port, DNS between the services on the stack's
// network, an unchanged redeploy (nothing updated), an image change (only
// that service updated), --prune and stack rm.
func TestStack(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	s := stackLab{l: l, img: pushImages(t, l), file: filepath.Join(t.TempDir(), "docker-compose.yml")}
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.file), "pw.txt"), []byte(stackSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	s.write(t, stackCompose(s.img["web:v1"], s.img["web:v1"], true))
	out := s.deploy(t)
	for _, line := range []string{"Creating network e2e_default", "Creating secret e2e_pw", "Creating service e2e_back", "Creating service e2e_front"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("stack deploy printed no %q:\n%s", line, out)
		}
	}
	front := waitRunning(t, l, "e2e_front", 2, "", 90*time.Second)
	back := waitRunning(t, l, "e2e_back", 1, "", 90*time.Second)[0]

	t.Run("stack ls, services and ps", s.listings)
	t.Run("the docker CLI sees the stack agentctl deployed", s.dockerListings)
	t.Run("back's named volume is e2e_data on its node", func(t *testing.T) { s.volume(t, back) })
	t.Run("back reads the stack's secret at /run/secrets/pw", func(t *testing.T) {
		checkFile(t, taskRoot(t, l, back.NodeHostname, back.ID), "/run/secrets/pw", stackSecret, 0o444, 0, 0)
	})
	t.Run("the published port answers on every node", s.publishedPort)
	t.Run("front reaches back by name over the stack network", func(t *testing.T) { s.dns(t, front[0]) })
	t.Run("redeploying the same file updates nothing", s.unchanged)
	t.Run("a changed image updates only its service", s.imageChange)
	t.Run("--prune removes the services no longer in the file", s.prune)
	t.Run("stack rm removes the services, then the networks", s.remove)
	t.Run("docker stack deploy, services, rm", s.dockerDeploy)
	t.Run("a file that does not validate is refused, naming the field, and creates nothing", s.badFiles)
}

// badFiles deploys files that must not validate, each with one mistake
// beside a good service, and checks that the error names the field and
// that no service, network or secret appeared.
func (s stackLab) badFiles(t *testing.T) {
	objects := func() string {
		var b strings.Builder
		for _, what := range []string{"service", "network", "secret", "config"} {
			b.WriteString(agentctl(t, s.l, "n1", what, "ls", "-q"))
		}
		return b.String()
	}
	before := objects()
	good := "  ok:\n    image: " + s.img["web:v1"] + "\n"
	for _, tc := range []struct{ name, file, want string }{
		{"replicas not a number", "services:\n" + good + "  web:\n    image: x\n    deploy: {replicas: x}\n", "services.web.deploy.replicas"},
		{"unknown network", "services:\n" + good + "  web:\n    image: x\n    networks: [nowhere]\n", "nowhere"},
		{"missing secret", "services:\n" + good + "  web:\n    image: x\n    secrets: [pw]\n", "pw"},
		{"port out of range", "services:\n" + good + "  web:\n    image: x\n    ports: [\"70000:80\"]\n", "services.web.ports[0]"},
		{"unparseable duration", "services:\n" + good + "  web:\n    image: x\n    stop_grace_period: soon\n", "stop_grace_period"},
	} {
		s.write(t, tc.file)
		out, err := s.l.Agentctl(context.Background(), "n1", "stack", "deploy", "-c", s.file, "bad")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: stack deploy answered %q %v, want an error naming %q", tc.name, out, err, tc.want)
		}
		if strings.Contains(out, "Creating") {
			t.Errorf("%s: stack deploy printed %q", tc.name, out)
		}
	}
	if after := objects(); after != before {
		t.Errorf("refused deploys changed the objects:\n%s\nbefore:\n%s", after, before)
	}
}

// dockerDeploy deploys a stack with the real docker CLI (client-side, over
// the Engine API): its services answer each other by their short names.
func (s stackLab) dockerDeploy(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH: " + err.Error())
	}
	s.write(t, stackCompose(s.img["web:v1"], s.img["web:v1"], true))
	out, err := dockerOn(s.l, "n2", "stack", "deploy", "--detach=true", "-c", s.file, "dk")
	if err != nil || !strings.Contains(out, "Creating service dk_back") {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
	front := waitRunning(t, s.l, "dk_front", 2, "", 90*time.Second)
	waitRunning(t, s.l, "dk_back", 1, "", 90*time.Second)
	var back api.Service
	apiGet(t, s.l, "n1", "/v1/services/dk_back", &back)
	if got := back.Spec.Task.Aliases["dk_default"]; !slices.Equal(got, []string{"back"}) {
		t.Errorf("dk_back's aliases on dk_default: %v, want [back] (docker's short name)", got)
	}
	vip := s.resolver(t, front[0], "dk_default")("back")
	if vip != back.VIPs["dk_default"] {
		t.Errorf("back resolves to %q from a dk_front task, want dk_back's VIP %s", vip, back.VIPs["dk_default"])
	}
	s.get(t, front[0], vip, "back")
	// n3's replica learns the tasks' states a commit after the leader.
	waitUntil(t, followerLag, "docker stack services dk on n3", func() (bool, string) {
		out, err := dockerOn(s.l, "n3", "stack", "services", "--format", "{{.Name}} {{.Replicas}}", "dk")
		return err == nil && out == "dk_back 1/1\ndk_front 2/2\n", out + errString(err)
	})
	if out, err := dockerOn(s.l, "n1", "stack", "rm", "dk"); err != nil || !strings.Contains(out, "Removing network dk_default") {
		t.Fatalf("docker stack rm: %v\n%s", err, out)
	}
}

func (s stackLab) listings(t *testing.T) {
	if got := agentctl(t, s.l, "n2", "stack", "ls", "--format", "{{.Name}}={{.Services}}"); got != "e2e=2\n" {
		t.Errorf("stack ls = %q, want e2e=2", got)
	}
	waitUntil(t, 30*time.Second, "stack services shows 2/2 and 1/1", func() (bool, string) {
		got := agentctl(t, s.l, "n3", "stack", "services", "--format", "{{.Name}} {{.Replicas}} {{.Ports}}", "e2e")
		return got == "e2e_back 1/1 \ne2e_front 2/2 *:8080->80/tcp\n", got
	})
	ps := agentctl(t, s.l, "n1", "stack", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.DesiredState}}", "e2e")
	if ps != "e2e_back.1 Running\ne2e_front.1 Running\ne2e_front.2 Running\n" {
		t.Errorf("stack ps = %q", ps)
	}
}

func (s stackLab) dockerListings(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH: " + err.Error())
	}
	docker := func(args ...string) string {
		t.Helper()
		out, err := dockerOn(s.l, "n2", args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if got := docker("stack", "ls", "--format", "{{.Name}} {{.Services}}"); got != "e2e 2\n" {
		t.Errorf("docker stack ls = %q, want \"e2e 2\"", got)
	}
	if got := docker("stack", "services", "--format", "{{.Name}} {{.Replicas}}", "e2e"); got != "e2e_back 1/1\ne2e_front 2/2\n" {
		t.Errorf("docker stack services = %q", got)
	}
	ps := docker("stack", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.CurrentState}}", "e2e")
	if strings.Count(ps, "Running") != 3 || !strings.Contains(ps, "e2e_front.1 ") || !strings.Contains(ps, "e2e_back.1 ") {
		t.Errorf("docker stack ps:\n%s", ps)
	}
}

// volume finds the directory of back's named volume, STACK_data as docker
// names it, under the agent's data dir on the node that runs back.
func (s stackLab) volume(t *testing.T, back api.Task) {
	n, err := s.l.Node(back.NodeHostname)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.l.Exec(context.Background(), back.NodeHostname, "find", n.DataDir, "-type", "d", "-name", "e2e_data")
	if err != nil || strings.Count(out, "/volumes/e2e_data\n") != 1 {
		t.Errorf("volume e2e_data on %s: %q %v", back.NodeHostname, out, err)
	}
}

// publishedPort checks port 8080 on every node. A node programs the port
// when its replica applies the tasks' states, a commit after the leader
// saw them, so each node gets followerLag to converge.
func (s stackLab) publishedPort(t *testing.T) {
	for _, node := range []string{"n1", "n2", "n3"} {
		n, _ := s.l.Node(node)
		waitUntil(t, followerLag, "port 8080 on "+node, func() (bool, string) {
			body, stderr, err := s.l.Exec(context.Background(), lab.HubName, "curl", "-sS", "-m", "3", "http://"+n.Addr+":8080/")
			return err == nil && strings.Contains(body, `"version":"v1"`), fmt.Sprintf("%q%s %s", body, errString(err), stderr)
		})
	}
}

// get asks vip for / from task tk until a v1 task answers. tk's node puts
// the backends behind the VIP when its replica applies their states, a
// commit after the leader saw them running.
func (s stackLab) get(t *testing.T, tk api.Task, vip, name string) {
	t.Helper()
	waitUntil(t, followerLag, "GET http://"+name+"/ ("+vip+") from "+tk.ID, func() (bool, string) {
		body, err := inTask(t, s.l, tk, "curl", "-sS", "-m", "3", "http://"+vip+"/")
		return err == nil && strings.Contains(body, `"version":"v1"`), body + errString(err)
	})
}

// resolver returns a lookup through the resolver that task tk's
// resolv.conf names on network net: it listens on the first address of the
// node's lease of the network (a stack network's leases are smaller than
// /24s). inTask enters only the task's network namespace, not its files.
func (s stackLab) resolver(t *testing.T, tk api.Task, network string) func(name string) string {
	var net types.Network
	apiGet(t, s.l, "n1", "/v1/networks/"+network, &net)
	lease, err := netip.ParsePrefix(net.Leases[tk.NodeID])
	if err != nil {
		t.Fatalf("lease of %s on %s: %q: %v", tk.NodeHostname, network, net.Leases[tk.NodeID], err)
	}
	gw := lease.Addr().Next().String()
	return func(name string) string {
		t.Helper()
		out, err := inTask(t, s.l, tk, "dig", "+short", "+time=1", "+tries=1", "@"+gw, name)
		if err != nil {
			t.Fatalf("dig %s: %v", name, err)
		}
		return strings.TrimSpace(out)
	}
}

// dns asks the resolver of front task tk's node on the stack network for
// e2e_back, then reaches back through the VIP it answers.
func (s stackLab) dns(t *testing.T, tk api.Task) {
	var back api.Service
	apiGet(t, s.l, "n1", "/v1/services/e2e_back", &back)
	vip := back.VIPs["e2e_default"]
	if vip == "" || tk.Addresses["e2e_default"] == "" {
		t.Fatalf("back's VIPs %v, front task's addresses %v: want both on e2e_default", back.VIPs, tk.Addresses)
	}
	answer := s.resolver(t, tk, "e2e_default")
	if got := answer("e2e_back"); got != vip {
		t.Errorf("e2e_back resolves to %q, want back's VIP %s", got, vip)
	}
	// As docker does, each service answers by its short name on the
	// stack's networks (a network alias).
	if got := answer("back"); got != vip {
		t.Errorf("the short name back resolves to %q, want back's VIP %s", got, vip)
	}
	s.get(t, tk, vip, "e2e_back")
}

func (s stackLab) unchanged(t *testing.T) {
	before := s.versions(t)
	if out := s.deploy(t); strings.Contains(out, "Updating") || strings.Contains(out, "Creating") {
		t.Errorf("unchanged redeploy printed:\n%s", out)
	}
	if after := s.versions(t); !maps.Equal(before, after) {
		t.Errorf("versions changed by an unchanged redeploy: %v -> %v", before, after)
	}
}

func (s stackLab) imageChange(t *testing.T) {
	before := s.versions(t)
	s.write(t, stackCompose(s.img["web:v2"], s.img["web:v1"], true))
	out := s.deploy(t)
	if !strings.Contains(out, "Updating service e2e_front (id: ") || strings.Contains(out, "e2e_back") {
		t.Errorf("deploy after an image change printed:\n%s", out)
	}
	after := s.versions(t)
	if after["e2e_back"] != before["e2e_back"] {
		t.Errorf("e2e_back changed: %v -> %v", before["e2e_back"], after["e2e_back"])
	}
	if after["e2e_front"][1] != before["e2e_front"][1]+1 {
		t.Errorf("e2e_front spec version %d -> %d, want one more", before["e2e_front"][1], after["e2e_front"][1])
	}
	waitUntil(t, 90*time.Second, "e2e_front runs web:v2 only", func() (bool, string) {
		rs := running(serviceTasks(t, s.l, "n1", "e2e_front"))
		ok := len(rs) == 2 && !slices.ContainsFunc(rs, func(tk api.Task) bool { return tk.Spec.Image != s.img["web:v2"] })
		return ok, perNode(rs)
	})
}

func (s stackLab) prune(t *testing.T) {
	s.write(t, stackCompose(s.img["web:v2"], "", false))
	if out := s.deploy(t); strings.Contains(out, "e2e_back") {
		t.Errorf("deploy without --prune touched e2e_back:\n%s", out)
	}
	if _, ok := s.versions(t)["e2e_back"]; !ok {
		t.Fatal("deploy without --prune removed e2e_back")
	}
	if out := s.deploy(t, "--prune"); out != "Removing service e2e_back\n" {
		t.Errorf("deploy --prune printed %q", out)
	}
	if got := s.versions(t); len(got) != 1 {
		t.Errorf("after --prune the stack has %v", got)
	}
}

func (s stackLab) remove(t *testing.T) {
	var netsBefore []types.Network
	apiGet(t, s.l, "n1", "/v1/networks", &netsBefore)
	out := agentctl(t, s.l, "n2", "stack", "rm", "e2e")
	if out != "Removing service e2e_front\nRemoving secret e2e_pw\nRemoving network e2e_default\n" {
		t.Errorf("stack rm printed %q", out)
	}
	if got := agentctl(t, s.l, "n1", "stack", "ls", "-q"); got != "" {
		t.Errorf("stack ls after rm: %q", got)
	}
	var nets []types.Network
	apiGet(t, s.l, "n1", "/v1/networks", &nets)
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
	}
	if slices.Contains(names, "e2e_default") || len(nets) != len(netsBefore)-1 {
		t.Errorf("networks after stack rm: %v (before: %d)", names, len(netsBefore))
	}
	waitUntil(t, 60*time.Second, "the stack's containers are gone", func() (bool, string) {
		n := 0
		for _, node := range []string{"n1", "n2", "n3"} {
			n += len(containers(t, s.l, node))
		}
		return n == 0, fmt.Sprint(n, " containers")
	})
}
