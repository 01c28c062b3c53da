package lab

// The agent half of the lab, kept apart from the plumbing: it drives the
// agent and agentctl binaries only through their command lines, as an
// operator would (agent run/init/join-token/join, agentctl info/node ls).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// agentArgv is the `agent run` command line of node n. Pure.
func agentArgv(bin string, n Node) []string {
	return []string{filepath.Join(bin, "agent"), "run",
		"--name", n.Name,
		"--data-dir", n.DataDir,
		"--advertise", n.Addr,
		"--bind", n.Addr,
		"--api-socket", n.AgentSock,
		"--docker-socket", n.DockerSock,
		"--docker-tcp", n.Addr + ":2376",
		"--containerd", n.ContainerdSock,
		"--insecure-registry", RegistryAddr(),
		"--insecure-registry", PrivateRegistryAddr(),
		// The lab has no way out: names outside the cluster get SERVFAIL.
		"--dns-upstream", "none",
	}
}

// nodeEnv is the environment for commands run on node n (nil for the
// hub): base with the agent and containerd addresses set and bin first on
// PATH. Pure.
func nodeEnv(base []string, bin string, n *Node) []string {
	set := map[string]string{}
	if n != nil {
		set = map[string]string{
			"SHOAL_HOST":           "unix://" + n.AgentSock,
			"SHOAL_API_SOCKET":     n.AgentSock,
			"DOCKER_HOST":          "unix://" + n.DockerSock,
			"CONTAINERD_ADDRESS":   n.ContainerdSock,
			"CONTAINERD_NAMESPACE": ContainerdNamespace,
		}
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	out := make([]string, 0, len(base)+len(set)+1)
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			path = v
			continue
		}
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	if bin != "" {
		path = bin + ":" + path
	}
	out = append(out, "PATH="+path)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}

// startAgent starts `agent run` for n in its namespace, detached, and
// returns the PID. It does not wait for readiness.
func startAgent(ctx context.Context, bin string, n Node) (int, error) {
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return 0, fmt.Errorf("agent on %s: %w", n.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(n.AgentSock), 0o711); err != nil {
		return 0, fmt.Errorf("agent on %s: %w", n.Name, err)
	}
	pid, err := startDaemon(ctx, daemon{
		netns:   n.Netns,
		argv:    agentArgv(bin, n),
		env:     nodeEnv(os.Environ(), bin, &n),
		log:     n.AgentLog,
		pidFile: filepath.Join(filepath.Dir(n.AgentSock), "agent.pid"),
	})
	if err != nil {
		return 0, fmt.Errorf("agent on %s: %w", n.Name, err)
	}
	return pid, nil
}

// agentctl runs BIN/agentctl against n's API socket inside n's namespace.
func agentctl(ctx context.Context, bin string, n Node, args ...string) (string, error) {
	argv := append([]string{filepath.Join(bin, "agentctl"), "--host", "unix://" + n.AgentSock}, args...)
	out, err := run(ctx, "", nsArgv(n.Netns, argv...)...)
	if err != nil {
		return out, fmt.Errorf("on %s: %w", n.Name, err)
	}
	return out, nil
}

// agentErr decorates an agent failure with where to look.
func agentErr(n Node, err error) error {
	tail := tailFile(n.AgentLog, 10)
	if tail != "" {
		tail = "\nlast lines of the log:\n" + tail
	}
	return fmt.Errorf("agent on %s: %w; read %s%s", n.Name, err, n.AgentLog, tail)
}

// waitAgent waits until `agentctl info` succeeds on n, failing early if the
// agent process died.
func waitAgent(ctx context.Context, bin string, n Node, pid int, timeout time.Duration) error {
	var last error
	err := waitFor(ctx, timeout, func() (bool, error) {
		if !procAlive(pid) {
			return false, errors.New("exited while starting")
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, last = agentctl(actx, bin, n, "info")
		return last == nil, nil
	}, func() string { return fmt.Sprintf("API not answering (%v)", last) })
	if err != nil {
		return agentErr(n, err)
	}
	return nil
}

// formCluster makes n1 a new cluster, joins every other node to it and
// waits until n1 lists them all Ready.
func formCluster(ctx context.Context, bin string, nodes []Node, timeout time.Duration) error {
	first := nodes[0]
	agent := filepath.Join(bin, "agent")
	if _, err := run(ctx, "", nsArgv(first.Netns, agent, "init", "--api-socket", first.AgentSock)...); err != nil {
		return agentErr(first, fmt.Errorf("init: %w", err))
	}
	out, err := run(ctx, "", nsArgv(first.Netns, agent, "join-token", "-q", "--api-socket", first.AgentSock)...)
	token := strings.TrimSpace(out)
	if err == nil && (token == "" || strings.ContainsAny(token, " \n")) {
		err = fmt.Errorf("join-token -q printed %q, want a single token", out)
	}
	if err != nil {
		return agentErr(first, fmt.Errorf("join-token: %w", err))
	}
	peer := fmt.Sprintf("%s:%d", first.Addr, GossipPort)
	for _, n := range nodes[1:] {
		if _, err := run(ctx, "", nsArgv(n.Netns, agent, "join", "--api-socket", n.AgentSock, "--token", token, peer)...); err != nil {
			return agentErr(n, fmt.Errorf("join %s: %w", peer, err))
		}
	}
	return waitClusterReady(ctx, bin, nodes, timeout)
}

// waitClusterReady waits until `agentctl node ls --format json` on the
// first node lists len(nodes) nodes, all Ready.
func waitClusterReady(ctx context.Context, bin string, nodes []Node, timeout time.Duration) error {
	var detail string
	err := waitFor(ctx, timeout, func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := agentctl(actx, bin, nodes[0], "node", "ls", "--format", "json")
		if err != nil {
			detail = err.Error()
			return false, nil
		}
		var ok bool
		ok, detail = clusterReady(out, len(nodes))
		return ok, nil
	}, func() string { return detail })
	if err != nil {
		return fmt.Errorf("wait for %d Ready nodes (`lab exec n1 -- agentctl node ls`; logs in %s): %w",
			len(nodes), filepath.Dir(filepath.Dir(nodes[0].AgentLog)), err)
	}
	return nil
}

// clusterReady parses `node ls --format json` output (one JSON object per
// line, or one array) and reports whether it lists want nodes, all with
// Status ready (any case). detail says what is missing. Pure.
func clusterReady(out string, want int) (ok bool, detail string) {
	var rows []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return false, fmt.Sprintf("cannot parse node ls output: %v", err)
		}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			var arr []map[string]any
			if err := json.Unmarshal(v, &arr); err != nil {
				return false, fmt.Sprintf("cannot parse node ls output: %v", err)
			}
			rows = append(rows, arr...)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			return false, fmt.Sprintf("cannot parse node ls output: %v", err)
		}
		rows = append(rows, m)
	}
	var notReady []string
	voters := 0
	for _, r := range rows {
		if st, _ := r["Status"].(string); !strings.EqualFold(st, "ready") {
			notReady = append(notReady, fmt.Sprintf("%v is %q", rowName(r), st))
		}
		if ms, _ := r["ManagerStatus"].(string); ms != "" {
			voters++
		}
	}
	// The leader keeps an odd number of voters, up to 5; the lab is ready
	// once it has promoted them, so the first `node ls` already shows them.
	wantVoters := min(want, 5)
	if wantVoters%2 == 0 {
		wantVoters--
	}
	if len(rows) == want && len(notReady) == 0 && voters == wantVoters {
		return true, ""
	}
	return false, fmt.Sprintf("%d of %d nodes listed, %d of %d voters; not ready: %s", len(rows), want, voters, wantVoters, strings.Join(notReady, ", "))
}

// rowName picks a readable name for a node ls row.
func rowName(r map[string]any) any {
	for _, k := range []string{"Name", "Hostname", "Addr", "ID"} {
		if v, ok := r[k]; ok && v != "" {
			return v
		}
	}
	return "?"
}
