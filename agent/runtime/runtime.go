package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	clog "github.com/containerd/log"
	"golang.org/x/sync/singleflight"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrImageNotFound: the registry (or the local store, for a name that
	// names no registry reachable) has no such image or tag.
	ErrImageNotFound = errors.New("runtime: image not found")
	// ErrRegistryUnreachable: the registry could not be reached at all.
	ErrRegistryUnreachable = errors.New("runtime: registry unreachable")
	// ErrUnauthorized: the registry wants an account, and the pull had
	// none, or one it refused.
	ErrUnauthorized = errors.New("runtime: registry refused the credentials")
	// ErrNotFound: no container with that ID.
	ErrNotFound = errors.New("runtime: container not found")
	// ErrConflict: a container with that ID exists with a different image.
	ErrConflict = errors.New("runtime: container exists with another image")
	// ErrExecTimeout: an Exec'd command ran past its timeout and was killed.
	ErrExecTimeout = errors.New("runtime: exec timed out")
)

// DefaultNamespace is the containerd namespace shoal's containers live in.
const DefaultNamespace = "shoal"

// DefaultAddress is containerd's usual socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// Credential is a registry login for HTTP basic (or token) auth.
type Credential struct {
	User     string
	Password string
	// IdentityToken, when set, stands for User and Password (an OAuth2
	// refresh token, as `docker login` may store).
	IdentityToken string
}

// Config configures a Runtime.
type Config struct {
	// Address is containerd's socket (DefaultAddress if empty).
	Address string
	// Namespace is the containerd namespace (DefaultNamespace if empty).
	Namespace string
	// InsecureRegistries are host:port registries reached over plain HTTP.
	InsecureRegistries []string
	// Auth holds registry credentials by host:port.
	Auth map[string]Credential
	// StateDir holds logs/<id>.log, volumes/<name>, hosts/<id> and the
	// output of Exec'd commands (exec/).
	StateDir string
	// Snapshotter is the containerd snapshotter (containerd's default,
	// overlayfs, if empty).
	Snapshotter string
	// LogDriver is the absolute path of an executable that runs
	// RunLogDriver when IsLogDriver(os.Args[1:]) (the agent's own binary):
	// the shim starts it per task to write the task's output to its log.
	// If empty, the shim writes the log itself, and may drop the last
	// stderr output of a task that exits (see RunLogDriver).
	LogDriver string
	// Logger is nil for slog.Default().
	Logger *slog.Logger
}

// Runtime runs containers through containerd. It is safe for concurrent use.
type Runtime struct {
	client *containerd.Client
	cfg    Config
	log    *slog.Logger
	pulls  singleflight.Group
	clog   *clog.Entry // containerd's logrus logger, forwarding to log
	locks  idLocks     // per container: reaping, starting, removing its task
	// volumes is held for reading by a create, from its volumes'
	// directories to its container, and for writing by RemoveVolume.
	volumes sync.RWMutex

	mu     sync.Mutex
	closed bool
	done   chan struct{}  // closed by Close, ends Exits goroutines
	wg     sync.WaitGroup // Exits goroutines
}

// New connects to containerd at cfg.Address. The error names the socket and
// says whether containerd seems not to be running.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = containerd.DefaultSnapshotter
	}
	if cfg.StateDir == "" {
		return nil, errors.New("runtime: Config.StateDir is required")
	}
	if cfg.LogDriver != "" && !filepath.IsAbs(cfg.LogDriver) {
		return nil, fmt.Errorf("runtime: Config.LogDriver %q is not an absolute path", cfg.LogDriver)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if _, err := os.Stat(cfg.Address); err != nil {
		return nil, fmt.Errorf("containerd socket %s: %w (is containerd running? start it, or pass its socket)", cfg.Address, err)
	}
	for _, d := range []string{"logs", "volumes", "hosts", execDir} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("runtime state dir: %w", err)
		}
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w (is containerd running?)", cfg.Address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := client.Version(vctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd at %s does not answer: %w (is containerd running?)", cfg.Address, err)
	}
	sweepExecOutputs(filepath.Join(cfg.StateDir, execDir), log)
	log.Debug("connected to containerd", "address", cfg.Address, "version", v.Version, "namespace", cfg.Namespace)
	return &Runtime{client: client, cfg: cfg, log: log, clog: containerdLogger(log), done: make(chan struct{})}, nil
}

// Close ends the Exits subscriptions, waits for their goroutines and closes
// the connection to containerd. Containers keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	r.mu.Unlock()
	r.wg.Wait()
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("close containerd client: %w", err)
	}
	return nil
}

// nsCtx puts the runtime's namespace and containerd logger on ctx.
func (r *Runtime) nsCtx(ctx context.Context) context.Context {
	return clog.WithLogger(namespaces.WithNamespace(ctx, r.cfg.Namespace), r.clog)
}

// LogPath is where the log of container id is written.
func (r *Runtime) LogPath(id string) string {
	return filepath.Join(r.cfg.StateDir, "logs", id+".log")
}

// logIO is how container id's task writes its log: through the log driver
// if there is one, else by the shim.
func (r *Runtime) logIO(id string) cio.Creator { return r.outputIO(r.LogPath(id)) }

// outputIO writes a process's stdout and stderr to path: through the log
// driver if there is one, else by the shim (which may drop the end of
// stderr, see RunLogDriver).
func (r *Runtime) outputIO(path string) cio.Creator {
	if r.cfg.LogDriver == "" {
		return cio.LogFile(path)
	}
	return cio.BinaryIO(r.cfg.LogDriver, map[string]string{logDriverKey: path})
}

func (r *Runtime) hostsPath(id string) string {
	return filepath.Join(r.cfg.StateDir, "hosts", id)
}

// VolumePath is the host directory behind named volume name.
func (r *Runtime) VolumePath(name string) string {
	return filepath.Join(r.cfg.StateDir, "volumes", name)
}
