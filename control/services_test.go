package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/keyring"
)

func u64(v uint64) *uint64 { return &v }

func webSpec(name, image string, replicas uint64) types.ServiceSpec {
	return types.ServiceSpec{Name: name, Mode: types.ServiceMode{Replicas: replicas}, Task: types.TaskTemplate{Image: image}}
}

func (tc *testCluster) service(t *testing.T, ref string) api.Service {
	t.Helper()
	s, err := tc.ops.Service(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return s
}

func (tc *testCluster) create(t *testing.T, s types.ServiceSpec) {
	t.Helper()
	if _, err := tc.ops.ServiceCreate(context.Background(), api.ServiceCreateRequest{Spec: s}); err != nil {
		t.Fatalf("create %s: %v", s.Name, err)
	}
}

// TestSpecFrontDoor: defaults come from the server whatever the client
// sent; bad input is refused with a 4xx naming the value and changes
// nothing.
func TestSpecFrontDoor(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.create(t, webSpec("viaapi", "web:v1", 0))
	tc.create(t, webSpec("viacli", "web:v1", 1))
	upd := tc.service(t, "viaapi")
	upd.Spec.Update = types.UpdateConfig{Parallelism: u64(0), Order: "start-first"}
	if _, err := tc.ops.ServiceUpdate(ctx, "viaapi", api.ServiceUpdateRequest{Spec: upd.Spec, Version: upd.Version}); err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, c := range []struct {
		name  string
		par   uint64
		order string
	}{{"viacli", 1, "stop-first"}, {"viaapi", 0, "start-first"}} {
		s := tc.service(t, c.name).Spec
		if p := s.Update.Parallelism; p == nil || *p != c.par || s.Update.Order != c.order || s.Update.Monitor != 5*time.Second ||
			s.Update.FailureAction != "pause" || *s.Rollback.Parallelism != 1 || s.Task.RestartPolicy.Condition != "any" ||
			s.Task.StopGracePeriod != 10*time.Second || s.Endpoint.Mode != "vip" {
			t.Errorf("%s: defaults not filled by the server: %+v", c.name, s)
		}
	}

	before := tc.service(t, "viaapi")
	bad := func(edit func(*types.ServiceSpec)) api.ServiceUpdateRequest {
		s := before.Spec.Copy()
		edit(&s)
		return api.ServiceUpdateRequest{Spec: s}
	}
	create := func(s types.ServiceSpec) error {
		_, err := tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: s})
		return err
	}
	update := func(req api.ServiceUpdateRequest) error {
		_, err := tc.ops.ServiceUpdate(ctx, "viaapi", req)
		return err
	}
	network := func(name, subnet string) error {
		_, err := tc.ops.NetworkCreate(ctx, api.NetworkCreateRequest{Name: name, Subnet: subnet})
		return err
	}
	bigEnv := webSpec("big", "web", 1)
	bigEnv.Task.Env = []string{"BIG=" + strings.Repeat("x", 7<<20)}
	apiPortSpec := webSpec("p", "web", 0)
	apiPortSpec.Endpoint.Ports = []types.PortConfig{{TargetPort: 80, PublishedPort: apiPort}}
	refusals := []struct {
		name     string
		err      error
		code     int
		mentions string
	}{
		{"update --image 'Bad Image Ref::'", update(bad(func(s *types.ServiceSpec) { s.Task.Image = "Bad Image Ref::" })), 400, "Bad Image Ref::"},
		{"update --replicas 100000000", update(bad(func(s *types.ServiceSpec) { s.Mode.Replicas = 100_000_000 })), 400, "100000000"},
		{"create with a 7 MB env var", create(bigEnv), 400, "env-var-bytes"},
		{"create VIACLI (case)", create(webSpec("VIACLI", "web", 1)), 409, "VIACLI"},
		{"create tasks.web", create(webSpec("tasks.web", "web", 0)), 400, "tasks.web"},
		{"publish the API port", create(apiPortSpec), 400, "API port"},
		{"network on loopback", network("lo", "127.0.0.0/24"), 400, "loopback"},
		{"network over the default", network("n", "10.240.0.0/24"), 409, "shoal"},
	}
	for _, r := range refusals {
		refused(t, r.name, r.err, r.code, r.mentions)
		if len(r.err.Error()) > 600 {
			t.Errorf("%s: message of %d bytes: the value should be cut short", r.name, len(r.err.Error()))
		}
	}
	after := tc.service(t, "viaapi")
	if after.Version != before.Version || after.SpecVersion != before.SpecVersion {
		t.Errorf("refused updates changed the service: version %d -> %d", before.Version, after.Version)
	}
	if svcs, err := tc.ops.Services(ctx); err != nil || len(svcs) != 2 {
		t.Errorf("services after the refusals: %d, %v; want the 2 created", len(svcs), err)
	}
}

// TestServiceVersions: a write names the version it read; a stale one, a
// rename, a change of mode or a second service of the same name is
// refused; each accepted change of the task starts a revision dated by the
// cluster's clock, which rollback returns to.
func TestServiceVersions(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.create(t, webSpec("web", "web:v1", 2))
	_, err := tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: webSpec("web", "web:v9", 1)})
	refused(t, "create web again", err, http.StatusConflict, `service "web" already exists`)

	v1 := tc.service(t, "web")
	next := v1.Spec.Copy()
	next.Task.Image = "web:v2"
	resp, err := tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: next, Version: v1.Version})
	if err != nil || resp.SpecVersion != 2 {
		t.Fatalf("update to v2: %+v, %v; want spec version 2", resp, err)
	}
	next.Task.Image = "web:v3"
	_, err = tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: next, Version: v1.Version})
	refused(t, "update at the old version", err, http.StatusConflict,
		fmt.Sprintf(`service "web" changed since it was read (version %d, now %d): run the command again`, v1.Version, tc.service(t, "web").Version))
	renamed := next.Copy()
	renamed.Name = "web2"
	_, err = tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: renamed})
	refused(t, "rename", err, http.StatusBadRequest, `service "web": renaming is not supported`)
	global := next.Copy()
	global.Mode = types.ServiceMode{Global: true}
	_, err = tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: global})
	refused(t, "replicated to global", err, http.StatusBadRequest, "the mode (replicated or global) cannot change")

	scaled := tc.service(t, "web").Spec.Copy()
	scaled.Mode.Replicas = 5
	if resp, err := tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: scaled, Cause: "scale"}); err != nil || resp.SpecVersion != 2 {
		t.Fatalf("scale: %+v, %v; want the spec version to stay 2 (no new revision)", resp, err)
	}
	if _, err := tc.ops.ServiceRollback(ctx, "web", api.ServiceRollbackRequest{}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	s := tc.service(t, "web")
	if s.Spec.Task.Image != "web:v1" || s.Spec.Mode.Replicas != 5 || s.SpecVersion != 3 {
		t.Errorf("after rollback: image %s, %d replicas, spec version %d; want web:v1, the 5 replicas kept, 3",
			s.Spec.Task.Image, s.Spec.Mode.Replicas, s.SpecVersion)
	}
	hist, err := tc.ops.ServiceHistory(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range hist {
		got = append(got, fmt.Sprintf("%d %s %s", r.Number, r.Cause, r.Spec.Task.Image))
		if !r.CreatedAt.Equal(clock) {
			t.Errorf("revision %d dated %s, want the cluster's clock %s", r.Number, r.CreatedAt, clock)
		}
	}
	if want := []string{"1 create web:v1", "2 update web:v2", "3 rollback web:v1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("history: %q, want %q", got, want)
	}
	_, err = tc.ops.ServiceRollback(ctx, "web", api.ServiceRollbackRequest{ToRevision: 9})
	refused(t, "rollback to revision 9", err, http.StatusBadRequest, `service "web" has no revision 9 (kept: [1 2 3]`)
	if _, err := tc.ops.ServiceRollback(ctx, "web", api.ServiceRollbackRequest{ToRevision: 2}); err != nil {
		t.Fatalf("rollback to revision 2: %v", err)
	}
	if s := tc.service(t, "web"); s.Spec.Task.Image != "web:v2" || s.Revisions[len(s.Revisions)-1].Cause != "rollback to revision 2" {
		t.Errorf("after rollback to revision 2: %s, revisions %+v", s.Spec.Task.Image, s.Revisions)
	}

	if err := tc.ops.ServiceRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	_, err = tc.ops.ServiceRollback(ctx, "web", api.ServiceRollbackRequest{})
	refused(t, "rollback of a removed service", err, http.StatusNotFound, "web")
}

// TestServiceVIPs: a service on the default network gets a VIP from its
// range; two services never share one.
func TestServiceVIPs(t *testing.T) {
	tc := newTestCluster(t)
	tc.create(t, webSpec("a", "web", 1))
	tc.create(t, webSpec("b", "web", 1))
	va, vb := tc.service(t, "a").VIPs, tc.service(t, "b").VIPs
	if len(va) != 1 || len(vb) != 1 {
		t.Fatalf("VIPs: a %v, b %v; want one each", va, vb)
	}
	for name, vip := range va {
		if vb[name] == vip || !strings.HasPrefix(vip, "10.240.") {
			t.Errorf("VIPs on %s: a %s, b %s; want two distinct addresses of 10.240.0.0/16", name, vip, vb[name])
		}
	}
}

// TestConcurrentCreates: services created at once, as a script or a stack
// deploy in parallel does, all succeed and get distinct VIPs; the leader
// serialises its own VIP allocations instead of failing them with "changed
// concurrently" (16 at once ran out of retries before).
func TestConcurrentCreates(t *testing.T) {
	tc := newTestCluster(t)
	const n = 32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := tc.ops.ServiceCreate(context.Background(), api.ServiceCreateRequest{Spec: webSpec(fmt.Sprintf("svc%02d", i), "web:v1", 1)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent create: %v", err)
		}
	}
	seen := map[string]string{}
	for _, s := range tc.Store.View().Services() {
		for _, vip := range s.VIPs {
			if other, ok := seen[vip]; ok {
				t.Errorf("VIP %s given to %s and %s", vip, other, s.Spec.Name)
			}
			seen[vip] = s.Spec.Name
		}
	}
	if len(seen) != n {
		t.Errorf("%d VIPs for %d services", len(seen), n)
	}
}

// TestServiceRegistryAuth: a service's registry account is sealed (with
// the service's ID as additional data), never shown, kept by an update
// that brings none and replaced by one that does; a value that is not
// docker's X-Registry-Auth is refused and creates nothing.
func TestServiceRegistryAuth(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	auth := api.EncodeRegistryAuth(api.RegistryAuth{Username: "deploy", Password: "s3cret", ServerAddress: "reg:5001"})
	if _, err := tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: webSpec("web", "reg:5001/web:v1", 1), RegistryAuth: auth}); err != nil {
		t.Fatal(err)
	}
	opened := func() api.RegistryAuth {
		t.Helper()
		s := tc.Store.View().ServiceByName("web")
		data, err := keyring.Open(testDataKey, s.RegistryAuth.Nonce, s.RegistryAuth.Ciphertext, []byte(s.ID))
		if err != nil {
			t.Fatalf("open the stored account: %v", err)
		}
		var a api.RegistryAuth
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := opened(); a.Username != "deploy" || a.Password != "s3cret" {
		t.Fatalf("stored account %+v", a)
	}
	view := tc.service(t, "web")
	if b, _ := json.Marshal(view); !view.WithRegistryAuth || view.RegistryAuth != nil || strings.Contains(string(b), "Ciphertext") {
		t.Fatalf("inspect shows %s", b)
	}
	spec := view.Spec
	spec.Task.Image = "reg:5001/web:v2"
	if _, err := tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if a := opened(); a.Username != "deploy" {
		t.Fatalf("an update without an account lost it: %+v", a)
	}
	auth2 := api.EncodeRegistryAuth(api.RegistryAuth{IdentityToken: "tok"})
	if _, err := tc.ops.ServiceUpdate(ctx, "web", api.ServiceUpdateRequest{Spec: spec, RegistryAuth: auth2}); err != nil {
		t.Fatal(err)
	}
	if a := opened(); a.IdentityToken != "tok" || a.Username != "" {
		t.Fatalf("an update with an account did not replace it: %+v", a)
	}
	_, err := tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: webSpec("bad", "web", 1), RegistryAuth: "%%%"})
	refused(t, "a bad X-Registry-Auth", err, http.StatusBadRequest, "registry auth is not base64")
	_, err = tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: webSpec("bad", "web", 1), RegistryAuth: api.EncodeRegistryAuth(api.RegistryAuth{Username: "x"})})
	refused(t, "an account without a password", err, http.StatusBadRequest, "names no account")
	if tc.Store.View().ServiceByName("bad") != nil {
		t.Fatal("a refused create made the service")
	}
}

// TestRegistryLogin: docker login's check, from this node's runtime; a
// refusal is a 401, a registry out of reach a 502, no address a 400.
func TestRegistryLogin(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.rt = &fakeRuntime{}
	if err := tc.ops.RegistryLogin(ctx, api.RegistryAuth{Username: "deploy", Password: "s3cret", ServerAddress: "http://reg:5001/v2/"}); err != nil {
		t.Errorf("login with the account: %v", err)
	}
	err := tc.ops.RegistryLogin(ctx, api.RegistryAuth{Username: "deploy", Password: "x", ServerAddress: "reg:5001"})
	refused(t, "a wrong password", err, http.StatusUnauthorized, "login to reg:5001: unauthorized: incorrect username or password")
	err = tc.ops.RegistryLogin(ctx, api.RegistryAuth{Username: "deploy", Password: "s3cret", ServerAddress: "reg:9"})
	refused(t, "a registry out of reach", err, http.StatusBadGateway, "login to reg:9")
	err = tc.ops.RegistryLogin(ctx, api.RegistryAuth{Username: "deploy", Password: "s3cret"})
	refused(t, "no registry", err, http.StatusBadRequest, "log in to which registry?")
}
