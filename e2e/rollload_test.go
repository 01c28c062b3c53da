//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
)

// TestStartFirstUnderLoad repeats start-first updates of a 6-replica
// service while a client in n3 sends requests through the VIP, each on a
// connection of its own: no request may fail. It is TestZeroDowntime's
// start-first half made long enough to catch a rare loss: it runs only
// with SHOAL_ROLL_ROUNDS=N updates set (about 40 s each; SHOAL_ROLL_RATE
// requests a second, default 250). For every failed request it logs how
// far the request got and the conntrack events of its flow in n3, and
// keeps the agents' logs and n3's conntrack events under SHOAL_ROLL_KEEP
// if set (run the agents with SHOAL_LOG_LEVEL=debug to see their steps).
//
// It found issue 11's lost request: the load balancer's conntrack cut of
// a removed backend deleted a new connection that reused the client port
// of one of that backend's closed connections. lb/lbtest's ReusedPorts
// holds that case in seconds, in every make test.
func TestStartFirstUnderLoad(t *testing.T) {
	if os.Getenv("SHOAL_ROLL_ROUNDS") == "" {
		t.Skip("a long reproduction (about 40 s per update): set SHOAL_ROLL_ROUNDS=N to run it")
	}
	rounds, rate := envInt(t, "SHOAL_ROLL_ROUNDS", 2), envInt(t, "SHOAL_ROLL_RATE", 250)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "6",
		"--update-order", "start-first", img["web:v1"])
	waitRunning(t, l, "web", 6, "n1=2 n2=2 n3=2", 60*time.Second)
	vip := inspect(t, l, "web").VIPs["shoal"]
	ct := startFlowEvents(t, l, "n3", vip)
	ld := startLoad(t, l, "n3", "http://"+vip+"/", rate)
	start := time.Now()
	for i := range rounds {
		image := []string{"web:v2", "web:v3"}[i%2]
		began := time.Now()
		agentctl(t, l, "n1", "service", "update", "--image", img[image], "web")
		checkImages(t, l, "web", img[image], 6)
		t.Logf("round %d: start-first update to %s took %v", i+1, image, time.Since(began).Round(time.Second))
	}
	ok, failed, errs := ld.stop()
	ct.stop()
	t.Logf("%d start-first updates of 6 tasks in %v: %d requests ok, %d failed", rounds,
		time.Since(start).Round(time.Second), ok, failed)
	if failed == 0 {
		return
	}
	t.Errorf("%d of %d requests failed through the VIP during %d start-first updates", failed, ok+failed, rounds)
	for _, e := range errs {
		t.Logf("failed: %s", e)
		if port := localPort(e); port != "" {
			t.Logf("conntrack events of its flow in n3:\n%s", strings.Join(ct.flow(port), "\n"))
		}
	}
	logTaskTimeline(t, l, "web")
	keepArtifacts(t, l, ct.file)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

var localPortRe = regexp.MustCompile(`local [0-9.]+:([0-9]+)`)

// localPort is the local port of a failure's text (lab.Failure.String),
// or "" if it never connected.
func localPort(failure string) string {
	if m := localPortRe.FindStringSubmatch(failure); m != nil {
		return m[1]
	}
	return ""
}

// flowEvents records `conntrack -E` for TCP flows to a VIP in a node's
// namespace, with timestamps, in a file.
type flowEvents struct {
	cmd  *exec.Cmd
	file string
	once sync.Once
}

func startFlowEvents(t *testing.T, l *lab.Lab, node, vip string) *flowEvents {
	t.Helper()
	file := filepath.Join(t.TempDir(), "conntrack-"+node+".log")
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := l.Command(t.Context(), node, "conntrack", "-E", "-e", "NEW,DESTROY", "-p", "tcp", "-d", vip, "-o", "timestamp", "--buffer-size", "67108864")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("conntrack -E on %s: %v", node, err)
	}
	ct := &flowEvents{cmd: cmd, file: file}
	t.Cleanup(func() { ct.stop(); out.Close() })
	return ct
}

func (ct *flowEvents) stop() {
	ct.once.Do(func() {
		_ = ct.cmd.Process.Signal(os.Interrupt)
		_ = ct.cmd.Wait()
	})
}

// flow returns the recorded events whose original source port is port.
func (ct *flowEvents) flow(port string) []string {
	f, err := os.Open(ct.file)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), " sport="+port+" ") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// keepArtifacts copies the agents' logs and the files named to
// $SHOAL_ROLL_KEEP/<time>/, if set, before the lab goes.
func keepArtifacts(t *testing.T, l *lab.Lab, files ...string) {
	t.Helper()
	root := os.Getenv("SHOAL_ROLL_KEEP")
	if root == "" {
		return
	}
	dir := filepath.Join(root, time.Now().Format("150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("keep artifacts: %v", err)
		return
	}
	for _, n := range l.Nodes() {
		files = append(files, n.AgentLog)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Logf("keep %s: %v", f, err)
			continue
		}
		name := fmt.Sprintf("%d-%s", i, filepath.Base(f))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Errorf("keep artifacts: %v", err)
		}
	}
	t.Logf("artifacts kept in %s", dir)
}
