#!/usr/bin/env bash
# cutover test bed: several real hosts on this machine, for the multi-host (fleet) tests.
#   bash scripts/testbed/hosts.sh up     # idempotent; up.sh calls it
#   bash scripts/testbed/hosts.sh down   # stops and removes what `up` made (keeps keys and docker data)
# Host N (1..3) is:
#   - network namespace cutover-test-hN, eth0 10.231.0.1N/24, joined by a veth pair to the bridge
#     cutover-test-br (10.231.0.1/24) on this machine;
#   - a mount namespace (/run/cutover-test-ns/hN) where /root, /run/cutover and /run/docker.sock are
#     the host's own: the ledger and locks (~/.cutover), the HAProxy admin sockets and the Docker
#     socket every SSH session sees are per host, as on separate machines;
#   - its own dockerd (data-root /var/lib/cutover-test-hN/docker, exec-root /run/cutover-test-hN,
#     bridge 10.24N.0.1/24) started with nsenter (`ip netns exec` remounts /sys and dockerd then fails);
#   - its own sshd on 10.231.0.1N:22 with its own host key, the test bed's user keys.
# The registry (127.0.0.1:5000) is reached from the namespaces through a TCP relay on
# 10.231.0.1:5000 (an insecure registry for those dockerd): pull 10.231.0.1:5000/cutover-test/app:TAG.
# Writes CUTOVER_TEST_HOSTS* into .testbed/env and env.json. Every name starts with cutover-test.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$(readlink -f "$REPO/.testbed")
HD=$TB/hosts
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

COUNT=${CUTOVER_TEST_HOST_COUNT:-3}
BRIDGE=cutover-test-br
NET_PREFIX=10.231.0
GATEWAY=$NET_PREFIX.1
RELAY_ADDR=$GATEWAY:5000
NS_DIR=/run/cutover-test-ns

log() { printf '[testbed hosts] %s\n' "$*"; }
die() { printf 'testbed hosts: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root"
# A checkout whose .testbed/hosts links to another's (a git worktree) would rewrite that bed's sshd
# configuration with its own paths and lose the running sshd's pid file: run it from the bed's own checkout.
[ ! -e "$HD" ] || [ "$(readlink -f "$HD")" = "$TB/hosts" ] || die "$HD belongs to the bed of $(dirname "$(readlink -f "$HD")"); run hosts.sh from that checkout"

ns_of() { echo "cutover-test-h$1"; }
addr_of() { echo "$NET_PREFIX.1$1"; }
mntns_of() { echo "$NS_DIR/h$1"; }
run_of() { echo "/run/cutover-test-h$1"; }
data_of() { echo "/var/lib/cutover-test-h$1"; }
# Runs a command inside host N (its network and mount namespaces).
in_host() { # n command...
  local n=$1
  shift
  nsenter --net="/var/run/netns/$(ns_of "$n")" --mount="$(mntns_of "$n")" "$@"
}
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
stop_pid() { # name pidfile marker
  local pid
  if pid=$(pid_alive "$2" "$3"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "$1: stopped (pid $pid)"
  fi
  rm -f "$2"
}
mnt_inode() { in_host "$1" stat -L -c %i "$2" 2>/dev/null || true; }

# ---------------------------------------------------------------- network
net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    log "bridge $BRIDGE created"
  fi
  # (grep reads all its input: with -q an early exit would fail the pipeline under pipefail)
  ip -4 -o addr show dev "$BRIDGE" | grep -F "inet $GATEWAY/24" >/dev/null || ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local n ns veth
  for n in $(seq 1 "$COUNT"); do
    ns=$(ns_of "$n")
    veth=cutover-test-v$n
    [ -e "/var/run/netns/$ns" ] || { ip netns add "$ns" && log "netns $ns created"; }
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip netns exec "$ns" ip link del eth0 2>/dev/null || true
      ip link add "$veth" type veth peer name "cutover-test-p$n" netns "$ns"
      ip netns exec "$ns" ip link set "cutover-test-p$n" name eth0
    fi
    ip link set "$veth" master "$BRIDGE" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip -4 -o addr show dev eth0 | grep -F "inet $(addr_of "$n")/24" >/dev/null || ip netns exec "$ns" ip addr add "$(addr_of "$n")/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip route replace default via "$GATEWAY"
  done
}

# A persistent mount namespace per host, private, with the host's own /root, /run/cutover and docker socket.
mnt_up() { # n
  local n=$1 ns_file data
  ns_file=$(mntns_of "$n")
  data=$(data_of "$n")
  mkdir -p "$NS_DIR" "$data/home" "$data/run-cutover" /run/cutover "$(run_of "$n")"
  chmod 700 "$data/home"
  if ! findmnt -n "$ns_file" >/dev/null 2>&1; then
    # The file that holds a namespace must not be on a shared mount.
    findmnt -n "$NS_DIR" >/dev/null 2>&1 || { mount --bind "$NS_DIR" "$NS_DIR" && mount --make-private "$NS_DIR"; }
    touch "$ns_file"
    unshare --mount="$ns_file" --propagation private true
    in_host "$n" mount --bind "$data/home" /root
    in_host "$n" mount --bind "$data/run-cutover" /run/cutover
    log "mount namespace of host $n created"
  fi
}

# ---------------------------------------------------------------- dockerd
dockerd_up() { # n
  local n=$1 run data sock pidf
  run=$(run_of "$n")
  data=$(data_of "$n")
  sock=$run/docker.sock
  pidf=$run/dockerd.pid
  # Started by an older version of this script (without the fast-failing DNS below): restart it.
  if pid_alive "$pidf" "$data/docker" >/dev/null && ! pid_alive "$pidf" "--dns $GATEWAY" >/dev/null; then
    stop_pid "dockerd of host $n (old flags)" "$pidf" "$data/docker"
  fi
  if ! pid_alive "$pidf" "$data/docker" >/dev/null; then
    rm -f "$pidf"
    # setsid: dockerd must outlive this script; its log stays in the test bed's directory.
    # --dns: the machine's nameserver is not reachable from the namespace, and a name lookup there
    # waits 20 s (HAProxy resolves its servers' names on every reload): dns-stub.mjs on the
    # gateway answers NXDOMAIN at once for names Docker does not know itself.
    in_host "$n" setsid nohup dockerd --data-root "$data/docker" --exec-root "$run/exec" -H "unix://$sock" -p "$pidf" \
      --bip "10.24$n.0.1/24" --dns "$GATEWAY" --insecure-registry "$RELAY_ADDR" --log-level warn >>"$HD/h$n/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 300); do
      DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1 && break
      sleep 0.1
    done
    DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1 || die "dockerd of host $n did not start; see $HD/h$n/dockerd.log: $(tail -5 "$HD/h$n/dockerd.log")"
    log "dockerd of host $n started (pid $(cat "$pidf"))"
  fi
  # Sessions on the host find its Docker at the usual path (re-bound when dockerd re-created the socket).
  if [ "$(mnt_inode "$n" "$sock")" != "$(mnt_inode "$n" /run/docker.sock)" ]; then
    in_host "$n" umount /run/docker.sock 2>/dev/null || true
    [ -e /run/docker.sock ] || touch /run/docker.sock
    in_host "$n" mount --bind "$sock" /run/docker.sock
  fi
}

# ---------------------------------------------------------------- sshd
sshd_up() { # n
  local n=$1 dir=$HD/h$1 cfg pidf key changed=0 pid
  cfg=$dir/sshd.conf
  pidf=$dir/sshd.pid
  key=$dir/ssh_host_ed25519_key
  if [ ! -s "$key" ]; then
    rm -f "$key" "$key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "cutover-test-h$n" -f "$key"
  fi
  chmod 600 "$key"
  write_if_changed "$cfg" <<EOF && changed=1
# cutover test bed: sshd of fleet host $n (written by scripts/testbed/hosts.sh)
Port 22
ListenAddress $(addr_of "$n")
AddressFamily inet
HostKey $key
PidFile $pidf
AuthorizedKeysFile $TB/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
X11Forwarding no
PrintMotd no
PermitUserEnvironment no
MaxStartups 30:30:100
LogLevel VERBOSE
EOF
  sshd -t -f "$cfg" || die "sshd config $cfg is invalid"
  if pid=$(pid_alive "$pidf" "$cfg"); then
    [ "$changed" = 1 ] && kill -HUP "$pid" && sleep 0.3
    return 0
  fi
  rm -f "$pidf"
  in_host "$n" "$(command -v sshd)" -f "$cfg" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do [ -s "$pidf" ] && break; sleep 0.1; done
  pid_alive "$pidf" "$cfg" >/dev/null || die "sshd of host $n did not start; see $dir/sshd.log"
  log "sshd of host $n started on $(addr_of "$n"):22 (pid $(cat "$pidf"))"
}

# ---------------------------------------------------------------- registry relay
relay_up() {
  local pidf=$HD/registry-relay.pid marker="tcp-relay.mjs $GATEWAY 5000"
  pid_alive "$pidf" "$marker" >/dev/null && return 0
  setsid nohup node "$SCRIPT_DIR/tcp-relay.mjs" "$GATEWAY" 5000 127.0.0.1 5000 >>"$HD/registry-relay.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  for _ in $(seq 1 50); do [ -n "$(ss -Hltn "src $GATEWAY and sport = :5000")" ] && break; sleep 0.1; done
  [ -n "$(ss -Hltn "src $GATEWAY and sport = :5000")" ] || die "registry relay did not listen on $RELAY_ADDR; see $HD/registry-relay.log"
  log "registry relay on $RELAY_ADDR (pid $(cat "$pidf"))"
}

# Docker's embedded DNS in the namespaces forwards names it does not know here (dockerd --dns).
dns_up() {
  local pidf=$HD/dns-stub.pid marker="dns-stub.mjs $GATEWAY"
  pid_alive "$pidf" "$marker" >/dev/null && return 0
  setsid nohup node "$SCRIPT_DIR/dns-stub.mjs" "$GATEWAY" >>"$HD/dns-stub.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  for _ in $(seq 1 50); do [ -n "$(ss -Hlun "src $GATEWAY and sport = :53")" ] && break; sleep 0.1; done
  [ -n "$(ss -Hlun "src $GATEWAY and sport = :53")" ] || die "DNS stub did not listen on $GATEWAY:53; see $HD/dns-stub.log"
  log "DNS stub on $GATEWAY:53 (pid $(cat "$pidf"))"
}

# ---------------------------------------------------------------- env
env_up() {
  local hosts="" known="" netns="" n line
  for n in $(seq 1 "$COUNT"); do
    hosts+="$(addr_of "$n")"$'\n'
    line="$(addr_of "$n") $(cut -d' ' -f1,2 "$HD/h$n/ssh_host_ed25519_key.pub")"
    known+="$line"$'\n'
    netns+="$(ns_of "$n") "
  done
  printf '%s' "$known" | write_if_changed "$HD/known_hosts" || true
  local vars=(
    CUTOVER_TEST_HOSTS="${hosts%$'\n'}"
    CUTOVER_TEST_HOSTS_KNOWN_HOSTS="${known%$'\n'}"
    CUTOVER_TEST_HOSTS_NETNS="${netns% }"
    CUTOVER_TEST_HOSTS_DIR="$HD"
    CUTOVER_TEST_HOSTS_REGISTRY="$RELAY_ADDR"
    CUTOVER_TEST_HOSTS_IMAGE_PREFIX="$RELAY_ADDR/cutover-test/app"
    CUTOVER_TEST_HOSTS_HAPROXY_IMAGE="$RELAY_ADDR/cutover-test/haproxy:2.6"
    CUTOVER_TEST_HOSTS_PROXY_IMAGE="$RELAY_ADDR/cutover-test/nginx:1.22"
  )
  # Merged into the files up.sh writes: its own variables stay, ours are replaced.
  [ -f "$TB/env" ] && [ -f "$TB/env.json" ] || die "$TB/env is missing: run scripts/testbed/up.sh (it calls this script)"
  sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
  {
    # (values may span lines: skip from our export to the next one)
    awk '/^export /{skip = ($0 ~ /^export CUTOVER_TEST_HOSTS/)} !skip' "$TB/env"
    for kv in "${vars[@]}"; do echo "export ${kv%%=*}=$(sq "${kv#*=}")"; done
  } | write_if_changed "$TB/env" || true
  node -e '
    const fs = require("fs")
    const file = process.argv[1]
    const o = JSON.parse(fs.readFileSync(file, "utf8"))
    for (const k of Object.keys(o)) if (k.startsWith("CUTOVER_TEST_HOSTS")) delete o[k]
    for (const kv of process.argv.slice(2)) { const i = kv.indexOf("="); o[kv.slice(0, i)] = kv.slice(i + 1) }
    fs.writeFileSync(file, JSON.stringify(o, null, 2) + "\n")
  ' "$TB/env.json" "${vars[@]}"
  chmod 600 "$TB/env" "$TB/env.json"
}

# ---------------------------------------------------------------- main
up() {
  command -v nsenter >/dev/null && command -v unshare >/dev/null || die "nsenter/unshare missing (util-linux)"
  [ -s "$TB/authorized_keys" ] || die "$TB/authorized_keys is missing: run scripts/testbed/up.sh"
  mkdir -p "$HD" /run/sshd
  local n pids=()
  net_up
  relay_up
  dns_up
  for n in $(seq 1 "$COUNT"); do
    mkdir -p "$HD/h$n"
    mnt_up "$n"
    dockerd_up "$n" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || die "a host's dockerd did not come up"; done
  for n in $(seq 1 "$COUNT"); do sshd_up "$n"; done
  env_up
  log "$COUNT hosts up: $(for n in $(seq 1 "$COUNT"); do printf '%s ' "root@$(addr_of "$n")"; done)(known_hosts: $HD/known_hosts)"
}

down() {
  local n run
  for n in $(seq 1 "$COUNT"); do
    run=$(run_of "$n")
    stop_pid "sshd of host $n" "$HD/h$n/sshd.pid" "$HD/h$n/sshd.conf"
    if [ -e "/var/run/netns/$(ns_of "$n")" ] && pid_alive "$run/dockerd.pid" "$(data_of "$n")/docker" >/dev/null; then
      # Its containers first, so that nothing of the host keeps running without its dockerd.
      DOCKER_HOST=unix://$run/docker.sock docker ps -aq | xargs -r env DOCKER_HOST="unix://$run/docker.sock" docker rm -f >/dev/null 2>&1 || true
    fi
    stop_pid "dockerd of host $n" "$run/dockerd.pid" "$(data_of "$n")/docker"
    if findmnt -n "$(mntns_of "$n")" >/dev/null 2>&1; then umount "$(mntns_of "$n")" && rm -f "$(mntns_of "$n")"; fi
    ip link del "cutover-test-v$n" 2>/dev/null || true
    [ -e "/var/run/netns/$(ns_of "$n")" ] && ip netns del "$(ns_of "$n")"
  done
  stop_pid "registry relay" "$HD/registry-relay.pid" "tcp-relay.mjs $GATEWAY 5000"
  stop_pid "DNS stub" "$HD/dns-stub.pid" "dns-stub.mjs $GATEWAY"
  ip link del "$BRIDGE" 2>/dev/null || true
  log "hosts down (docker data in /var/lib/cutover-test-h*, keys in $HD kept)"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) die "usage: hosts.sh up|down" ;;
esac
