package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// Runtime is the part of *runtime.Runtime the worker uses, so that a fake
// can stand in for unit tests. Implementations must be safe for concurrent
// use; the worker never runs two operations on one container at a time.
type Runtime interface {
	EnsureImage(ctx context.Context, ref string, creds *runtime.Credential) (runtime.ImageInfo, error)
	Create(ctx context.Context, s runtime.Spec) error
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, signal string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	Status(ctx context.Context, id string) (runtime.Status, error)
	List(ctx context.Context) ([]runtime.Container, error)
	Exits(ctx context.Context) (<-chan runtime.Exit, error)
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, string, error)
}

var _ Runtime = (*runtime.Runtime)(nil)

// Labels the worker puts on every task container. A container without
// LabelTaskID is not the worker's and is left alone.
const (
	LabelTaskID      = "shoal.task.id"
	LabelServiceID   = "shoal.service.id"
	LabelServiceName = "shoal.service.name"
	LabelSlot        = "shoal.slot"
	// LabelHealthcheck holds the container's effective healthcheck (the
	// task's over the image's, defaults applied) as JSON, so that a
	// worker adopting the container resumes probing it. Absent: none.
	LabelHealthcheck = "shoal.healthcheck"
)

// Environment variables the worker adds to every task's environment.
const (
	EnvTaskID  = "SHOAL_TASK_ID"
	EnvService = "SHOAL_SERVICE"
)

// TaskNetwork is the network Config.Network set up for one task.
type TaskNetwork struct {
	// NetNSPath is the network namespace (a netns file) the container
	// joins; "" for the network namespace of containerd's shims.
	NetNSPath string
	// ResolvConf and Hosts are host files bind-mounted read-only as the
	// container's /etc/resolv.conf and /etc/hosts; "" for the runtime's
	// defaults (see runtime.Spec).
	ResolvConf string
	Hosts      string
	// Addresses are the task's addresses, network name -> address; they
	// reach the leader in an Update.
	Addresses map[string]string
}

// Config configures a Worker.
type Config struct {
	// NodeID is this node's ID: only tasks assigned to it are run.
	NodeID string
	// Store is the local replica; the worker only reads it.
	Store *store.Store
	// Runtime runs the containers.
	Runtime Runtime
	// Report sends updates to the leader. It is called from one goroutine
	// at a time. It may fail (no leader): the worker retries with backoff
	// and keeps the newest status of each task until a call that carried
	// it succeeds or the task is gone from the store.
	Report func(ctx context.Context, ups []types.TaskUpdate) error
	// StopDrain is the wait between a task leaving (desired shutdown,
	// reassigned, deleted) and its stop signal, for load balancers to take
	// it out first. Default 0.
	StopDrain time.Duration
	// PullAuth, if set, returns the registry account task t's image is
	// pulled with (nil: none; the service was not created with
	// --with-registry-auth). An error rejects the task with its text.
	PullAuth func(ctx context.Context, t *types.Task) (*runtime.Credential, error)
	// Network, if set, sets up the network of a task about to be created
	// (called from the task's start operation, never from two goroutines
	// for one task, before Create) and returns it. An error rejects the
	// task with the error's text. It may be called again for a task it
	// has already served (a start retried after an agent restart) and
	// must then return the same network. nil runs every task in the
	// network namespace of containerd's shims (the agent's own).
	Network func(ctx context.Context, t *types.Task) (TaskNetwork, error)
	// Files, if set, puts the task's secrets and configs where the
	// runtime can mount them (called in the start operation after Network,
	// before Create) and returns them as read-only bind mounts to add to
	// the container. An error rejects the task with the error's text;
	// Release cleans up what Files left as well as the network.
	Files func(ctx context.Context, t *types.Task) ([]types.Mount, error)
	// Release, if set, frees what Network set up for task taskID (netns,
	// veth, address). The worker calls it once the task's container is
	// removed and the task will not be started again: after the removal,
	// right after a failed Network or Create, for a task whose container
	// it removed without having created it (adoption), and for every ID
	// Leftovers names. It must be idempotent and cheap when nothing is
	// held, and return when ctx ends. It runs in a goroutine of its own,
	// at most one per task; a failure is logged and retried with backoff
	// (up to 30 s) without holding up other tasks.
	Release func(ctx context.Context, taskID string) error
	// Leftovers, if set, is called once when Run begins and names the
	// tasks that may still hold a network though they may have no
	// container (an agent that died between Network and Create). Those
	// not to be started again are released (see Release).
	Leftovers func() []string
	// Logger is nil for slog.Default().
	Logger *slog.Logger
}

// Worker runs the tasks the store assigns to this node and reports what it
// observes. See the package doc for the life cycle it implements.
type Worker struct {
	cfg Config
	log *slog.Logger

	// Timings, fixed by New; tests of this package shorten some.
	reportWindow time.Duration
	resyncMin    time.Duration // backoff while containerd cannot be listed
	resyncMax    time.Duration
	opRetry      time.Duration // re-plan after a failed stop or remove; first Release retry
}

// New returns a Worker for cfg; Run starts it.
func New(cfg Config) *Worker {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{
		cfg: cfg, log: log.With("component", "worker"),
		reportWindow: DefaultReportWindow,
		resyncMin:    100 * time.Millisecond, resyncMax: 5 * time.Second,
		opRetry: time.Second,
	}
}

// Run adopts the containers the runtime already has, then runs, stops and
// removes task containers as the store asks, reporting their status,
// until ctx ends. It returns nil once ctx has ended and every goroutine it
// started has returned; containers keep running (a later Run adopts
// them). It returns an error at once if the Config lacks a required field.
// Run must not be called again while it runs.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.validate(); err != nil {
		return err
	}
	changes, unsubscribe := w.cfg.Store.Subscribe(store.TableTasks)
	defer unsubscribe()
	rep := newReporter(w.cfg.Report, w.taskExists, w.log)
	rep.window = w.reportWindow
	var wg sync.WaitGroup
	wg.Go(func() { rep.run(ctx) })
	newLoop(w, rep).run(ctx, changes)
	wg.Wait()
	return nil
}

func (w *Worker) validate() error {
	var errs []error
	if w.cfg.NodeID == "" {
		errs = append(errs, errors.New("worker: Config.NodeID is required"))
	}
	if w.cfg.Store == nil {
		errs = append(errs, errors.New("worker: Config.Store is required"))
	}
	if w.cfg.Runtime == nil {
		errs = append(errs, errors.New("worker: Config.Runtime is required"))
	}
	if w.cfg.Report == nil {
		errs = append(errs, errors.New("worker: Config.Report is required"))
	}
	return errors.Join(errs...)
}

// taskExists reports whether the store still holds task id.
func (w *Worker) taskExists(id string) bool { return w.cfg.Store.View().Task(id) != nil }
