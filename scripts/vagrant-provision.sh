#!/bin/sh
# Provisions one shoal node; run as root inside the VM by the Vagrantfile.
# Idempotent: a second run changes nothing.
#
#   vagrant-provision.sh install IP NAME [AGENT-FLAGS...]
#       names the host NAME, installs containerd, runc, nftables and
#       ipvsadm where missing (from the distribution), shoal
#       (/tmp/shoal-stage/shoal.deb, or the binaries agent and agentctl
#       there with the unit), writes /etc/shoal/agent.env (--advertise IP
#       and the flags) and starts the agent.
#   vagrant-provision.sh init       founds the cluster unless already in one
#   vagrant-provision.sh join TOKEN PEER
#                                   joins the cluster unless already in one
set -eu
stage=/tmp/shoal-stage

# set_hostname NAME names the host NAME (before the agent starts: its node
# name is the hostname). vagrant's own hostname step does the same with a
# dozen commands over ssh, half a minute of CPU under emulation.
set_hostname() {
	if ! grep -qE "^127\.0\.1\.1[[:space:]]+$1\$" /etc/hosts; then
		sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
		echo "127.0.1.1 $1" >>/etc/hosts
	fi
	[ "$(hostname)" = "$1" ] || hostnamectl set-hostname "$1"
}

in_cluster() { agent join-token -q >/dev/null 2>&1; }

wait_socket() {
	i=0
	while [ ! -S /run/shoal/agent.sock ]; do
		i=$((i + 1))
		if [ "$i" -gt 60 ]; then
			echo "shoal: the agent's socket did not appear; see journalctl -u shoal-agent" >&2
			exit 1
		fi
		sleep 1
	done
}

install_packages() {
	need=""
	for p in containerd runc nftables ipvsadm; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
	done
	if [ -n "$need" ]; then
		echo "shoal: installing$need"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
	fi
}

# settings IP FLAGS... writes /etc/shoal/agent.env; prints "changed" when it did.
settings() {
	ip=$1
	shift
	line="SHOAL_AGENT_ARGS=\"--advertise $ip${*:+ $*}\""
	if [ -f /etc/shoal/agent.env ] && grep -qxF "$line" /etc/shoal/agent.env; then
		return
	fi
	install -d -m 0755 /etc/shoal
	printf '# Written by vagrant-provision.sh; flags of `agent run`.\n%s\n' "$line" >/etc/shoal/agent.env
	echo changed
}

install_shoal() {
	if [ -f "$stage/shoal.deb" ]; then
		want=$(dpkg-deb -f "$stage/shoal.deb" Version)
		have=$(dpkg-query -W -f '${Version}' shoal 2>/dev/null || true)
		if [ "$want" != "$have" ]; then
			echo "shoal: installing package $want"
			dpkg -i --force-confold "$stage/shoal.deb" >/dev/null
			echo changed
		fi
		return
	fi
	changed=""
	for f in agent agentctl; do
		if ! cmp -s "$stage/$f" "/usr/bin/$f"; then
			install -m 0755 "$stage/$f" "/usr/bin/$f"
			changed=1
		fi
	done
	if ! cmp -s "$stage/shoal-agent.service" /lib/systemd/system/shoal-agent.service; then
		install -m 0644 "$stage/shoal-agent.service" /lib/systemd/system/shoal-agent.service
		systemctl daemon-reload
		changed=1
	fi
	[ -z "$changed" ] || echo changed
}

case "${1:-}" in
install)
	shift
	[ $# -ge 2 ] || { echo "usage: $0 install IP NAME [AGENT-FLAGS...]" >&2; exit 2; }
	ip=$1 name=$2
	shift 2
	set_hostname "$name"
	install_packages
	s=$(settings "$ip" "$@")
	i=$(install_shoal)
	systemctl enable --quiet shoal-agent.service
	if [ -n "$s$i" ] && systemctl is-active --quiet shoal-agent.service; then
		systemctl restart shoal-agent.service
	else
		systemctl start shoal-agent.service
	fi
	wait_socket
	;;
init)
	wait_socket
	in_cluster || agent init
	;;
join)
	[ $# -eq 3 ] || { echo "usage: $0 join TOKEN PEER" >&2; exit 2; }
	wait_socket
	in_cluster || agent join --token "$2" "$3"
	;;
*)
	echo "usage: $0 install IP NAME [FLAGS...] | init | join TOKEN PEER" >&2
	exit 2
	;;
esac
