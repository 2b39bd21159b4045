#!/usr/bin/env bash
# Builds the local test image cutover-test/haproxy:2.6 (issue #15, proxy design study): Debian's
# haproxy 2.6 + its ldd libraries, FROM scratch (no shell), like up.sh builds the nginx one.
# Installs the haproxy package if missing (with a policy-rc.d so no service starts).
# Idempotent: rebuilds only when the binary or this script changed. Prints the image name.
# up.sh runs it and pushes the image to the bed's registry as 127.0.0.1:5000/cutover-test/haproxy:2.6
# (CUTOVER_TEST_HAPROXY_IMAGE), for the proxy-type haproxy e2e tests; the bench uses it locally.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
IMAGE=${HAPROXY_IMAGE:-cutover-test/haproxy:2.6}
CTX=$REPO/.testbed/build/haproxy
export DEBIAN_FRONTEND=noninteractive

if ! command -v haproxy >/dev/null 2>&1; then
  created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from cutover scripts/testbed/haproxy-image.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created=1
  fi
  { apt-get install -y -qq haproxy || { apt-get update -qq && apt-get install -y -qq haproxy; }; } >>/var/log/cutover-testbed-apt.log 2>&1 || rc=$?
  [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "${rc:-0}" = 0 ] || { echo "apt-get install haproxy failed" >&2; exit 1; }
fi
BIN=$(readlink -f "$(command -v haproxy)")
HASH=$({ stat -L -c '%n %s %Y' "$BIN"; sha256sum <"${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-64)
if [ "$(cat "$CTX/hash" 2>/dev/null)" = "$HASH" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
rm -rf "$CTX"
R=$CTX/rootfs
mkdir -p "$R"/{tmp,run,var/run/haproxy,var/lib/haproxy,usr/local/etc/haproxy,etc,usr/sbin}
chmod 1777 "$R/tmp"
cp -L "$BIN" "$R/usr/sbin/haproxy"
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
cat >"$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
haproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
P
cat >"$R/etc/group" <<'G'
root:x:0:
haproxy:x:99:
nogroup:x:65534:
G
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$R/etc/nsswitch.conf"
# A config that starts: answers 503 on :80 until a real one is put in place.
cat >"$R/usr/local/etc/haproxy/haproxy.cfg" <<'C'
global
  stats socket /var/run/haproxy/admin.sock mode 600 level admin
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  bind :80
  http-request return status 503 content-type text/plain string "no route\n"
C
cat >"$CTX/Dockerfile" <<'D'
# cutover test proxy: Debian's haproxy 2.6 + its libs, FROM scratch (no shell).
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="cutover-test haproxy" cutover-test=1
EXPOSE 80
# SIGUSR1 = soft stop (finish what is in flight); SIGUSR2 to the master (-W) = graceful reload.
STOPSIGNAL SIGUSR1
CMD ["/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
D
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$CTX" >/dev/null
echo "$HASH" >"$CTX/hash"
echo "$IMAGE"
