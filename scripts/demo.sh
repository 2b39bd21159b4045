#!/usr/bin/env bash
# A demo of the action against a local sandbox host (run as root on Debian): starts the test
# bed (dockerd, sshd on 127.0.0.1:2222, a registry), then runs the bundled action the way a
# GitHub runner does: deploy v1, deploy v2, roll back to v1, and report the status.
# The app answers on http://127.0.0.1:${DEMO_PORT:-8080}/ throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
bash scripts/testbed/up.sh >/dev/null
echo "test bed up: sshd 127.0.0.1:2222, registry 127.0.0.1:5000"
[ -x node_modules/.bin/node ] || npm install --no-fund --no-audit --loglevel=error
# shellcheck disable=SC1091
source .testbed/env

PORT=${DEMO_PORT:-8080}
APP=${DEMO_APP:-demo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() {
  local title=$1; shift
  : >"$work/output"; : >"$work/summary"
  printf '\n\033[1m== %s\033[0m\n' "$title"
  local started=$(date +%s%N) code=0
  env INPUT_APP="$APP" INPUT_HOST=127.0.0.1 INPUT_PORT=2222 INPUT_USER=root \
    "INPUT_SSH-PRIVATE-KEY=$(cat "$CUTOVER_TEST_KEY")" "INPUT_KNOWN-HOSTS=$CUTOVER_TEST_KNOWN_HOSTS" \
    "INPUT_REGISTRY-USERNAME=$CUTOVER_TEST_REGISTRY_USER" "INPUT_REGISTRY-PASSWORD=$CUTOVER_TEST_REGISTRY_PASSWORD" \
    "INPUT_PROXY-IMAGE=$CUTOVER_TEST_HAPROXY_IMAGE" "INPUT_PROXY-PORT=$PORT" INPUT_DEPLOYMENTS=false \
    GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" GITHUB_WORKSPACE="$REPO" \
    "$@" "$REPO/node_modules/.bin/node" "$REPO/dist/index.js" | grep -v '^::add-mask::' | sed 's/^/   /' || code=$?
  local ms=$(( ($(date +%s%N) - started) / 1000000 ))
  printf '   -> result %s, live %s %s (%d ms)\n' \
    "$(awk '/^result<</{getline; print}' "$work/output")" "$(awk '/^color<</{getline; print}' "$work/output")" \
    "$(awk '/^image<</{getline; print}' "$work/output")" "$ms"
  printf '   -> GET http://127.0.0.1:%s/ answers: %s\n' "$PORT" "$(curl -s --max-time 5 "http://127.0.0.1:$PORT/" || echo '(nothing)')"
}

step "deploy v1" INPUT_MODE=deploy "INPUT_IMAGE=$CUTOVER_TEST_IMAGE_PREFIX:v1"
step "deploy v2 (v1 stays running as the standby)" INPUT_MODE=deploy "INPUT_IMAGE=$CUTOVER_TEST_IMAGE_PREFIX:v2"
step "deploy an image that never becomes healthy (v2 keeps serving)" INPUT_MODE=deploy "INPUT_IMAGE=$CUTOVER_TEST_IMAGE_PREFIX:unhealthy" INPUT_HEALTH-TIMEOUT=5s
step "rollback (instant: v1 is still running)" INPUT_MODE=rollback
step "status" INPUT_MODE=status
printf '\nThe job summary of the last step:\n\n'
cat "$work/summary"
echo "Remove the demo with: docker rm -f $APP-blue $APP-green cutover-proxy && docker volume rm cutover-proxy-conf"
