#!/usr/bin/env bash
# The main job on the default model: installs what it needs, builds, and streams a chat answer.
#   scripts/run_demo.sh ["your question"]
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$KVS_ROOT/scripts/install_deps.sh"
"$KVS_ROOT/scripts/fetch_model.sh"
"$KVS_ROOT/scripts/fetch_embedder.sh"
"$KVS_ROOT/scripts/build.sh"
q="${1:-What are the symptoms of diabetes?}"
log "question: $q"
exec "$KVS_BUILD/kvshare" generate --chat -p "$q" -n 256
