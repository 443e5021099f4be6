#!/usr/bin/env bash
# Python virtualenv with the independent references (transformers, torch, sacrebleu, rouge-score, openai),
# kept in the cache outside the clone so reruns reuse it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
req="$KVS_ROOT/scripts/requirements-test.txt"
stamp="$KVS_VENV/.kvshare-req-$(sha256sum "$req" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  log "creating test environment in $KVS_VENV (first run downloads torch: a few GB; progress below)"
  python3 -m venv "$KVS_VENV"
  log "[1/2] upgrading pip"
  "$KVS_VENV/bin/pip" install -q --upgrade pip >/dev/null
  log "[2/2] installing $(grep -c '==' "$req") pinned packages from $req"
  "$KVS_VENV/bin/pip" install "${PIP_PROGRESS[@]}" -r "$req"
  touch "$stamp"
  log "test environment ready: $KVS_VENV"
fi
