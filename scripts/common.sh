# Shared paths for the set-up scripts. Sourced, not run.
KVS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KVS_CACHE="${KVS_CACHE:-$HOME/.cache/kvshare}"
KVS_BUILD="${KVS_BUILD:-$KVS_ROOT/build}"
KVS_VENV="${KVS_VENV:-$KVS_CACHE/venv}"
KVS_JOBS="${KVS_JOBS:-$(nproc)}"
log() { printf '\033[1m[kvshare %s]\033[0m %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# pip with visible progress (a bar on a terminal, one line per package otherwise): long downloads are never silent.
PIP_PROGRESS=(--progress-bar on --no-input)
die() { printf '[kvshare] error: %s\n' "$*" >&2; exit 1; }
