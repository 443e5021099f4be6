#!/usr/bin/env bash
# Configures and builds kvshare (Release, C++20) into build/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
# ccache (when present) keeps rebuilds of a second checkout or a clean clone short.
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$KVS_ROOT")}" CCACHE_NOHASHDIR=1
cmake -S "$KVS_ROOT" -B "$KVS_BUILD" -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" >/dev/null
cmake --build "$KVS_BUILD" -j "$KVS_JOBS" 2>&1 | grep -E "error|warning: unused|Error|\*\*\*" || true
cmake --build "$KVS_BUILD" -j "$KVS_JOBS" >/dev/null || die "build failed"
