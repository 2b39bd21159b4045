#!/usr/bin/env bash
# cutover test bed: stops what scripts/testbed/up.sh started (the two sshd and
# the registry), each by its pidfile in .testbed/ and only if that pid is still
# the process up.sh started. Leaves dockerd, images, keys and registry data
# alone, so the next up.sh is quick.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$REPO/.testbed

stop() { # name pidfile marker
  local name=$1 pidf=$2 marker=$3 pid
  pid=$(cat "$pidf" 2>/dev/null || true)
  if [ -z "$pid" ] || [ ! -r "/proc/$pid/cmdline" ] || ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
    echo "$name: not running"
    rm -f "$pidf"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name: pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  echo "$name: stopped (pid $pid)"
}

bash "$SCRIPT_DIR/swarm.sh" down || true
bash "$SCRIPT_DIR/hosts.sh" down || true
stop sshd-target "$TB/sshd-target.pid" "$TB/sshd-target.conf"
stop sshd-bastion "$TB/sshd-bastion.pid" "$TB/sshd-bastion.conf"
stop registry "$TB/registry.pid" "$TB/registry.yml"
stop pebble "$TB/pebble/pebble.pid" "$TB/pebble/config.json"
stop pebble-challtestsrv "$TB/pebble/challtestsrv.pid" "pebble-challtestsrv"
