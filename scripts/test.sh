#!/usr/bin/env bash
# The one command that runs every test: set-up, type-check, lint, the stale-bundle check, unit
# tests, then integration tests against the real tools (makepkg, pacman, registry, sshd, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { echo; echo "==> $*"; }
step "type-check"; npx tsc -p tsconfig.json --noEmit
step "lint"; npx eslint . --max-warnings 0 && npx prettier --check --log-level warn . && echo "lint: clean"
step "stale-bundle check"; bash scripts/check-dist.sh
export NODE_OPTIONS=--experimental-vm-modules
step "unit tests"; npx jest --selectProjects unit
step "integration tests"; npx jest --selectProjects integration --runInBand
