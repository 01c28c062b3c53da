package control

import (
	"context"
	"net/http"
	"testing"

	"github.com/shoal-org/shoal/api"
)

// TestNetworkAdmission: a new network gets a free range and VNI of its
// own; a name taken (in any case), a bad name or a range over another is
// refused, and so is removing the default network or one a service uses.
func TestNetworkAdmission(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	create := func(name, subnet string) error {
		_, err := tc.ops.NetworkCreate(ctx, api.NetworkCreateRequest{Name: name, Subnet: subnet})
		return err
	}
	if err := create("backend", ""); err != nil {
		t.Fatalf("create backend: %v", err)
	}
	if err := create("front", "10.99.0.0/16"); err != nil {
		t.Fatalf("create front on 10.99.0.0/16: %v", err)
	}
	back, err := tc.ops.Network(ctx, "backend")
	if err != nil {
		t.Fatal(err)
	}
	front, err := tc.ops.Network(ctx, "front")
	if err != nil {
		t.Fatal(err)
	}
	def := tc.Store.View().DefaultNetwork()
	if back.Subnet == "" || back.Subnet == def.Subnet || back.VNI == def.VNI || back.VNI == front.VNI || front.Subnet != "10.99.0.0/16" {
		t.Errorf("networks: default %s/%d, backend %s/%d, front %s/%d; want distinct ranges and VNIs",
			def.Subnet, def.VNI, back.Subnet, back.VNI, front.Subnet, front.VNI)
	}
	refused(t, "BACKEND", create("BACKEND", ""), http.StatusConflict, `network "BACKEND" already exists (as "backend"`)
	refused(t, "a bad name", create("no spaces", ""), http.StatusBadRequest, "no spaces")
	refused(t, "over front", create("over", "10.99.4.0/24"), http.StatusConflict, "front")

	svc := webSpec("api", "web", 1)
	svc.Task.Networks = []string{"backend"}
	tc.create(t, svc)
	refused(t, "remove backend in use", tc.ops.NetworkRemove(ctx, "backend"), http.StatusConflict,
		`network "backend" is in use by service "api": remove the service or update it with --network-rm backend first`)
	refused(t, "remove the default", tc.ops.NetworkRemove(ctx, def.Name), http.StatusBadRequest, "is the default network and cannot be removed")
	if err := tc.ops.NetworkRemove(ctx, "front"); err != nil {
		t.Fatalf("remove front: %v", err)
	}
	nets, err := tc.ops.Networks(ctx)
	if err != nil || len(nets) != 2 {
		t.Errorf("networks after the refusals and one removal: %d, %v; want the default and backend", len(nets), err)
	}
}
