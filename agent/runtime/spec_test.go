package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/errdefs"

	"github.com/shoal-org/shoal/api/types"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/web"}, []string{"-listen", ":80"}
	for _, tc := range []struct {
		name                           string
		entrypoint, cmd, command, args []string
		want                           string
	}{
		{"image defaults", ep, cmd, nil, nil, "/web -listen :80"},
		{"args replace cmd", ep, cmd, nil, []string{"-mode", "crash"}, "/web -mode crash"},
		{"command replaces entrypoint and cmd", ep, cmd, []string{"/bin/sh"}, nil, "/bin/sh"},
		{"command with args", ep, cmd, []string{"/bin/sh", "-c"}, []string{"echo hi"}, "/bin/sh -c echo hi"},
		{"cmd only image", nil, []string{"/app"}, nil, nil, "/app"},
		{"args on cmd-only image", nil, []string{"/app"}, nil, []string{"/other"}, "/other"},
	} {
		got, err := processArgs(tc.entrypoint, tc.cmd, tc.command, tc.args)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := processArgs(nil, nil, nil, nil); err == nil {
		t.Error("no program at all: want an error")
	}
	// Appending must not write into the image's arrays.
	base := make([]string, 1, 4)
	base[0] = "/web"
	a, _ := processArgs(base, nil, nil, []string{"a"})
	b, _ := processArgs(base, nil, nil, []string{"b"})
	if a[1] != "a" || b[1] != "b" {
		t.Errorf("argv share storage: %q %q", a, b)
	}
}

func TestCPUQuota(t *testing.T) {
	for nano, want := range map[int64]int64{0: 0, -1: 0, 5e8: 50_000, 2e9: 200_000, 1e6: 1000} {
		if got := cpuQuota(nano); got != want {
			t.Errorf("cpuQuota(%d) = %d, want %d", nano, got, want)
		}
	}
}

func TestOCIMounts(t *testing.T) {
	vol := func(n string) string { return "/state/volumes/" + n }
	got, err := ociMounts("t1", []types.Mount{
		{Type: "volume", Source: "data", Target: "/data"},
		{Type: "bind", Source: "/etc/shoal", Target: "/conf", ReadOnly: true},
		{Type: "volume", Target: "/scratch"},
		{Type: "tmpfs", Target: "/run/cache"},
		{Type: "tmpfs", Target: "/tmp", TmpfsSize: 64 << 20, TmpfsMode: 0o700, ReadOnly: true},
	}, vol)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{
		"bind /state/volumes/data /data [rbind rprivate rw]",
		"bind /etc/shoal /conf [rbind rprivate ro]",
		"bind /state/volumes/t1-2 /scratch [rbind rprivate rw]",
		"tmpfs tmpfs /run/cache [nosuid nodev noexec mode=1777]",
		"tmpfs tmpfs /tmp [nosuid nodev noexec mode=700 size=67108864 ro]",
	})
	var have []string
	for _, m := range got {
		have = append(have, fmt.Sprintf("%s %s %s %v", m.Type, m.Source, m.Destination, m.Options))
	}
	if fmt.Sprint(have) != want {
		t.Errorf("got %v\nwant %v", have, want)
	}
	for _, bad := range []types.Mount{
		{Type: "volume", Source: "../etc", Target: "/x"},
		{Type: "bind", Source: "relative", Target: "/x"},
		{Type: "bind", Source: "/ok", Target: "relative"},
		{Type: "tmpfs", Target: "relative"},
		{Type: "nfs", Source: "x", Target: "/x"},
	} {
		if _, err := ociMounts("t1", []types.Mount{bad}, vol); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
}

func TestAnonymousVolumeNames(t *testing.T) {
	for name, want := range map[string]bool{
		anonymousVolume("t1", 0): true, anonymousVolume("t1", 12): true,
		"t1-": false, "t1-x": false, "t1": false, "t10-1": false, "data": false, "t1-1-2": false,
	} {
		if got := isAnonymousOf(name, "t1"); got != want {
			t.Errorf("isAnonymousOf(%q, t1) = %v, want %v", name, got, want)
		}
	}
}

func TestLabelsAndStopDefaults(t *testing.T) {
	s := Spec{Image: "web:v1", Labels: map[string]string{"a": "1"}, StopSignal: "SIGINT", StopGrace: 3 * time.Second}
	l := containerLabels(s)
	if !maps.Equal(userLabels(l), s.Labels) {
		t.Errorf("userLabels(containerLabels) = %v", userLabels(l))
	}
	if s.Labels[labelImage] != "" {
		t.Error("containerLabels wrote into the spec's map")
	}
	for _, tc := range []struct {
		labels    map[string]string
		sig       string
		grace     time.Duration
		wantSig   string
		wantGrace time.Duration
	}{
		{l, "", 0, "SIGINT", 3 * time.Second},
		{l, "SIGQUIT", time.Second, "SIGQUIT", time.Second},
		{nil, "", 0, "SIGTERM", DefaultStopGrace},
		{map[string]string{labelStopGrace: "junk"}, "", 0, "SIGTERM", DefaultStopGrace},
	} {
		sig, grace := stopDefaults(tc.labels, tc.sig, tc.grace)
		if sig != tc.wantSig || grace != tc.wantGrace {
			t.Errorf("stopDefaults(%v, %q, %v) = %s %v", tc.labels, tc.sig, tc.grace, sig, grace)
		}
	}
}

func TestTailOffset(t *testing.T) {
	lastLines := func(s string, n int) string {
		off, err := tailOffset(strings.NewReader(s), int64(len(s)), n)
		if err != nil {
			t.Fatal(err)
		}
		return s[off:]
	}
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 5, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
	} {
		if got := lastLines(tc.in, tc.n); got != tc.want {
			t.Errorf("last %d of %q = %q, want %q", tc.n, tc.in, got, tc.want)
		}
	}
	// Across chunk boundaries.
	var big bytes.Buffer
	for i := range 5000 {
		fmt.Fprintf(&big, "line %d\n", i)
	}
	if got := lastLines(big.String(), 3); got != "line 4997\nline 4998\nline 4999\n" {
		t.Errorf("big tail = %q", got)
	}
	if got := lastLines(big.String(), 4000); !strings.HasPrefix(got, "line 1000\n") {
		t.Errorf("big tail 4000 starts %q", got[:20])
	}
}

func TestParseImageConfig(t *testing.T) {
	p := []byte(`{"config":{"Entrypoint":["/web"],"Cmd":["-listen",":80"],"Env":["A=1"],"User":"nobody","WorkingDir":"/w",
		"Healthcheck":{"Test":["CMD","/web","-check","http://127.0.0.1/health"],"Interval":1000000000,"Timeout":3000000000,"Retries":3}}}`)
	info, err := parseImageConfig("docker.io/library/web:v1", "sha256:x", p)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.Healthcheck
	if hc == nil || hc.Interval != time.Second || hc.Timeout != 3*time.Second || hc.Retries != 3 || len(hc.Test) != 4 {
		t.Fatalf("healthcheck = %+v", hc)
	}
	if info.User != "nobody" || info.WorkingDir != "/w" || !slices.Equal(info.Cmd, []string{"-listen", ":80"}) {
		t.Fatalf("info = %+v", info)
	}
	none, err := parseImageConfig("x", "d", []byte(`{"config":{"Healthcheck":{"Test":["NONE"]}}}`))
	if err != nil || none.Healthcheck != nil {
		t.Fatalf("NONE healthcheck = %+v, %v", none.Healthcheck, err)
	}
}

func TestClassifyPullError(t *testing.T) {
	refused := fmt.Errorf("failed to do request: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	for _, tc := range []struct {
		err  error
		kind error
		msg  string
	}{
		{fmt.Errorf("reg/web:v9: %w", errdefs.ErrNotFound), ErrImageNotFound, `image "reg:5000/web:v9": not found in registry reg:5000`},
		{refused, ErrRegistryUnreachable, "registry reg:5000 unreachable: failed to do request: dial tcp: connection refused"},
		{errors.New(`Head "https://reg:5000/v2/web/manifests/v9": http: server gave HTTP response to HTTPS client`),
			ErrRegistryUnreachable, "registry reg:5000 unreachable: it speaks plain HTTP; list it among the insecure registries"},
	} {
		err := classifyPullError("reg:5000/web:v9", "reg:5000", tc.err)
		if !errors.Is(err, tc.kind) || err.Error() != tc.msg || !errors.Is(err, tc.err) {
			t.Errorf("classify(%v) = %q, want %q matching %v", tc.err, err, tc.msg, tc.kind)
		}
	}
	other := classifyPullError("r/x:1", "r", errors.New("boom"))
	if errors.Is(other, ErrImageNotFound) || errors.Is(other, ErrRegistryUnreachable) {
		t.Errorf("unknown error classified: %v", other)
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"web:v1":                   "docker.io/library/web:v1",
		"web":                      "docker.io/library/web:latest",
		"127.0.0.1:5000/web:v1":    "127.0.0.1:5000/web:v1",
		"10.0.0.1:5000/team/app:2": "10.0.0.1:5000/team/app:2",
	} {
		if got, err := NormalizeRef(in); err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeRef("UPPER:case"); err == nil {
		t.Error("invalid reference accepted")
	}
}
