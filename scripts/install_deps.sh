#!/usr/bin/env bash
# Installs the Debian packages kvshare builds with (skips apt when all are present).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PKGS=(cmake g++ make pkg-config unzip python3 python3-venv python3-pip
      libopenblas-dev nlohmann-json3-dev libcli11-dev libxxhash-dev libutf8proc-dev
      libhiredis-dev redis-server    # the Redis tier and its tests (tests start redis-server on loopback)
      libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libhnswlib-dev gnuplot-nox ccache
      clang libclang-rt-14-dev    # clang + its sanitizer/libFuzzer runtimes: scripts/fuzz.sh, scripts/sanitize.sh
      chromium)                   # headless browser of the dashboard test (tests/python/test_dashboard.py)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
