#!/usr/bin/env bash
# A demo of cutover's command line against a local sandbox host (run as root on Debian): starts the
# test bed (dockerd, sshd on 127.0.0.1:2222, a registry), writes a cutover.yml, then runs
#   cutover deploy (v1), cutover deploy (v2), a deploy that never gets healthy, cutover rollback
#   and cutover status --json
# with the same engine, ledger and lock as the GitHub Action. The app answers on
# http://127.0.0.1:${DEMO_PORT:-8080}/ throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
bash scripts/testbed/up.sh >/dev/null
echo "test bed up: sshd 127.0.0.1:2222, registry 127.0.0.1:5000"
[ -x node_modules/.bin/node ] || npm install --no-fund --no-audit --loglevel=error
[ -f dist/cli/index.js ] || npm run build --silent
# shellcheck disable=SC1091
source .testbed/env

PORT=${DEMO_PORT:-8080}
APP=${DEMO_APP:-demo}
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT

# The project's config file: every setting but the secrets, which come from the environment.
cat >"$project/cutover.yml" <<EOF
# yaml-language-server: \$schema=$REPO/schema/cutover.schema.json
app: $APP
host: 127.0.0.1
port: 2222
user: root
known-hosts: '$CUTOVER_TEST_KNOWN_HOSTS'
registry-username: $CUTOVER_TEST_REGISTRY_USER
proxy-image: $CUTOVER_TEST_HAPROXY_IMAGE
proxy-name: ${DEMO_PROXY:-cutover-proxy}
proxy-port: $PORT
health-timeout: 20s
EOF
CUTOVER_SSH_PRIVATE_KEY=$(cat "$CUTOVER_TEST_KEY")
export CUTOVER_SSH_PRIVATE_KEY
export CUTOVER_REGISTRY_PASSWORD=$CUTOVER_TEST_REGISTRY_PASSWORD

cutover() {
  (cd "$project" && "$REPO/node_modules/.bin/node" "$REPO/dist/cli/index.js" "$@")
}

step() {
  local title=$1; shift
  printf '\n\033[1m== %s\033[0m\n$ cutover %s\n' "$title" "$*"
  local started code=0
  started=$(date +%s%N)
  cutover "$@" | sed 's/^/   /' || code=${PIPESTATUS[0]}
  printf '   -> exit %d (%d ms); GET http://127.0.0.1:%s/ answers: %s\n' "$code" $(( ($(date +%s%N) - started) / 1000000 )) \
    "$PORT" "$(curl -s --max-time 5 "http://127.0.0.1:$PORT/" || echo '(nothing)')"
}

echo "cutover.yml:"; sed 's/^/   /' "$project/cutover.yml"
step "deploy v1" deploy --image "$CUTOVER_TEST_IMAGE_PREFIX:v1"
step "deploy v2 (v1 stays running as the standby)" deploy --image "$CUTOVER_TEST_IMAGE_PREFIX:v2"
step "deploy an image that never becomes healthy (exit 1: v2 keeps serving)" deploy --image "$CUTOVER_TEST_IMAGE_PREFIX:unhealthy"
step "rollback (instant: v1 is still running)" rollback --yes
printf '\n\033[1m== status --json\033[0m\n'
cutover status --json 2>/dev/null | head -n 12
echo "   ..."
echo "Remove the demo with: docker rm -f $APP-blue $APP-green ${DEMO_PROXY:-cutover-proxy} && docker volume rm ${DEMO_PROXY:-cutover-proxy}-conf"
