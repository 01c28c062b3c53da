package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// finding runs every check against h and returns the one with id.
func finding(t *testing.T, h *fakeHost, opts Options, id string) Finding {
	t.Helper()
	opts.Host = h
	f, ok := Run(context.Background(), opts).Find(id)
	if !ok {
		t.Fatalf("no finding %q", id)
	}
	return f
}

type checkCase struct {
	name   string
	mutate func(h *fakeHost)
	opts   Options
	id     string
	want   Status
	detail []string // substrings of Detail
	fix    string   // substring of Fix
}

func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := debianHost()
			if tc.mutate != nil {
				tc.mutate(h)
			}
			f := finding(t, h, tc.opts, tc.id)
			if f.Status != tc.want {
				t.Fatalf("%s: status %s, want %s (detail %q)", tc.id, f.Status, tc.want, f.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(f.Detail, d) {
					t.Errorf("%s: detail %q lacks %q", tc.id, f.Detail, d)
				}
			}
			if !strings.Contains(f.Fix, tc.fix) {
				t.Errorf("%s: fix %q lacks %q", tc.id, f.Fix, tc.fix)
			}
			if f.Status != OK && f.Status != Skip && f.Fix == "" {
				t.Errorf("%s: %s without a fix", tc.id, f.Status)
			}
		})
	}
}

const mods = "/lib/modules/" + testRelease

func unload(h *fakeHost, module string) {
	var keep []string
	for _, l := range strings.Split(h.files["/proc/modules"], "\n") {
		if !strings.HasPrefix(l, module+" ") {
			keep = append(keep, l)
		}
	}
	h.files["/proc/modules"] = strings.Join(keep, "\n")
}

// remove deletes every file whose path contains s (the module's file and
// its modules.dep line go with it only when asked).
func remove(h *fakeHost, s string) {
	for p := range h.files {
		if strings.Contains(p, s) {
			delete(h.files, p)
		}
	}
}

func dropDep(h *fakeHost, file string) {
	h.files[mods+"/modules.dep"] = strings.ReplaceAll(h.files[mods+"/modules.dep"], file+":\n", "")
}

func gone(h *fakeHost, module, file string) {
	unload(h, module)
	remove(h, "/"+file)
	dropDep(h, "kernel/"+strings.TrimPrefix(file, "kernel/"))
}

func TestKernelFeatures(t *testing.T) {
	runCases(t, []checkCase{
		{name: "vxlan loaded", id: "kernel/vxlan", want: OK, detail: []string{"loaded"}},
		{name: "vxlan loadable", mutate: func(h *fakeHost) { unload(h, "vxlan") }, id: "kernel/vxlan", want: OK, detail: []string{"loadable"}},
		{name: "vxlan built in per sysfs", mutate: func(h *fakeHost) {
			unload(h, "vxlan")
			remove(h, "vxlan.ko")
			h.files["/sys/module/vxlan/parameters/udp_port"] = "4789"
		}, id: "kernel/vxlan", want: OK, detail: []string{"built in"}},
		{name: "vxlan loaded per sysfs initstate", mutate: func(h *fakeHost) {
			unload(h, "vxlan")
			h.files["/sys/module/vxlan/initstate"] = "live"
		}, id: "kernel/vxlan", want: OK, detail: []string{"loaded"}},
		{name: "vxlan built in per config.gz", mutate: func(h *fakeHost) {
			unload(h, "vxlan")
			remove(h, "vxlan.ko")
			h.files["/proc/config.gz"] = gz("CONFIG_VXLAN=y\n")
		}, id: "kernel/vxlan", want: OK, detail: []string{"built in"}},
		{name: "vxlan listed in modules.dep but its file is gone", mutate: func(h *fakeHost) {
			unload(h, "vxlan")
			remove(h, "vxlan.ko")
		}, id: "kernel/vxlan", want: Fail, detail: []string{"not in kernel " + testRelease + ": vxlan", "/proc/modules", "modules.dep"}, fix: "CONFIG_VXLAN"},
		{name: "vxlan a module per config.gz but no file", mutate: func(h *fakeHost) {
			unload(h, "vxlan")
			remove(h, "vxlan.ko")
			h.files["/proc/config.gz"] = gz("CONFIG_VXLAN=m\n")
		}, id: "kernel/vxlan", want: Fail, detail: []string{"/proc/config.gz"}},
		{name: "veth built in per modules.builtin", id: "kernel/veth", want: OK, detail: []string{"built in"}},
		{name: "veth absent", mutate: func(h *fakeHost) { delete(h.files, mods+"/modules.builtin") }, id: "kernel/veth", want: Fail,
			detail: []string{"veth", "tasks' network interfaces"}, fix: "linux-image-amd64"},
		{name: "bridge absent", mutate: func(h *fakeHost) { gone(h, "bridge", "kernel/net/bridge/bridge.ko.xz") }, id: "kernel/bridge", want: Fail},
		{name: "garbage config.gz is ignored", mutate: func(h *fakeHost) {
			h.files["/proc/config.gz"] = "not gzip"
			delete(h.files, mods+"/modules.builtin")
		}, id: "kernel/veth", want: Fail},
		{name: "overlayfs in filesystems", id: "kernel/overlayfs", want: OK, detail: []string{"/proc/filesystems"}},
		{name: "overlayfs loadable", mutate: func(h *fakeHost) {
			h.files["/proc/filesystems"] = "nodev\tsysfs\n"
			unload(h, "overlay")
		}, id: "kernel/overlayfs", want: OK, detail: []string{"loadable"}},
		{name: "overlayfs absent", mutate: func(h *fakeHost) {
			h.files["/proc/filesystems"] = "nodev\tsysfs\n"
			gone(h, "overlay", "kernel/fs/overlayfs/overlay.ko.xz")
		}, id: "kernel/overlayfs", want: Fail, fix: "CONFIG_OVERLAY_FS"},
	})
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz": "ip_vs_rr", "kernel/x/ip_vs-wrr.ko.zst": "ip_vs_wrr",
		"dummy.ko": "dummy", " kernel/a/nft_fib_ipv4.ko.gz ": "nft_fib_ipv4",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNFTables(t *testing.T) {
	runCases(t, []checkCase{
		{name: "probe answers", id: "kernel/nf_tables", want: OK, detail: []string{"loaded; answers over netlink (2 tables)"}},
		{name: "probe fails", mutate: func(h *fakeHost) { h.nftErr = errors.New("protocol not supported") }, id: "kernel/nf_tables",
			want: Fail, detail: []string{"protocol not supported"}, fix: "CONFIG_NF_TABLES"},
		{name: "not root, loadable", mutate: func(h *fakeHost) { h.root = false; unload(h, "nf_tables") }, id: "kernel/nf_tables",
			want: OK, detail: []string{"loadable", "not root"}},
		{name: "not root, absent", mutate: func(h *fakeHost) {
			h.root = false
			gone(h, "nf_tables", "kernel/net/netfilter/nf_tables.ko.xz")
		}, id: "kernel/nf_tables", want: Fail, detail: []string{"nf_tables", "not root"}},
		{name: "expressions loadable", id: "kernel/nft-exprs", want: OK, detail: []string{"nft_nat, nft_ct, nft_masq, nft_fib, nft_fib_ipv4: loadable"}},
		{name: "expressions mixed", mutate: func(h *fakeHost) { h.files["/proc/config.gz"] = gz("CONFIG_NFT_CT=y\n") },
			id: "kernel/nft-exprs", want: OK, detail: []string{"nft_nat loadable, nft_ct built in"}},
		{name: "masq missing", mutate: func(h *fakeHost) { gone(h, "nft_masq", "kernel/net/netfilter/nft_masq.ko.xz") },
			id: "kernel/nft-exprs", want: Fail, detail: []string{": nft_masq ("}, fix: "CONFIG_NFT_MASQ"},
		{name: "expressions skipped without nf_tables", mutate: func(h *fakeHost) { h.nftErr = errors.New("x") },
			id: "kernel/nft-exprs", want: Skip, detail: []string{"nf_tables is missing"}},
	})
}

func TestIPVS(t *testing.T) {
	noIPVS := func(h *fakeHost) { h.ipvsErr = errors.New("generic netlink has no IPVS family") }
	noIPVSAtAll := func(h *fakeHost) { noIPVS(h); gone(h, "ip_vs", "kernel/net/netfilter/ipvs/ip_vs.ko.xz") }
	runCases(t, []checkCase{
		{name: "probe answers", id: "kernel/ip_vs", want: OK, detail: []string{"loadable; answers over generic netlink"}},
		{name: "absent: nftables fallback", mutate: noIPVSAtAll, id: "kernel/ip_vs", want: Warn,
			detail: []string{"absent from kernel " + testRelease + " (generic netlink has no IPVS family): the nftables dataplane will be used"}, fix: "CONFIG_IP_VS"},
		{name: "loadable, but the lookup does not load it", mutate: func(h *fakeHost) { noIPVS(h) }, id: "kernel/ip_vs", want: Warn,
			detail: []string{"loadable but not loaded", "nftables dataplane will be used"}, fix: "modprobe ip_vs"},
		{name: "absent with nf_tables absent", mutate: func(h *fakeHost) { noIPVSAtAll(h); h.nftErr = errors.New("x") },
			id: "kernel/ip_vs", want: Fail, detail: []string{"no load balancer can run"}},
		{name: "not root, loadable", mutate: func(h *fakeHost) { h.root = false }, id: "kernel/ip_vs", want: OK, detail: []string{"loadable", "not root"}},
		{name: "not root, absent", mutate: func(h *fakeHost) {
			h.root = false
			gone(h, "ip_vs", "kernel/net/netfilter/ipvs/ip_vs.ko.xz")
		}, id: "kernel/ip_vs", want: Warn, detail: []string{"ip_vs", "nftables dataplane"}},
		{name: "schedulers", id: "kernel/ip_vs-sched", want: OK, detail: []string{"ip_vs_rr, ip_vs_wrr: loadable"}},
		{name: "wrr missing", mutate: func(h *fakeHost) { gone(h, "ip_vs_wrr", "kernel/net/netfilter/ipvs/ip_vs_wrr.ko.xz") },
			id: "kernel/ip_vs-sched", want: Warn, detail: []string{": ip_vs_wrr ("}, fix: "--dataplane nftables"},
		{name: "schedulers skipped without IPVS", mutate: noIPVS, id: "kernel/ip_vs-sched", want: Skip, detail: []string{"IPVS is not available"}},
		{name: "dummy", id: "kernel/dummy", want: OK},
		{name: "dummy missing with IPVS", mutate: func(h *fakeHost) { gone(h, "dummy", "kernel/drivers/net/dummy.ko.xz") },
			id: "kernel/dummy", want: Warn, detail: []string{"VIPs"}, fix: "CONFIG_DUMMY"},
		{name: "dummy skipped without IPVS", mutate: func(h *fakeHost) { noIPVS(h); gone(h, "dummy", "kernel/drivers/net/dummy.ko.xz") },
			id: "kernel/dummy", want: Skip},
	})
}

func TestCgroups(t *testing.T) {
	noV2 := func(h *fakeHost) { delete(h.files, "/sys/fs/cgroup/cgroup.controllers") }
	runCases(t, []checkCase{
		{name: "v2", id: "kernel/cgroup2", want: OK, detail: []string{"cgroup v2 (unified): cpuset cpu io memory"}},
		{name: "hybrid", mutate: func(h *fakeHost) { noV2(h); h.files["/sys/fs/cgroup/unified/cgroup.controllers"] = "" },
			id: "kernel/cgroup2", want: Warn, detail: []string{"hybrid"}, fix: "systemd.unified_cgroup_hierarchy=1"},
		{name: "v1", mutate: func(h *fakeHost) { noV2(h); h.files["/sys/fs/cgroup/memory/tasks"] = "" },
			id: "kernel/cgroup2", want: Warn, detail: []string{"cgroup v1 only"}},
		{name: "none", mutate: noV2, id: "kernel/cgroup2", want: Fail, fix: "mount -t cgroup2"},
	})
}
