package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

const registryBin = "/usr/bin/docker-registry"

// startRegistry starts the registry in the hub namespace and waits until
// /v2/ answers. It returns the PID.
func startRegistry(ctx context.Context, c Config, timeout time.Duration) (int, error) {
	if err := os.MkdirAll(c.registryDir(), 0o755); err != nil {
		return 0, fmt.Errorf("registry: %w", err)
	}
	if err := os.WriteFile(c.registryConf(), []byte(testenv.RegistryConfig(c.registryDir(), RegistryAddr())), 0o644); err != nil {
		return 0, fmt.Errorf("registry: write config: %w", err)
	}
	pid, err := startDaemon(ctx, daemon{
		netns:   c.hubNetns(),
		argv:    []string{registryBin, "serve", c.registryConf()},
		log:     c.registryLog(),
		pidFile: c.registryConf() + ".pid",
	})
	if err != nil {
		return 0, fmt.Errorf("registry: %w", err)
	}
	return pid, waitRegistry(ctx, c, pid, timeout)
}

// waitRegistry waits until GET /v2/ answers 200 from the hub namespace.
func waitRegistry(ctx context.Context, c Config, pid int, timeout time.Duration) error {
	client := httpClientIn(c.hubNetns())
	url := "http://" + RegistryAddr() + "/v2/"
	var last error
	err := waitFor(ctx, timeout, func() (bool, error) {
		if !procAlive(pid) {
			return false, fmt.Errorf("registry exited; read %s:\n%s", c.registryLog(), tailFile(c.registryLog(), 10))
		}
		last = getOK(ctx, client, url)
		return last == nil, nil
	}, func() string { return fmt.Sprintf("registry not ready (%v); read %s", last, c.registryLog()) })
	if err != nil {
		return fmt.Errorf("wait for registry at %s: %w", RegistryAddr(), err)
	}
	return nil
}

// getOK GETs url and wants status 200.
func getOK(ctx context.Context, client *http.Client, url string) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// pushArgv is the skopeo command that copies an OCI archive into the lab
// registry as ref (NAME:TAG). Pure.
func pushArgv(policy, archive, ref string) []string {
	return pushArgvTo(policy, archive, RegistryAddr(), ref, "")
}

// pushArgvTo is pushArgv to registry (host:port), with creds
// (USER:PASSWORD, "" for none). Pure.
func pushArgvTo(policy, archive, registry, ref, creds string) []string {
	argv := []string{"skopeo", "--policy", policy, "copy", "--dest-tls-verify=false"}
	if creds != "" {
		argv = append(argv, "--dest-creds", creds)
	}
	return append(argv, "oci-archive:"+archive, "docker://"+registry+"/"+ref)
}

// checkRef accepts NAME:TAG with a lower-case repository name.
func checkRef(ref string) error {
	i := strings.LastIndexByte(ref, ':')
	if i <= 0 || i == len(ref)-1 || strings.Contains(ref[i:], "/") || ref != strings.ToLower(ref[:i])+ref[i:] {
		return fmt.Errorf("image reference %q: want NAME:TAG with a lower-case name, e.g. web:v1", ref)
	}
	return nil
}

// push copies archive into the lab registry from the hub namespace.
func push(ctx context.Context, c Config, archive, ref string) error {
	return pushTo(ctx, c, archive, RegistryAddr(), ref, "")
}

// pushTo is push to registry, with creds (see pushArgvTo).
func pushTo(ctx context.Context, c Config, archive, registry, ref, creds string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	abs, err := filepath.Abs(archive)
	if err != nil {
		return fmt.Errorf("push %s: %w", archive, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("push %s: %w", archive, err)
	}
	policy := filepath.Join(c.RunDir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`+"\n"), 0o644); err != nil {
		return fmt.Errorf("push %s: write skopeo policy: %w", archive, err)
	}
	if _, err := run(ctx, "", nsArgv(c.hubNetns(), pushArgvTo(policy, abs, registry, ref, creds)...)...); err != nil {
		return fmt.Errorf("push %s as %s/%s (is the registry up? `lab registry`): %w", archive, registry, ref, err)
	}
	return nil
}

// PrivateRegistryPort is the port of the lab's private registry, beside
// the open one, on the hub's address.
const PrivateRegistryPort = 5001

// PrivateRegistryAddr is the private registry's host:port.
func PrivateRegistryAddr() string { return HubAddr + ":" + strconv.Itoa(PrivateRegistryPort) }

// PrivateRegistryUser is the private registry's one account.
var PrivateRegistryUser = testenv.RegistryUser{Name: "deploy", Password: "lab-s3cret"}

// StartPrivateRegistry starts, in the hub, a registry that answers only
// requests carrying PrivateRegistryUser's name and password (htpasswd, as
// docker's registry is usually run), pushes the test images into it and
// returns their references (PRIVATE/web:v1, …). lab down stops it with
// the other daemons.
func (l *Lab) StartPrivateRegistry(ctx context.Context) ([]string, error) {
	c := l.cfg
	dir := filepath.Join(c.DataDir, "private-registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("private registry: %w", err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := testenv.WriteHtpasswd(htpasswd, PrivateRegistryUser); err != nil {
		return nil, fmt.Errorf("private registry: %w", err)
	}
	conf := filepath.Join(c.RunDir, "private-registry.yml")
	cfg := testenv.RegistryConfig(filepath.Join(dir, "data"), PrivateRegistryAddr()) + testenv.RegistryAuthConfig(htpasswd)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("private registry: %w", err)
	}
	logPath := filepath.Join(c.DataDir, "private-registry.log")
	pid, err := startDaemon(ctx, daemon{netns: c.hubNetns(), argv: []string{registryBin, "serve", conf}, log: logPath, pidFile: conf + ".pid"})
	if err != nil {
		return nil, fmt.Errorf("private registry: %w", err)
	}
	client := httpClientIn(c.hubNetns())
	url := "http://" + PrivateRegistryAddr() + "/v2/"
	var last error
	err = waitFor(ctx, 30*time.Second, func() (bool, error) {
		if !procAlive(pid) {
			return false, fmt.Errorf("private registry exited; read %s:\n%s", logPath, tailFile(logPath, 10))
		}
		// Up once it asks for the account.
		last = getOK(ctx, client, url)
		return last != nil && strings.Contains(last.Error(), "401"), nil
	}, func() string { return fmt.Sprintf("private registry not ready (%v); read %s", last, logPath) })
	if err != nil {
		return nil, err
	}
	imgs, err := testimages.Build(ctx, filepath.Join(c.DataDir, "images"))
	if err != nil {
		return nil, fmt.Errorf("lab: build test images: %w", err)
	}
	var refs []string
	for _, img := range imgs {
		if err := pushTo(ctx, c, img.Path, PrivateRegistryAddr(), img.Ref(), PrivateRegistryUser.Name+":"+PrivateRegistryUser.Password); err != nil {
			return nil, err
		}
		refs = append(refs, PrivateRegistryAddr()+"/"+img.Ref())
	}
	return refs, nil
}
