package control

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// TestClusterLimits: overrides are stored in the cluster record and the
// front door applies them at once; a bad override changes nothing.
func TestClusterLimits(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	put := func(body string) ([]api.Limit, error) {
		t.Helper()
		var upd api.LimitsUpdate
		if err := json.Unmarshal([]byte(body), &upd); err != nil {
			t.Fatal(err)
		}
		return tc.ops.UpdateLimits(ctx, upd)
	}
	value := func(rows []api.Limit, key string) int64 {
		for _, r := range rows {
			if r.Key == key {
				return r.Value
			}
		}
		return -1
	}
	for _, bad := range []struct{ body, mentions string }{
		{`{"Set":{"bananas":5}}`, "bananas"},
		{`{"Set":{"replicas":0}}`, "replicas"},
		{`{"Reset":["bananas"]}`, `--reset "bananas": not a limit`},
		{`{"Set":{"replicas":5},"Reset":["replicas"]}`, `limit "replicas" is both set and reset`},
	} {
		_, err := put(bad.body)
		refused(t, "PUT "+bad.body, err, http.StatusBadRequest, bad.mentions)
	}
	if c := tc.Store.View().Cluster(); c.Limits != nil {
		t.Fatalf("bad overrides were stored: %v", c.Limits)
	}
	rows, err := put(`{"Set":{"replicas":5}}`)
	if err != nil || value(rows, "replicas") != 5 || value(rows, "tasks") != 100_000 {
		t.Fatalf("set replicas=5: %v %+v", err, rows)
	}
	if rows, err := tc.ops.Limits(ctx); err != nil || value(rows, "replicas") != 5 {
		t.Fatalf("limits after set: %v %+v", err, rows)
	}
	create := func(n uint64) error {
		_, err := tc.ops.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: types.ServiceSpec{
			Name: "s" + strings.Repeat("x", int(n)), Mode: types.ServiceMode{Replicas: n}, Task: types.TaskTemplate{Image: "web"}}})
		return err
	}
	refused(t, "6 replicas over a limit of 5", create(6), http.StatusBadRequest, "limit 5")
	if err := create(5); err != nil {
		t.Errorf("5 replicas within the limit: %v", err)
	}
	if rows, _ = put(`{"Reset":["replicas"]}`); value(rows, "replicas") != 10_000 {
		t.Errorf("reset: replicas = %d, want the default", value(rows, "replicas"))
	}
	if c := tc.Store.View().Cluster(); c.Limits != nil {
		t.Errorf("after resetting the only override the record keeps %v", c.Limits)
	}
}
