package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
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

func (f *fakeRuntime) Logs(_ context.Context, id string, tail int, _ bool, w io.Writer) error {
	log, ok := f.logs[id]
	if !ok {
		return fmt.Errorf("logs of %s: no log file: the container never started on this node", id)
	}
	if lines := strings.SplitAfter(strings.TrimSuffix(log, "\n"), "\n"); tail > 0 && tail < len(lines) {
		log = strings.Join(lines[len(lines)-tail:], "")
	}
	// Two writes that cut a line, as a file read in blocks would.
	half := len(log) / 2
	if _, err := io.WriteString(w, log[:half]); err != nil {
		return err
	}
	_, err := io.WriteString(w, log[half:])
	return err
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

// lockedBuffer is the API's stream: one Write at a time.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// sortedLines returns the stream's lines sorted: tasks' lines interleave
// as they arrive.
func (b *lockedBuffer) sortedLines() []string {
	lines := strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
	sort.Strings(lines)
	return lines
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
	var out lockedBuffer
	if err := tc.ops.ServiceLogs(ctx, "web", api.LogOptions{Tail: 2}, func() io.Writer { return &out }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"web.1.t1@n1    | three",
		"web.1.t1@n1    | two",
		"web.2.t2@n1    | shoal: logs of t2: no log file: the container never started on this node",
		"web.3.t3@node-9    | shoal: node node-9 is not in the cluster any more: its logs are gone with it",
	}
	if got := out.sortedLines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("service logs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Another agent asking for this node's copy of a task gets it as it is.
	var local bytes.Buffer
	if err := tc.ops.TaskLogs(ctx, "t1", api.LogOptions{Local: true}, func() io.Writer { return &local }); err != nil || local.String() != "one\ntwo\nthree\n" {
		t.Errorf("local log of t1: %q, %v", local.String(), err)
	}
	tc.rt = nil
	err := tc.ops.TaskLogs(ctx, "t1", api.LogOptions{Local: true}, func() io.Writer { return io.Discard })
	refused(t, "a local log without containerd", err, http.StatusServiceUnavailable, "this node's containerd is not connected")
	_, err = tc.ops.ImageLoad(ctx, strings.NewReader("web:v1"))
	refused(t, "an image load without containerd", err, http.StatusServiceUnavailable, "this node's containerd is not connected")
}

// TestPrefixWriter: lines cut across writes come out whole, and a last
// line without its newline gets one on flush.
func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{out: &out, prefix: "p | "}
	for _, s := range []string{"a", "b\nc", "\n\nd"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if out.String() != "p | ab\np | c\np | \n" {
		t.Errorf("before flush: %q", out.String())
	}
	w.flush()
	if out.String() != "p | ab\np | c\np | \np | d\n" {
		t.Errorf("after flush: %q", out.String())
	}
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
