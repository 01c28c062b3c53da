#!/usr/bin/env bash
# Installs what the demo and the tests need on a Debian machine, once.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

# command → Debian package
declare -A need=(
  [containerd]=containerd
  [runc]=runc
  [nft]=nftables
  [ip]=iproute2
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [qemu-system-x86_64]=qemu-system-x86
  [busybox]=busybox-static
  [ipvsadm]=ipvsadm
  [cpio]=cpio
  [depmod]=kmod
  [dig]=dnsutils
  [curl]=curl
  [conntrack]=conntrack
  [mmdebstrap]=mmdebstrap
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab runs its own containerd per node; the distribution's service is
# not needed and must not hold /run/containerd.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi
