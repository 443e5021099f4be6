#!/usr/bin/env bash
# Configures and builds kvshare (Release, C++20) into build/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmake -S "$KVS_ROOT" -B "$KVS_BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$KVS_BUILD" -j "$KVS_JOBS" 2>&1 | grep -E "error|warning: unused|Error|\*\*\*" || true
cmake --build "$KVS_BUILD" -j "$KVS_JOBS" >/dev/null || die "build failed"
