#!/usr/bin/env bash
# The main job on the default model: installs what it needs, builds, starts `kvshare serve`, and shows what kvshare
# is for: user A asks a question, user B (another tenant of the same share domain) asks a paraphrase of it, and
# B's prompt reuses A's KV cache (semantic sharing). Prints both answers, B's sharing report (mode, reused and
# recomputed tokens, edit script), the TTFT of each and the dashboard's address; stops the server when done.
#   scripts/run_demo.sh ["question" ["paraphrase"]]
#   KVS_DEMO_KEEP=1 keeps the server running until Enter is pressed (to look at the dashboard).
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$KVS_ROOT/scripts/install_deps.sh"
"$KVS_ROOT/scripts/fetch_model.sh"
"$KVS_ROOT/scripts/fetch_embedder.sh"
"$KVS_ROOT/scripts/build.sh"
q="${1:-What are the symptoms of diabetes? I am often thirsty and tired, and I have lost weight without trying.}"
p="${2:-Which symptoms does diabetes cause? I am often thirsty and tired, and I have lost weight without trying.}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Two tenants in one share domain ("clinic"), and an operator key for the dashboard.
cat > "$work/config.json" <<JSON
{
  "port": $port,
  "limits": {"default_max_tokens": 96},
  "operator_keys": ["sk-demo-operator"],
  "tenants": [
    {"name": "alice", "api_keys": ["sk-demo-alice"], "share_domain": "clinic"},
    {"name": "bob",   "api_keys": ["sk-demo-bob"],   "share_domain": "clinic"}
  ]
}
JSON
log "starting kvshare serve on 127.0.0.1:$port (log: $work/serve.log)"
"$KVS_BUILD/kvshare" serve --config "$work/config.json" --model "$KVS_ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf" \
  > "$work/serve.log" 2>&1 &
server_pid=$!
healthy() { python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; }
for _ in $(seq 1 600); do
  healthy && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; die "kvshare serve exited"; }
  sleep 0.2
done
healthy || { cat "$work/serve.log" >&2; die "kvshare serve did not start"; }

python3 "$KVS_ROOT/scripts/demo_client.py" "$port" sk-demo-alice sk-demo-bob sk-demo-operator "$q" "$p"
if [[ "${KVS_DEMO_KEEP:-0}" == 1 ]]; then
  read -r -p "Server running; press Enter to stop it. " _
fi
log "stopping the server"
