package stack

import (
	"errors"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// stored is spec as the leader stores it: defaults filled, round-tripped.
func stored(id string, version uint64, spec types.ServiceSpec) types.Service {
	spec = spec.Copy()
	types.FillDefaults(&spec)
	return types.Service{ID: id, Meta: types.Meta{Version: version}, Spec: spec}
}

func TestPlanDeploy(t *testing.T) {
	st, _ := build(t, "m", nil, "testdata/base.yml")
	web, worker := service(t, st, "m_web"), service(t, st, "m_worker")
	ns := map[string]string{LabelNamespace: "m"}
	stackNet := types.Network{Name: "m_default", Labels: ns}

	changed := web.Copy()
	changed.Task.Image = "web:v9"
	forced := web.Copy()
	forced.Task.ForceUpdate = 3
	scaled := web.Copy()
	scaled.Mode.Replicas = 5
	old := types.ServiceSpec{Name: "m_old", Labels: ns, Task: types.TaskTemplate{Image: "old"}}
	other := types.ServiceSpec{Name: "other", Task: types.TaskTemplate{Image: "x"}}

	type want struct {
		nets, create, update, unchanged, remove []string
	}
	names := func(p Plan) want {
		var w want
		for _, n := range p.CreateNetworks {
			w.nets = append(w.nets, n.Name)
		}
		for _, s := range p.Create {
			w.create = append(w.create, s.Name)
		}
		for _, u := range p.Update {
			w.update = append(w.update, u.Spec.Name)
		}
		w.unchanged = p.Unchanged
		for _, s := range p.Remove {
			w.remove = append(w.remove, s.Spec.Name)
		}
		return w
	}
	for _, tc := range []struct {
		name     string
		services []types.Service
		networks []types.Network
		prune    bool
		want     want
	}{
		{"fresh", nil, nil, false, want{nets: []string{"m_default"}, create: []string{"m_web", "m_worker"}}},
		{"unchanged", []types.Service{stored("1", 10, web), stored("2", 11, worker), stored("9", 12, other)}, []types.Network{stackNet}, false,
			want{unchanged: []string{"m_web", "m_worker"}}},
		{"image changed", []types.Service{stored("1", 10, changed), stored("2", 11, worker)}, []types.Network{stackNet}, false,
			want{update: []string{"m_web"}, unchanged: []string{"m_worker"}}},
		{"scaled by hand", []types.Service{stored("1", 10, scaled), stored("2", 11, worker)}, []types.Network{stackNet}, false,
			want{update: []string{"m_web"}, unchanged: []string{"m_worker"}}},
		{"forced update kept", []types.Service{stored("1", 10, forced), stored("2", 11, worker)}, []types.Network{stackNet}, false,
			want{unchanged: []string{"m_web", "m_worker"}}},
		{"no prune", []types.Service{stored("1", 10, web), stored("3", 13, old)}, []types.Network{stackNet}, false,
			want{create: []string{"m_worker"}, unchanged: []string{"m_web"}}},
		{"prune", []types.Service{stored("1", 10, web), stored("3", 13, old), stored("9", 12, other)}, []types.Network{stackNet}, true,
			want{create: []string{"m_worker"}, unchanged: []string{"m_web"}, remove: []string{"m_old"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanDeploy(st, tc.services, tc.networks, tc.prune)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "plan", names(p), tc.want)
			for _, u := range p.Update {
				if u.ID != "1" || u.Version != 10 {
					t.Errorf("update of %s from ID %s version %d, want the stored 1 and 10", u.Spec.Name, u.ID, u.Version)
				}
			}
		})
	}
}

func TestPlanDeployRefuses(t *testing.T) {
	st, _ := build(t, "m", nil, "testdata/base.yml")
	foreign := types.Service{ID: "1", Spec: types.ServiceSpec{Name: "m_web", Task: types.TaskTemplate{Image: "x"}}}
	if _, err := PlanDeploy(st, []types.Service{foreign}, nil, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("a service of the same name outside the stack: %v", err)
	}
	if _, err := PlanDeploy(st, nil, []types.Network{{Name: "m_default"}}, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("a network of the same name outside the stack: %v", err)
	}
	full, _ := build(t, "app", []string{"FROM_SHELL=1"}, "testdata/full.yml")
	if _, err := PlanDeploy(full, nil, nil, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("a missing external network: %v", err)
	}
	p, err := PlanDeploy(full, nil, []types.Network{{Name: "shared-back"}}, false)
	if err != nil || len(p.CreateNetworks) != 1 || p.CreateNetworks[0].Name != "app_front" {
		t.Errorf("with the external network present: %+v, %v; want app_front created only", p.CreateNetworks, err)
	}
}

func TestListAndMembers(t *testing.T) {
	svc := func(name, ns string) types.Service {
		s := types.Service{Spec: types.ServiceSpec{Name: name}}
		if ns != "" {
			s.Spec.Labels = map[string]string{LabelNamespace: ns}
		}
		return s
	}
	all := []types.Service{svc("b_x", "b"), svc("a_y", "a"), svc("plain", ""), svc("a_x", "a")}
	eq(t, "List", List(all), []Summary{{"a", 2}, {"b", 1}})
	got := Services("a", all)
	eq(t, "Services", []string{got[0].Spec.Name, got[1].Spec.Name}, []string{"a_x", "a_y"})
	nets := []types.Network{{Name: "a_n", Labels: map[string]string{LabelNamespace: "a"}}, {Name: "shoal"}}
	eq(t, "Networks", len(Networks("a", nets)), 1)
}
