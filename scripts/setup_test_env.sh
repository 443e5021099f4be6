#!/usr/bin/env bash
# Python virtualenv with the independent references (transformers, torch, sacrebleu, rouge-score, openai),
# kept in the cache outside the clone so reruns reuse it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
req="$KVS_ROOT/scripts/requirements-test.txt"
stamp="$KVS_VENV/.kvshare-req-$(sha256sum "$req" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  log "creating test environment in $KVS_VENV (first run downloads torch: a few GB)"
  python3 -m venv "$KVS_VENV"
  "$KVS_VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$KVS_VENV/bin/pip" install -q -r "$req"
  touch "$stamp"
fi
