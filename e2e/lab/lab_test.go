package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPlumbing builds a 3-node lab without agents and checks the network,
// partitions, containerd, the registry, a host kill and Down.
func TestPlumbing(t *testing.T) {
	needRoot(t)
	l := newTestLab(t, "shoaltest", Options{Nodes: 3, NoAgent: true})
	c := l.Config()
	t.Run("addresses", func(t *testing.T) { checkAddresses(t, l) })
	t.Run("mesh", func(t *testing.T) {
		for _, a := range l.Nodes() {
			for _, b := range l.Nodes() {
				if a.Name != b.Name && !ping(t, a.Netns, b.Addr) {
					t.Errorf("%s cannot reach %s", a.Name, b.Addr)
				}
			}
		}
	})
	t.Run("partition", func(t *testing.T) { checkPartition(t, l) })
	t.Run("containerd", func(t *testing.T) {
		for _, n := range l.Nodes() {
			if out, err := exec.Command("ctr", "--address", n.ContainerdSock, "version").CombinedOutput(); err != nil {
				t.Errorf("containerd on %s: %v: %s", n.Name, err, out)
			}
		}
	})
	t.Run("exec", func(t *testing.T) { checkExec(t, l) })
	t.Run("cli", func(t *testing.T) { checkCLI(t, l) })
	t.Run("registry", func(t *testing.T) { checkRegistry(t, l) })
	t.Run("exists", func(t *testing.T) {
		if _, err := Up(context.Background(), Options{Config: c, Nodes: 1, NoAgent: true}); !errors.Is(err, ErrExists) {
			t.Errorf("second Up = %v, want ErrExists", err)
		}
	})
	var ctrPID int
	t.Run("container", func(t *testing.T) {
		ctrPID = runContainer(t, l, "n2")
		runContainer(t, l, "n3") // still running at Down
	})
	t.Run("kill host", func(t *testing.T) { checkKillHost(t, l, ctrPID) })
	t.Run("down", func(t *testing.T) { checkDown(t, l) })
}

func checkAddresses(t *testing.T, l *Lab) {
	for _, n := range l.Nodes() {
		out, err := exec.Command("ip", "-n", n.Netns, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), " "+n.Addr+"/24 ") {
			t.Errorf("%s eth0: %v: %s", n.Name, err, out)
		}
		routes, _ := exec.Command("ip", "-n", n.Netns, "route", "show", "default").CombinedOutput()
		if strings.TrimSpace(string(routes)) != "" {
			t.Errorf("%s has a default route: %s", n.Name, routes)
		}
	}
	for _, args := range [][]string{{"-4", "addr"}, {"-4", "route"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "10.77.") {
			t.Errorf("root namespace `ip %s`: %v; must not mention 10.77:\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func checkPartition(t *testing.T, l *Lab) {
	must(t, l.Partition("n3"))
	n := l.Nodes()
	if ping(t, n[2].Netns, n[0].Addr) || ping(t, n[0].Netns, n[2].Addr) {
		t.Error("n3 and n1 reach each other across the partition")
	}
	if !ping(t, n[0].Netns, n[1].Addr) {
		t.Error("n1 cannot reach n2 on the same side of the partition")
	}
	if !ping(t, n[2].Netns, HubAddr) {
		t.Error("the cut-off n3 cannot reach the hub (registry)")
	}
	if !nodeStatus(t, l, "n3").Partitioned || nodeStatus(t, l, "n1").Partitioned {
		t.Error("status does not show n3 (only) as partitioned")
	}
	must(t, l.Heal())
	if !ping(t, n[2].Netns, n[0].Addr) {
		t.Error("n3 cannot reach n1 after heal")
	}
	if err := l.Partition("n9"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Partition(n9) = %v, want ErrUnknownNode", err)
	}
}

func checkExec(t *testing.T, l *Lab) {
	ctx := context.Background()
	n2, _ := l.Node("n2")
	out, _, err := l.Exec(ctx, "n2", "sh", "-c", `echo "$SHOAL_HOST|$SHOAL_API_SOCKET|$CONTAINERD_ADDRESS|$CONTAINERD_NAMESPACE"; ip -4 -o addr show dev eth0`)
	must(t, err)
	want := fmt.Sprintf("unix://%s|%s|%s|shoal", n2.AgentSock, n2.AgentSock, n2.ContainerdSock)
	if !strings.HasPrefix(out, want+"\n") || !strings.Contains(out, n2.Addr+"/24") {
		t.Errorf("exec on n2 printed %q, want the node env %q and its eth0", out, want)
	}
	_, stderr, err := l.Exec(ctx, "n1", "sh", "-c", "echo oops >&2; exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || stderr != "oops\n" {
		t.Errorf("exec exit 3 = %v, stderr %q; want ExitError code 3", err, stderr)
	}
	if _, _, err := l.Exec(ctx, "n7", "true"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("exec on n7 = %v, want ErrUnknownNode", err)
	}
	if err := l.Kill("n1", false); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of an agent the lab never started = %v, want not running", err)
	}
}

func checkCLI(t *testing.T, l *Lab) {
	c := l.Config()
	lab := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		all := append([]string{"--run-dir", c.RunDir, "--data-dir", c.DataDir, "--prefix", c.Prefix}, args...)
		return Main(all, strings.NewReader("from stdin\n"), &out, &errb), out.String(), errb.String()
	}
	if code, out, errb := lab("exec", "n2", "--", "sh", "-c", "cat; echo $CONTAINERD_NAMESPACE; exit 5"); code != 5 || out != "from stdin\nshoal\n" {
		t.Errorf("lab exec = %d, %q, %q; want 5 and stdin echoed", code, out, errb)
	}
	code, out, errb := lab("status", "--format", "json")
	var st []NodeStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != 3 || st[1].Containerd != StateRunning {
		t.Errorf("lab status --format json = %d, %q, %q", code, out, errb)
	}
	if code, _, errb := lab("kill", "n9"); code != 1 || !strings.Contains(errb, `node "n9": unknown node`) {
		t.Errorf("lab kill n9 = %d, %q", code, errb)
	}
}

func checkRegistry(t *testing.T, l *Lab) {
	client, err := l.HTTPClient("n2")
	must(t, err)
	if err := getOK(context.Background(), client, "http://"+l.RegistryAddr()+"/v2/"); err != nil {
		t.Errorf("Go client in n2: %v", err)
	}
	out, _, err := l.Exec(context.Background(), "n1", "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://"+l.RegistryAddr()+"/v2/")
	if err != nil || out != "200" {
		t.Errorf("curl /v2/ in n1 = %q, %v", out, err)
	}
	if !l.RegistryRunning() {
		t.Error("RegistryRunning = false")
	}
}

// runContainer pushes a busybox image, pulls and runs it on node through
// its containerd, and returns the container's host PID.
func runContainer(t *testing.T, l *Lab, node string) int {
	ctx := context.Background()
	ref := "lab/busybox:test"
	must(t, l.Push(ctx, busyboxArchive(t), ref))
	image := l.RegistryAddr() + "/" + ref
	// runc keeps its state in /run/containerd/runc/NAMESPACE whatever
	// containerd's own state dir, so IDs must be unique across nodes.
	id := "labtest-web-" + node
	for _, argv := range [][]string{
		{"ctr", "images", "pull", "--plain-http", image},
		{"ctr", "run", "-d", image, id},
	} {
		if _, _, err := l.Exec(ctx, node, argv...); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := l.Exec(ctx, node, "ctr", "task", "ls")
	must(t, err)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id && f[2] == "RUNNING" {
			pid, _ := strconv.Atoi(f[1])
			if len(mountsOf(t, l.Config())) == 0 {
				t.Error("no container mounts under the lab dirs")
			}
			return pid
		}
	}
	t.Fatalf("container %s not running on %s:\n%s", id, node, out)
	return 0
}

func checkKillHost(t *testing.T, l *Lab, ctrPID int) {
	n1, _ := l.Node("n1")
	n2, _ := l.Node("n2")
	before := nodeStatus(t, l, "n2").ContainerdPID
	// Kernel state the agent might leave; a power loss must drop it.
	for _, argv := range [][]string{
		{"ip", "-n", n2.Netns, "link", "add", "shoal-t0", "type", "veth", "peer", "name", "shoal-t1"},
		{"ip", "netns", "exec", n2.Netns, "nft", "add", "table", "inet", "shoaltest"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
	must(t, l.Kill("n2", true))
	links, _ := exec.Command("ip", "-n", n2.Netns, "-o", "link", "show").CombinedOutput()
	rules, _ := exec.Command("ip", "netns", "exec", n2.Netns, "nft", "list", "ruleset").CombinedOutput()
	if got := extraLinks(string(links)); len(got) != 0 || strings.Contains(string(rules), "shoaltest") {
		t.Errorf("after kill --host n2 still has links %v / rules:\n%s", got, rules)
	}
	if _, err := os.Stat(n2.ContainerdRun); !os.IsNotExist(err) {
		t.Errorf("containerd state %s survived the power loss: %v", n2.ContainerdRun, err)
	}
	st := nodeStatus(t, l, "n2")
	if st.Containerd != StateKilled || !st.LinkDown || procAlive(before) {
		t.Errorf("after kill --host: %+v (containerd pid %d alive: %v)", st, before, procAlive(before))
	}
	if ctrPID != 0 && procAlive(ctrPID) {
		t.Errorf("container process %d survived the power loss", ctrPID)
	}
	if ping(t, n1.Netns, n2.Addr) {
		t.Error("n1 still reaches the powered-off n2")
	}
	must(t, l.Start("n2"))
	st = nodeStatus(t, l, "n2")
	if st.Containerd != StateRunning || st.LinkDown || st.ContainerdPID == before {
		t.Errorf("after start: %+v", st)
	}
	if !ping(t, n1.Netns, n2.Addr) {
		t.Error("n1 cannot reach n2 after start")
	}
	if out, err := exec.Command("ctr", "--address", n2.ContainerdSock, "version").CombinedOutput(); err != nil {
		t.Errorf("containerd on n2 after start: %v: %s", err, out)
	}
}

func checkDown(t *testing.T, l *Lab) {
	c := l.Config()
	pids := []int{}
	for _, s := range mustStatus(t, l) {
		pids = append(pids, s.ContainerdPID)
	}
	if len(mountsOf(t, c)) == 0 {
		t.Error("no container mounts before Down: the unmount step goes untested")
	}
	must(t, l.Down())
	ns, err := labNetns(c)
	if err != nil || len(ns) != 0 {
		t.Errorf("namespaces left: %v %v", ns, err)
	}
	for _, d := range []string{c.RunDir, c.DataDir} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", d, err)
		}
	}
	if m := mountsOf(t, c); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	for _, pid := range pids {
		if procAlive(pid) {
			t.Errorf("containerd %d left running", pid)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(runcRoot, "*", "labtest-web-*")); len(left) != 0 {
		t.Errorf("runc state left: %v", left)
	}
	for _, n := range l.Nodes() {
		sock := filepath.Join(shimSocketDir, shimSocketName(n.ContainerdSock, ContainerdNamespace, "labtest-web-"+n.Name))
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("shim socket of %s left: %s", n.Name, sock)
		}
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := LoadConfig(c); !errors.Is(err, ErrNoLab) {
		t.Errorf("Load after Down = %v, want ErrNoLab", err)
	}
}

func mustStatus(t *testing.T, l *Lab) []NodeStatus {
	t.Helper()
	st, err := l.Status()
	must(t, err)
	return st
}

// TestDownAfterCrash checks that Down cleans up with a garbled state file
// and a namespace whose name was deleted under a running containerd.
func TestDownAfterCrash(t *testing.T) {
	needRoot(t)
	l := newTestLab(t, "shoalcrash", Options{Nodes: 2, NoAgent: true})
	c := l.Config()
	st := mustStatus(t, l)
	n1 := l.Nodes()[0]
	must(t, os.WriteFile(c.statePath(), []byte("{not json"), 0o600))
	if out, err := exec.Command("ip", "netns", "delete", n1.Netns).CombinedOutput(); err != nil {
		t.Fatalf("delete %s: %v: %s", n1.Netns, err, out)
	}
	registry := l.snapshot().RegistryPID
	if _, err := LoadConfig(c); err == nil {
		t.Fatal("Load of a garbled state succeeded")
	}
	must(t, Teardown(c))
	if registry == 0 || procAlive(registry) {
		t.Errorf("registry (pid %d) survived Down", registry)
	}
	for _, s := range st {
		if procAlive(s.ContainerdPID) {
			t.Errorf("containerd of %s (pid %d) survived Down", s.Name, s.ContainerdPID)
		}
	}
	if ns, _ := labNetns(c); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	if _, err := os.Stat(c.RunDir); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", c.RunDir, err)
	}
}
