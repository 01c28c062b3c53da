package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-org/shoal/internal/testimages"
)

// RegistryDaemon is a running docker-registry serving plain HTTP.
type RegistryDaemon struct {
	// Host is host:port, as image references and InsecureRegistries name it.
	Host string
	cmd  *exec.Cmd
	done chan struct{}
	user *RegistryUser // nil: no authentication
}

// RegistryUser is an account of a registry that asks for one.
type RegistryUser struct{ Name, Password string }

// StartRegistry runs Debian's docker-registry on addr (host:port; port 0
// picks a free one) with its storage under dir, and waits until it answers.
func StartRegistry(ctx context.Context, dir, addr string) (*RegistryDaemon, error) {
	return StartRegistryAuth(ctx, dir, addr, nil)
}

// StartRegistryAuth is StartRegistry for a registry that, when user is
// set, answers only requests that carry user's name and password (HTTP
// basic authentication against an htpasswd file, as docker's registry
// does it).
func StartRegistryAuth(ctx context.Context, dir, addr string, user *RegistryUser) (*RegistryDaemon, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (apt-get install docker-registry): %w", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", addr, err)
	}
	if port == "0" {
		if port, err = freePort(host); err != nil {
			return nil, err
		}
	}
	r := &RegistryDaemon{Host: net.JoinHostPort(host, port), done: make(chan struct{}), user: user}
	cfg := RegistryConfig(filepath.Join(dir, "data"), r.Host)
	if user != nil {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := WriteHtpasswd(htpasswd, *user); err != nil {
			return nil, err
		}
		cfg += RegistryAuthConfig(htpasswd)
	}
	cfgPath := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write registry config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, fmt.Errorf("registry log: %w", err)
	}
	defer logf.Close()
	r.cmd = exec.Command(bin, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	if err := r.waitReady(ctx); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// freePort asks the kernel for a free TCP port on host. Another process may
// take it before the registry binds it; the registry then fails to start
// and says so.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

func (r *RegistryDaemon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
		if r.user != nil {
			req.SetBasicAuth(r.user.Name, r.user.Password)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.done:
			return errors.New("docker-registry exited at start (see registry.log)")
		case <-ctx.Done():
			return fmt.Errorf("docker-registry on %s did not answer: %w", r.Host, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop ends the registry and waits for it.
func (r *RegistryDaemon) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

// RegistryConfig renders docker-registry's config: plain HTTP on addr
// (host:port) only, storage under dataDir with deletes allowed, no access
// log. The lab's registry uses it too. Pure.
func RegistryConfig(dataDir, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  # One registry behind no load balancer: a fixed secret is fine and keeps
  # its log free of the "no HTTP secret" warning.
  secret: shoal-lab
`, dataDir, addr)
}

// Registry runs a docker-registry of the test's own on a free loopback
// port and stops it in tb.Cleanup; it skips tb if docker-registry is not
// installed. Push puts test images in it.
func Registry(tb testing.TB) *RegistryDaemon {
	tb.Helper()
	return RegistryWithUser(tb, nil)
}

// RegistryWithUser is Registry asking for user's account (nil: none).
func RegistryWithUser(tb testing.TB, user *RegistryUser) *RegistryDaemon {
	tb.Helper()
	RequireCommands(tb, "docker-registry", "docker-registry")
	r, err := StartRegistryAuth(context.Background(), tb.TempDir(), "127.0.0.1:0", user)
	if err != nil {
		tb.Fatalf("start registry: %v", err)
	}
	tb.Cleanup(r.Stop)
	return r
}

// RegistryAuthConfig is the part of docker-registry's config that asks
// every request for an account of the htpasswd file at path. Pure.
func RegistryAuthConfig(path string) string {
	return fmt.Sprintf(`auth:
  htpasswd:
    realm: shoal-lab
    path: %s
`, path)
}

// WriteHtpasswd writes an htpasswd file holding user, its password
// hashed with bcrypt (the only hash docker-registry reads).
func WriteHtpasswd(path string, user RegistryUser) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(user.Password), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "%s:%s\n", user.Name, hash), 0o600); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	return nil
}

// Push copies the test image ref ("web:v1", see Image) into r and returns
// the reference it is pulled by (HOST:PORT/web:v1). It needs skopeo.
func (r *RegistryDaemon) Push(tb testing.TB, ref string) string {
	tb.Helper()
	var creds string
	if r.user != nil {
		creds = r.user.Name + ":" + r.user.Password
	}
	full, err := testimages.PushAuth(context.Background(), Image(tb, ref), r.Host, creds)
	if err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	return full
}
