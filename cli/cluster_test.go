package cli

import (
	"reflect"
	"testing"

	"github.com/shoal-org/shoal/api"
)

func TestClusterLimitsFlags(t *testing.T) {
	c := ClusterLimitsCmd{Set: []string{"replicas=50000", "tasks=200000"}, Reset: []string{"services"}}
	upd, err := c.update()
	want := api.LimitsUpdate{Set: map[string]int64{"replicas": 50000, "tasks": 200000}, Reset: []string{"services"}}
	if err != nil || !reflect.DeepEqual(upd, want) {
		t.Errorf("update = %+v, %v; want %+v", upd, err, want)
	}
	for _, bad := range []string{"replicas", "replicas=", "=5", "replicas=-1", "replicas=lots"} {
		c := ClusterLimitsCmd{Set: []string{bad}}
		if _, err := c.update(); err == nil || !reflect.DeepEqual(err.(*flagError).Value, bad) {
			t.Errorf("--set %s: err = %v, want a flag error naming it", bad, err)
		}
	}
}
