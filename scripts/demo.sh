#!/usr/bin/env bash
# The demo: a 3-node cluster on this machine (network namespaces), then a
# look at it. Leaves the lab running; `bin/lab down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the lab creates network namespaces and runs containerd: run it as root" >&2
  exit 1
fi
lab=bin/lab
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step $lab down
step $lab up --nodes 3
step $lab status
step $lab exec n2 -- agentctl node ls
step $lab exec n1 -- agentctl node update --label-add env=test n3
step $lab exec n3 -- agentctl node inspect --pretty n3
step $lab exec n1 -- agent members
step $lab images
reg=$($lab registry)
step $lab exec n1 -- agentctl service create --name web --replicas 3 --publish 8080:80 "$reg/web:v1"
step $lab exec n2 -- agentctl service ps web
step $lab exec hub -- curl -s http://10.77.0.1:8080/
step $lab exec n3 -- agentctl service update --image "$reg/web:v2" web
step $lab exec hub -- curl -s http://10.77.0.2:8080/
step $lab exec n1 -- agentctl service ls
cat <<'MSG'

The lab is up, with service web published on port 8080 of every node. Try:
  bin/lab exec n1 -- agentctl node ls
  bin/lab exec n1 -- agentctl service scale web=6
  bin/lab exec n1 -- agentctl service rollback web
  bin/lab exec n1 -- agentctl service logs web
  bin/lab kill n1          # SIGKILL n1's agent: another node takes the lead
  bin/lab start n1         # it rejoins from its data dir
  bin/lab partition n3     # cut n3 off; bin/lab heal to undo
  bin/lab down             # remove everything
MSG
