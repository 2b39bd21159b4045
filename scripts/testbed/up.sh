#!/usr/bin/env bash
# cutover test bed: brings up (idempotently) everything the real end-to-end
# tests need on this machine, all on loopback:
#   - dockerd (started only if `docker info` fails; left running by down.sh)
#   - sshd TARGET  on 127.0.0.1:2222 and sshd BASTION on 127.0.0.1:2223
#   - docker-registry with htpasswd auth on 127.0.0.1:5000
#   - test images built FROM scratch and pushed to that registry:
#       127.0.0.1:5000/cutover-test/app:{v1,v2,v3,unhealthy,crash,v1-hc}
#       127.0.0.1:5000/cutover-test/nginx:1.22
#       127.0.0.1:5000/cutover-test/haproxy:2.6 (proxy-type haproxy; built by haproxy-image.sh)
#       127.0.0.1:5000/cutover-test/caddy-router:2.6 (proxy-type caddy; built by caddy-image.sh)
#   - cutover-test/haproxy:3.0 and cutover-test/nginx:1.26, local, from Debian 13's packages
#     (trixie-images.sh: the proxy-upgrade test and the steady bench's -d13 variants)
#   - pebble + pebble-challtestsrv, the ACME test server of the tls auto tests (pebble.sh;
#     .testbed/pebble.json says where it is)
#   - .testbed/env (sourceable) and .testbed/env.json describing all of it
# Safe to run again; never stops or removes anything it did not create.
# Every name it creates starts with cutover-test. See scripts/testbed/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$REPO/.testbed
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export DEBIAN_FRONTEND=noninteractive

START_NS=$(date +%s%N)
elapsed() { echo $(( ($(date +%s%N) - START_NS) / 1000000 ))ms; }
log() { printf '[testbed +%s] %s\n' "$(elapsed)" "$*"; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (sshd, dockerd and apt need it)"

SSH_HOST=127.0.0.1
TARGET_PORT=2222
BASTION_PORT=2223
REGISTRY=127.0.0.1:5000
REGISTRY_USER=cutover
APP_REPO=$REGISTRY/cutover-test/app
PROXY_IMAGE=$REGISTRY/cutover-test/nginx:1.22
HAPROXY_IMAGE=$REGISTRY/cutover-test/haproxy:2.6
CADDY_IMAGE=$REGISTRY/cutover-test/caddy-router:2.6
APP_TAGS=(v1 v2 v3 unhealthy crash v1-hc)

# ---------------------------------------------------------------- packages
# binary -> Debian package
declare -A PKG_OF=(
  [dockerd]=docker.io [docker]=docker.io [sshd]=openssh-server [ssh]=openssh-client
  [ssh-keygen]=openssh-client [docker-registry]=docker-registry [htpasswd]=apache2-utils
  [ip]=iproute2 [ss]=iproute2 [wrk]=wrk [nginx]=nginx-light [curl]=curl [node]=nodejs
  [haproxy]=haproxy [openssl]=openssl
  # Edges in front of cutover's proxy (issue #23, __tests__/e2e/edge.test.ts): Caddy 2.6 as a
  # static binary in a FROM scratch container, nginx with its stream module (PROXY protocol).
  [caddy]=caddy
  # DNS-01 (issue #23): bind9 is the authoritative primary of a test zone taking RFC 2136 updates.
  [named]=bind9
  # Debian's compose v1: the compose e2e test checks `docker-compose -p <app>-blue ps` lists a color.
  [docker-compose]=docker-compose
)
missing=()
for bin in "${!PKG_OF[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "missing binaries: ${missing[*]} -> apt-get install"
  pkgs=(docker.io openssh-server openssh-client docker-registry apache2-utils iproute2 wrk nginx-light curl haproxy caddy)
  for bin in "${missing[@]}"; do
    case " ${pkgs[*]} " in *" ${PKG_OF[$bin]} "*) ;; *) pkgs+=("${PKG_OF[$bin]}") ;; esac
  done
  # Keep the packages' init scripts from starting system services (a stock
  # docker-registry would grab :5000, nginx and haproxy :80, sshd :22).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from cutover scripts/testbed/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  rc=0
  # (Recommends kept: that is the combination known to work here, e.g.
  # docker.io recommends cgroupfs-mount. needrestart must not restart anything.)
  { apt-get update -qq &&
    NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l apt-get install -y -qq "${pkgs[@]}"; } >>/var/log/cutover-testbed-apt.log 2>&1 || rc=$?
  if grep -q "from cutover scripts/testbed/up.sh" /usr/sbin/policy-rc.d 2>/dev/null; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  [ "$rc" = 0 ] || die "apt-get install ${pkgs[*]} failed ($rc): $(tail -5 /var/log/cutover-testbed-apt.log)"
  for bin in "${!PKG_OF[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after apt-get install"
  done
fi
# nginx's stream module (a package of its own): the nginx edge sends PROXY protocol with it.
if [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
  log "nginx stream module missing -> apt-get install libnginx-mod-stream"
  { apt-get install -y -qq libnginx-mod-stream || { apt-get update -qq && apt-get install -y -qq libnginx-mod-stream; }; } >>/var/log/cutover-testbed-apt.log 2>&1 ||
    die "apt-get install libnginx-mod-stream failed: $(tail -5 /var/log/cutover-testbed-apt.log)"
fi
SSHD_BIN=$(command -v sshd)
REGISTRY_BIN=$(command -v docker-registry)
NODE_BIN=/usr/bin/node
[ -x "$NODE_BIN" ] || NODE_BIN=$(command -v node)
NODE_BIN=$(readlink -f "$NODE_BIN")
NGINX_BIN=$(readlink -f "$(command -v nginx)")

# ---------------------------------------------------------------- dockerd
docker_err() { docker version --format '{{.Server.APIVersion}}' 2>&1 >/dev/null || true; }
docker_ready() { docker info >/dev/null 2>&1; }
fix_api_version() {
  # A client newer than the engine may refuse to talk ("client version X is
  # too new. Maximum supported API version is 1.41"): pin the engine's API.
  local err max
  err=$(docker_err)
  if [[ $err =~ [Mm]aximum\ supported\ API\ version\ is\ ([0-9.]+) ]]; then
    max=${BASH_REMATCH[1]}
    export DOCKER_API_VERSION=$max
    log "docker client too new for the engine: DOCKER_API_VERSION=$max"
  fi
}
if ! docker_ready; then
  fix_api_version
fi
if ! docker_ready; then
  dpid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$dpid" ] && [ "$(cat "/proc/$dpid/comm" 2>/dev/null)" = dockerd ]; then
    log "dockerd (pid $dpid) is running but not ready yet: waiting"
  else
    # A machine without any cgroup hierarchy mounted (no systemd, nothing
    # else did it) needs them before dockerd can run containers.
    if [ -z "$(ls -A /sys/fs/cgroup 2>/dev/null)" ] && command -v cgroupfs-mount >/dev/null 2>&1; then
      log "no cgroups mounted: running cgroupfs-mount"
      cgroupfs-mount || true
    fi
    log "starting dockerd (log: /var/log/cutover-testbed-dockerd.log)"
    setsid nohup dockerd >>/var/log/cutover-testbed-dockerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    docker_ready && break
    sleep 0.5
  done
  docker_ready || fix_api_version
  docker_ready || die "dockerd did not become ready in 60 s; see /var/log/cutover-testbed-dockerd.log: $(tail -5 /var/log/cutover-testbed-dockerd.log 2>/dev/null)"
  log "dockerd ready"
fi

# ---------------------------------------------------------------- state dir
mkdir -p "$TB" "$TB/build" "$TB/registry"
chmod 700 "$TB"
[ -f "$TB/.gitignore" ] || printf '# created by scripts/testbed/up.sh\n*\n' >"$TB/.gitignore"

rand() {
  local r
  r=$(head -c 30 /dev/urandom | base64)
  r=${r//[\/+=]/}
  echo "${r:0:24}"
}
# Secrets generated once and kept.
if [ ! -s "$TB/secrets.env" ]; then
  (
    umask 077
    {
      echo "KEY_PASSPHRASE=$(rand)"
      echo "REGISTRY_PASSWORD=$(rand)"
      echo "REGISTRY_HTTP_SECRET=$(rand)"
    } >"$TB/secrets.env.tmp"
  )
  mv "$TB/secrets.env.tmp" "$TB/secrets.env"
fi
# shellcheck disable=SC1091
. "$TB/secrets.env"

# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------- keys
genkey() { # path type passphrase [extra args]
  local path=$1 type=$2 pass=$3
  shift 3
  if [ ! -s "$path" ] || [ ! -s "$path.pub" ]; then
    rm -f "$path" "$path.pub"
    ssh-keygen -q -t "$type" -N "$pass" -C "cutover-test-$(basename "$path")" -f "$path" "$@"
    log "generated $(basename "$path")"
  fi
  chmod 600 "$path"
}
genkey "$TB/ssh_host_ed25519_key" ed25519 ""
genkey "$TB/bastion_host_ed25519_key" ed25519 ""
genkey "$TB/id_ed25519" ed25519 ""
genkey "$TB/id_ed25519_pass" ed25519 "$KEY_PASSPHRASE"
genkey "$TB/id_rsa" rsa "" -b 3072 -m PEM
cat "$TB/id_ed25519.pub" "$TB/id_ed25519_pass.pub" "$TB/id_rsa.pub" | write_if_changed "$TB/authorized_keys" || true
chmod 600 "$TB/authorized_keys"

# A non-root SSH user in the docker group (what many hosts use instead of root): same keys, its own
# home (cutover keeps its ledger and locks there), no password.
DEPLOYER=cutover-test-deployer
if ! id "$DEPLOYER" >/dev/null 2>&1; then
  getent group docker >/dev/null || groupadd --system docker
  useradd --create-home --shell /bin/sh --groups docker "$DEPLOYER"
  log "created user $DEPLOYER (group docker)"
fi
id -nG "$DEPLOYER" | grep -qw docker || usermod -aG docker "$DEPLOYER"
# "!" (locked) makes sshd refuse even key logins when PAM is off; "*": no password, keys work.
[ "$(getent shadow "$DEPLOYER" | cut -d: -f2)" = '*' ] || usermod -p '*' "$DEPLOYER"
DEPLOYER_HOME=$(getent passwd "$DEPLOYER" | cut -d: -f6)
chmod 700 "$DEPLOYER_HOME"
install -d -m 700 -o "$DEPLOYER" -g "$DEPLOYER" "$DEPLOYER_HOME/.ssh"
cmp -s "$TB/authorized_keys" "$DEPLOYER_HOME/.ssh/authorized_keys" ||
  install -m 600 -o "$DEPLOYER" -g "$DEPLOYER" "$TB/authorized_keys" "$DEPLOYER_HOME/.ssh/authorized_keys"

# ---------------------------------------------------------------- helpers
port_listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
# A lost/stale pidfile while our own process still listens: adopt that process
# (its command line names our config file), rewrite the pidfile.
adopt() { # port marker pidfile
  local pid
  pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr "\0" " " <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid" >"$3"
  log "adopted pid $pid listening on :$1 ($3 was stale)"
}
wait_port() { # port seconds
  local i
  for i in $(seq 1 $(($2 * 10))); do
    port_listening "$1" && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- sshd x2
mkdir -p /run/sshd
chmod 755 /run/sshd
start_sshd() { # name port hostkey
  local name=$1 port=$2 hostkey=$3 cfg=$TB/sshd-$1.conf pidf=$TB/sshd-$1.pid pid changed=0
  write_if_changed "$cfg" <<EOF && changed=1
# cutover test bed: $name sshd (written by scripts/testbed/up.sh)
Port $port
ListenAddress $SSH_HOST
AddressFamily inet
HostKey $hostkey
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
AllowAgentForwarding yes
X11Forwarding no
PrintMotd no
PermitUserEnvironment no
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
# sshd reads the keys file as the user: the non-root one has its own copy
Match User $DEPLOYER
  AuthorizedKeysFile $DEPLOYER_HOME/.ssh/authorized_keys
EOF
  "$SSHD_BIN" -t -f "$cfg" || die "sshd config $cfg is invalid"
  if pid=$(pid_alive "$pidf" "$cfg"); then
    if [ "$changed" = 1 ]; then
      log "sshd-$name: config changed, reloading (SIGHUP pid $pid)"
      kill -HUP "$pid"
      sleep 0.3
      wait_port "$port" 10 || die "sshd-$name did not come back after reload; see $TB/sshd-$name.log"
    fi
    return 0
  fi
  if adopt "$port" "$cfg" "$pidf"; then
    [ "$changed" = 1 ] && kill -HUP "$(cat "$pidf")"
    return 0
  fi
  port_listening "$port" && die "127.0.0.1:$port is already taken by a process the test bed did not start: $(ss -Hltnp "sport = :$port")"
  rm -f "$pidf"
  "$SSHD_BIN" -f "$cfg" -E "$TB/sshd-$name.log"
  wait_port "$port" 10 || die "sshd-$name did not listen on $port; see $TB/sshd-$name.log"
  for _ in $(seq 1 50); do [ -s "$pidf" ] && break; sleep 0.1; done
  log "sshd-$name started on $SSH_HOST:$port (pid $(cat "$pidf"))"
}
start_sshd target "$TARGET_PORT" "$TB/ssh_host_ed25519_key"
start_sshd bastion "$BASTION_PORT" "$TB/bastion_host_ed25519_key"

# ---------------------------------------------------------------- registry
if [ ! -s "$TB/registry.htpasswd" ] || ! htpasswd -vbB "$TB/registry.htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" >/dev/null 2>&1; then
  htpasswd -cbB "$TB/registry.htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" 2>/dev/null
fi
REG_CFG=$TB/registry.yml
REG_PID=$TB/registry.pid
reg_changed=0
write_if_changed "$REG_CFG" <<EOF && reg_changed=1
# cutover test bed registry (written by scripts/testbed/up.sh)
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
  fields:
    service: cutover-test-registry
storage:
  filesystem:
    rootdirectory: $TB/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
  secret: $REGISTRY_HTTP_SECRET
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: cutover-test
    path: $TB/registry.htpasswd
EOF
reg_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" "http://$REGISTRY/v2/" || true; }
if ! pid_alive "$REG_PID" "$REG_CFG" >/dev/null; then
  adopt 5000 "$REG_CFG" "$REG_PID" || true
fi
if pid=$(pid_alive "$REG_PID" "$REG_CFG"); then
  if [ "$reg_changed" = 1 ]; then
    log "registry: config changed, restarting (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$REG_PID"
  fi
fi
if ! pid_alive "$REG_PID" "$REG_CFG" >/dev/null; then
  port_listening 5000 && die "127.0.0.1:5000 is already taken by a process the test bed did not start: $(ss -Hltnp 'sport = :5000')"
  setsid nohup "$REGISTRY_BIN" serve "$REG_CFG" >>"$TB/registry.log" 2>&1 </dev/null &
  echo $! >"$REG_PID"
  for _ in $(seq 1 100); do
    [ "$(reg_code)" = 401 ] && break
    sleep 0.1
  done
  pid_alive "$REG_PID" "$REG_CFG" >/dev/null || die "registry exited; see $TB/registry.log: $(tail -5 "$TB/registry.log")"
  log "registry started on $REGISTRY (pid $(cat "$REG_PID"))"
fi
[ "$(reg_code)" = 401 ] || die "registry at $REGISTRY does not ask for auth (got $(reg_code)); see $TB/registry.log"
[ "$(reg_code -u "$REGISTRY_USER:$REGISTRY_PASSWORD")" = 200 ] || die "registry at $REGISTRY refuses the test bed's credentials"

# ---------------------------------------------------------------- images
APP_CTX=$TB/build/app
PROXY_CTX=$TB/build/nginx
mkdir -p "$APP_CTX/files/etc" "$PROXY_CTX/files/etc/nginx/conf.d"

# Small source files, written every run (cheap) so that the hash below sees them.
cp "$SCRIPT_DIR/app/app.js" "$APP_CTX/app.js.new"
if cmp -s "$APP_CTX/app.js.new" "$APP_CTX/app.js"; then rm "$APP_CTX/app.js.new"; else mv "$APP_CTX/app.js.new" "$APP_CTX/app.js"; fi
write_if_changed "$APP_CTX/Dockerfile" <<'EOF' || true
# cutover test app: node + its libs + app.js, FROM scratch (no shell)
FROM scratch
COPY rootfs/ /
COPY app.js /app/app.js
ARG VERSION=v1
ARG MODE=ok
ENV PORT=3000 BOOT_DELAY_MS=1500 VERSION=${VERSION} MODE=${MODE}
LABEL org.opencontainers.image.title="cutover-test app" cutover-test=1
WORKDIR /app
EXPOSE 3000
CMD ["/usr/bin/node", "/app/app.js"]
EOF
write_if_changed "$APP_CTX/Dockerfile.hc" <<EOF || true
# v1 plus a Docker HEALTHCHECK that uses node itself (the image has no shell)
FROM $APP_REPO:v1
HEALTHCHECK --interval=1s --timeout=2s --start-period=5s --retries=3 \\
  CMD ["/usr/bin/node", "-e", "require('http').get({host: '127.0.0.1', port: process.env.PORT || 3000, path: '/health', timeout: 1500}, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
EOF
write_if_changed "$APP_CTX/files/etc/passwd" <<'EOF' || true
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
write_if_changed "$APP_CTX/files/etc/group" <<'EOF' || true
root:x:0:
nogroup:x:65534:
EOF

write_if_changed "$PROXY_CTX/Dockerfile" <<'EOF' || true
# cutover test proxy: Debian's nginx 1.22 + its libs, FROM scratch (no shell),
# configured like the official nginx image.
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="cutover-test nginx" cutover-test=1
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["/usr/sbin/nginx", "-g", "daemon off;"]
EOF
write_if_changed "$PROXY_CTX/files/etc/passwd" <<'EOF' || true
root:x:0:0:root:/root:/sbin/nologin
nginx:x:101:101:nginx user:/nonexistent:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
write_if_changed "$PROXY_CTX/files/etc/group" <<'EOF' || true
root:x:0:
nginx:x:101:
nogroup:x:65534:
EOF
write_if_changed "$PROXY_CTX/files/etc/nsswitch.conf" <<'EOF' || true
passwd: files
group: files
hosts: files dns
EOF
write_if_changed "$PROXY_CTX/files/etc/nginx/nginx.conf" <<'EOF' || true
user  nginx;
worker_processes  auto;

error_log  /dev/stderr notice;
pid        /run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       mime.types;
    default_type  application/octet-stream;

    access_log  off;

    sendfile        on;

    keepalive_timeout  65;

    include /etc/nginx/conf.d/*.conf;
}
EOF
write_if_changed "$PROXY_CTX/files/etc/nginx/conf.d/default.conf" <<'EOF' || true
server {
    listen       80;
    server_name  localhost;

    location / {
        return 200 "nginx default\n";
    }
}
EOF
cp /etc/nginx/mime.types "$PROXY_CTX/files/etc/nginx/mime.types.new"
if cmp -s "$PROXY_CTX/files/etc/nginx/mime.types.new" "$PROXY_CTX/files/etc/nginx/mime.types"; then
  rm "$PROXY_CTX/files/etc/nginx/mime.types.new"
else
  mv "$PROXY_CTX/files/etc/nginx/mime.types.new" "$PROXY_CTX/files/etc/nginx/mime.types"
fi

# What the images are made of: sources + the identity of the copied binaries.
images_hash() {
  {
    (cd "$TB/build" && find . -path '*/rootfs' -prune -o -path ./haproxy -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum)
    stat -L -c '%n %s %Y' "$NODE_BIN" "$NGINX_BIN"
    sha256sum "$SCRIPT_DIR/up.sh"
  } | sha256sum | cut -c1-64
}
HASH=$(images_hash)
reg_has() { # repo tag
  [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' -I -u "$REGISTRY_USER:$REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$1/manifests/$2")" = 200 ]
}
need_build=0
if [ "$(cat "$TB/images.sha256" 2>/dev/null)" != "$HASH" ]; then
  need_build=1
else
  for tag in "${APP_TAGS[@]}"; do reg_has cutover-test/app "$tag" || need_build=1; done
  reg_has cutover-test/nginx 1.22 || need_build=1
fi

# Copy a binary and the libraries ldd lists for it into a rootfs, same paths.
copy_with_libs() { # binary rootfs
  local bin=$1 root=$2 lib
  mkdir -p "$root$(dirname "$bin")"
  cp -L "$bin" "$root$bin"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

SMOKE=()
smoke_cleanup() { local c; for c in "${SMOKE[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done; SMOKE=(); }
DOCKER_CFG_TMP=$TB/docker-config
login_cleanup() {
  if [ -d "$DOCKER_CFG_TMP" ]; then
    DOCKER_CONFIG=$DOCKER_CFG_TMP docker logout "$REGISTRY" >/dev/null 2>&1 || true
    rm -rf "$DOCKER_CFG_TMP"
  fi
}
trap 'smoke_cleanup; login_cleanup' EXIT

# Pushes images with credentials held only in a throw-away DOCKER_CONFIG, then logs out: the CLI
# and daemon keep no credentials, so the action must send its own.
push_images() {
  rm -rf "$DOCKER_CFG_TMP"
  mkdir -p "$DOCKER_CFG_TMP"
  chmod 700 "$DOCKER_CFG_TMP"
  echo '{}' >"$DOCKER_CFG_TMP/config.json"
  printf '%s' "$REGISTRY_PASSWORD" | DOCKER_CONFIG=$DOCKER_CFG_TMP docker login "$REGISTRY" -u "$REGISTRY_USER" --password-stdin >/dev/null 2>&1 ||
    die "docker login $REGISTRY failed"
  local ref out
  for ref in "$@"; do
    out=$(DOCKER_CONFIG=$DOCKER_CFG_TMP docker push -q "$ref" 2>&1) || die "push $ref failed: $out"
  done
  login_cleanup
}

if [ "$need_build" = 1 ]; then
  log "building test images (FROM scratch)"
  export DOCKER_BUILDKIT=0 # the classic builder: no buildx, no base image to pull
  # app rootfs: node + libs
  rm -rf "$APP_CTX/rootfs"
  mkdir -p "$APP_CTX/rootfs/tmp" "$APP_CTX/rootfs/app"
  chmod 1777 "$APP_CTX/rootfs/tmp"
  copy_with_libs "$NODE_BIN" "$APP_CTX/rootfs"
  if [ "$NODE_BIN" != /usr/bin/node ]; then
    mkdir -p "$APP_CTX/rootfs/usr/bin"
    ln -sf "$NODE_BIN" "$APP_CTX/rootfs/usr/bin/node"
  fi
  cp -a "$APP_CTX/files/." "$APP_CTX/rootfs/"
  build() { # tag context [docker build args...]
    local tag=$1 ctx=$2 out
    shift 2
    out=$(docker build -q -t "$tag" "$@" "$ctx" 2>&1) || die "docker build $tag failed: $out"
  }
  for v in v1 v2 v3; do
    build "$APP_REPO:$v" "$APP_CTX" --build-arg "VERSION=$v" --build-arg MODE=ok
  done
  build "$APP_REPO:unhealthy" "$APP_CTX" --build-arg VERSION=unhealthy --build-arg MODE=unhealthy
  build "$APP_REPO:crash" "$APP_CTX" --build-arg VERSION=crash --build-arg MODE=crash
  build "$APP_REPO:v1-hc" "$APP_CTX" -f "$APP_CTX/Dockerfile.hc"
  log "app images built"

  # nginx rootfs: nginx + libs + config + the paths it was compiled with
  R=$PROXY_CTX/rootfs
  rm -rf "$R"
  mkdir -p "$R"/{run,tmp,var/lock,var/log/nginx,usr/share/nginx/html,etc/nginx/conf.d} \
    "$R"/var/lib/nginx/{body,fastcgi,proxy,scgi,uwsgi}
  chmod 1777 "$R/tmp"
  copy_with_libs "$NGINX_BIN" "$R"
  if [ "$NGINX_BIN" != /usr/sbin/nginx ]; then
    mkdir -p "$R/usr/sbin"
    ln -sf "$NGINX_BIN" "$R/usr/sbin/nginx"
  fi
  ln -sf /dev/stdout "$R/var/log/nginx/access.log"
  ln -sf /dev/stderr "$R/var/log/nginx/error.log"
  printf 'nginx default\n' >"$R/usr/share/nginx/html/index.html"
  cp -a "$PROXY_CTX/files/." "$R/"
  build "$PROXY_IMAGE" "$PROXY_CTX"
  log "proxy image built"

  # Smoke test before pushing: the app answers, the proxy answers, reloads.
  c=cutover-test-smoke-app-$$
  SMOKE+=("$c")
  docker run -d --name "$c" -e BOOT_DELAY_MS=0 -p 127.0.0.1::3000 "$APP_REPO:v1" >/dev/null
  c=cutover-test-smoke-nginx-$$
  SMOKE+=("$c")
  docker run -d --name "$c" -p 127.0.0.1::80 "$PROXY_IMAGE" >/dev/null
  app_port=$(docker port "cutover-test-smoke-app-$$" 3000/tcp | head -1)
  proxy_port=$(docker port "$c" 80/tcp | head -1)
  ok=0
  for _ in $(seq 1 50); do
    if [ "$(curl -s -m 2 "http://$app_port/" || true)" = v1 ] &&
      [ "$(curl -s -m 2 "http://$proxy_port/" || true)" = "nginx default" ]; then
      ok=1
      break
    fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "smoke test failed: app $(docker logs "cutover-test-smoke-app-$$" 2>&1 | tail -3) / nginx $(docker logs "$c" 2>&1 | tail -3)"
  docker exec "$c" /usr/sbin/nginx -t >/dev/null 2>&1 || die "nginx -t fails inside $PROXY_IMAGE: $(docker exec "$c" /usr/sbin/nginx -t 2>&1)"
  docker exec "$c" /usr/sbin/nginx -s reload >/dev/null 2>&1 || die "nginx -s reload fails inside $PROXY_IMAGE"
  smoke_cleanup
  log "smoke test passed"

  push_images "${APP_TAGS[@]/#/$APP_REPO:}" "$PROXY_IMAGE"
  echo "$HASH" >"$TB/images.sha256"
  # Older builds of our tags, now untagged (only images carrying our label).
  docker image prune -f --filter label=cutover-test=1 >/dev/null 2>&1 || true
  log "images pushed to $REGISTRY"
fi

# ---------------------------------------------------------------- HAProxy test image
# proxy-type haproxy: Debian's haproxy 2.6 FROM scratch (haproxy-image.sh builds it only when the
# binary or that script changed), pushed like the others, again only when it changed.
HAPROXY_LOCAL=$(bash "$SCRIPT_DIR/haproxy-image.sh") || die "building the HAProxy test image failed"
HAPROXY_HASH=$(cat "$TB/build/haproxy/hash")
if [ "$(cat "$TB/haproxy-image.sha256" 2>/dev/null)" != "$HAPROXY_HASH" ] || ! reg_has cutover-test/haproxy 2.6; then
  docker tag "$HAPROXY_LOCAL" "$HAPROXY_IMAGE"
  docker run --rm --entrypoint haproxy "$HAPROXY_IMAGE" -v >/dev/null 2>&1 || die "haproxy -v fails inside $HAPROXY_IMAGE"
  push_images "$HAPROXY_IMAGE"
  echo "$HAPROXY_HASH" >"$TB/haproxy-image.sha256"
  log "HAProxy image pushed to $REGISTRY"
fi

# ---------------------------------------------------------------- HAProxy 3.0 (Debian 13)
# The HAProxy that proxy-image defaults to (haproxy:3.0-alpine), from Debian 13's packages
# (trixie-images.sh, which also builds the nginx the bench compares it with): the upgrade e2e test
# hands a 2.6 proxy over to it and back. Local only: that test tags it under its own name.
NEXT_OUT=$(bash "$SCRIPT_DIR/trixie-images.sh") || die "building Debian 13's HAProxy 3.0 image failed"
HAPROXY_NEXT_IMAGE=${NEXT_OUT%%$'\n'*}

# ---------------------------------------------------------------- Caddy test image
# proxy-type caddy: Debian's caddy 2.6 FROM scratch (caddy-image.sh), pushed like the HAProxy one.
CADDY_LOCAL=$(CADDY_IMAGE=cutover-test/caddy-router:2.6 bash "$SCRIPT_DIR/caddy-image.sh") || die "building the Caddy test image failed"
CADDY_HASH=$(cat "$TB/build/caddy/hash")
if [ "$(cat "$TB/caddy-image.sha256" 2>/dev/null)" != "$CADDY_HASH" ] || ! reg_has cutover-test/caddy-router 2.6; then
  docker tag "$CADDY_LOCAL" "$CADDY_IMAGE"
  docker run --rm --entrypoint /usr/bin/caddy "$CADDY_IMAGE" version >/dev/null 2>&1 || die "caddy version fails inside $CADDY_IMAGE"
  push_images "$CADDY_IMAGE"
  echo "$CADDY_HASH" >"$TB/caddy-image.sha256"
  log "Caddy image pushed to $REGISTRY"
fi

# ---------------------------------------------------------------- ACME test server (tls auto)
bash "$SCRIPT_DIR/pebble.sh" >/dev/null || die "starting pebble (scripts/testbed/pebble.sh) failed"
log "pebble (ACME test server) up: $TB/pebble.json"

# ---------------------------------------------------------------- env files
host_fp() { ssh-keygen -lf "$1.pub" | awk '{print $2}'; }
known_host() { echo "[$SSH_HOST]:$1 $(cut -d' ' -f1,2 "$2.pub")"; }
{
  known_host "$TARGET_PORT" "$TB/ssh_host_ed25519_key"
  known_host "$BASTION_PORT" "$TB/bastion_host_ed25519_key"
} | write_if_changed "$TB/known_hosts" || true
# For people and OpenSSH-based checks: `ssh -F .testbed/ssh_config cutover-test-target`
# (-o options are not passed on to a ProxyJump hop; a -F file is).
write_if_changed "$TB/ssh_config" <<EOF || true
# cutover test bed (generated by scripts/testbed/up.sh)
Host cutover-test-target
  HostName $SSH_HOST
  Port $TARGET_PORT
Host cutover-test-bastion
  HostName $SSH_HOST
  Port $BASTION_PORT
Host cutover-test-target-via-bastion
  HostName $SSH_HOST
  Port $TARGET_PORT
  ProxyJump cutover-test-bastion
Host *
  User root
  IdentityFile $TB/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $TB/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
EOF
ENV_VARS=(
  CUTOVER_TEST_DIR="$TB"
  CUTOVER_TEST_SSH_CONFIG="$TB/ssh_config"
  CUTOVER_TEST_KNOWN_HOSTS_FILE="$TB/known_hosts"
  CUTOVER_TEST_SSH_HOST="$SSH_HOST"
  CUTOVER_TEST_SSH_PORT="$TARGET_PORT"
  CUTOVER_TEST_BASTION_PORT="$BASTION_PORT"
  CUTOVER_TEST_SSH_USER=root
  CUTOVER_TEST_DEPLOYER_USER="$DEPLOYER"
  CUTOVER_TEST_KEY="$TB/id_ed25519"
  CUTOVER_TEST_KEY_PASS="$TB/id_ed25519_pass"
  CUTOVER_TEST_KEY_PASSPHRASE="$KEY_PASSPHRASE"
  CUTOVER_TEST_RSA_KEY="$TB/id_rsa"
  CUTOVER_TEST_KNOWN_HOSTS="$(known_host "$TARGET_PORT" "$TB/ssh_host_ed25519_key")"
  CUTOVER_TEST_BASTION_KNOWN_HOSTS="$(known_host "$BASTION_PORT" "$TB/bastion_host_ed25519_key")"
  CUTOVER_TEST_HOST_FINGERPRINT="$(host_fp "$TB/ssh_host_ed25519_key")"
  CUTOVER_TEST_BASTION_FINGERPRINT="$(host_fp "$TB/bastion_host_ed25519_key")"
  CUTOVER_TEST_SSHD_LOG="$TB/sshd-target.log"
  CUTOVER_TEST_BASTION_SSHD_LOG="$TB/sshd-bastion.log"
  CUTOVER_TEST_REGISTRY="$REGISTRY"
  CUTOVER_TEST_REGISTRY_USER="$REGISTRY_USER"
  CUTOVER_TEST_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
  CUTOVER_TEST_IMAGE_PREFIX="$APP_REPO"
  CUTOVER_TEST_PROXY_IMAGE="$PROXY_IMAGE"
  CUTOVER_TEST_HAPROXY_IMAGE="$HAPROXY_IMAGE"
  CUTOVER_TEST_HAPROXY_NEXT_IMAGE="$HAPROXY_NEXT_IMAGE"
  CUTOVER_TEST_CADDY_IMAGE="$CADDY_IMAGE"
  CUTOVER_TEST_APP_PORT=3000
)
[ -n "${DOCKER_API_VERSION:-}" ] && ENV_VARS+=(DOCKER_API_VERSION="$DOCKER_API_VERSION")
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "# cutover test bed (generated by scripts/testbed/up.sh; source it)"
  for kv in "${ENV_VARS[@]}"; do echo "export ${kv%%=*}=$(sq "${kv#*=}")"; done
} | write_if_changed "$TB/env" || true
"$NODE_BIN" -e '
  const o = {};
  for (const kv of process.argv.slice(1)) { const i = kv.indexOf("="); o[kv.slice(0, i)] = kv.slice(i + 1); }
  process.stdout.write(JSON.stringify(o, null, 2) + "\n");
' "${ENV_VARS[@]}" | write_if_changed "$TB/env.json" || true
chmod 600 "$TB/env" "$TB/env.json"

bash "$SCRIPT_DIR/hosts.sh" up || die "the fleet hosts (hosts.sh) did not come up" # several hosts: scripts/testbed/README.md
bash "$SCRIPT_DIR/swarm.sh" up || die "the swarm of the fleet hosts (swarm.sh) did not come up" # target: swarm: scripts/testbed/README.md

# ---------------------------------------------------------------- summary
cat <<EOF
cutover test bed is up ($(elapsed)):
  ssh target   root@$SSH_HOST:$TARGET_PORT  (pid $(cat "$TB/sshd-target.pid"), log $TB/sshd-target.log)
  ssh bastion  root@$SSH_HOST:$BASTION_PORT  (pid $(cat "$TB/sshd-bastion.pid"), log $TB/sshd-bastion.log)
  registry     http://$REGISTRY  user $REGISTRY_USER  (pid $(cat "$REG_PID"), data $TB/registry)
  app images   $APP_REPO:{$(IFS=,; echo "${APP_TAGS[*]}")}
  proxy image  $PROXY_IMAGE
  haproxy      $HAPROXY_IMAGE
  caddy        $CADDY_IMAGE
  keys         $TB/id_ed25519, id_ed25519_pass (passphrase in env), id_rsa (PEM)
  env          source $TB/env   (JSON: $TB/env.json)
EOF
