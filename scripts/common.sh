# Shared paths for the set-up scripts. Sourced, not run.
KVS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KVS_CACHE="${KVS_CACHE:-$HOME/.cache/kvshare}"
KVS_BUILD="${KVS_BUILD:-$KVS_ROOT/build}"
KVS_VENV="${KVS_VENV:-$KVS_CACHE/venv}"
KVS_JOBS="${KVS_JOBS:-$(nproc)}"
log() { printf '\033[1m[kvshare]\033[0m %s\n' "$*" >&2; }
die() { printf '[kvshare] error: %s\n' "$*" >&2; exit 1; }
