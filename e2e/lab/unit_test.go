package lab

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/internal/testenv"
)

func testConfig(t *testing.T) Config {
	d := t.TempDir()
	return Config{RunDir: filepath.Join(d, "run"), DataDir: filepath.Join(d, "lib"), Prefix: "labunit"}.withDefaults()
}

func TestNodeNaming(t *testing.T) {
	c := Config{}.withDefaults()
	n := c.newNode(2)
	want := Node{Name: "n2", Index: 2, Addr: "10.77.0.2", Netns: "shoal-n2",
		AgentSock: "/run/shoal-lab/n2/agent.sock", DockerSock: "/run/shoal-lab/n2/docker.sock", ContainerdSock: "/run/shoal-lab/n2/containerd.sock",
		DataDir: "/var/lib/shoal-lab/n2/agent", AgentLog: "/var/lib/shoal-lab/n2/agent.log",
		ContainerdRoot: "/var/lib/shoal-lab/n2/containerd", ContainerdRun: "/run/shoal-lab/n2/containerd",
		ContainerdConf: "/run/shoal-lab/n2/containerd.toml", ContainerdLog: "/var/lib/shoal-lab/n2/containerd.log"}
	if n != want {
		t.Fatalf("newNode(2) = %+v\nwant %+v", n, want)
	}
	for _, tc := range []struct {
		name string
		k    int
		ok   bool
	}{{"n1", 1, true}, {"n253", 253, true}, {"n0", 0, false}, {"n01", 0, false}, {"n254", 0, false}, {"x1", 0, false}, {"n", 0, false}, {"hub", 0, false}} {
		if k, ok := nodeIndex(tc.name); k != tc.k || ok != tc.ok {
			t.Errorf("nodeIndex(%q) = %d, %v; want %d, %v", tc.name, k, ok, tc.k, tc.ok)
		}
	}
	for name, want := range map[string]bool{"shoal-hub": true, "shoal-n7": true, "shoal-n0": false, "shoalx-n1": false, "shoal-foo": false, "other": false} {
		if got := c.isLabNetns(name); got != want {
			t.Errorf("isLabNetns(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{}.withDefaults()
	if err := ok.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, bad := range []Config{
		{RunDir: "/", DataDir: "/var/lib/x", Prefix: "p"},
		{RunDir: "/run", DataDir: "/var/lib/x", Prefix: "p"},
		{RunDir: "run/x", DataDir: "/var/lib/x", Prefix: "p"},
		{RunDir: "/run/x/", DataDir: "/var/lib/x", Prefix: "p"},
		{RunDir: "/run/x", DataDir: "/run/x", Prefix: "p"},
		{RunDir: "/run/x", DataDir: "/var/lib/x", Prefix: "Bad-prefix"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("validate(%+v) = nil, want an error", bad)
		}
	}
	o := Options{Config: ok, Nodes: 2, Bin: t.TempDir()}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "agent") {
		t.Errorf("validate without agent binaries = %v, want an error naming agent", err)
	}
	o.NoAgent = true
	if err := o.validate(); err != nil {
		t.Errorf("validate with NoAgent: %v", err)
	}
	o.Nodes = 254
	if err := o.validate(); err == nil {
		t.Error("validate with 254 nodes = nil, want an error")
	}
}

func TestNetworkScripts(t *testing.T) {
	c := Config{}.withDefaults()
	hub := hubBatch(c, 2)
	for _, line := range []string{
		"link add lab0 type bridge",
		"addr add 10.77.0.254/24 dev lab0",
		"link add veth-n2 type veth peer name eth0 netns shoal-n2",
		"link set veth-n1 master lab0 up",
	} {
		if !strings.Contains(hub, line+"\n") {
			t.Errorf("hub batch lacks %q:\n%s", line, hub)
		}
	}
	node := nodeBatch(3)
	if !strings.Contains(node, "addr add 10.77.0.3/24 dev eth0\n") || strings.Contains(node, "route") {
		t.Errorf("node batch: want the address and no route:\n%s", node)
	}
}

func TestContainerdConfig(t *testing.T) {
	n := Config{}.withDefaults().newNode(1)
	got := testenv.ContainerdConfig(n.ContainerdRoot, n.ContainerdRun, n.ContainerdSock)
	for _, want := range []string{
		`root = "/var/lib/shoal-lab/n1/containerd"`,
		`state = "/run/shoal-lab/n1/containerd"`,
		`"io.containerd.grpc.v1.cri"`,
		"[grpc]\n  address = \"/run/shoal-lab/n1/containerd.sock\"",
		"[metrics]\n  address = \"\"",
		"[debug]\n  address = \"\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("containerd config lacks %q:\n%s", want, got)
		}
	}
}

func TestPartitionScript(t *testing.T) {
	all := []Node{{Name: "n1", Index: 1}, {Name: "n2", Index: 2}, {Name: "n3", Index: 3}}
	g, o, err := splitNodes(all, []string{"n3", "n1"})
	if err != nil || !reflect.DeepEqual(g, []int{1, 3}) || !reflect.DeepEqual(o, []int{2}) {
		t.Fatalf("splitNodes = %v, %v, %v", g, o, err)
	}
	got := partitionScript(g, o)
	want := `iifname { "veth-n1", "veth-n3" } oifname { "veth-n2" } drop`
	if !strings.Contains(got, want) || !strings.Contains(got, `iifname { "veth-n2" } oifname { "veth-n1", "veth-n3" } drop`) {
		t.Errorf("partition script lacks the two drop rules:\n%s", got)
	}
	if !strings.HasPrefix(got, "table bridge shoal_lab\ndelete table bridge shoal_lab\n") {
		t.Errorf("partition script does not replace the table:\n%s", got)
	}
	if strings.Contains(partitionScript([]int{1, 2, 3}, nil), "drop") {
		t.Error("partitioning every node should drop nothing")
	}
	if _, _, err := splitNodes(all, []string{"n4", "n1"}); !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), "n4") {
		t.Errorf("splitNodes with n4 = %v, want ErrUnknownNode naming n4", err)
	}
	if _, _, err := splitNodes(all, nil); err == nil {
		t.Error("splitNodes with no names = nil, want an error")
	}
}

func TestClusterReady(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      bool
		detail    string
	}{
		{"lines ready", `{"Hostname":"n1","Status":"ready","ManagerStatus":"Leader"}` + "\n" + `{"Hostname":"n2","Status":"Ready"}` + "\n", true, ""},
		{"array", `[{"Hostname":"n1","Status":"ready","ManagerStatus":"Leader"},{"Hostname":"n2","Status":"ready"}]`, true, ""},
		{"no voter yet", `{"Hostname":"n1","Status":"ready"}` + "\n" + `{"Hostname":"n2","Status":"ready"}`, false, "0 of 1 voters"},
		{"one down", `{"Hostname":"n1","Status":"ready"}` + "\n" + `{"Hostname":"n2","Status":"down"}`, false, `n2 is "down"`},
		{"missing", `{"Name":"n1","Status":"ready"}`, false, "1 of 2"},
		{"garbage", `no json`, false, "cannot parse"},
		{"empty", ``, false, "0 of 2"},
	} {
		ok, detail := clusterReady(tc.out, 2)
		if ok != tc.want || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: clusterReady = %v, %q; want %v, containing %q", tc.name, ok, detail, tc.want, tc.detail)
		}
	}
}

func TestNodeEnvAndArgv(t *testing.T) {
	n := Config{}.withDefaults().newNode(2)
	env := nodeEnv([]string{"HOME=/root", "PATH=/usr/bin", "SHOAL_HOST=tcp://elsewhere"}, "/opt/shoal/bin", &n)
	sort.Strings(env)
	want := []string{
		"CONTAINERD_ADDRESS=/run/shoal-lab/n2/containerd.sock", "CONTAINERD_NAMESPACE=shoal", "DOCKER_HOST=unix:///run/shoal-lab/n2/docker.sock", "HOME=/root",
		"PATH=/opt/shoal/bin:/usr/bin", "SHOAL_API_SOCKET=/run/shoal-lab/n2/agent.sock", "SHOAL_HOST=unix:///run/shoal-lab/n2/agent.sock",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("nodeEnv = %q\nwant %q", env, want)
	}
	argv := strings.Join(agentArgv("/b", n), " ")
	wantArgv := "/b/agent run --name n2 --data-dir /var/lib/shoal-lab/n2/agent --advertise 10.77.0.2 --bind 10.77.0.2 " +
		"--api-socket /run/shoal-lab/n2/agent.sock --docker-socket /run/shoal-lab/n2/docker.sock --docker-tcp 10.77.0.2:2376 --containerd /run/shoal-lab/n2/containerd.sock --insecure-registry 10.77.0.254:5000 --insecure-registry 10.77.0.254:5001 --dns-upstream none"
	if argv != wantArgv {
		t.Errorf("agentArgv = %s\nwant %s", argv, wantArgv)
	}
}

func TestMountsUnder(t *testing.T) {
	info := strings.Join([]string{
		`22 1 0:21 / /run rw - tmpfs tmpfs rw`,
		`90 22 0:50 / /run/shoal-lab/n1/containerd/io.containerd.runtime.v2.task/shoal/web/rootfs rw - overlay overlay rw`,
		`91 22 0:51 / /run/shoal-lab-other/x rw - tmpfs tmpfs rw`,
		`92 22 0:52 / /var/lib/shoal-lab/n1/with\040space rw - tmpfs tmpfs rw`,
		`93 90 0:53 / /run/shoal-lab/n1/containerd/io.containerd.runtime.v2.task/shoal/web/rootfs/dev/shm rw - tmpfs shm rw`,
	}, "\n")
	got := mountsUnder(info, "/run/shoal-lab")
	want := []string{
		"/run/shoal-lab/n1/containerd/io.containerd.runtime.v2.task/shoal/web/rootfs/dev/shm",
		"/run/shoal-lab/n1/containerd/io.containerd.runtime.v2.task/shoal/web/rootfs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mountsUnder = %q\nwant %q", got, want)
	}
	if got := mountsUnder(info, "/var/lib/shoal-lab"); !reflect.DeepEqual(got, []string{"/var/lib/shoal-lab/n1/with space"}) {
		t.Errorf("mountsUnder with escape = %q", got)
	}
}

func TestWithDescendants(t *testing.T) {
	parents := map[int]int{10: 1, 11: 10, 12: 11, 20: 1, 21: 20, 30: 12}
	got := withDescendants(parents, map[int]bool{10: true}, map[int]bool{30: true})
	sort.Ints(got)
	if !reflect.DeepEqual(got, []int{10, 11, 12}) {
		t.Errorf("withDescendants = %v, want [10 11 12]", got)
	}
}

func TestCheckRef(t *testing.T) {
	for ref, ok := range map[string]bool{"web:v1": true, "lab/web:v2": true, "web": false, "web:": false, ":v1": false, "Web:v1": false, "host:5000/web": false} {
		if err := checkRef(ref); (err == nil) != ok {
			t.Errorf("checkRef(%q) = %v, want ok=%v", ref, err, ok)
		}
	}
	argv := strings.Join(pushArgv("/p.json", "/a.tar", "web:v1"), " ")
	if argv != "skopeo --policy /p.json copy --dest-tls-verify=false oci-archive:/a.tar docker://10.77.0.254:5000/web:v1" {
		t.Errorf("pushArgv = %s", argv)
	}
}

func TestStateFile(t *testing.T) {
	c := testConfig(t)
	if _, err := readState(c); !errors.Is(err, ErrNoLab) {
		t.Fatalf("readState without a lab = %v, want ErrNoLab", err)
	}
	if err := writeMarker(c.RunDir); err != nil {
		t.Fatal(err)
	}
	s := &state{Version: stateVersion, Prefix: c.Prefix, Nodes: []Node{c.newNode(1)}}
	if err := writeState(c, s); err != nil {
		t.Fatal(err)
	}
	got, err := updateState(c, func(s *state) error {
		n, err := s.node("n1")
		if err != nil {
			return err
		}
		n.AgentPID = 42
		return nil
	})
	if err != nil || got.Nodes[0].AgentPID != 42 {
		t.Fatalf("updateState = %+v, %v", got, err)
	}
	again, err := readState(c)
	if err != nil || again.Nodes[0].AgentPID != 42 {
		t.Fatalf("readState after update = %+v, %v", again, err)
	}
	if _, err := updateState(c, func(s *state) error { _, err := s.node("n9"); return err }); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node error = %v, want ErrUnknownNode", err)
	}
	if err := os.WriteFile(c.statePath(), []byte("{garbled"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(c); err == nil || !strings.Contains(err.Error(), "lab down") {
		t.Errorf("LoadConfig of a garbled state = %v, want an error pointing to lab down", err)
	}
}

func TestRemoveLabDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "notlab")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeLabDir(dir); err == nil {
		t.Fatal("removeLabDir without marker = nil, want a refusal")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("dir without marker was touched: %v", err)
	}
	if err := writeMarker(dir); err != nil {
		t.Fatal(err)
	}
	if err := removeLabDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("lab dir still there: %v", err)
	}
	if err := removeLabDir(dir); err != nil {
		t.Fatalf("removeLabDir of a missing dir: %v", err)
	}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	err := writeStatusTable(&b, []NodeStatus{
		{Name: "n1", Address: "10.77.0.1", AgentPID: 123, Agent: StateRunning, Containerd: StateRunning},
		{Name: "n2", Address: "10.77.0.2", Agent: StateKilled, Containerd: StateKilled},
	})
	want := "NAME  ADDRESS    AGENT-PID  AGENT    CONTAINERD\n" +
		"n1    10.77.0.1  123        running  running\n" +
		"n2    10.77.0.2  -          killed   killed\n"
	if err != nil || b.String() != want {
		t.Errorf("status table = %q, %v\nwant %q", b.String(), err, want)
	}
}

func TestLiveState(t *testing.T) {
	// PID 1 is never in a lab namespace: its recorded state decides.
	for rec, want := range map[ProcState]ProcState{StateRunning: StateExited, StateKilled: StateKilled, StateStopped: StateStopped, StateNone: StateNone} {
		if got := liveState(rec, 1, 12345, "agent"); got != want {
			t.Errorf("liveState(%s) = %s, want %s", rec, got, want)
		}
	}
}

func TestCLIParse(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"--help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "partition") {
		t.Errorf("lab --help = %d, %q", code, out.String())
	}
	c := testConfig(t)
	errb.Reset()
	code := Main([]string{"--run-dir", c.RunDir, "--data-dir", c.DataDir, "status"}, nil, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "run `lab up` first") {
		t.Errorf("status without lab = %d, %q", code, errb.String())
	}
	if code := Main([]string{"status", "--format", "yaml"}, nil, &out, &errb); code != 2 {
		t.Errorf("bad --format = %d, want 2", code)
	}
}

func TestCleanRuncState(t *testing.T) {
	c := testConfig(t)
	root := t.TempDir()
	write := func(id, rootfs string) string {
		dir := filepath.Join(root, "shoal", id)
		must(t, os.MkdirAll(dir, 0o700))
		must(t, os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"init_process_pid":0,"config":{"rootfs":"`+rootfs+`"}}`), 0o600))
		return dir
	}
	ours := write("ours", filepath.Join(c.RunDir, "n1/containerd/io.containerd.runtime.v2.task/shoal/ours/rootfs"))
	theirs := write("theirs", "/run/containerd/io.containerd.runtime.v2.task/shoal/theirs/rootfs")
	alive := write("alive", filepath.Join(c.DataDir, "rootfs"))
	must(t, os.WriteFile(filepath.Join(alive, "state.json"), []byte(`{"init_process_pid":`+strconv.Itoa(os.Getpid())+`,"config":{"rootfs":"`+filepath.Join(c.DataDir, "rootfs")+`"}}`), 0o600))
	if err := cleanRuncState(root, c); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("cleanRuncState = %v, want an error about the running container", err)
	}
	for dir, want := range map[string]bool{ours: false, theirs: true, alive: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", dir, err == nil, want)
		}
	}
}

func TestCleanShimSockets(t *testing.T) {
	c := testConfig(t)
	bundle := filepath.Join(c.RunDir, "n1", "containerd", "io.containerd.runtime.v2.task", "shoal", "web")
	must(t, os.MkdirAll(bundle, 0o700))
	dir := t.TempDir()
	// The name containerd 1.6 gave the shim of `ctr run ... labx` on n1 of
	// the default lab (checked against a real shim).
	if got := shimSocketName("/run/shoal-lab/n1/containerd.sock", "shoal", "labx"); got != "4247b23860bfac455f0e236c33a115e030f9a1738c105b66e2053caf61c9d151" {
		t.Errorf("shimSocketName = %s", got)
	}
	ours := filepath.Join(dir, shimSocketName(filepath.Join(c.RunDir, "n1", "containerd.sock"), "shoal", "web"))
	theirs := filepath.Join(dir, shimSocketName("/run/containerd/containerd.sock", "shoal", "web"))
	for _, p := range []string{ours, theirs} {
		l, err := net.Listen("unix", p)
		must(t, err)
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	must(t, cleanShimSockets(dir, c))
	if _, err := os.Stat(ours); !os.IsNotExist(err) {
		t.Errorf("lab shim socket left: %v", err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("foreign shim socket touched: %v", err)
	}
}

func TestShimSocketFromArgs(t *testing.T) {
	got := shimSocketFromArgs([]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "shoal", "-id", "labx", "-address", "/run/shoal-lab/n1/containerd.sock"})
	if got != "/run/containerd/s/4247b23860bfac455f0e236c33a115e030f9a1738c105b66e2053caf61c9d151" {
		t.Errorf("shimSocketFromArgs = %q", got)
	}
	if got := shimSocketFromArgs([]string{"/usr/bin/containerd", "--config", "x"}); got != "" {
		t.Errorf("containerd is not a shim, got %q", got)
	}
}

func TestExtraLinks(t *testing.T) {
	out := "1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\n" +
		"2: eth0@if4: <BROADCAST,UP> mtu 1500\n" +
		"3: vxlan0: <BROADCAST> mtu 1450\n" +
		"4: veth12ab@if2: <BROADCAST> mtu 1500\n"
	if got := extraLinks(out); !reflect.DeepEqual(got, []string{"vxlan0", "veth12ab"}) {
		t.Errorf("extraLinks = %q", got)
	}
}

// TestPrefixGetsItsOwnDirs: a lab of another prefix defaults to
// directories of its own, so that its `lab down` cannot stop the default
// lab's processes (it kills what names its directories).
func TestPrefixGetsItsOwnDirs(t *testing.T) {
	def := Config{}.withDefaults()
	other := Config{Prefix: "zz"}.withDefaults()
	if def.RunDir != DefaultRunDir || def.DataDir != DefaultDataDir {
		t.Errorf("default lab: %s %s", def.RunDir, def.DataDir)
	}
	if other.RunDir != DefaultRunDir+"-zz" || other.DataDir != DefaultDataDir+"-zz" {
		t.Errorf("lab zz: %s %s, want dirs of its own", other.RunDir, other.DataDir)
	}
	if given := (Config{Prefix: "zz", RunDir: "/r", DataDir: "/d"}).withDefaults(); given.RunDir != "/r" || given.DataDir != "/d" {
		t.Errorf("given dirs replaced: %s %s", given.RunDir, given.DataDir)
	}
}
