#!/usr/bin/env bash
# The one command that runs every test: set-up, type-check, lint, the stale-bundle check, unit
# tests, then integration tests against the real tools (makepkg, pacman, registry, sshd, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { echo; echo "==> $*"; }
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

step "type-check"; npx tsc -p tsconfig.json --noEmit && echo "type-check: clean"
step "lint"; npx eslint . --max-warnings 0 && npx prettier --check --log-level warn . && echo "lint: clean"
step "stale-bundle check"; bash scripts/check-dist.sh
export NODE_OPTIONS=--experimental-vm-modules
status=0
step "unit tests"
npx jest --selectProjects unit --json --outputFile="$results/unit.json" || status=1
step "integration tests"
npx jest --selectProjects integration --runInBand --json --outputFile="$results/integration.json" || status=1

# One closing line for both runs together.
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results/unit.json" "$results/integration.json"
exit $status
