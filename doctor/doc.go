// Package doctor checks what a host needs to run a shoal agent and says how
// to fix each gap: kernel features (VXLAN, bridge, veth, nf_tables and the
// expressions the dataplanes use, IPVS and its schedulers, the dummy device
// IPVS puts VIPs on, overlayfs, cgroups), containerd and runc, the ports the
// agent listens on, MTU room for VXLAN, IP forwarding, and the clock against
// the other members of the cluster.
//
// Run returns a Report of Findings, one per check, each OK, WARN, FAIL (the
// agent cannot work as configured) or SKIP (the check does not apply here,
// with the reason). `agent doctor` prints it and exits non-zero on a FAIL;
// `agent run` logs the findings that are not OK when it starts.
//
// # Evidence
//
// A check prefers the kernel's own answer where it is cheap and has no side
// effect: an nftables netlink connection that lists tables, the IPVS generic
// netlink family, a containerd Version call, a listen on each port. Where no
// such answer exists it reads what the kernel publishes: /proc/modules,
// /sys/module/NAME (with initstate for a loadable module), /proc/filesystems,
// /lib/modules/RELEASE/modules.builtin and modules.dep (a module file there
// is "loadable": the kernel loads it on first use), and /proc/config.gz.
// A feature found in none of them is reported missing, naming where it was
// looked for.
//
// Everything a check touches goes through the Host interface, so each check
// is a function of what Host answers; the tests drive them with a fake Host.
// The real Host reads the running system and changes nothing on it (the
// kernel may load nf_tables or ip_vs on the probes' first use, as it would
// for the agent's own first use).
package doctor
