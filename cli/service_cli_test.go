package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

func decodeBody[T any](t *testing.T, r recorded) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%s: body %q: %v", r, r.Body, err)
	}
	return v
}

func converged(lines ...string) string {
	return strings.Join(lines, "\n") + "\nverify: Service converged\n"
}

func TestCLIUpdateImageSendsOnlyTheImage(t *testing.T) {
	f, g, out := newFakeAgent(t)
	web := f.add(webSpec())
	if err := runService(t, g, "update", "--image", "web:v2", "web"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 || w[0].String() != "POST /v1/services/"+web.ID+"/update" {
		t.Fatalf("writes = %v, want one POST …/update", w)
	}
	req := decodeBody[api.ServiceUpdateRequest](t, w[0])
	want := webSpec()
	want.Task.Image = "web:v2"
	if !reflect.DeepEqual(req.Spec, want) {
		t.Errorf("spec sent\n got %+v\nwant %+v", req.Spec, want)
	}
	if req.Version != 10 || req.Cause != "update --image web:v2" {
		t.Errorf("version %d cause %q, want 10 and %q", req.Version, req.Cause, "update --image web:v2")
	}
	bar := "running   [==================================================>]"
	if want := converged("web", "overall progress: 3 out of 3 tasks", "1/3: "+bar, "2/3: "+bar, "3/3: "+bar); out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestCLIUpdateWithoutFlagsResendsTheSpec(t *testing.T) {
	f, g, out := newFakeAgent(t)
	f.add(webSpec())
	if err := runService(t, g, "update", "-d", "web"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 {
		t.Fatalf("writes = %v", w)
	}
	if req := decodeBody[api.ServiceUpdateRequest](t, w[0]); !reflect.DeepEqual(req.Spec, webSpec()) || req.Version != 10 {
		t.Errorf("resume sent %+v (version %d), want the unchanged spec at version 10", req.Spec, req.Version)
	}
	if out.String() != "web\n" {
		t.Errorf("detached update printed %q", out)
	}
}

func TestCLICreate(t *testing.T) {
	f, g, out := newFakeAgent(t)
	if err := runService(t, g, "create", "--replicas", "3", "-p", "80:80", "--name", "nginx", "nginx:1.13.7-alpine"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 || w[0].String() != "POST /v1/services" {
		t.Fatalf("writes = %v", w)
	}
	want := newSpec()
	want.Name, want.Mode.Replicas, want.Task.Image = "nginx", 3, "nginx:1.13.7-alpine"
	want.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 80}}
	if req := decodeBody[api.ServiceCreateRequest](t, w[0]); !reflect.DeepEqual(req.Spec, want) {
		t.Errorf("spec sent\n got %+v\nwant %+v", req.Spec, want)
	}
	id := f.svcs[0].ID
	bar := "running   [==================================================>]"
	if want := converged(id, "overall progress: 3 out of 3 tasks", "1/3: "+bar, "2/3: "+bar, "3/3: "+bar); out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	out.Reset()
	f.requests = nil
	if err := runService(t, g, "create", "-d", "--mode", "global", "--name", "mon", "monitor:1"); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 1 || out.String() != f.svcs[1].ID+"\n" {
		t.Errorf("detached create: requests %v, output %q; want one POST and the ID", f.requests, out)
	}
	if err := runService(t, g, "create", "-d", "--name", "mon", "monitor:1"); err == nil ||
		err.Error() != `create service "mon": service "mon" already exists` {
		t.Errorf("duplicate create: %v", err)
	}
}

func TestCLIBadInputSendsNothing(t *testing.T) {
	f, g, _ := newFakeAgent(t)
	f.add(webSpec())
	mon := webSpec()
	mon.Name, mon.Mode = "mon", types.ServiceMode{Global: true}
	f.add(mon)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--replicas", "-1", "nginx"}, "--replicas -1: must be 0 or more"},
		{[]string{"create", "--mode", "global", "--replicas", "2", "nginx"}, "--mode global cannot be combined with --replicas: a global service runs one task on every eligible node"},
		{[]string{"update", "--update-failure-action", "explode", "web"}, "--update-failure-action explode: use pause, continue or rollback"},
		{[]string{"update", "--replicas", "3", "mon"}, `--replicas: service "mon" is global (one task per eligible node) and has no replica count`},
		{[]string{"update", "--rollback", "--image", "web:v2", "web"}, "--rollback cannot be combined with other changes: roll back first, then update"},
		{[]string{"update", "--image", "web:v2", "nosuch"}, `service "nosuch" not found`},
		{[]string{"scale", "web=2", "api"}, "scale api: expected SERVICE=REPLICAS, e.g. web=3"},
		{[]string{"scale", "web=2", "mon=3"}, `scale mon=3: service "mon" is global (one task on every eligible node) and cannot be scaled; only replicated services can`},
		{[]string{"scale", "web=2", "nosuch=1"}, `service "nosuch" not found`},
		{[]string{"rollback", "--to-revision", "0", "web"}, "--to-revision 0: revisions start at 1; see 'agentctl service history web'"},
		{[]string{"rollback", "web"}, `roll back service "web": service "web" does not have a previous spec`},
		{[]string{"logs", "--tail", "many", "web"}, "--tail many: use a number of lines, or all"},
		{[]string{"ls", "--filter", "color=red"}, `--filter color=red: unknown filter "color": use name=, id=, label= or mode=`},
	} {
		before := len(f.writes())
		err := runService(t, g, tt.args...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %s", tt.args, err, tt.want)
		}
		// The rollback endpoint refusing is the one write that reaches the agent.
		if w := f.writes(); len(w) != before && tt.args[0] != "rollback" {
			t.Errorf("%q sent %v", tt.args, w[before:])
		}
	}
	if f.svcs[0].Spec.Mode.Replicas != 3 || f.svcs[0].Version != 10 {
		t.Errorf("web changed: %+v", f.svcs[0])
	}
}

func TestCLIScale(t *testing.T) {
	f, g, out := newFakeAgent(t)
	f.add(webSpec())
	apiSpec := newSpec()
	apiSpec.Name, apiSpec.Task.Image = "api", "api:1"
	f.add(apiSpec)
	if err := runService(t, g, "scale", "web=1", "api=2"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 2 {
		t.Fatalf("writes = %v", w)
	}
	for i, want := range []uint64{1, 2} {
		req := decodeBody[api.ServiceUpdateRequest](t, w[i])
		if req.Spec.Mode.Replicas != want || req.Version != 10 {
			t.Errorf("%s: replicas %d version %d, want %d and 10", w[i], req.Spec.Mode.Replicas, req.Version, want)
		}
	}
	bar := "running   [==================================================>]"
	want := "web scaled to 1\napi scaled to 2\n" + converged("overall progress: 1 out of 1 tasks", "1/1: "+bar) +
		converged("overall progress: 2 out of 2 tasks", "1/2: "+bar, "2/2: "+bar)
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestCLIRollback(t *testing.T) {
	f, g, out := newFakeAgent(t)
	web := f.add(webSpec())
	if err := runService(t, g, "update", "-d", "--image", "web:v2", "web"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runService(t, g, "rollback", "web"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if last := w[len(w)-1]; last.String() != "POST /v1/services/"+web.ID+"/rollback" || string(last.Body) != "{}\n" && string(last.Body) != "{}" {
		t.Errorf("rollback sent %s %q", last, last.Body)
	}
	if !strings.HasPrefix(out.String(), "web\noverall progress: rolling back update: 3 out of 3 tasks\n") || !strings.HasSuffix(out.String(), "verify: Service converged\n") {
		t.Errorf("rollback output:\n%s", out)
	}
	if f.svcs[0].Spec.Task.Image != "web:v1" {
		t.Errorf("image after rollback = %q", f.svcs[0].Spec.Task.Image)
	}
	for _, args := range [][]string{{"update", "--rollback", "-d", "web"}, {"rollback", "-d", "--to-revision", "2", "web"}} {
		if err := runService(t, g, args...); err != nil {
			t.Fatal(err)
		}
	}
	w = f.writes()
	if got := decodeBody[api.ServiceRollbackRequest](t, w[len(w)-2]); got.ToRevision != 0 {
		t.Errorf("update --rollback sent revision %d", got.ToRevision)
	}
	if got := decodeBody[api.ServiceRollbackRequest](t, w[len(w)-1]); got.ToRevision != 2 {
		t.Errorf("rollback --to-revision 2 sent %d", got.ToRevision)
	}
}

func TestCLIReadCommands(t *testing.T) {
	f, g, out := newFakeAgent(t)
	web := f.add(webSpec())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "-q"}, web.ID[:12] + "\n"},
		{[]string{"ls", "--format", "{{.Name}} {{.Replicas}} {{.Ports}}"}, "web 3/3 *:8080->80/tcp\n"},
		{[]string{"ps", "-q", "--no-trunc", "web"}, web.ID[:4] + "-t1-v1\n" + web.ID[:4] + "-t2-v1\n" + web.ID[:4] + "-t3-v1\n"},
		{[]string{"inspect", "-f", "{{.Spec.Name}} {{.Spec.Task.Image}}", "web"}, "web web:v1\n"},
		{[]string{"history", "--format", "{{.Revision}} {{.Current}} {{.ChangeCause}}", "web"}, "1 true create\n"},
		{[]string{"logs", "-f", "-n", "10", "web"}, "web.1@worker1    | hello (follow=true&tail=10)\n"},
		{[]string{"logs", web.ID[:4] + "-t2"}, "task " + web.ID[:4] + "-t2-v1 | line\n"},
	} {
		out.Reset()
		if err := runService(t, g, tt.args...); err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if out.String() != tt.want {
			t.Errorf("%q printed %q, want %q", tt.args, out, tt.want)
		}
	}
	out.Reset()
	if err := runService(t, g, "inspect", "web"); err != nil {
		t.Fatal(err)
	}
	var svcs []api.Service
	if err := json.Unmarshal(out.Bytes(), &svcs); err != nil || len(svcs) != 1 || svcs[0].ID != web.ID {
		t.Errorf("inspect printed %s (%v), want a JSON array of web", out, err)
	}
	if err := runService(t, g, "logs", "nosuch"); err == nil || !strings.HasPrefix(err.Error(), `no service or task "nosuch"`) {
		t.Errorf("logs nosuch: %v", err)
	}
}

func TestCLIRemove(t *testing.T) {
	f, g, out := newFakeAgent(t)
	f.add(webSpec())
	err := runService(t, g, "rm", "nosuch", "web")
	if err == nil || err.Error() != `remove service "nosuch": service "nosuch" not found` {
		t.Errorf("rm: %v", err)
	}
	if out.String() != "web\n" || len(f.svcs) != 0 {
		t.Errorf("rm printed %q and left %d services", out, len(f.svcs))
	}
}
