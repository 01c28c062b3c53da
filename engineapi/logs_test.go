package engineapi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// TestServiceLogs: each line on its own stream with its task's details,
// timestamps first when asked, since as docker's seconds since the epoch.
func TestServiceLogs(t *testing.T) {
	b := newFake()
	createWeb(t, b)
	r := call(t, b, "GET", "/v1.50/services/web/logs?stdout=1&stderr=1&details=1&tail=20&since=1733346000.5", "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("logs: %d %v %s", r.code, r.header, r.body)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, strings.NewReader(r.body)); err != nil {
		t.Fatalf("not a multiplexed stream: %v", err)
	}
	var wantOut, wantErr []string
	for _, task := range b.tasks {
		d := fmt.Sprintf("com.docker.swarm.node.id=%s,com.docker.swarm.service.id=%s,com.docker.swarm.task.id=%s", task.NodeID, task.ServiceID, task.ID)
		wantOut = append(wantOut, d+" hello from "+task.ID)
		wantErr = append(wantErr, d+" tail=20 follow=false since=2024-12-04T21:00:00.5Z no-stdout=false")
	}
	for _, c := range []struct {
		name string
		got  bytes.Buffer
		want []string
	}{{"stdout", stdout, wantOut}, {"stderr", stderr, wantErr}} {
		lines := strings.Split(strings.TrimSuffix(c.got.String(), "\n"), "\n")
		sort.Strings(lines)
		sort.Strings(c.want)
		if strings.Join(lines, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s lines:\n%s\nwant:\n%s", c.name, strings.Join(lines, "\n"), strings.Join(c.want, "\n"))
		}
	}

	one := call(t, b, "GET", "/tasks/"+b.tasks[0].ID+"/logs?stderr=1&follow=1&timestamps=1", "")
	stdout.Reset()
	stderr.Reset()
	if _, err := stdcopy.StdCopy(&stdout, &stderr, strings.NewReader(one.body)); err != nil ||
		!strings.HasPrefix(stdout.String(), "2026-12-04T21:00:00.000000005Z com.docker.swarm.node.id=") ||
		!strings.HasPrefix(stderr.String(), "2026-12-04T21:00:01.000000005Z com.docker.swarm.node.id=") ||
		!strings.Contains(stderr.String(), "tail=-1 follow=true since=0001-01-01T00:00:00Z no-stdout=true") {
		t.Fatalf("task logs: %v\nstdout %q\nstderr %q", err, stdout.String(), stderr.String())
	}
	message(t, call(t, b, "GET", "/services/web/logs?stdout=1&since=yesterday", ""), 400)
	message(t, call(t, b, "GET", "/services/web/logs", ""), 400)
	message(t, call(t, b, "GET", "/services/web/logs?stdout=1&tail=x", ""), 400)
	message(t, call(t, b, "GET", "/services/nosuch/logs?stdout=1", ""), 404)
}
