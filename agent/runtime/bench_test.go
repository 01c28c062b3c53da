package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

// BenchmarkContainerCycle measures one task's whole life on the node:
// Create, Start, Stop (SIGTERM, graceful exit), Remove of web:v1 in the
// host network (the server listens on a kernel-chosen port).
func BenchmarkContainerCycle(b *testing.B) {
	_, r := benchRuntime(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		spec := Spec{ID: id, Image: "web:v1", Args: []string{"-listen", "127.0.0.1:0"}}
		if err := r.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := r.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := r.Stop(ctx, id, "", 10*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := r.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecHealthcheck measures one healthcheck probe: Exec of
// `/web -check` in a running container.
func BenchmarkExecHealthcheck(b *testing.B) {
	_, r := benchRuntime(b)
	ctx := context.Background()
	if err := r.Create(ctx, Spec{ID: "probe", Image: "web:v1", NetNSPath: testenv.NetNS(b)}); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(ctx, "probe"); err != nil {
		b.Fatal(err)
	}
	cmd := []string{"/web", "-check", testimages.HealthcheckURL}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := r.Exec(ctx, "probe", cmd, 5*time.Second)
		if err == nil && code == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("server never healthy: %d %v", code, err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if code, out, err := r.Exec(ctx, "probe", cmd, 5*time.Second); err != nil || code != 0 {
			b.Fatalf("exec: %d %q %v", code, out, err)
		}
	}
}

func benchRuntime(b *testing.B) (*testenv.ContainerdDaemon, *Runtime) {
	b.Helper()
	d := testenv.Containerd(b)
	r, err := New(context.Background(), Config{Address: d.Address, StateDir: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	importImage(b, r, "web:v1")
	return d, r
}
