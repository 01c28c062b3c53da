package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/logrec"
	"github.com/shoal-org/shoal/store"
)

// fakeRuntime holds task logs, images and volumes in memory.
type fakeRuntime struct {
	logs   map[string]string // task ID -> its whole log
	images map[string]ocispec.Descriptor
	err    error // what ImportArchive and Distribution fail with, when set

	mu      sync.Mutex
	vols    map[string][]string // volume name -> the containers that mount it
	removed []string            // volumes removed, in order
}

var _ Runtime = (*fakeRuntime)(nil)

// Logs hands the task's log over as the runtime does: a stdout record per
// line, each a second after the one before, filtered by o.
func (f *fakeRuntime) Logs(_ context.Context, id string, o runtime.LogOptions, emit func(logrec.Record) error) error {
	log, ok := f.logs[id]
	if !ok {
		return fmt.Errorf("logs of %s: no log file: the container never started on this node", id)
	}
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	if o.Tail > 0 && o.Tail < len(lines) {
		lines = lines[len(lines)-o.Tail:]
	}
	for i, l := range lines {
		rec := logrec.Record{Time: clock.Add(time.Duration(i) * time.Second), Stream: logrec.Stdout, Line: []byte(l)}
		if (o.Since.IsZero() || !rec.Time.Before(o.Since)) && !o.NoStdout {
			if err := emit(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fakeRuntime) ImportArchive(_ context.Context, r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil || f.err != nil {
		return nil, errors.Join(err, f.err)
	}
	return strings.Fields(string(b)), nil
}

func (f *fakeRuntime) Distribution(_ context.Context, ref string) (ocispec.Descriptor, []ocispec.Platform, error) {
	if f.err != nil {
		return ocispec.Descriptor{}, nil, f.err
	}
	d, ok := f.images[ref]
	if !ok {
		return ocispec.Descriptor{}, nil, fmt.Errorf("image %q: %w", ref, runtime.ErrImageNotFound)
	}
	return d, []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}, nil
}

// lines collects log lines as the /v1 API shows them, from several
// goroutines.
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) sink() func(api.LogLine) {
	return func(line api.LogLine) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got = append(l.got, fmt.Sprintf("%s@%s %s %s | %s", line.Task, line.NodeName, line.Stream, line.Time.Format("15:04:05"), line.Line))
	}
}

// sorted returns the lines sorted: tasks' lines interleave as they arrive.
func (l *lines) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.got))
}

// TestServiceLogs: the logs of a service's started tasks, each whole line
// prefixed with the task's name and node; a task whose node is gone, or
// whose log this node lacks, is a line of the stream saying so.
func TestServiceLogs(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.create(t, webSpec("web", "web", 3))
	svc := tc.Store.View().ServiceByName("web")
	tc.putTasks(t, svc, "t1", "t2", "t3", "t4")
	gone := tc.Store.View().Task("t3").Copy()
	gone.NodeID = "node-9" // a node removed from the cluster
	tc.mustApply(t, store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: gone})
	for _, id := range []string{"t1", "t2", "t3"} {
		if err := tc.ops.ReportTaskStatus(ctx, []types.TaskUpdate{{TaskID: id, Status: types.TaskStatus{State: types.TaskRunning}}}); err != nil {
			t.Fatal(err)
		}
	}
	// t4 is only assigned: it has no log to show.
	tc.rt = &fakeRuntime{logs: map[string]string{"t1": "one\ntwo\nthree\n", "t4": "never\n"}}
	var out lines
	if err := tc.ops.ServiceLogs(ctx, "web", api.LogOptions{Tail: 2}, out.sink); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"web.1.t1@n1 stdout 12:00:00 | two",
		"web.1.t1@n1 stdout 12:00:01 | three",
		"web.2.t2@n1 stderr " + time.Now().UTC().Format("15:04") + ":",
		"web.3.t3@node-9 stderr " + time.Now().UTC().Format("15:04") + ":",
	}
	got := out.sorted()
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], want[2]) || !strings.HasPrefix(got[3], want[3]) ||
		!strings.HasSuffix(got[2], "| shoal: logs of t2: no log file: the container never started on this node") ||
		!strings.HasSuffix(got[3], "| shoal: node node-9 is not in the cluster any more: its logs are gone with it") {
		t.Errorf("service logs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Another agent asking for this node's copy of a task gets its records.
	var local lines
	if err := tc.ops.TaskLogs(ctx, "t1", api.LogOptions{Local: true, Since: clock.Add(time.Second)}, local.sink); err != nil ||
		strings.Join(local.sorted(), ",") != "web.1.t1@n1 stdout 12:00:01 | two,web.1.t1@n1 stdout 12:00:02 | three" {
		t.Errorf("local log of t1 since 12:00:01: %q, %v", local.sorted(), err)
	}
	tc.rt = nil
	err := tc.ops.TaskLogs(ctx, "t1", api.LogOptions{Local: true}, func() func(api.LogLine) { return func(api.LogLine) {} })
	refused(t, "a local log without containerd", err, http.StatusServiceUnavailable, "this node's containerd is not connected")
	_, err = tc.ops.ImageLoad(ctx, strings.NewReader("web:v1"))
	refused(t, "an image load without containerd", err, http.StatusServiceUnavailable, "this node's containerd is not connected")
}

// TestImages: an archive loads on the answering node; a registry's answer
// becomes the Engine API's distribution record; a missing image is a 404,
// a failing registry a 502, a bad archive a 400.
func TestImages(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	rt := &fakeRuntime{images: map[string]ocispec.Descriptor{"web:v1": {MediaType: ocispec.MediaTypeImageIndex, Digest: "sha256:abc", Size: 42}}}
	tc.rt = rt
	loaded, err := tc.ops.ImageLoad(ctx, strings.NewReader("web:v1 web:v2"))
	if err != nil || strings.Join(loaded.Images, " ") != "web:v1 web:v2" || loaded.Node != selfName {
		t.Errorf("load: %+v, %v; want both images on n1", loaded, err)
	}
	d, err := tc.ops.ImageDistribution(ctx, "web:v1")
	if err != nil || d.Digest != "sha256:abc" || d.Size != 42 || d.MediaType != ocispec.MediaTypeImageIndex ||
		len(d.Platforms) != 1 || d.Platforms[0] != (types.Platform{OS: "linux", Architecture: "amd64"}) {
		t.Errorf("distribution of web:v1: %+v, %v", d, err)
	}
	_, err = tc.ops.ImageDistribution(ctx, "web:v9")
	refused(t, "web:v9", err, http.StatusNotFound, `image "web:v9"`)
	rt.err = errors.New("registry 10.0.0.1:5000: connection refused")
	_, err = tc.ops.ImageDistribution(ctx, "web:v1")
	refused(t, "a registry down", err, http.StatusBadGateway, "connection refused")
	_, err = tc.ops.ImageLoad(ctx, strings.NewReader("x"))
	refused(t, "a bad archive", err, http.StatusBadRequest, "load image archive: registry 10.0.0.1:5000: connection refused (expected an OCI archive")
}
