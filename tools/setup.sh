#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test
# leaselocker. Idempotent: when everything is present it only checks.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

packages=(
  g++ cmake ninja-build pkg-config openssl
  libboost1.81-dev libboost-json1.81-dev libboost-test1.81-dev libboost-url1.81-dev
  libssl-dev libyaml-cpp-dev libc-ares-dev
  python3 curl patch
  clang-14 libclang-rt-14-dev
  tinyproxy-bin doxygen ccache
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "setup: Debian packages present"
fi
command -v go >/dev/null || { log "setup: Go is required (go 1.26 or later) and is not on PATH"; exit 1; }
