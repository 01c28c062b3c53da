package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/spec"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// fixtureServices are three services as `GET /v1/services` returns them.
func fixtureServices() []api.Service {
	web := api.Service{RunningTasks: 3, DesiredTasks: 3}
	web.ID, web.Version, web.SpecVersion = "wzdkv1925fxqt5iz5f7dthf6w", 42, 2
	web.Spec = webSpec()
	web.Spec.Task.Image = "registry:5000/web:v2@sha256:4f1c0d9e"
	web.Spec.Task.Placement.MaxReplicas = 0
	web.Spec.Task.Limits = types.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20}
	web.Spec.Task.Reservations = types.Resources{MemoryBytes: 32 << 20}
	web.Spec.Task.Dir, web.Spec.Task.User = "/srv", "www"
	web.Spec.Update.Parallelism, web.Spec.Update.Delay = u64(2), 10*time.Second
	web.Spec.Rollback.FailureAction = "continue"
	web.Spec.Task.Networks = []string{"front", "back"}
	web.VIPs = map[string]string{"front": "10.242.0.2", "back": "10.241.3.2"}
	web.UpdateStatus = &types.UpdateStatus{State: types.UpdateCompleted, StartedAt: fixedNow.Add(-3 * time.Minute),
		CompletedAt: fixedNow.Add(-time.Minute), Message: "update completed"}

	mon := api.Service{RunningTasks: 2, DesiredTasks: 2}
	mon.ID, mon.SpecVersion = "k3xq0p7m2n8b4v6c1z9a5s7d2", 1
	mon.Spec = storedSpec()
	mon.Spec.Name, mon.Spec.Mode, mon.Spec.Task.Image = "mon", types.ServiceMode{Global: true}, "monitor:1"

	apiSvc := api.Service{RunningTasks: 1, DesiredTasks: 2}
	apiSvc.ID, apiSvc.SpecVersion = "a1b2c3d4e5f6g7h8i9j0k1l2m", 1
	apiSvc.Spec = storedSpec()
	apiSvc.Spec.Name, apiSvc.Spec.Mode.Replicas, apiSvc.Spec.Task.Image = "api", 2, "api:1.4"
	apiSvc.Spec.Labels = map[string]string{"tier": "backend"}
	apiSvc.Spec.Task.Placement.MaxReplicas = 1
	apiSvc.VIPs = map[string]string{"shoal": "10.240.0.5"} // the default network: the spec names none
	apiSvc.Spec.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 8000, PublishedPort: 8000}, {Protocol: "udp", TargetPort: 53, PublishedPort: 5353}}
	return []api.Service{web, mon, apiSvc}
}

// fixtureTasks are web's tasks after an update from v1 to v2 in which one
// replacement failed once.
func fixtureTasks() []api.Task {
	mk := func(id string, slot, ver int, desired, state types.TaskState, age time.Duration, node string) api.Task {
		t := mkTask(id, slot, uint64(ver), desired, state, fixedNow.Add(-age))
		t.NodeID, t.NodeHostname = "node-"+node+"-0123456789abcdefghij", node
		t.Spec.Image = map[int]string{1: "registry:5000/web:v1@sha256:99aa", 2: "registry:5000/web:v2@sha256:4f1c0d9e"}[ver]
		return t
	}
	failed := mk("ffailedtask0000000000000", 2, 2, tShut, types.TaskFailed, 70*time.Second, "worker2")
	failed.Status.Err = "task: non-zero exit (137): container killed: out of memory"
	return []api.Task{
		mk("kct3ksqxljpu0000000000000", 1, 2, tRun, tRun, 19*time.Second, "worker1"),
		mk("vcbkaz7q8kya0000000000000", 1, 1, tShut, tShut, 36*time.Second, "worker1"),
		mk("qlyxhdee0i6c0000000000000", 2, 2, tRun, tRun, 56*time.Second, "worker2"),
		failed,
		mk("dshb5x0lo61s0000000000000", 2, 1, tShut, tShut, 90*time.Second, "worker2"),
		mk("s5es0n52tzqx0000000000000", 3, 2, tRun, types.TaskStarting, 500*time.Millisecond, "manager"),
		mk("t9mczkuy8dd60000000000000", 3, 1, tShut, tShut, 3*time.Hour, "manager"),
	}
}

func TestServiceLsOutput(t *testing.T) {
	rows := serviceRows(fixtureServices())
	for _, tt := range []struct {
		name  string
		flags ListFlags
	}{
		{"service_ls", ListFlags{}},
		{"service_ls_json", ListFlags{Format: "json"}},
		{"service_ls_quiet", ListFlags{Quiet: true}},
		{"service_ls_template", ListFlags{Format: "{{.Name}}: {{.Replicas}} {{.Ports}}"}},
	} {
		var buf bytes.Buffer
		if err := serviceTable.print(&buf, tt.flags, rows); err != nil {
			t.Fatal(err)
		}
		golden(t, tt.name, buf.String())
	}
}

func TestServiceLsFilter(t *testing.T) {
	for _, tt := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"api", "mon", "web"}},
		{[]string{"name=w"}, []string{"web"}},
		{[]string{"name=w", "name=a"}, []string{"api", "web"}},
		{[]string{"mode=global"}, []string{"mon"}},
		{[]string{"label=tier"}, []string{"api"}},
		{[]string{"label=tier=frontend"}, nil},
		{[]string{"id=wzd", "mode=replicated"}, []string{"web"}},
	} {
		f, err := parseServiceFilter(tt.filters)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range serviceRows(fixtureServices()) {
			for _, s := range fixtureServices() {
				if s.Spec.Name == r.Name && f.match(s) {
					got = append(got, r.Name)
				}
			}
		}
		if len(got) != len(tt.want) || (len(got) > 0 && fmtList(got) != fmtList(tt.want)) {
			t.Errorf("filter %q matched %q, want %q", tt.filters, got, tt.want)
		}
	}
	for bad, want := range map[string]string{
		"color=red":  `--filter color=red: unknown filter "color": use name=, id=, label= or mode=`,
		"mode=other": "--filter mode=other: use mode=replicated or mode=global",
		"name":       "--filter name: expected KEY=VALUE: name=, id=, label= or mode=",
	} {
		if _, err := parseServiceFilter([]string{bad}); err == nil || err.Error() != want {
			t.Errorf("filter %q: err = %v, want %s", bad, err, want)
		}
	}
}

func fmtList(s []string) string { return strings.Join(s, ",") }

func TestServicePsOutput(t *testing.T) {
	for _, tt := range []struct {
		name    string
		filters []string
		noTrunc bool
		flags   ListFlags
	}{
		{"service_ps", nil, false, ListFlags{}},
		{"service_ps_notrunc", nil, true, ListFlags{}},
		{"service_ps_running", []string{"desired-state=running"}, false, ListFlags{}},
		{"service_ps_json", []string{"name=web.1"}, false, ListFlags{Format: "json"}},
	} {
		f, err := parseTaskFilter(tt.filters)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := taskTable.print(&buf, tt.flags, taskRows("web", fixtureTasks(), f, fixedNow, tt.noTrunc)); err != nil {
			t.Fatal(err)
		}
		golden(t, tt.name, buf.String())
	}
	// A global service's tasks are named after their node.
	g := onNode(mkTask("gtask", 0, 1, tRun, tRun, fixedNow.Add(-2*time.Hour)), "n0d3fullid0000000000000000")
	g.Spec.Image = "monitor:1"
	rows := taskRows("mon", []api.Task{g}, nil, fixedNow, false)
	if len(rows) != 1 || rows[0].Name != "mon.n0d3fullid0000000000000000" || rows[0].CurrentState != "Running 2 hours ago" {
		t.Errorf("global task row = %+v", rows)
	}
	if _, err := parseTaskFilter([]string{"desired-state=done"}); err == nil ||
		err.Error() != "--filter desired-state=done: use desired-state=running, shutdown or accepted" {
		t.Errorf("bad desired-state filter: %v", err)
	}
}

func TestServiceInspectPrettyOutput(t *testing.T) {
	svcs := fixtureServices()
	web := svcs[0]
	web.Spec.Task.Mounts = append(web.Spec.Task.Mounts, types.Mount{Type: "bind", Source: "/etc/web", Target: "/conf", ReadOnly: true})
	var buf bytes.Buffer
	for i, s := range []api.Service{web, svcs[1], svcs[2]} {
		if i > 0 {
			buf.WriteString("\n")
		}
		writeServicePretty(&buf, s, fixedNow)
	}
	golden(t, "service_inspect_pretty", buf.String())
}

func TestServiceHistoryOutput(t *testing.T) {
	svc := fixtureServices()[0]
	v1 := svc.Spec.Copy()
	v1.Task.Image = "registry:5000/web:v1@sha256:99aa"
	revs := []types.Revision{
		{Number: 3, Spec: v1, CreatedAt: fixedNow.Add(-time.Minute), Cause: "rollback"},
		{Number: 1, Spec: v1, CreatedAt: fixedNow.Add(-3 * time.Hour), Cause: "create"},
		{Number: 2, Spec: svc.Spec, CreatedAt: fixedNow.Add(-5 * time.Minute), Cause: "update --image registry:5000/web:v2"},
	}
	var buf bytes.Buffer
	if err := historyTable.print(&buf, ListFlags{}, historyRows(svc.Spec, revs, fixedNow)); err != nil {
		t.Fatal(err)
	}
	// Back at v1 by a rollback: revision 3 is current, not 1.
	svc.Spec = v1
	if err := historyTable.print(&buf, ListFlags{Format: "json"}, historyRows(svc.Spec, revs, fixedNow)); err != nil {
		t.Fatal(err)
	}
	golden(t, "service_history", buf.String())
}

// storedSpec is a spec as the agent stores it: the CLI's spec with the
// server's defaults filled.
func storedSpec() types.ServiceSpec {
	s := newSpec()
	spec.Defaults(&s)
	return s
}

// TestLogTime: --since and --until as docker reads them.
func TestLogTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                            {},
		"10m":                         now.Add(-10 * time.Minute),
		"1h30m":                       now.Add(-90 * time.Minute),
		"2026-12-04T21:00:00Z":        time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC),
		"2026-12-04T21:00:00.5+01:00": time.Date(2026, 12, 4, 20, 0, 0, 5e8, time.UTC),
		"2026-12-04T21:00":            time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC),
		"2026-12-04":                  time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := logTime("since", in, now); err != nil || !got.Equal(want) {
			t.Errorf("logTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5m", "yesterday", "21:00"} {
		if _, err := logTime("since", bad, now); err == nil || !strings.Contains(err.Error(), "--since "+bad) {
			t.Errorf("logTime(%q) = %v, want an error naming --since", bad, err)
		}
	}
}
