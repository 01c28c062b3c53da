//go:build vm

package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

// TestVagrantCluster brings the Vagrantfile's 3-node cluster up in VMs
// booted with Debian's stock kernel (IPVS dataplane), runs the seeds'
// scenario on it and fails on any kernel fault in the VMs' consoles. It
// needs root; `make vm-test` builds the packages it installs
// (SHOAL_VM_DEB and, for the upgrade, SHOAL_VM_DEB_NEXT).
func TestVagrantCluster(t *testing.T) {
	// Three VMs under software emulation on two cores stall for seconds:
	// at the fast default they flapped between failed and alive.
	v, next := startVMs(t, 3, "--gossip-profile slow")
	v.step("3 Ready nodes, one leader, IPVS dataplane", v.clusterReady)
	v.step("provisioning again changes nothing", v.reprovision)
	v.step("test images loaded on every node", func() error { return v.loadImages(3) })
	v.step("create web ×3 publishing 8080", func() error {
		return v.converge("service create --name web --replicas 3 --publish 8080:80 web:v1", 3, "v1")
	})
	v.step("scale to 6", func() error { return v.converge("service scale web=6", 6, "v1") })
	v.step("scale to 4", func() error { return v.converge("service scale web=4", 4, "v1") })
	v.step("published port on every node from every node and from the host side", v.publishedEverywhere)
	v.step("VIP and DNS name from a task on another node", v.vipFromTask)
	v.step("rolling update to v2 under load: 0 failed requests", v.updateUnderLoad)
	staged := v.stage(next) // the upgrade's package travels while the cluster updates
	v.step("update to v3 with parallelism 2 and a delay", func() error {
		return v.converge("service update --update-parallelism 2 --update-delay 5s --rollback-parallelism 2 --image web:v3 web", 4, "v3")
	})
	v.step("rollback to v2", func() error { return v.converge("service rollback web", 4, "v2") })
	v.systemdSteps(2, next, staged)
	v.t.Logf("make vm-test wall time so far: %s", since(v.begin))
}

// TestVagrantOneNode is the VM path's smoke test: the box, the package,
// the unit and the provisioning on one node, then what needs systemd and
// the package: kill -9 of the agent and an upgrade in place restart no
// task, and `agent doctor` passes. `make vm-smoke` runs it.
func TestVagrantOneNode(t *testing.T) {
	v, next := startVMs(t, 1, "")
	v.step("1 Ready node, the leader, IPVS dataplane", v.clusterReady)
	v.step("test image loaded", func() error { return v.loadImages(1) })
	v.step("create web ×2 publishing 8080", func() error {
		return v.converge("service create --name web --replicas 2 --publish 8080:80 web:v1", 2, "v1")
	})
	v.systemdSteps(1, next, v.stage(next))
	v.t.Logf("make vm-smoke wall time: %s", since(v.begin))
}

// startVMs brings up nodes VMs provisioned with the package SHOAL_VM_DEB
// (the agents run with flags) and returns the run and the package to
// upgrade to. The VMs are torn down, and their consoles checked for
// kernel faults, when the test ends.
func startVMs(t *testing.T, nodes int, flags string) (*vmRun, string) {
	testenv.RequireRoot(t, "the VM test runs libvirtd and creates network namespaces")
	deb, next := os.Getenv("SHOAL_VM_DEB"), os.Getenv("SHOAL_VM_DEB_NEXT")
	if deb == "" || next == "" {
		t.Fatal("SHOAL_VM_DEB and SHOAL_VM_DEB_NEXT must name two shoal packages: run `make vm-test`")
	}
	begin := time.Now()
	ctx := context.Background()
	h, err := Start(ctx, Config{Root: repoRoot(t), Deb: deb, Nodes: nodes, AgentFlags: flags, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	t.Cleanup(func() { checkConsoles(t, h) })
	built, err := h.EnsureBox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("box ready after %s (built now: %v)", since(begin), built)
	upStart := time.Now()
	if err := h.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("vagrant up of %d nodes, provisioned and joined: %s", nodes, since(upStart))
	return &vmRun{t: t, h: h, ctx: ctx, nodes: nodes, begin: begin}, next
}

// systemdSteps are the steps that need systemd and the package: node
// victim's agent killed with SIGKILL, the upgrade to package next (staged
// on every node by stage) on every node, `agent doctor` on node victim.
func (v *vmRun) systemdSteps(victim int, next string, staged <-chan error) {
	v.step("kill -9 of the agent: systemd restarts it, no container restarted", func() error { return v.killAgent(victim) })
	v.step("upgrade in place with a newer package: no container restarted", func() error {
		if err := <-staged; err != nil {
			return fmt.Errorf("uploading %s: %w", next, err)
		}
		return v.upgrade(next)
	})
	v.step("agent doctor passes in the VM", func() error {
		out, err := v.h.SSH(v.ctx, victim, 2*time.Minute, "agent doctor")
		v.t.Logf("agent doctor on node%d:\n%s", victim, out)
		return err
	})
}

type vmRun struct {
	t     *testing.T
	h     *Harness
	ctx   context.Context
	nodes int
	begin time.Time
}

func (v *vmRun) step(name string, fn func() error) {
	v.t.Helper()
	start := time.Now()
	if err := fn(); err != nil {
		v.journals()
		v.t.Fatalf("%s: %v", name, err)
	}
	v.t.Logf("ok: %s (%s)", name, since(start))
}

// journals logs the end of every node's agent journal (its raft and
// leadership lines first), for a step that failed.
func (v *vmRun) journals() {
	for i := 1; i <= v.nodes; i++ {
		out, err := v.h.SSH(v.ctx, i, time.Minute, "journalctl -u shoal-agent --no-pager -o short-precise --since -15min | "+
			"grep -E 'raft|leader|election|level=(WARN|ERROR)' | tail -40; journalctl -u shoal-agent --no-pager -o short-precise -n 20")
		v.t.Logf("node%d's agent journal (%v):\n%s", i, err, out)
	}
}

func (v *vmRun) ssh(i int, cmd string) (string, error) { return v.h.SSH(v.ctx, i, 3*time.Minute, cmd) }

// eventually retries fn every 2 s for up to d.
func eventually(d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Second)
	}
}

func (v *vmRun) clusterReady() error {
	err := eventually(3*time.Minute, func() error {
		out, err := v.ssh(1, "agentctl node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
		if err != nil {
			return err
		}
		ready, leaders := 0, 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[1] == "Ready" {
				ready++
			}
			if len(f) >= 3 && f[2] == "Leader" {
				leaders++
			}
		}
		if ready != v.nodes || leaders != 1 {
			return fmt.Errorf("want %d Ready nodes and one leader, node ls:\n%s", v.nodes, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out, err := v.ssh(1, "agentctl info")
	if err != nil {
		return err
	}
	if !strings.Contains(strings.ToLower(out), "ipvs") {
		return fmt.Errorf("agentctl info does not name the ipvs dataplane:\n%s", out)
	}
	return nil
}

// agentPIDs returns each node's agent main PID.
func (v *vmRun) agentPIDs() ([]string, error) {
	var pids []string
	for i := 1; i <= v.nodes; i++ {
		out, err := v.ssh(i, "systemctl show -p MainPID --value shoal-agent")
		if err != nil {
			return nil, err
		}
		pids = append(pids, strings.TrimSpace(out))
	}
	return pids, nil
}

func (v *vmRun) reprovision() error {
	before, err := v.agentPIDs()
	if err != nil {
		return err
	}
	// node1 takes the script's init path, node2 its join path; node3 would
	// repeat node2's.
	if err := v.h.Provision(v.ctx, "node1", "node2"); err != nil {
		return err
	}
	after, err := v.agentPIDs()
	if err != nil {
		return err
	}
	if !slices.Equal(before, after) {
		return fmt.Errorf("agents restarted by a second provisioning: PIDs %v, then %v", before, after)
	}
	return v.clusterReady()
}

// loadImages loads web:v1 to web:vN on every node.
func (v *vmRun) loadImages(n int) error {
	imgs, err := testimages.Build(v.ctx, filepath.Join(v.h.cfg.CacheDir, "images"))
	if err != nil {
		return err
	}
	return v.eachNode(1, func(i int) error {
		for _, img := range imgs[:n] { // web:v1..vn
			dst := "/tmp/" + filepath.Base(img.Path)
			if err := v.h.Upload(v.ctx, i, img.Path, dst); err != nil {
				return err
			}
			if _, err := v.ssh(i, "agentctl image load -i "+dst); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachNode runs fn for nodes from, from+1, … v.nodes at once and returns
// their errors joined.
func (v *vmRun) eachNode(from int, fn func(i int) error) error {
	return atOnce(v.nodes-from+1, func(k int) error { return fn(from + k) })
}

// converge runs an agentctl command on node1 and waits until web runs n
// tasks, all answering with version.
func (v *vmRun) converge(cmd string, n int, version string) error {
	if out, err := v.h.SSH(v.ctx, 1, 10*time.Minute, "agentctl "+cmd); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return eventually(5*time.Minute, func() error {
		out, err := v.ssh(1, "agentctl service ls --format '{{.Name}} {{.Replicas}} {{.Image}}'")
		if err != nil {
			return err
		}
		want := fmt.Sprintf("web %d/%d web:%s", n, n, version)
		if !strings.Contains(out, want) {
			return fmt.Errorf("service ls: want %q, got\n%s", want, out)
		}
		return nil
	})
}

// taskNodes maps each running task of web to its node.
func (v *vmRun) taskNodes() (map[string]string, error) {
	out, err := v.ssh(1, "agentctl service ps web --no-trunc --filter desired-state=running --format '{{.ID}} {{.Node}}'")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m, nil
}

func (v *vmRun) publishedEverywhere() error {
	tasks, err := v.taskNodes()
	if err != nil {
		return err
	}
	err = v.eachNode(1, func(from int) error {
		for to := 1; to <= v.nodes; to++ {
			out, err := v.ssh(from, fmt.Sprintf("curl -sS -m 10 http://%s:8080/", NodeIP(to)))
			if err != nil {
				return fmt.Errorf("node%d → node%d:8080: %w", from, to, err)
			}
			var a lab.WebAnswer
			if err := json.Unmarshal([]byte(out), &a); err != nil || a.Version != "v1" {
				return fmt.Errorf("node%d → node%d:8080 answered %q", from, to, out)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	hc := lab.HTTPClientIn(v.h.cfg.Netns)
	seen := map[string]int{}
	for r := 0; r < 48; r++ {
		a, err := lab.GetWeb(hc, fmt.Sprintf("http://%s:8080/", NodeIP(r%3+1)), nil)
		if err != nil {
			return fmt.Errorf("from the host side: %w", err)
		}
		seen[a.Task]++
	}
	nodes := map[string]bool{}
	for id, node := range tasks {
		if seen[id] == 0 {
			return fmt.Errorf("task %s on %s got none of 48 requests from the host side: %v", id, node, seen)
		}
		nodes[node] = true
	}
	if len(nodes) < 2 {
		return fmt.Errorf("the tasks answering are all on %v: want them spread over nodes", nodes)
	}
	return nil
}

func (v *vmRun) vipFromTask() error {
	id, err := v.ssh(2, "ctr -n shoal containers ls -q | head -1")
	if err != nil {
		return err
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return fmt.Errorf("no container on node2")
	}
	for _, url := range []string{"http://web/", "http://tasks.web/"} {
		cmd := fmt.Sprintf("ctr -n shoal tasks exec --exec-id probe-%d %s /web -check %s", time.Now().UnixNano(), id, url)
		if out, err := v.ssh(2, cmd); err != nil {
			return fmt.Errorf("from task %s on node2: %s: %w\n%s", id, url, err, out)
		}
	}
	return nil
}

func (v *vmRun) updateUnderLoad() error {
	ld := lab.StartHTTPLoad(lab.HTTPClientIn(v.h.cfg.Netns), fmt.Sprintf("http://%s:8080/", NodeIP(1)), 20)
	err := v.converge("service update --image web:v2 web", 4, "v2")
	time.Sleep(3 * time.Second) // requests after the last task changed
	res := ld.Stop()
	v.t.Logf("load during the update: %d ok, %d failed, by version %v; slowest answer %v, %d over a second",
		res.OK, res.Failed, res.ByVersion, res.Slowest.Round(time.Millisecond), res.OverSecond)
	if err != nil {
		return err
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed during the update: %v", res.Failed, res.OK+res.Failed, res.Errors)
	}
	if res.ByVersion["v2"] == 0 || res.ByVersion["v1"] == 0 {
		return fmt.Errorf("the load did not span the update: by version %v", res.ByVersion)
	}
	return nil
}

// tasksOn lists node i's containerd tasks with their PIDs.
func (v *vmRun) tasksOn(i int) (string, error) {
	out, err := v.ssh(i, "ctr -n shoal tasks ls | sort")
	return strings.TrimSpace(out), err
}

// restartAgent runs act on node i and checks that the agent comes back
// with a new PID and that no task was restarted.
func (v *vmRun) restartAgent(i int, act string) error {
	before, err := v.tasksOn(i)
	if err != nil {
		return err
	}
	out, err := v.ssh(i, "systemctl show -p MainPID --value shoal-agent; date +%s")
	if err != nil {
		return err
	}
	pid, guestStart, _ := strings.Cut(strings.TrimSpace(out), "\n")
	start := time.Now()
	if out, err := v.h.SSH(v.ctx, i, 5*time.Minute, act); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	acted := since(start)
	err = eventually(2*time.Minute, func() error {
		now, err := v.ssh(i, "systemctl is-active shoal-agent && systemctl show -p MainPID --value shoal-agent && agentctl node ls -q")
		if err != nil {
			return err
		}
		if strings.Contains(now, "\n"+strings.TrimSpace(pid)+"\n") {
			return fmt.Errorf("the agent still runs as PID %s", strings.TrimSpace(pid))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The unit's stop and start, as systemd saw them, tell where the time went.
	unit, _ := v.ssh(i, "journalctl -u shoal-agent --no-pager -o short-precise --since @"+guestStart+
		" | grep -E 'systemd\\[1\\]: (Stopping|Stopped|Starting|Started|shoal-agent.service: (Main|Deactivated))'")
	v.t.Logf("node%d: %q took %s; the agent answered again %s after it began; the unit:\n%s",
		i, act, acted, since(start), strings.TrimSpace(unit))
	after, err := v.tasksOn(i)
	if err != nil {
		return err
	}
	if before != after {
		time.Sleep(10 * time.Second) // tells a passing state from a lasting one
		later, _ := v.tasksOn(i)
		diag, _ := v.ssh(i, "systemctl status --no-pager -l shoal-agent containerd | grep -v '^ *$'; "+
			"journalctl -u shoal-agent -u containerd --no-pager -n 150 -o short-precise")
		return fmt.Errorf("node%d's tasks changed:\nbefore:\n%s\nafter:\n%s\n10 s later:\n%s\nunits and last journal lines:\n%s",
			i, before, after, later, diag)
	}
	return v.clusterReady()
}

// killAgent kills node i's agent with SIGKILL. Its unit's cgroup must
// hold the agent alone first: systemd kills whatever else is there when
// the agent stops (the tasks' shims and log drivers belong to containerd's).
func (v *vmRun) killAgent(i int) error {
	out, err := v.ssh(i, "cat /sys/fs/cgroup$(systemctl show -p ControlGroup --value shoal-agent)/cgroup.procs; "+
		"echo main $(systemctl show -p MainPID --value shoal-agent); ps -eo pid,ppid,cgroup:48,args --sort pid | grep -E 'log-driver|shim' | grep -v grep")
	if err != nil {
		return err
	}
	v.t.Logf("node%d before kill -9: the agent's cgroup, then the shims and log drivers:\n%s", i, out)
	f := strings.Fields(out)
	if len(f) < 3 || f[1] != "main" || f[0] != f[2] {
		return fmt.Errorf("node%d: the agent's cgroup holds more than the agent (or the agent is not its main PID):\n%s", i, out)
	}
	return v.restartAgent(i, "kill -9 $(systemctl show -p MainPID --value shoal-agent)")
}

// stagedDeb is where stage puts the upgrade's package on every node.
const stagedDeb = "/tmp/shoal-next.deb"

// stage uploads package next to every node in the background (about 10 s
// a node under emulation) and reports on the channel when done.
func (v *vmRun) stage(next string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- v.eachNode(1, func(i int) error { return v.h.Upload(v.ctx, i, next, stagedDeb) })
	}()
	return done
}

// upgrade installs package next (staged) over the running one on every
// node: node1 (the founder, and leader unless leadership moved) first,
// which leaves a cluster of mixed versions, then every other node at once.
func (v *vmRun) upgrade(next string) error {
	want := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(next), "shoal_"), "_amd64.deb")
	upgradeOne := func(i int) error {
		if err := v.restartAgent(i, "dpkg -i --force-confold "+stagedDeb); err != nil {
			return fmt.Errorf("node%d: %w", i, err)
		}
		if out, _ := v.ssh(i, "dpkg-query -W -f '${Version}' shoal"); strings.TrimSpace(out) != want {
			return fmt.Errorf("node%d has shoal %q installed, want %q", i, out, want)
		}
		return nil
	}
	if err := upgradeOne(1); err != nil {
		return err
	}
	return v.eachNode(2, upgradeOne)
}

func checkConsoles(t *testing.T, h *Harness) {
	faults, err := h.SerialFaults()
	if err != nil {
		t.Errorf("serial consoles: %v", err)
		return
	}
	if len(faults) > 0 {
		t.Errorf("guest kernel faults:\n%s", strings.Join(faults, "\n"))
	}
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "Vagrantfile")); err != nil {
		t.Fatalf("Vagrantfile not found at the repository root %s", root)
	}
	return root
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Second) }
