#!/usr/bin/env bash
# Rebuilds every bundle and fails when dist/ differs from what is committed (changed, deleted or
# new untracked files): users run dist/, so a stale bundle is a broken release.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs
changes=$(git status --porcelain -- dist)
if [ -n "$changes" ]; then
  echo "dist/ is stale: rebuild with 'npm run build' and commit the result. Differences:" >&2
  echo "$changes" | head -20 >&2
  exit 1
fi
echo "dist/ is up to date."
