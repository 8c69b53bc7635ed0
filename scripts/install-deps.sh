#!/usr/bin/env bash
# Installs what TaskFlow needs to build, run and test on Debian 12.
# Idempotent: only packages that are missing are installed.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build cmake
  libh2o-evloop-dev libwslay-dev libjansson-dev libjwt-dev libpq-dev
  libical-dev libcurl4-openssl-dev librdkafka-dev libsodium-dev libssl-dev
  libcmocka-dev
  postgresql postgresql-client postgresql-contrib
  python3 curl wrk kcat procps
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The dashboard (frontend/) builds with Node.js 20 or newer and its npm. Not
# installed from apt: Debian 12's nodejs is 18, so a newer one (nodejs.org or
# NodeSource, npm included) must already be on the machine.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
  echo "install-deps: the dashboard needs Node.js 20 or newer with npm (found node" \
    "$(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none));" \
    "install it from https://nodejs.org or NodeSource" >&2
  exit 1
fi
