#!/usr/bin/env bash
# Installs what the VM test needs on a Debian host, without starting any
# service (the harness starts libvirtd itself, inside its own network
# namespace). Idempotent.
set -euo pipefail
need=()
for p in vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients \
	qemu-system-x86 qemu-utils dnsmasq-base iptables mmdebstrap e2fsprogs openssh-client; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "vm: installing ${need[*]}"
# No service may start from a package's postinst: this host may have no
# systemd, and the harness runs its own libvirtd.
policy=/usr/sbin/policy-rc.d
created=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created=1
fi
trap '[ -z "$created" ] || rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
