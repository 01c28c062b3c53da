//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// cliCase is one bad command line: it must exit non-zero with every want
// in its output.
type cliCase struct {
	node string
	argv []string
	want []string
}

// httpCase is one bad request: it must get a 4xx with every want in the
// JSON error's message.
type httpCase struct {
	method, path string
	body         []byte
	want         []string
}

// TestBadInput sends well over 100 bad inputs through agentctl, agent and
// the raw HTTP API (unix socket and mutual TLS) of a 3-node cluster: each
// is refused with a message naming the flag, field or value; the cluster
// state is byte for byte what it was; the leader never changed.
func TestBadInput(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	web := img["web:v1"]
	agentctl(t, l, "n1", "network", "create", "--subnet", "10.250.0.0/24", "back")
	agentctl(t, l, "n1", "service", "create", "--name", "web", "--replicas", "2", "--network", "back", "--label", "tier=front", web)
	agentctl(t, l, "n1", "node", "update", "--label-add", "env=test", "n3")
	waitRunning(t, l, "web", 2, "", 60*time.Second)

	n1, _ := l.Node("n1")
	c, err := api.NewClient(n1.AgentSock, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := quietState(t, c)
	var info api.Info
	if err := c.Do(context.Background(), http.MethodGet, "/v1/info", nil, &info); err != nil || info.LeaderID == "" {
		t.Fatalf("info: %v %+v", err, info)
	}
	watch := watchLeader(c)

	n := 0
	t.Run("cluster-killing inputs", func(t *testing.T) {
		n += runCLICases(t, l, killerCases(web))
		answersWithin(t, c, "replicas 100000000 and a subnet over the hosts' network")
	})
	t.Run("agentctl", func(t *testing.T) { n += runCLICases(t, l, ctlCases(t, l, web)) })
	t.Run("agent", func(t *testing.T) { n += runCLICases(t, l, agentCases(t, l)) })
	t.Run("join at the wrong port", func(t *testing.T) { n += joinWrongPort(t, l) })
	t.Run("http", func(t *testing.T) {
		n2, _ := l.Node("n2")
		n3, _ := l.Node("n3")
		for _, rc := range []rawClient{unixRaw(n2), tlsRaw(t, l, n3)} {
			n += runHTTPCases(t, rc, httpCases(web))
		}
	})
	t.Logf("%d bad inputs sent", n)
	if n < 100 {
		t.Errorf("only %d bad inputs, want at least 100", n)
	}
	watch.check(t, info.LeaderID)
	after := clusterState(t, c)
	if !bytes.Equal(before, after) {
		t.Errorf("the cluster state changed: %s", firstDiff(before, after))
	}
}

func runCLICases(t *testing.T, l *lab.Lab, cases []cliCase) int {
	t.Helper()
	for _, cc := range cases {
		out, err := runBounded(l, cc.node, 30*time.Second, cc.argv...)
		label := strings.Join(cc.argv, " ")
		if len(label) > 120 {
			label = label[:120] + "…"
		}
		if err != nil {
			t.Errorf("%s on %s: %v\n%s", label, cc.node, err, out)
			continue
		}
		t.Logf("%s → %.300s", label, out)
		for _, w := range cc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s on %s: output does not name %q:\n%s", label, cc.node, w, out)
			}
		}
	}
	return len(cases)
}

func runHTTPCases(t *testing.T, rc rawClient, cases []httpCase) int {
	t.Helper()
	for _, hc := range cases {
		code, msg, err := rc.do(hc.method, hc.path, hc.body)
		label := fmt.Sprintf("%s %s %.80q via %s", hc.method, hc.path, hc.body, rc.name)
		if err != nil || code < 400 || code > 499 {
			t.Errorf("%s: %d %q %v, want a 4xx", label, code, msg, err)
			continue
		}
		t.Logf("%s → %d %.300s", label, code, msg)
		for _, w := range hc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %d %q does not name %q", label, code, msg, w)
			}
		}
	}
	return len(cases)
}

// ctl is a cliCase running agentctl on n2 (a follower: writes are
// forwarded to the leader).
func ctl(want string, args ...string) cliCase {
	return cliCase{node: "n2", argv: append([]string{"agentctl"}, args...), want: []string{want}}
}

// killerCases are the two inputs that destroyed a lab before issue 12.
func killerCases(web string) []cliCase {
	return []cliCase{
		ctl("100000000", "service", "create", "--name", "big", "--replicas", "100000000", web),
		ctl("10.77.0.0/24", "network", "create", "--subnet", "10.77.0.0/24", "hostnet"),
	}
}

func ctlCases(t *testing.T, l *lab.Lab, web string) []cliCase {
	n1, _ := l.Node("n1")
	n3, _ := l.Node("n3")
	tlsFlags := []string{"--tlscacert", n3.DataDir + "/tls/ca.pem", "--tlscert", n3.DataDir + "/tls/node.pem", "--tlskey", n3.DataDir + "/tls/node-key.pem"}
	remote := func(want, host string, args ...string) cliCase {
		return ctl(want, append(append([]string{"--host", host}, tlsFlags...), args...)...)
	}
	return []cliCase{
		// content: limits and validation (the spec package)
		ctl("100000000", "service", "scale", "web=100000000"),
		ctl("127.0.0.0/24", "network", "create", "--subnet", "127.0.0.0/24", "lo"),
		ctl("10.250.0.0", "network", "create", "--subnet", "10.250.0.0/16", "overlaps"),
		ctl("224.0.0.0/24", "network", "create", "--subnet", "224.0.0.0/24", "mcast"),
		ctl("169.254.0.0/24", "network", "create", "--subnet", "169.254.0.0/24", "linklocal"),
		ctl("7948", "service", "create", "--name", "p1", "--publish", "7948:80", web),
		ctl("7946", "service", "create", "--name", "p2", "--publish", "7946:80", web),
		ctl("7947", "service", "create", "--name", "p3", "--publish", "7947:80", web),
		ctl("Web:V1", "service", "create", "--name", "i1", "Web:V1"),
		ctl("a:b:c", "service", "create", "--name", "i2", "a:b:c"),
		ctl("sha256:xyz", "service", "create", "--name", "i3", "web@sha256:xyz"),
		ctl("UPPER:x", "service", "update", "--image", "UPPER:x", "web"),
		ctl("a:b:c", "service", "update", "--image", "a:b:c", "web"),
		ctl("WEB", "service", "create", "--name", "WEB", web),
		ctl("tasks.web", "service", "create", "--name", "tasks.web", web),
		ctl("../x", "service", "create", "--name", "v1", "--mount", "type=volume,source=../x,target=/d", web),
		ctl("memory", "service", "create", "--name", "m1", "--limit-memory", "1", web),
		ctl("nothere", "node", "update", "--label-rm", "nothere", "n3"),
		ctl("nothere", "service", "update", "--label-rm", "nothere", "web"),
		// flags
		ctl("--replicas", "service", "create", "--name", "r", "--replicas", "-1", web),
		ctl("--replicas", "service", "create", "--name", "r", "--replicas", "many", web),
		ctl("--update-delay", "service", "update", "--update-delay", "forever", "web"),
		ctl("--mode", "service", "create", "--name", "m", "--mode", "sometimes", web),
		ctl("sleepy", "node", "update", "--availability", "sleepy", "n1"),
		ctl("web=abc", "service", "scale", "web=abc"),
		ctl("nosuch", "service", "update", "--image", web, "nosuch"),
		ctl(".Nope", "service", "ls", "--format", "{{.Nope}}"),
		ctl(".Hostname", "node", "ls", "--format", "{{.Nope}}"),
		ctl("not a valid Go template", "service", "ls", "--format", "{{.Name"),
		ctl("--bogus", "service", "ls", "--bogus"),
		// addresses: the wrong port, a default port, raw Go errors
		remote("gossip port", "tcp://"+n1.Addr+":7946", "info"),
		remote("raft port", "tcp://"+n1.Addr+":7947", "info"),
		remote("port 5000", "tcp://"+lab.RegistryAddr(), "info"),
		remote("port 7948, the API's default", "tcp://"+lab.RegistryAddr()[:strings.LastIndex(lab.RegistryAddr(), ":")], "info"),
		ctl("containerd", "--host", "unix://"+n1.ContainerdSock, "info"),
		ctl("write tcp://"+n1.Addr+":7948", "--host", n1.Addr+":7948", "info"),
		ctl(`port "x"`, "--host", "tcp://"+n1.Addr+":x", "info"),
		ctl(`port "99999"`, "--host", "tcp://"+n1.Addr+":99999", "info"),
		ctl(`unknown scheme "ftp"`, "--host", "ftp://"+n1.Addr, "info"),
		ctl("--tlscacert", "--host", "tcp://"+n1.Addr, "info"),
		ctl("--tlscert is missing", "--host", "tcp://"+n1.Addr, "--tlscacert", "/nonexistent", "info"),
	}
}

// agentCases: `agent run` flags are refused before anything starts (the
// data dir named is never created), and `agent join` errors.
func agentCases(t *testing.T, l *lab.Lab) []cliCase {
	dir := "/tmp/fd-badinput-never-created"
	run := func(want string, flags ...string) cliCase {
		argv := append([]string{"agent", "--api-socket", dir + "/s.sock", "run", "--data-dir", dir}, flags...)
		return cliCase{node: "n3", argv: argv, want: []string{want}}
	}
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("a refused `agent run` created its data dir %s", dir)
		}
	})
	token := joinToken(t, l, "n1")
	join := func(want string, args ...string) cliCase {
		return cliCase{node: "n2", argv: append([]string{"agent", "join"}, args...), want: []string{want}}
	}
	digest := strings.Repeat("ab", 32)
	return []cliCase{
		run(`--bind "999.1.1.1"`, "--bind", "999.1.1.1"),
		run(`--bind "banana"`, "--bind", "banana"),
		run(`--advertise "banana"`, "--advertise", "banana"),
		run(`--advertise "0.0.0.0"`, "--advertise", "0.0.0.0"),
		run("--voter-grace", "--voter-grace=-1s"),
		run("--stop-drain", "--stop-drain=-5s"),
		run("--api-port 0", "--api-port", "0"),
		run("--raft-port 70000", "--raft-port", "70000"),
		run("--gossip-port", "--gossip-port=-3"),
		run("--raft-port 7946 is also --gossip-port", "--raft-port", "7946"),
		run("--voter-grace", "--voter-grace", "soon"),
		run("--dataplane", "--dataplane", "magic"),
		join("join token is empty", "--token", " ", n1Peer(l)),
		join("SHOALTKN-1", "--token", "SWMTKN-1-abc", n1Peer(l)),
		join("version", "--token", "SHOALTKN-9-x-y", n1Peer(l)),
		join("a-z (lower case) and 2-7", "--token", "SHOALTKN-1-"+digest+"-"+strings.Repeat("a", 22)+"0189", n1Peer(l)),
		join("must be 26 characters, got 5", "--token", "SHOALTKN-1-"+digest+"-abcde", n1Peer(l)),
		join("CA digest", "--token", "SHOALTKN-1-xyz-"+strings.Repeat("a", 26), n1Peer(l)),
		join("is not a number from 1 to 65535", "--token", token, n1Peer(l)+"9999"),
		join("--token", n1Peer(l)),
	}
}

// joinWrongPort starts a spare agent, outside the cluster, in n3's
// namespace and points `agent join` at n1's gossip and raft ports: each
// must say which port it reached and which is the API's, and the spare
// agent stays outside the cluster (the state check covers the nodes).
func joinWrongPort(t *testing.T, l *lab.Lab) int {
	dir := t.TempDir()
	sock := dir + "/agent.sock"
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := l.Command(ctx, "n3", "agent", "--api-socket", sock, "run", "--data-dir", dir+"/data", "--name", "spare",
		"--gossip-port", "17946", "--raft-port", "17947", "--api-port", "17948", "--task-network", "host")
	if err != nil {
		t.Fatal(err)
	}
	logFile := dir + "/agent.log"
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	waitUntil(t, 30*time.Second, "the spare agent's socket", func() (bool, string) {
		_, err := os.Stat(sock)
		b, _ := os.ReadFile(logFile)
		return err == nil, string(b)
	})
	token := joinToken(t, l, "n1")
	n1, _ := l.Node("n1")
	cases := []cliCase{
		{node: "n3", argv: []string{"agent", "--api-socket", sock, "join", "--token", token, n1.Addr + ":7946"},
			want: []string{"port 7946 is the agents' gossip port", "port 7948"}},
		{node: "n3", argv: []string{"agent", "--api-socket", sock, "join", "--token", token, n1.Addr + ":7947"},
			want: []string{"port 7947 is the agents' raft port", "port 7948"}},
		{node: "n3", argv: []string{"agent", "--api-socket", sock, "join", "--token", token, "tcp://" + n1.Addr + ":7946"},
			want: []string{"gossip port"}},
	}
	return runCLICases(t, l, cases)
}

func n1Peer(l *lab.Lab) string {
	n1, _ := l.Node("n1")
	return n1.Addr + ":7948"
}

// httpCases are raw requests: decoder errors for every JSON endpoint,
// wrong methods, a body over the limit, and content the spec refuses.
func httpCases(web string) []httpCase {
	var cases []httpCase
	endpoints := []struct{ path, field, good string }{
		{"/v1/services", "Spec.Mode.Replicas", `{"Spec":{"Name":"x","Mode":{"Replicas":1}}}`},
		{"/v1/services/web/update", "Spec.Mode.Replicas", `{"Spec":{"Name":"web","Mode":{"Replicas":1}},"Version":1}`},
		{"/v1/networks", "Name", `{"Name":"n"}`},
		{"/v1/nodes/n3/update", "Availability", `{"Availability":"active"}`},
		{"/v1/services/web/rollback", "ToRevision", `{"ToRevision":1}`},
	}
	for _, e := range endpoints {
		bad := badTypeBody(e.field)
		cases = append(cases,
			httpCase{"POST", e.path, []byte(e.good + ` garbage`), []string{"after the JSON value"}},
			httpCase{"POST", e.path, []byte(e.good + e.good), []string{"exactly one JSON object"}},
			httpCase{"POST", e.path, []byte(bad), []string{fmt.Sprintf("field %q", e.field)}},
			httpCase{"POST", e.path, []byte(`{"Bogus":1}`), []string{`unknown field "Bogus"`}},
			httpCase{"POST", e.path, []byte(`{"Spec":`), []string{"ends early"}},
			httpCase{"POST", e.path, []byte(`{,}`), []string{"not valid JSON at offset 2"}},
			httpCase{"POST", e.path, []byte(`[]`), []string{"expected an object, got array"}},
			httpCase{"POST", e.path, bytes.Repeat([]byte(" "), 9<<20), []string{"8 MiB"}},
			httpCase{"PUT", e.path, nil, []string{"method not allowed", "POST"}},
		)
	}
	env := strings.Repeat("x", 7<<20)
	cases = append(cases,
		httpCase{"GET", "/v1/services/web/rollback", nil, []string{"answers POST"}},
		httpCase{"PATCH", "/v1/nodes/n3", nil, []string{"GET, DELETE"}},
		httpCase{"POST", "/v1/tasks", nil, []string{"answers GET"}},
		httpCase{"GET", "/v1/nope", nil, []string{"/v1/nope"}},
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"x","Mode":{"Replicas":"3"}}}`), []string{`got string "3"`}},
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"x","Mode":{"Replicas":-3}}}`), []string{`got number -3`}},
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"x","TaskTemplate":{"Env":"A=1"}}}`), []string{`"Spec.TaskTemplate.Env"`}},
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"x","Mode":{"Replica":3}}}`), []string{`"Spec.Mode.Replica"`}},
		// content the spec package refuses
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"big","Mode":{"Replicas":100000000},"TaskTemplate":{"Image":"` + web + `"}}}`), []string{"100000000"}},
		httpCase{"POST", "/v1/services", []byte(`{"Spec":{"Name":"bigenv","Mode":{"Replicas":1},"TaskTemplate":{"Image":"` + web + `","Env":["A=` + env + `"]}}}`), []string{"env A"}},
		httpCase{"POST", "/v1/networks", []byte(`{"Name":"hostnet","Subnet":"10.77.0.0/16"}`), []string{"10.77.0.0/16"}},
		httpCase{"POST", "/v1/networks", []byte(`{"Name":"lo","Subnet":"127.0.0.0/8"}`), []string{"127.0.0.0/8"}},
	)
	return cases
}

// badTypeBody puts a string where a dotted field wants a number (or a
// number where it wants a string: Name, Availability).
func badTypeBody(field string) string {
	parts := strings.Split(field, ".")
	val := `"x"`
	if last := parts[len(parts)-1]; last == "Name" || last == "Availability" {
		val = `5`
	}
	s := val
	for i := len(parts) - 1; i >= 0; i-- {
		s = fmt.Sprintf(`{%q:%s}`, parts[i], s)
	}
	return s
}
