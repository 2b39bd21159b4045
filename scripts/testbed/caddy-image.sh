#!/usr/bin/env bash
# Builds the local test image cutover-test/caddy-router:2.6 (issue #23, proxy-type caddy; the edge
# tests build their own cutover-test/caddy:2.6, a bare binary): Debian's caddy
# 2.6 + its ldd libraries, FROM scratch, like haproxy-image.sh builds the HAProxy one. Beside caddy
# it holds Debian's dash as /bin/sh and nothing else: the router starts Caddy under `umask 007` so
# its admin socket is group-writable (the official caddy:2.6-alpine image has a /bin/sh too).
# Installs the caddy package if missing (with a policy-rc.d so no service starts).
# Idempotent: rebuilds only when a binary or this script changed. Prints the image name.
# up.sh runs it and pushes the image to the bed's registry as 127.0.0.1:5000/cutover-test/caddy-router:2.6
# (CUTOVER_TEST_CADDY_IMAGE), for the proxy-type caddy e2e tests; the bench uses it locally.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
IMAGE=${CADDY_IMAGE:-cutover-test/caddy-router:2.6}
CTX=$REPO/.testbed/build/caddy
export DEBIAN_FRONTEND=noninteractive

if ! command -v caddy >/dev/null 2>&1; then
  created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from cutover scripts/testbed/caddy-image.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created=1
  fi
  { apt-get install -y -qq caddy || { apt-get update -qq && apt-get install -y -qq caddy; }; } >>/var/log/cutover-testbed-apt.log 2>&1 || rc=$?
  [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "${rc:-0}" = 0 ] || { echo "apt-get install caddy failed" >&2; exit 1; }
  # The package's service would take :80 on the host; the test bed needs only the binary.
  systemctl disable --now caddy >/dev/null 2>&1 || true
fi
BIN=$(readlink -f "$(command -v caddy)")
SH=$(readlink -f /bin/dash)
HASH=$({ stat -L -c '%n %s %Y' "$BIN" "$SH"; sha256sum <"${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-64)
# The image's own label, not only its tag, says it is this build.
if [ "$(cat "$CTX/hash" 2>/dev/null)" = "$HASH" ] && [ "$(docker image inspect -f '{{index .Config.Labels "cutover-test.caddy-router"}}' "$IMAGE" 2>/dev/null)" = "$HASH" ]; then
  echo "$IMAGE"
  exit 0
fi
rm -rf "$CTX"
R=$CTX/rootfs
mkdir -p "$R"/{tmp,run/caddy,config,data,etc/caddy,usr/bin,bin}
chmod 1777 "$R/tmp"
cp -L "$BIN" "$R/usr/bin/caddy"
cp -L "$SH" "$R/bin/sh"
for lib in $(ldd "$BIN" "$SH" | grep -o '/[^ ]*' | grep -v ':$' | sort -u); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
cat >"$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
P
cat >"$R/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$R/etc/nsswitch.conf"
# A config that starts: answers 503 on :80 until the router loads its own.
cat >"$R/etc/caddy/caddy.json" <<'C'
{"apps":{"http":{"servers":{"srv0":{"listen":[":80"],"routes":[{"handle":[{"handler":"static_response","status_code":503,"body":"no route\n"}]}]}}}}}
C
cat >"$CTX/Dockerfile" <<D
# cutover test proxy: Debian's caddy 2.6 + its libs (and dash as /bin/sh), FROM scratch.
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="cutover-test caddy" cutover-test=1 cutover-test.caddy-router=$HASH
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
EXPOSE 80
CMD ["/usr/bin/caddy", "run", "--config", "/etc/caddy/caddy.json"]
D
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$CTX" >/dev/null
echo "$HASH" >"$CTX/hash"
echo "$IMAGE"
