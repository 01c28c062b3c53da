package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
)

// fakeRuntime is an in-memory Runtime for unit tests of the worker's
// logic. Its containers exit when told (exit) or when stopped, and it
// records every call as text ("create t1", "stop t1 SIGTERM 10s"), except
// Exec, whose calls it keeps apart (execsOf) and answers as setProbe says.
// Operations wait on gates ("pull:IMAGE", "start:ID", "stop:ID") that a
// test installs to hold them. The real runtime is exercised by the tests
// in real_test.go.
type fakeRuntime struct {
	mu          sync.Mutex
	ctrs        map[string]*fakeCtr
	pullErr     map[string]error
	imageHealth map[string]*types.HealthConfig // the image's HEALTHCHECK, by ref
	createErr   map[string]error
	probes      map[string]string // Exec answers per container: "ok" (default), "fail", "hang"
	execs       map[string][]fakeExec
	hanging     map[string]int // Exec calls hanging now
	gates       map[string]chan struct{}
	exitOnStart map[string]int // the container exits with this code as soon as it starts
	stopCode    int
	listErr     error
	onRemove    func(id string)
	calls       []string
	statusWaits map[string]int // Status calls held at a "status:ID" gate
	subs        []*fakeSub
	nextPid     uint32
}

type fakeCtr struct {
	spec    runtime.Spec
	labels  map[string]string
	running bool
	exited  bool
	code    int
	pid     uint32
}

// fakeExec is one Exec call and its outcome.
type fakeExec struct {
	cmd       []string
	timeout   time.Duration
	ok        bool
	cancelled bool // ctx ended while it hung
}

type fakeSub struct {
	ctx context.Context
	ch  chan runtime.Exit
}

var _ Runtime = (*fakeRuntime)(nil)

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ctrs: map[string]*fakeCtr{}, pullErr: map[string]error{}, gates: map[string]chan struct{}{},
		imageHealth: map[string]*types.HealthConfig{}, createErr: map[string]error{}, probes: map[string]string{},
		execs: map[string][]fakeExec{}, hanging: map[string]int{}, exitOnStart: map[string]int{}, statusWaits: map[string]int{}, stopCode: 143, nextPid: 100}
}

// gate installs a gate on key; the operation waits until it is opened.
func (f *fakeRuntime) gate(key string) (open func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.gates[key] = ch
	f.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (f *fakeRuntime) wait(ctx context.Context, key string) error {
	f.mu.Lock()
	ch := f.gates[key]
	f.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeRuntime) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// callsOf returns the recorded calls naming word (a task ID or an image).
func (f *fakeRuntime) callsOf(word string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if slices.Contains(strings.Fields(c), word) {
			out = append(out, c)
		}
	}
	return out
}

// add puts a container in place, as an earlier agent would have left it.
func (f *fakeRuntime) add(id string, labels map[string]string, running bool, exitCode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextPid++
	f.ctrs[id] = &fakeCtr{spec: runtime.Spec{ID: id, Image: "web:v1"}, labels: labels, running: running,
		exited: !running, code: exitCode, pid: f.nextPid}
}

// exit makes container id's process exit with code and publishes the exit.
func (f *fakeRuntime) exit(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(id, code, true)
}

// exitSilently makes container id exit without publishing an event, as
// when it happens while nobody is subscribed.
func (f *fakeRuntime) exitSilently(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(id, code, false)
}

func (f *fakeRuntime) exitLocked(id string, code int, publish bool) {
	c := f.ctrs[id]
	if c == nil || !c.running {
		return
	}
	c.running, c.exited, c.code = false, true, code
	if !publish {
		return
	}
	live := f.subs[:0]
	for _, s := range f.subs {
		if s.ctx.Err() != nil {
			close(s.ch)
			continue
		}
		select {
		case s.ch <- runtime.Exit{ID: id, Code: code, At: time.Now()}:
		default:
			panic("fakeRuntime: exit subscriber does not read")
		}
		live = append(live, s)
	}
	f.subs = live
}

// breakExits ends every exit subscription, as a containerd restart does.
func (f *fakeRuntime) breakExits() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		close(s.ch)
	}
	f.subs = nil
}

func (f *fakeRuntime) setListErr(err error) {
	f.mu.Lock()
	f.listErr = err
	f.mu.Unlock()
}

func (f *fakeRuntime) container(id string) (fakeCtr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok {
		return fakeCtr{}, false
	}
	return *c, true
}

func (f *fakeRuntime) EnsureImage(ctx context.Context, ref string, creds *runtime.Credential) (runtime.ImageInfo, error) {
	if creds != nil {
		f.record("pull %s as %s", ref, creds.User)
	} else {
		f.record("pull %s", ref)
	}
	if err := f.wait(ctx, "pull:"+ref); err != nil {
		return runtime.ImageInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.pullErr[ref]; err != nil {
		return runtime.ImageInfo{}, err
	}
	return runtime.ImageInfo{Ref: ref, Healthcheck: f.imageHealth[ref]}, nil
}

func (f *fakeRuntime) Create(ctx context.Context, s runtime.Spec) error {
	f.record("create %s", s.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.createErr[s.ID]; err != nil {
		return err
	}
	if _, ok := f.ctrs[s.ID]; ok {
		return nil
	}
	f.ctrs[s.ID] = &fakeCtr{spec: s, labels: maps.Clone(s.Labels)}
	return nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.record("start %s", id)
	if err := f.wait(ctx, "start:"+id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ctrs[id]
	if c == nil {
		return fmt.Errorf("start container %s: %w", id, runtime.ErrNotFound)
	}
	if c.running {
		return nil
	}
	f.nextPid++
	c.running, c.exited, c.pid = true, false, f.nextPid
	if code, ok := f.exitOnStart[id]; ok {
		f.exitLocked(id, code, true) // before Start returns, as a crashing process may
	}
	return nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id, signal string, grace time.Duration) error {
	f.record("stop %s %s %s", id, signal, grace)
	if err := f.wait(ctx, "stop:"+id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(id, f.stopCode, true)
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.record("remove %s", id)
	f.mu.Lock()
	hook := f.onRemove
	delete(f.ctrs, id)
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return nil
}

// Status answers with the state at the time of the call, even when a
// "status:ID" gate holds the answer back (so that it can be stale).
func (f *fakeRuntime) Status(ctx context.Context, id string) (runtime.Status, error) {
	f.mu.Lock()
	var st runtime.Status
	if c := f.ctrs[id]; c != nil {
		st = c.status()
	}
	_, gated := f.gates["status:"+id]
	if gated {
		f.statusWaits[id]++
	}
	f.mu.Unlock()
	if err := f.wait(ctx, "status:"+id); err != nil {
		return runtime.Status{}, err
	}
	return st, nil
}

func (f *fakeRuntime) statusWaiting(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusWaits[id]
}

func (c *fakeCtr) status() runtime.Status {
	s := runtime.Status{Exists: true, Running: c.running}
	if c.running {
		s.Pid = c.pid
	}
	if c.exited {
		s.ExitCode, s.ExitedAt = c.code, time.Unix(1, 0)
	}
	return s
}

func (f *fakeRuntime) List(ctx context.Context) ([]runtime.Container, error) {
	f.record("list")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []runtime.Container
	for _, id := range slices.Sorted(maps.Keys(f.ctrs)) {
		c := f.ctrs[id]
		out = append(out, runtime.Container{ID: id, Image: c.spec.Image, Labels: maps.Clone(c.labels), Status: c.status()})
	}
	return out, nil
}

func (f *fakeRuntime) Exits(ctx context.Context) (<-chan runtime.Exit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSub{ctx: ctx, ch: make(chan runtime.Exit, 256)}
	f.subs = append(f.subs, s)
	return s.ch, nil
}

// setProbe sets how Exec answers in container id: "ok", "fail" (exit 1)
// or "hang" (until the timeout, then an error matching
// runtime.ErrExecTimeout, as the real runtime does).
func (f *fakeRuntime) setProbe(id, mode string) {
	f.mu.Lock()
	f.probes[id] = mode
	f.mu.Unlock()
}

// execsOf returns the Exec calls made in container id.
func (f *fakeRuntime) execsOf(id string) []fakeExec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.execs[id])
}

// hangingExecs counts the Exec calls hanging in container id now.
func (f *fakeRuntime) hangingExecs(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hanging[id]
}

// failedExecs counts the Exec calls in container id that failed.
func (f *fakeRuntime) failedExecs(id string) int {
	n := 0
	for _, e := range f.execsOf(id) {
		if !e.ok {
			n++
		}
	}
	return n
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, string, error) {
	f.mu.Lock()
	mode, c := f.probes[id], f.ctrs[id]
	running := c != nil && c.running
	f.mu.Unlock()
	code, out, err := 0, "ok", error(nil)
	switch {
	case !running:
		code, out, err = -1, "", fmt.Errorf("exec in %s: container is not running", id)
	case mode == "fail":
		code, out = 1, "check failed"
	case mode == "hang":
		f.mu.Lock()
		f.hanging[id]++
		f.mu.Unlock()
		timer := time.NewTimer(timeout)
		select {
		case <-timer.C:
			code, out, err = -1, "", fmt.Errorf("exec %q in %s: after %s: %w", cmd[0], id, timeout, runtime.ErrExecTimeout)
		case <-ctx.Done():
			code, out, err = -1, "", ctx.Err()
		}
		timer.Stop()
		f.mu.Lock()
		f.hanging[id]--
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.execs[id] = append(f.execs[id], fakeExec{cmd: slices.Clone(cmd), timeout: timeout, ok: err == nil && code == 0,
		cancelled: ctx.Err() != nil})
	f.mu.Unlock()
	return code, out, err
}
