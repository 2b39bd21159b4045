#!/usr/bin/env bash
# cutover test bed: one real 3-node Docker Swarm of the fleet hosts (hosts.sh), for `target: swarm`.
#   bash scripts/testbed/swarm.sh up     # idempotent; up.sh calls it after hosts.sh
#   bash scripts/testbed/swarm.sh down   # every node leaves the swarm; the FORWARD rule goes
# Host 1 (10.231.0.11) is the only manager, reached over SSH like any fleet host; hosts 2 and 3 are
# workers. Every node is labelled cutover-test.node=hN, so a test can pin a service to a node.
# Why the FORWARD rule: the namespaces' traffic crosses the bridge cutover-test-br, and with
# br_netfilter loaded it goes through iptables FORWARD, whose policy Docker sets to DROP. Swarm's
# control plane (2377/tcp), gossip (7946) and overlay data path (4789/udp) need it.
# This kernel has no IPVS: services use endpoint_mode dnsrr and host-mode published ports only (no
# VIP, no ingress routing mesh).
# Writes CUTOVER_TEST_SWARM* into .testbed/env and env.json.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$(readlink -f "$REPO/.testbed")
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

COUNT=${CUTOVER_TEST_HOST_COUNT:-3}
BRIDGE=cutover-test-br
NET_PREFIX=10.231.0
MANAGER=$NET_PREFIX.11

log() { printf '[testbed swarm] %s\n' "$*"; }
die() { printf 'testbed swarm: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

addr_of() { echo "$NET_PREFIX.1$1"; }
# The docker CLI of host N, through its own socket (bounded: a node that does not answer fails the step).
dk() { # n args...
  local n=$1
  shift
  DOCKER_HOST="unix:///run/cutover-test-h$n/docker.sock" timeout 60 docker "$@"
}
state_of() { dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unreachable; }

forward_up() {
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null && return 0
  iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  log "iptables: FORWARD accepts $BRIDGE <-> $BRIDGE"
}

manager_up() {
  local state
  state=$(state_of 1)
  # A manager whose swarm lost its other managers or is half-made: start over.
  if [ "$state" = active ] && [ "$(dk 1 info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
    dk 1 swarm leave --force >/dev/null
    state=inactive
  fi
  case "$state" in
  active) ;;
  inactive)
    dk 1 swarm init --advertise-addr "$MANAGER" --listen-addr "$MANAGER:2377" >/dev/null
    log "host 1 ($MANAGER): swarm initialised (manager)"
    ;;
  *)
    dk 1 swarm leave --force >/dev/null 2>&1 || true
    dk 1 swarm init --advertise-addr "$MANAGER" --listen-addr "$MANAGER:2377" >/dev/null
    log "host 1 ($MANAGER): swarm initialised again (it was $state)"
    ;;
  esac
}

worker_up() { # n token
  local n=$1 token=$2 id
  if [ "$(state_of "$n")" = active ]; then
    # In this swarm already when the manager knows its node id (a worker sees no cluster id).
    id=$(dk "$n" info --format '{{.Swarm.NodeID}}')
    [ -n "$id" ] && dk 1 node inspect "$id" >/dev/null 2>&1 && return 0
  fi
  dk "$n" swarm leave --force >/dev/null 2>&1 || true
  dk "$n" swarm join --token "$token" --advertise-addr "$(addr_of "$n")" --listen-addr "$(addr_of "$n"):2377" "$MANAGER:2377" >/dev/null
  log "host $n ($(addr_of "$n")): joined the swarm"
}

nodes_ready() {
  local n id hostname ready
  for _ in $(seq 1 150); do
    ready=$(dk 1 node ls --format '{{.Hostname}} {{.Status}}' | awk '$2 == "Ready"' | wc -l)
    [ "$ready" -ge "$COUNT" ] && break
    sleep 0.2
  done
  [ "$ready" -ge "$COUNT" ] || die "only $ready of $COUNT swarm nodes are Ready: $(dk 1 node ls 2>&1)"
  # Nodes that left (a re-join makes a new node): gone from the list, so placement sees only live ones.
  dk 1 node ls --format '{{.ID}} {{.Status}}' | awk '$2 == "Down" {print $1}' | xargs -r -n1 env DOCKER_HOST=unix:///run/cutover-test-h1/docker.sock docker node rm --force >/dev/null 2>&1 || true
  # Label each node by the host it is (its address), so tests can place tasks on a given node.
  for id in $(dk 1 node ls -q); do
    hostname=$(dk 1 node inspect "$id" --format '{{.Status.Addr}}')
    for n in $(seq 1 "$COUNT"); do
      [ "$hostname" = "$(addr_of "$n")" ] || continue
      [ "$(dk 1 node inspect "$id" --format '{{index .Spec.Labels "cutover-test.node"}}')" = "h$n" ] || dk 1 node update --label-add "cutover-test.node=h$n" "$id" >/dev/null
    done
  done
}

env_up() {
  local vars=(
    CUTOVER_TEST_SWARM_MANAGER="$MANAGER"
    CUTOVER_TEST_SWARM_NODES="$(for n in $(seq 1 "$COUNT"); do addr_of "$n"; done | paste -sd ' ')"
  )
  [ -f "$TB/env" ] && [ -f "$TB/env.json" ] || die "$TB/env is missing: run scripts/testbed/up.sh (it calls this script)"
  sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
  {
    awk '/^export /{skip = ($0 ~ /^export CUTOVER_TEST_SWARM/)} !skip' "$TB/env"
    for kv in "${vars[@]}"; do echo "export ${kv%%=*}=$(sq "${kv#*=}")"; done
  } | write_if_changed "$TB/env" || true
  node -e '
    const fs = require("fs")
    const file = process.argv[1]
    const o = JSON.parse(fs.readFileSync(file, "utf8"))
    for (const k of Object.keys(o)) if (k.startsWith("CUTOVER_TEST_SWARM")) delete o[k]
    for (const kv of process.argv.slice(2)) { const i = kv.indexOf("="); o[kv.slice(0, i)] = kv.slice(i + 1) }
    fs.writeFileSync(file, JSON.stringify(o, null, 2) + "\n")
  ' "$TB/env.json" "${vars[@]}"
  chmod 600 "$TB/env" "$TB/env.json"
}

up() {
  local n token
  for n in $(seq 1 "$COUNT"); do
    [ -S "/run/cutover-test-h$n/docker.sock" ] || die "host $n's dockerd is not up: run scripts/testbed/hosts.sh up first"
    # A node stopped by a test (dockerd killed) comes back with hosts.sh.
    [ "$(state_of "$n")" != unreachable ] || die "host $n's dockerd does not answer: run scripts/testbed/hosts.sh up"
  done
  forward_up
  manager_up
  token=$(dk 1 swarm join-token -q worker)
  for n in $(seq 2 "$COUNT"); do worker_up "$n" "$token"; done
  nodes_ready
  env_up
  log "swarm of $COUNT nodes up: manager root@$MANAGER"
}

down() {
  local n
  for n in $(seq "$COUNT" -1 1); do
    [ -S "/run/cutover-test-h$n/docker.sock" ] || continue
    [ "$(state_of "$n")" = inactive ] || [ "$(state_of "$n")" = unreachable ] || { dk "$n" swarm leave --force >/dev/null 2>&1 && log "host $n left the swarm"; }
  done
  while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  log "swarm down"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) die "usage: swarm.sh up|down" ;;
esac
