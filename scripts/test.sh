#!/usr/bin/env bash
# The full test suite on a fresh Debian machine (as root): installs and starts the real
# test bed (dockerd, two sshd, an authenticated registry, locally built images), installs
# the npm packages (npm ci), checks that dist/ matches the sources, then runs every unit and
# end-to-end test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "[test] installing Node.js and npm from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

bash scripts/testbed/up.sh

echo "[test] npm ci"
# A clean install of exactly what package-lock.json pins. The lockfile lists every platform's
# optional packages (package.json pins unrs-resolver, which jest pulls in, to a release whose
# bindings are all published), so npm ci accepts it on any OS and CPU.
npm ci --no-fund --no-audit --loglevel=error

echo "[test] rebuilding dist/ from scratch and checking it matches the sources"
# Delete first: ncc only writes files, so an asset a change stopped emitting would survive.
rm -rf dist
npm run build --silent >/dev/null
if [ -n "$(git status --porcelain -- dist 2>/dev/null)" ]; then
  git status --short -- dist
  echo "[test] dist/ differs from a fresh build of the sources: run 'npm run build' and commit dist/" >&2
  exit 1
fi

npm run typecheck --silent
echo "[test] lint and format"
npm run lint --silent
npm run format:check --silent >/dev/null || { npx prettier --list-different . >&2; echo "[test] files not formatted: run 'npm run format'" >&2; exit 1; }

results=$(mktemp)
status=0
NODE_OPTIONS=--experimental-vm-modules NODE_NO_WARNINGS=1 npx jest --ci --json --outputFile="$results" || status=$?
# jest's own summary is not a line CI reads: close with the plain count.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const byProject = {};
  for (const file of r.testResults) {
    const project = file.name.includes("/__tests__/e2e/") ? "e2e" : "unit";
    const p = (byProject[project] ??= { passed: 0, failed: 0 });
    for (const t of file.assertionResults) t.status === "passed" ? p.passed++ : p.failed++;
  }
  for (const [name, p] of Object.entries(byProject)) console.log(`[test] ${name} tests: ${p.passed} passed, ${p.failed} failed`);
  if (r.numPendingTests + r.numTodoTests > 0) { console.log("[test] skipped tests are not allowed"); process.exitCode = 1 }
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$results" || status=1
rm -f "$results"
exit "$status"
