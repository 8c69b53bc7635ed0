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
  python3 curl wrk kcat
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
