package engineapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// benchFake is a fake cluster of n services of one running task each.
func benchFake(n int) *fakeBackend {
	b := newFake()
	for i := range n {
		spec := types.ServiceSpec{Name: fmt.Sprintf("svc%04d", i), Task: types.TaskTemplate{Image: "reg:5000/web:v1"}, Mode: types.ServiceMode{Replicas: 1}}
		if _, err := b.ServiceCreate(context.Background(), api.ServiceCreateRequest{Spec: spec}); err != nil {
			panic(err)
		}
	}
	return b
}

// The server part of `docker service ls` (GET /services?status=true) and
// `docker service ps` (GET /tasks with a service filter) with 1,000
// services of one task each, over the fake backend: the Engine API's own
// cost (translation, filters, JSON), without the store.
func BenchmarkServiceList1000(b *testing.B) {
	benchGet(b, benchFake(1000), "/v1.50/services?status=true")
}

func BenchmarkTaskListOneService1000(b *testing.B) {
	benchGet(b, benchFake(1000), "/v1.50/tasks?"+filtersQuery(map[string][]string{"service": {"svc0500"}}))
}

func benchGet(b *testing.B, fb *fakeBackend, path string) {
	h := New(fb).Handler(false)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}
