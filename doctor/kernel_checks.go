package doctor

import (
	"fmt"
	"strings"
)

// Kernel feature parts, by check.
var (
	partsVXLAN    = []part{{"vxlan", "VXLAN"}}
	partsBridge   = []part{{"bridge", "BRIDGE"}}
	partsVeth     = []part{{"veth", "VETH"}}
	partsDummy    = []part{{"dummy", "DUMMY"}}
	partsOverlay  = []part{{"overlay", "OVERLAY_FS"}}
	partsNFTables = []part{{"nf_tables", "NF_TABLES"}}
	partsNFTExprs = []part{{"nft_nat", "NFT_NAT"}, {"nft_ct", "NFT_CT"}, {"nft_masq", "NFT_MASQ"},
		{"nft_fib", "NFT_FIB"}, {"nft_fib_ipv4", "NFT_FIB_IPV4"}}
	partsIPVS      = []part{{"ip_vs", "IP_VS"}}
	partsIPVSSched = []part{{"ip_vs_rr", "IP_VS_RR"}, {"ip_vs_wrr", "IP_VS_WRR"}}
)

// kernelChecks checks the kernel features the overlay, the task network
// namespaces, the load balancers and containerd use.
func kernelChecks(h Host) []Finding {
	k := readKernelFacts(h)
	out := []Finding{
		k.required("kernel/vxlan", "the overlay's VXLAN devices", partsVXLAN),
		k.required("kernel/bridge", "the overlay's bridges", partsBridge),
		k.required("kernel/veth", "the tasks' network interfaces", partsVeth),
	}
	nft := k.nftables()
	out = append(out, nft, k.dependent("kernel/nft-exprs", "the dataplanes' NAT, conntrack, masquerade and fib rules",
		partsNFTExprs, nft.Status == OK, "nf_tables is missing", Fail))
	ipvs := k.ipvs(nft.Status == OK)
	out = append(out, ipvs,
		k.dependent("kernel/ip_vs-sched", "the IPVS dataplane's schedulers (rr, wrr)", partsIPVSSched, ipvs.Status == OK,
			"IPVS is not available", Warn),
		k.dependent("kernel/dummy", "the device the IPVS dataplane puts VIPs on", partsDummy, ipvs.Status == OK,
			"only the IPVS dataplane uses it, and IPVS is not available", Warn),
		k.overlayfs(), cgroups(h))
	return out
}

// required is a feature the agent cannot run without.
func (k *kernelFacts) required(id, what string, parts []part) Finding {
	how, missing := k.feature(parts...)
	if missing != nil {
		return Finding{ID: id, Status: Fail, Detail: k.notFound(missing) + "; needed for " + what,
			Fix: kernelFix + configs(parts)}
	}
	return Finding{ID: id, Status: OK, Detail: how}
}

// dependent is a feature that matters only when another one (on) is there;
// without it the check is skipped for reason. A miss counts as sev.
func (k *kernelFacts) dependent(id, what string, parts []part, on bool, reason string, sev Status) Finding {
	if !on {
		return Finding{ID: id, Status: Skip, Detail: reason}
	}
	f := k.required(id, what, parts)
	if f.Status == Fail {
		f.Status = sev
	}
	if sev == Warn && f.Status == Warn {
		f.Fix += "; or run the agent with --dataplane nftables"
	}
	return f
}

// nftables asks the kernel itself when root: an nftables netlink
// connection that lists the tables. Both dataplanes program nftables, so
// it is required.
func (k *kernelFacts) nftables() Finding {
	const id = "kernel/nf_tables"
	fix := kernelFix + "CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET"
	if !k.h.Root() {
		f := k.required(id, "both load balancers (IPVS marks packets with nftables)", partsNFTables)
		f.Detail += " (not root: netlink probe skipped)"
		return f
	}
	n, err := k.h.NFTables()
	if err != nil {
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("listing nftables tables over netlink failed: %v; both load balancers need nftables", err), Fix: fix}
	}
	return Finding{ID: id, Status: OK, Detail: withHow(k, partsNFTables, fmt.Sprintf("answers over netlink (%d tables)", n))}
}

// ipvs asks for the IPVS generic netlink family (which also loads a
// loadable ip_vs). Without IPVS the nftables dataplane is used, so a miss is
// a warning, unless nftables is missing too.
func (k *kernelFacts) ipvs(nftOK bool) Finding {
	const id = "kernel/ip_vs"
	var detail string
	if k.h.Root() {
		err := k.h.IPVS()
		if err == nil {
			return Finding{ID: id, Status: OK, Detail: withHow(k, partsIPVS, "answers over generic netlink")}
		}
		if how, missing := k.feature(partsIPVS...); missing == nil && how == "loadable" && nftOK {
			// Kernels before 5.16 do not load ip_vs on a family lookup.
			return Finding{ID: id, Status: Warn, Detail: fmt.Sprintf("loadable but not loaded (%v): the nftables dataplane will be used", err),
				Fix: "modprobe ip_vs ip_vs_rr ip_vs_wrr, and list them in /etc/modules-load.d/shoal.conf"}
		}
		detail = fmt.Sprintf("absent from kernel %s (%v)", k.release, err)
	} else {
		how, missing := k.feature(partsIPVS...)
		if missing == nil {
			return Finding{ID: id, Status: OK, Detail: how + " (not root: netlink probe skipped)"}
		}
		detail = k.notFound(missing)
	}
	fix := kernelFix + "CONFIG_IP_VS, CONFIG_IP_VS_RR, CONFIG_IP_VS_WRR"
	if !nftOK {
		return Finding{ID: id, Status: Fail, Detail: detail + "; and nf_tables is missing too: no load balancer can run", Fix: fix}
	}
	return Finding{ID: id, Status: Warn, Detail: detail + ": the nftables dataplane will be used", Fix: fix}
}

// withHow prefixes detail with how the kernel has parts, when the files
// say (a probe that answers may know more than the files do).
func withHow(k *kernelFacts, parts []part, detail string) string {
	if how, missing := k.feature(parts...); missing == nil {
		return how + "; " + detail
	}
	return detail
}

// overlayfs: containerd's default snapshotter mounts overlay filesystems.
func (k *kernelFacts) overlayfs() Finding {
	const id = "kernel/overlayfs"
	if k.fs["overlay"] {
		return Finding{ID: id, Status: OK, Detail: "overlay in /proc/filesystems"}
	}
	return k.required(id, "containerd's overlayfs snapshotter", partsOverlay)
}

// cgroups: containerd and runc put every task in a cgroup.
func cgroups(h Host) Finding {
	const id = "kernel/cgroup2"
	if b, err := h.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return Finding{ID: id, Status: OK, Detail: "cgroup v2 (unified): " + strings.Join(strings.Fields(string(b)), " ")}
	}
	fix := "boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (Debian 11 and later do by default)"
	switch {
	case h.Exists("/sys/fs/cgroup/unified/cgroup.controllers"):
		return Finding{ID: id, Status: Warn, Detail: "hybrid hierarchy (cgroup v2 only at /sys/fs/cgroup/unified): runc puts tasks in cgroup v1 controllers", Fix: fix}
	case h.Exists("/sys/fs/cgroup/memory"), h.Exists("/sys/fs/cgroup/cpu"):
		return Finding{ID: id, Status: Warn, Detail: "cgroup v1 only: runc puts tasks in cgroup v1 controllers", Fix: fix}
	}
	return Finding{ID: id, Status: Fail, Detail: "no cgroup hierarchy under /sys/fs/cgroup: containerd cannot limit or track tasks",
		Fix: "mount -t cgroup2 none /sys/fs/cgroup (systemd does it at boot)"}
}
