package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestNetworkOptsFiles applies networkOpts' options (containerd's own oci
// helpers) to a spec and checks where /etc/hosts and /etc/resolv.conf
// come from: the caller's files when Spec names them, else the defaults.
func TestNetworkOptsFiles(t *testing.T) {
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "hosts"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{cfg: Config{StateDir: state}}
	dir := t.TempDir()
	hosts, resolv, netns := filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "netns")
	for _, f := range []string{hosts, resolv, netns} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	generated := filepath.Join(state, "hosts", "c1")
	tests := []struct {
		name string
		spec Spec
		want map[string]string // destination -> source
	}{
		{"host network", Spec{ID: "c1"},
			map[string]string{"/etc/hosts": "/etc/hosts", "/etc/resolv.conf": "/etc/resolv.conf"}},
		{"host network, own files", Spec{ID: "c1", Hosts: hosts, ResolvConf: resolv},
			map[string]string{"/etc/hosts": hosts, "/etc/resolv.conf": resolv}},
		{"netns", Spec{ID: "c1", NetNSPath: netns},
			map[string]string{"/etc/hosts": generated}},
		{"netns, own files", Spec{ID: "c1", NetNSPath: netns, Hosts: hosts, ResolvConf: resolv},
			map[string]string{"/etc/hosts": hosts, "/etc/resolv.conf": resolv}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(generated)
			opts, mounts, err := r.networkOpts(tc.spec, "h")
			if err != nil {
				t.Fatalf("networkOpts: %v", err)
			}
			s := &oci.Spec{Linux: &specs.Linux{}, Mounts: mounts}
			for _, o := range opts {
				if err := o(context.Background(), nil, &containers.Container{}, s); err != nil {
					t.Fatalf("apply option: %v", err)
				}
			}
			got := map[string]string{}
			for _, m := range s.Mounts {
				if _, dup := got[m.Destination]; dup {
					t.Fatalf("%s mounted twice: %+v", m.Destination, s.Mounts)
				}
				got[m.Destination] = m.Source
				if !slices.Contains(m.Options, "ro") {
					t.Errorf("%s mounted %v, want read-only", m.Destination, m.Options)
				}
			}
			for dst, src := range tc.want {
				if got[dst] != src {
					t.Errorf("%s from %q, want %q (mounts %v)", dst, got[dst], src, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("mounts %v, want %v", got, tc.want)
			}
		})
	}
	if _, _, err := r.networkOpts(Spec{ID: "c1", Hosts: filepath.Join(dir, "missing")}, "h"); err == nil {
		t.Fatal("networkOpts with a missing hosts file: no error")
	}
}
