package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestHealthyHost(t *testing.T) {
	r := Run(context.Background(), Options{Host: debianHost()})
	if r.Failed() {
		t.Fatalf("a stock Debian host failed: %+v", r)
	}
	for _, f := range r.Findings {
		if f.Status != OK && f.ID != "clock" {
			t.Errorf("%s: %s %q, want OK", f.ID, f.Status, f.Detail)
		}
	}
}

// devHost is this development machine as the fake renders it: a kernel
// without modules or IPVS, a hybrid cgroup hierarchy, MTU 1400, containerd
// not running at its default socket.
func devHost() *fakeHost {
	h := debianHost()
	h.release = "6.18.44-fc-v1252"
	remove(h, "/lib/modules")
	delete(h.files, "/proc/modules")
	delete(h.files, "/sys/fs/cgroup/cgroup.controllers")
	delete(h.files, "/run/containerd/containerd.sock")
	h.files["/sys/fs/cgroup/unified/cgroup.controllers"] = ""
	h.files["/sys/module/vxlan/parameters/udp_port"] = "4789"
	h.files["/proc/config.gz"] = gz("CONFIG_NF_TABLES=y\nCONFIG_NFT_CT=y\nCONFIG_NFT_MASQ=y\nCONFIG_NFT_NAT=y\nCONFIG_NFT_FIB=y\n" +
		"CONFIG_NFT_FIB_IPV4=y\n# CONFIG_IP_VS is not set\nCONFIG_BRIDGE=y\n# CONFIG_DUMMY is not set\nCONFIG_VXLAN=y\nCONFIG_VETH=y\n")
	h.ipvsErr = errors.New("generic netlink has no IPVS family")
	h.link.MTU = 1400
	return h
}

func TestReportOutput(t *testing.T) {
	r := Run(context.Background(), Options{Host: devHost()})
	if !r.Failed() {
		t.Fatal("no containerd: want a failed report")
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "devhost.txt", text.Bytes())
	golden(t, "devhost.json", js.Bytes())
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Findings) != len(r.Findings) {
		t.Fatalf("JSON does not read back: %v (%d findings)", err, len(back.Findings))
	}
	// Every finding is one line, and every fix one indented line under it.
	lines := strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n")
	fixes := 0
	for _, f := range r.Findings {
		if f.Status != OK && f.Fix != "" {
			fixes++
		}
	}
	if want := 1 + len(r.Findings) + fixes; len(lines) != want {
		t.Errorf("%d lines, want %d", len(lines), want)
	}
	col := strings.Index(lines[0], "DETAIL")
	for _, l := range lines[1:] {
		if strings.TrimSpace(l[:col]) != "" && l[col-2:col] != "  " {
			t.Errorf("DETAIL column not aligned at %d: %q", col, l)
		}
		if strings.TrimSpace(l[:col]) == "" && !strings.HasPrefix(l[col:], "fix: ") {
			t.Errorf("indented line is not a fix: %q", l)
		}
	}
}

func TestLogOnlyNotOK(t *testing.T) {
	r := Report{Findings: []Finding{
		{ID: "a", Status: OK, Detail: "fine"},
		{ID: "b", Status: Warn, Detail: "meh", Fix: "do x"},
		{ID: "c", Status: Fail, Detail: "bad", Fix: "do y"},
		{ID: "d", Status: Skip, Detail: "n/a"},
	}}
	var buf bytes.Buffer
	r.Log(slog.New(slog.NewTextHandler(&buf, nil)))
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"level=WARN msg=doctor check=b status=WARN detail=meh fix=\"do x\"",
		"level=ERROR msg=doctor check=c status=FAIL detail=bad fix=\"do y\"",
		"level=INFO msg=doctor check=d status=SKIP detail=n/a"}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %d lines", got, len(want))
	}
	for i := range want {
		if !strings.HasSuffix(got[i], want[i]) {
			t.Errorf("line %d: %q, want suffix %q", i, got[i], want[i])
		}
	}
	if !r.Failed() || (Report{Findings: r.Findings[:2]}).Failed() {
		t.Error("Failed must be true exactly when a finding is FAIL")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
