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
cat <<'MSG'

The lab is up. Try:
  bin/lab exec n1 -- agentctl node ls
  bin/lab kill n1          # SIGKILL n1's agent: another node takes the lead
  bin/lab start n1         # it rejoins from its data dir
  bin/lab partition n3     # cut n3 off; bin/lab heal to undo
  bin/lab down             # remove everything
MSG
