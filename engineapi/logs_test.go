package engineapi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

func TestServiceLogs(t *testing.T) {
	b := newFake()
	createWeb(t, b)
	r := call(t, b, "GET", "/v1.50/services/web/logs?stdout=1&stderr=1&details=1&tail=20", "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("logs: %d %v %s", r.code, r.header, r.body)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, strings.NewReader(r.body)); err != nil {
		t.Fatalf("not a multiplexed stream: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	sort.Strings(lines)
	var want []string
	for _, task := range b.tasks {
		d := fmt.Sprintf("com.docker.swarm.node.id=%s,com.docker.swarm.service.id=%s,com.docker.swarm.task.id=%s", task.NodeID, task.ServiceID, task.ID)
		want = append(want, d+" hello from "+task.ID, d+" tail=20 follow=false")
	}
	sort.Strings(want)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || stderr.Len() != 0 {
		t.Fatalf("lines:\n%s\nwant:\n%s\nstderr %q", strings.Join(lines, "\n"), strings.Join(want, "\n"), stderr.String())
	}

	one := call(t, b, "GET", "/tasks/"+b.tasks[0].ID+"/logs?stdout=1&follow=1", "")
	stdout.Reset()
	if _, err := stdcopy.StdCopy(&stdout, &stderr, strings.NewReader(one.body)); err != nil || strings.Count(stdout.String(), "\n") != 2 ||
		!strings.Contains(stdout.String(), "tail=-1 follow=true") {
		t.Fatalf("task logs: %v %q", err, stdout.String())
	}
	message(t, call(t, b, "GET", "/services/web/logs?stdout=1&timestamps=1", ""), 400)
	message(t, call(t, b, "GET", "/services/web/logs", ""), 400)
	message(t, call(t, b, "GET", "/services/web/logs?stdout=1&tail=x", ""), 400)
	message(t, call(t, b, "GET", "/services/nosuch/logs?stdout=1", ""), 404)
}
