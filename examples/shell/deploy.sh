#!/usr/bin/env bash
# cutover from a plain shell (a laptop, cron, Jenkins, Forgejo, anything with Node 24):
#   ./deploy.sh staging ghcr.io/acme/web:1.4.2      deploy
#   ./deploy.sh production rollback                  roll back to the previous release
# Settings are in cutover.yml beside this script (see examples/cli/cutover.yml); the SSH key and
# known_hosts are the ones ssh uses (~/.ssh/id_ed25519, ~/.ssh/known_hosts) unless
# CUTOVER_SSH_PRIVATE_KEY / known-hosts say otherwise. Secrets only from the environment:
#   export CUTOVER_REGISTRY_PASSWORD=$(pass show registry/deploy-token)
set -euo pipefail
cd "$(dirname "$0")"
environment=${1:?usage: deploy.sh ENVIRONMENT IMAGE|rollback|status}
what=${2:?usage: deploy.sh ENVIRONMENT IMAGE|rollback|status}

# The command line from the action's repository at a pinned release (its dist/ is committed);
# never a bare `npx cutover`, which would fetch whatever the npm registry calls cutover.
cutover() { npm exec --yes --package=github:acme/cutover#v1 -- cutover "$@"; }

set +e
case "$what" in
  rollback) cutover rollback --environment "$environment" --yes ;;
  status) cutover status --environment "$environment" ;;
  *) cutover deploy --environment "$environment" --image "$what" ;;
esac
code=$?
set -e
case $code in
  0) echo "done" ;;
  1) echo "failed; the live release still serves" >&2 ;;
  2) echo "bad input (cutover.yml, flags or environment): nothing was touched" >&2 ;;
  3) echo "went live, failed its watch, rolled back automatically" >&2 ;;
  130) echo "cancelled; what the run started was undone" >&2 ;;
esac
exit $code
