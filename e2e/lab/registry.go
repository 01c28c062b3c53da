package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
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
	return []string{"skopeo", "--policy", policy, "copy", "--dest-tls-verify=false",
		"oci-archive:" + archive, "docker://" + RegistryAddr() + "/" + ref}
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
	if _, err := run(ctx, "", nsArgv(c.hubNetns(), pushArgv(policy, abs, ref)...)...); err != nil {
		return fmt.Errorf("push %s as %s/%s (is the registry up? `lab registry`): %w", archive, RegistryAddr(), ref, err)
	}
	return nil
}
