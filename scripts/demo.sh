#!/usr/bin/env bash
# The main job, end to end, on the bundled example app (examples/hello) or, with --app PATH, on
# your own (docs/rehearse-own-app.md): a Mercurial-versioned
# package -> a minimal root -> an image pushed to a registry on loopback -> cloud-configs and
# ISOs -> a deploy to a fleet API over a real SSH server on loopback -> a summary.
# Installs what is missing first; stops everything it started, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx scripts/demo/main.ts "$@"
