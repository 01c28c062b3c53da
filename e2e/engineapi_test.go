//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// TestEngineAPI drives a 3-node lab with the real docker CLI through each
// node's Engine API socket (DOCKER_HOST, set by the lab on every node),
// sending writes to followers too so that they are forwarded to the
// leader, and checks what docker prints against what shoal's own API
// reports.
func TestEngineAPI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH: " + err.Error())
	}
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	d := dockerLab{t: t, l: l}

	d.want(d.run("n1", "version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}"), "1.57 1.50")
	d.want(d.run("n2", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Name}}"), "active true 3 n2")
	ls := d.run("n3", "node", "ls")
	d.want(ls, "Leader", " n1 ", " n2 ", " n3 ")
	if strings.Count(ls, "Ready") != 3 || !strings.Contains(ls, "* ") {
		t.Fatalf("node ls:\n%s", ls)
	}
	engineAPIOverTLS(t, l)
	engineAPIServiceLife(d, img)
	out, err := dockerOn(l, "n1", "node", "demote", "n3") // all three are voters
	if err == nil || !strings.Contains(out, "automatically") {
		t.Fatalf("node demote: %v\n%s", err, out)
	}
	out, err = dockerOn(l, "n1", "run", "busybox")
	if err == nil || !strings.Contains(out, "use `docker service create`") {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	engineAPINetworks(d, img)
	d.want(d.run("n3", "service", "rm", "web"), "web")
	waitUntil(t, 30*time.Second, "web gone", func() (bool, string) {
		var svcs []api.Service
		apiGet(t, l, "n1", "/v1/services", &svcs)
		return len(svcs) == 0, ""
	})

	engineAPIEvents(d)

	t.Run("Debian's docker.io 20.10, API 1.41", func(t *testing.T) {
		legacyDockerClient(t, l, img)
	})
}

// dockerLab runs the docker CLI (bin, or docker from PATH) on the lab's
// nodes for a test.
type dockerLab struct {
	t   *testing.T
	l   *lab.Lab
	bin string
}

// run runs docker on node and fails the test if it fails.
func (d dockerLab) run(node string, args ...string) string {
	d.t.Helper()
	bin := d.bin
	if bin == "" {
		bin = "docker"
	}
	out, err := dockerBinOn(d.l, bin, node, args...)
	if err != nil {
		d.t.Fatalf("%s %s on %s: %v\n%s", bin, strings.Join(args, " "), node, err, out)
	}
	return out
}

// want fails the test unless out holds every one of subs.
func (d dockerLab) want(out string, subs ...string) {
	d.t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			d.t.Fatalf("output lacks %q:\n%s", s, out)
		}
	}
}

// engineAPIServiceLife creates the service web with a published port and
// the progress display, lists it, reads its tasks and logs, scales it,
// updates its image and rolls it back, sending each command to another
// node; web stays, with 5 tasks of web:v1.
func engineAPIServiceLife(d dockerLab, img map[string]string) {
	t, l := d.t, d.l
	// The CLI pins the image to the digest the registry gives
	// (/distribution), so it has no warning to print.
	created := d.run("n2", "service", "create", "--name", "web", "--replicas", "3", "--publish", "8080:80", img["web:v1"])
	d.want(created, "converged")
	if strings.Contains(created, "could not be accessed on a registry") {
		t.Fatalf("the CLI could not resolve the image's digest:\n%s", created)
	}
	webTasks := waitRunning(t, l, "web", 3, "", 60*time.Second)
	if !strings.HasPrefix(webTasks[0].Spec.Image, img["web:v1"]+"@sha256:") {
		t.Fatalf("task image %q is not pinned to a digest", webTasks[0].Spec.Image)
	}
	d.want(d.run("n3", "service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}} {{.Ports}}"), "web replicated 3/3 "+img["web:v1"]+" *:8080->80/tcp")
	for _, node := range l.Nodes() {
		out, stderr, err := l.Exec(context.Background(), lab.HubName, "curl", "-sS", "-m", "3", "http://"+node.Addr+":8080/")
		if err != nil || !strings.Contains(out, `"version":"v1"`) || !slices.ContainsFunc(webTasks, func(tk api.Task) bool { return strings.Contains(out, tk.ID) }) {
			t.Fatalf("published port on %s: %q %v %s", node.Name, out, err, stderr)
		}
	}
	ps := d.run("n1", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}} {{.CurrentState}}", "web")
	if strings.Count(ps, "Running") != 3 || !strings.Contains(ps, "web.1 ") {
		t.Fatalf("service ps:\n%s", ps)
	}
	logs := d.run("n3", "service", "logs", "web")
	for _, tk := range running(serviceTasks(t, l, "n1", "web")) {
		d.want(logs, fmt.Sprintf("web.%d.%s@%s    | ", tk.Slot, tk.ID[:12], tk.NodeHostname), "listening on")
	}

	d.want(d.run("n3", "service", "scale", "--detach", "web=5"), "web scaled to 5")
	waitRunning(t, l, "web", 5, "", 60*time.Second)
	d.want(d.run("n1", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"), "web 5/5")

	d.want(d.run("n2", "service", "update", "--image", img["web:v2"], "web"), "converged")
	waitImage(t, l, "web", 5, img["web:v2"])
	d.want(d.run("n3", "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.UpdateStatus.State}}", "web"), img["web:v2"])
	// A rollback with the progress display: the update status moves on at
	// once, so the CLI waits for the rollback rather than reading the
	// update's "completed".
	d.want(d.run("n1", "service", "rollback", "web"), "rollback")
	waitImage(t, l, "web", 5, img["web:v1"])

	// An image the registry does not have: the update pauses, and the
	// CLI's progress display prints why and exits non-zero, as with Swarm.
	out, err := dockerOn(l, "n2", "service", "update", "--update-parallelism", "1", "--image", l.RegistryAddr()+"/web:v9", "web")
	if err == nil || !strings.Contains(out, "update paused") || !strings.Contains(out, "task ") {
		t.Fatalf("update to a missing image: %v\n%s", err, out)
	}
	d.want(d.run("n3", "service", "inspect", "--format", "{{.UpdateStatus.State}}", "web"), "paused")
	d.run("n1", "service", "rollback", "--detach", "web")
	waitImage(t, l, "web", 5, img["web:v1"])
}

// engineAPINetworks creates an overlay network and a service on it (the
// CLI names it by ID, shoal stores its name), checks the network is
// refused removal while in use, and removes both.
func engineAPINetworks(d dockerLab, img map[string]string) {
	t, l := d.t, d.l
	d.run("n2", "network", "create", "--driver", "overlay", "back")
	d.want(d.run("n1", "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"), "back overlay swarm", "shoal overlay swarm")
	d.run("n3", "service", "create", "--detach", "--name", "api", "--network", "back", img["web:v1"])
	var apiSvc api.Service
	apiGet(t, l, "n1", "/v1/services/api", &apiSvc)
	if nets := apiSvc.Spec.Task.Networks; len(nets) != 1 || nets[0] != "back" || apiSvc.VIPs["back"] == "" {
		t.Fatalf("api service networks %v, VIPs %v", nets, apiSvc.VIPs)
	}
	d.want(d.run("n2", "service", "inspect", "--format", "{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}", "api"), apiSvc.VIPs["back"]+"/")
	if out, err := dockerOn(l, "n1", "network", "rm", "back"); err == nil || !strings.Contains(out, "in use by service") {
		t.Fatalf("network rm while in use: %v\n%s", err, out)
	}
	d.run("n1", "service", "rm", "api")
	d.run("n1", "network", "rm", "back")
}

// legacyDockerClient drives the lab with Debian's docker.io 20.10 client
// (API 1.41), which the test fetches with apt-get download and unpacks
// with dpkg -x into a cache directory on first use.
func legacyDockerClient(t *testing.T, l *lab.Lab, img map[string]string) {
	const cache = "/var/cache/shoal-e2e/docker.io"
	bin := filepath.Join(cache, "usr", "bin", "docker")
	if _, err := os.Stat(bin); err != nil {
		dl := t.TempDir()
		get := exec.Command("apt-get", "download", "docker.io")
		get.Dir = dl
		if out, err := get.CombinedOutput(); err != nil {
			t.Skipf("cannot fetch Debian's docker.io (apt-get download docker.io): %v\n%s", err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dl, "docker.io_*.deb"))
		if len(debs) != 1 {
			t.Fatalf("apt-get download docker.io left %v", debs)
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("dpkg", "-x", debs[0], cache).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -x %s: %v\n%s", debs[0], err, out)
		}
	}
	d := dockerLab{t: t, l: l, bin: bin}
	if out := d.run("n1", "version", "--format", "{{.Client.Version}} {{.Client.APIVersion}} {{.Server.APIVersion}}"); !strings.Contains(out, "20.10") || !strings.Contains(out, " 1.41 1.57") {
		t.Fatalf("docker version: %s", out)
	}
	if out := d.run("n2", "node", "ls"); strings.Count(out, "Ready") != 3 || !strings.Contains(out, "Leader") {
		t.Fatalf("node ls:\n%s", out)
	}
	d.run("n3", "service", "create", "--detach", "--name", "old", "--replicas", "2", img["web:v1"])
	waitRunning(t, l, "old", 2, "", 60*time.Second)
	if out := d.run("n1", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"); !strings.Contains(out, "old 2/2") {
		t.Fatalf("service ls:\n%s", out)
	}
	if out := d.run("n2", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.CurrentState}}", "old"); strings.Count(out, "Running") != 2 {
		t.Fatalf("service ps:\n%s", out)
	}
	d.run("n1", "service", "update", "--detach", "--image", img["web:v2"], "old")
	waitImage(t, l, "old", 2, img["web:v2"])
	d.run("n2", "service", "rm", "old")
}

// waitImage waits until svc runs exactly n tasks, all of image (pinned to
// a digest or not).
func waitImage(t *testing.T, l *lab.Lab, svc string, n int, image string) {
	t.Helper()
	waitUntil(t, 120*time.Second, fmt.Sprintf("%s: %d running tasks of %s", svc, n, image), func() (bool, string) {
		rs := running(serviceTasks(t, l, "n1", svc))
		ok := len(rs) == n
		for _, r := range rs {
			ok = ok && (r.Spec.Image == image || strings.HasPrefix(r.Spec.Image, image+"@"))
		}
		return ok, perNode(rs)
	})
}

// dockerOn runs the docker CLI on node, whose environment points
// DOCKER_HOST at that node's Engine API socket.
func dockerOn(l *lab.Lab, node string, args ...string) (string, error) {
	return dockerBinOn(l, "docker", node, args...)
}

// dockerBinOn is dockerOn with the docker binary bin.
func dockerBinOn(l *lab.Lab, bin, node string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{bin}, args...)
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		return "", err
	}
	cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+os.TempDir()+"/shoal-e2e-docker-config")
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// engineAPIOverTLS reaches n2 from the hub (outside every node) with a
// client certificate that `agentctl cert create` issued on n1: the docker
// CLI over mutual TLS on docker's port 2376 and agentctl on the API port
// are let in; the agents' own endpoints are not; a client without a
// certificate is refused, naming what it needs.
func engineAPIOverTLS(t *testing.T, l *lab.Lab) {
	t.Helper()
	n2, err := l.Node("n2")
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(t.TempDir(), "laptop")
	out := agentctl(t, l, "n1", "cert", "create", "--out", certs, "--name", "ci@laptop", "--expiry", "24h")
	if !strings.Contains(out, `Client certificate "ci@laptop" issued`) {
		t.Fatalf("agentctl cert create: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(certs, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v %v, want mode 0600", fi, err)
	}
	if _, err := l.Agentctl(context.Background(), "n1", "cert", "create", "--out", certs); err == nil {
		t.Fatal("cert create over an existing certificate without --force succeeded")
	}
	ctx := context.Background()
	tlsEnv := []string{"env", "DOCKER_HOST=tcp://" + n2.Addr + ":2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certs, "DOCKER_CONFIG=" + certs}
	out, stderr, err := l.Exec(ctx, lab.HubName, append(tlsEnv, "docker", "info", "--format", "{{.Name}} {{.Swarm.LocalNodeState}}")...)
	if err != nil || !strings.Contains(out, "n2 active") {
		t.Fatalf("docker info over mutual TLS on 2376: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = l.Exec(ctx, lab.HubName, append(tlsEnv, "docker", "node", "ls", "--format", "{{.Hostname}}")...)
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("docker node ls over mutual TLS on 2376: %v\n%s%s", err, out, stderr)
	}
	ctl := filepath.Join(l.Bin(), "agentctl")
	out, stderr, err = l.Exec(ctx, lab.HubName, ctl, "--host", "tcp://"+n2.Addr+":7948", "--tlscacert", certs+"/ca.pem",
		"--tlscert", certs+"/cert.pem", "--tlskey", certs+"/key.pem", "node", "ls", "-q")
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("agentctl over TCP with the client certificate: %v\n%s%s", err, out, stderr)
	}
	// An agent's own endpoint: a client certificate is not a node.
	curl := []string{"curl", "-sS", "--cacert", certs + "/ca.pem", "--cert", certs + "/cert.pem", "--key", certs + "/key.pem"}
	out, stderr, err = l.Exec(ctx, lab.HubName, append(curl, "-X", "POST", "-d", "[]", "https://"+n2.Addr+":7948/v1/internal/task-status")...)
	if err != nil || !strings.Contains(out, "for the cluster's agents only") {
		t.Fatalf("a client certificate on /v1/internal/task-status: %v\n%s%s", err, out, stderr)
	}
	// The docker CLI will not send TLS without a certificate: curl does.
	out, stderr, err = l.Exec(ctx, lab.HubName, "curl", "-sS", "--cacert", filepath.Join(certs, "ca.pem"), "https://"+n2.Addr+":7948/v1.50/nodes")
	if err != nil || !strings.Contains(out, "needs a client certificate of the cluster") {
		t.Fatalf("the Engine API over TCP without a certificate: %v\n%s%s", err, out, stderr)
	}
	if out, _, err = l.Exec(ctx, lab.HubName, "curl", "-sS", "--cacert", filepath.Join(certs, "ca.pem"), "https://"+n2.Addr+":2376/v1.50/nodes"); err == nil {
		t.Fatalf("port 2376 answered a client without a certificate: %s", out)
	}
}

// engineAPIEvents reads the cluster's events with `docker events`: the past
// ones (web's life, up to now) and a live one (a node labelled while the
// stream is open).
func engineAPIEvents(d dockerLab) {
	d.t.Helper()
	// n2 sees the removal when its replica applies it: soon, not at once.
	waitUntil(d.t, 10*time.Second, "web's life in docker events on n2", func() (bool, string) {
		past := d.run("n2", "events", "--since", "15m", "--until", "0s", "--filter", "scope=swarm", "--filter", "type=service",
			"--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
		return strings.Contains(past, "service create web\n") && strings.Contains(past, "service update web\n") &&
			strings.HasSuffix(past, "service remove web\n"), past
	})
	// agentctl's view of the same log, from another node.
	waitUntil(d.t, 10*time.Second, "web's life in agentctl events on n3", func() (bool, string) {
		out, err := d.l.Agentctl(context.Background(), "n3", "events", "--since", "15m", "--until", "0s", "-f", "type=service",
			"--format", "{{.Type}} {{.Action}} {{.Name}}")
		return err == nil && strings.Contains(out, "service create web\n") && strings.HasSuffix(out, "service remove web\n"), out
	})
	until := strconv.FormatInt(time.Now().Add(8*time.Second).Unix(), 10)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := dockerOn(d.l, "n3", "events", "--until", until, "--filter", "type=node",
			"--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"availability.new\"}}")
		done <- result{out, err}
	}()
	time.Sleep(2 * time.Second) // the stream is open
	d.run("n1", "node", "update", "--availability", "pause", "n2")
	d.run("n1", "node", "update", "--availability", "active", "n2")
	r := <-done
	if r.err != nil || !strings.Contains(r.out, "node update n2 pause") || !strings.Contains(r.out, "node update n2 active") {
		d.t.Fatalf("docker events (live): %v\n%s", r.err, r.out)
	}
}
