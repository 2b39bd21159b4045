#!/usr/bin/env bash
# Builds two local images from Debian 13 (trixie) packages, FROM scratch (no shell), for the
# steady-state bench (issue #25): the proxy users get by default is haproxy:3.0-alpine, while the
# test bed's is Debian 12's 2.6.12 on OpenSSL 3.0. These measure a newer HAProxy and the nginx it is
# compared with on the same newer OpenSSL:
#   cutover-test/haproxy:3.0   Debian 13's haproxy 3.0 + its libraries (OpenSSL 3.5)
#   cutover-test/nginx:1.26    Debian 13's nginx 1.26 + its libraries, laid out like the bed's nginx
# The packages come from Debian's archive through a private apt configuration under .testbed/ (the
# machine's own apt sources and packages are not touched). Idempotent: rebuilds only when this
# script or the packages changed. Prints the two image names.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$REPO/.testbed
W=$TB/build/trixie
HAPROXY_IMAGE=cutover-test/haproxy:3.0
NGINX_IMAGE=cutover-test/nginx:1.26
NGINX_FILES=$TB/build/nginx/files # the bed's nginx configuration (up.sh writes it)
[ -d "$NGINX_FILES/etc/nginx" ] || { echo "run scripts/testbed/up.sh first (no $NGINX_FILES)" >&2; exit 1; }

mkdir -p "$W"/apt/{etc/sources.list.d,etc/preferences.d,lists/partial,archives/partial} "$W/apt/state"
touch "$W/apt/state/status"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >"$W/apt/etc/sources.list"
APT=(-o "Dir::State=$W/apt" -o "Dir::State::Lists=$W/apt/lists" -o "Dir::State::status=$W/apt/state/status"
  -o "Dir::Cache=$W/apt" -o "Dir::Cache::Archives=$W/apt/archives" -o "Dir::Etc=$W/apt/etc"
  -o "Dir::Etc::SourceList=$W/apt/etc/sources.list" -o "Dir::Etc::SourceParts=$W/apt/etc/sources.list.d"
  -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$W/apt/etc/preferences.d"
  -o APT::Architecture=amd64 -o APT::Get::Download-Only=true -o Debug::NoLocking=true -o APT::Sandbox::User=root)
{ apt-get "${APT[@]}" update -qq && apt-get "${APT[@]}" install -y -qq --no-install-recommends haproxy nginx; } \
  >"$W/apt.log" 2>&1 || { echo "downloading Debian 13's haproxy and nginx failed: $(tail -5 "$W/apt.log")" >&2; exit 1; }

HASH=$({ ls "$W/apt/archives"/*.deb | LC_ALL=C sort; sha256sum <"${BASH_SOURCE[0]}"; find "$NGINX_FILES" -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-64)
if [ "$(cat "$W/hash" 2>/dev/null)" = "$HASH" ] && docker image inspect "$HAPROXY_IMAGE" "$NGINX_IMAGE" >/dev/null 2>&1; then
  printf '%s\n%s\n' "$HAPROXY_IMAGE" "$NGINX_IMAGE"
  exit 0
fi

# Every downloaded package unpacked into one staging tree; each image takes its binary and the
# libraries the staged loader resolves for it (not the host's).
S=$W/stage
rm -rf "$S"
mkdir -p "$S"
for deb in "$W/apt/archives"/*.deb; do dpkg-deb -x "$deb" "$S"; done
LIBDIR=/usr/lib/x86_64-linux-gnu
copy_with_libs() { # binary-path-in-stage rootfs
  local bin=$1 root=$2 lib
  mkdir -p "$root$(dirname "$bin")" "$root$LIBDIR" "$root/lib64"
  cp -L "$S$bin" "$root$bin"
  cp -L "$S/usr/lib64/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
  for lib in $("$S/usr/lib64/ld-linux-x86-64.so.2" --library-path "$S$LIBDIR" --list "$S$bin" | grep -o "$S$LIBDIR/[^ ]*"); do
    cp -L "$lib" "$root$LIBDIR/$(basename "$lib")"
  done
}
export DOCKER_BUILDKIT=0 # the classic builder: no buildx, no base image to pull
build() { # tag context
  local out
  out=$(docker build -q -t "$1" "$2" 2>&1) || { echo "docker build $1 failed: $out" >&2; exit 1; }
}

# HAProxy 3.0: the same layout, users and start-up config as haproxy-image.sh's 2.6.
H=$W/haproxy
rm -rf "$H"
mkdir -p "$H"/rootfs/{tmp,run,var/run/haproxy,var/lib/haproxy,usr/local/etc/haproxy,etc}
chmod 1777 "$H/rootfs/tmp"
copy_with_libs /usr/sbin/haproxy "$H/rootfs"
BED_HAPROXY=$TB/build/haproxy/rootfs
[ -f "$BED_HAPROXY/etc/passwd" ] || bash "$SCRIPT_DIR/haproxy-image.sh" >/dev/null
for f in etc/passwd etc/group etc/nsswitch.conf usr/local/etc/haproxy/haproxy.cfg; do cp "$BED_HAPROXY/$f" "$H/rootfs/$f"; done
sed -n '/^FROM/,$p' "$TB/build/haproxy/Dockerfile" | sed 's/cutover-test haproxy/cutover-test haproxy 3.0 (Debian 13)/' >"$H/Dockerfile"
build "$HAPROXY_IMAGE" "$H"
[[ $(docker run --rm --entrypoint /usr/sbin/haproxy "$HAPROXY_IMAGE" -v 2>&1) == *"version 3.0"* ]] || { echo "haproxy -v fails in $HAPROXY_IMAGE" >&2; exit 1; }

# nginx 1.26: the bed's nginx configuration and the paths Debian compiles it with.
N=$W/nginx
rm -rf "$N"
mkdir -p "$N"/rootfs/{run,tmp,var/lock,var/log/nginx,usr/share/nginx/html,etc/nginx/conf.d} "$N"/rootfs/var/lib/nginx/{body,fastcgi,proxy,scgi,uwsgi}
chmod 1777 "$N/rootfs/tmp"
copy_with_libs /usr/sbin/nginx "$N/rootfs"
cp -a "$NGINX_FILES/." "$N/rootfs/"
sed -n '/^FROM/,$p' "$TB/build/nginx/Dockerfile" | sed 's/cutover-test nginx/cutover-test nginx 1.26 (Debian 13)/' >"$N/Dockerfile"
build "$NGINX_IMAGE" "$N"
docker run --rm --entrypoint /usr/sbin/nginx "$NGINX_IMAGE" -t >/dev/null 2>&1 || { echo "nginx -t fails in $NGINX_IMAGE" >&2; exit 1; }

echo "$HASH" >"$W/hash"
printf '%s\n%s\n' "$HAPROXY_IMAGE" "$NGINX_IMAGE"
