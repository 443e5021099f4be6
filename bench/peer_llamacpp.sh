#!/usr/bin/env bash
# Performance peer: compares `kvshare bench` with llama.cpp's llama-bench on the same model/threads.
#
# Usage: bench/peer_llamacpp.sh [--threads N] [--model PATH] [--reps N] [--build-only]
#   --threads N   threads for both engines (default: nproc)
#   --model PATH  GGUF model (default: models/SmolLM2-135M-Instruct.Q4_1.gguf in the repo)
#   --reps N      llama-bench repetitions (default 3)
#   --build-only  only make sure the llama.cpp peer is built (see bench/llamacpp_common.sh)
#
# Runs `llama-bench -m MODEL -p 512 -n 128 -t N -r REPS -o json`, then
# `build/kvshare bench --threads N --model MODEL --json` (last stdout line = JSON object), and prints a table of
# prefill (pp512) and decode (tg128) tok/s with the kvshare/llama.cpp ratio.
# Noise: llama.cpp is built with OpenMP, whose spinning barriers collapse (tg128 10x slower) when the
# CPU is oversubscribed by other work; on a shared box run e.g. `OMP_WAIT_POLICY=PASSIVE bench/...`
# (inherited by llama-bench; shown in the output) and compare the ± column. Quiet machine = default.
# Exit status: 0 on success, 1 on usage/build/llama-bench failure, 2 if the kvshare bench is missing/failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=bench/llamacpp_common.sh
source "$HERE/llamacpp_common.sh"

die() { printf '[peer] error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

threads="$(nproc)"
model="$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
reps=3
build_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) [[ $# -ge 2 ]] || die "--threads needs a value"; threads="$2"; shift 2 ;;
    --model)   [[ $# -ge 2 ]] || die "--model needs a value"; model="$2"; shift 2 ;;
    --reps)    [[ $# -ge 2 ]] || die "--reps needs a value"; reps="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"

llamacpp_ensure_built || die "could not build the llama.cpp peer"
if [[ $build_only == 1 ]]; then
  printf 'llama.cpp peer ready (llama-cpp-python %s, llama.cpp %s):\n' "$LLAMACPP_PY_VERSION" "$LLAMACPP_COMMIT"
  printf '  LLAMA_BENCH=%s\n  LLAMA_CLI=%s\n  LLAMA_SERVER=%s\n' "$LLAMA_BENCH" "$LLAMA_CLI" "$LLAMA_SERVER"
  exit 0
fi

[[ -f "$model" ]] || die "model not found: $model"
model="$(cd "$(dirname "$model")" && pwd)/$(basename "$model")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

printf '[peer] llama-bench: %s, -p 512 -n 128 -t %s -r %s\n' "$(basename "$model")" "$threads" "$reps" >&2
"$LLAMA_BENCH" -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -o json \
  >"$tmp/llama.json" 2>"$tmp/llama.err" || { cat "$tmp/llama.err" >&2; die "llama-bench failed"; }

kvs="$ROOT/build/kvshare"
kvs_ok="build/kvshare not found (build it with scripts/build.sh)"
if [[ -x "$kvs" ]]; then
  kvs_args=(bench --threads "$threads" --model "$model" --json)
  printf '[peer] kvshare: build/kvshare %s\n' "${kvs_args[*]}" >&2
  if "$kvs" "${kvs_args[@]}" >"$tmp/kvs.out" 2>"$tmp/kvs.err"; then
    kvs_ok=1
  else
    kvs_ok="\`build/kvshare ${kvs_args[*]}\` failed (exit $?; no bench command yet?)"
    tail -5 "$tmp/kvs.err" >&2 || true
  fi
else
  : >"$tmp/kvs.out"
fi

python3 - "$tmp/llama.json" "$tmp/kvs.out" "$kvs_ok" "$threads" "$model" "$LLAMACPP_PY_VERSION" "$LLAMACPP_COMMIT" <<'PY'
import json, os, platform, sys

llama_path, kvs_path, kvs_ok, threads, model, pyver, commit = sys.argv[1:]

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

with open(llama_path) as f:
    rows = json.load(f)
ll = {}
for r in rows:
    if r.get("n_prompt") == 512 and r.get("n_gen") == 0:
        ll["pp"] = r
    elif r.get("n_prompt") == 0 and r.get("n_gen") == 128:
        ll["tg"] = r
if "pp" not in ll or "tg" not in ll:
    sys.exit("[peer] error: unexpected llama-bench JSON (no pp512/tg128 rows)")

kvs = None
if kvs_ok == "1":
    lines = [l.strip() for l in open(kvs_path, errors="replace") if l.strip()]
    try:
        kvs = json.loads(lines[-1])
        float(kvs["prefill_tok_s"]); float(kvs["decode_tok_s"])
    except (IndexError, ValueError, KeyError, TypeError):
        kvs = None
        kvs_ok = "build/kvshare bench did not print a JSON object with prefill_tok_s/decode_tok_s last"

print()
print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), threads: {threads}")
print(f"model: {os.path.basename(model)}; load average: {os.getloadavg()[0]:.2f}; "
      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
print(f"llama.cpp: llama-cpp-python {pyver} sdist, llama.cpp {commit} "
      f"(backend {ll['pp'].get('backends', '?')}, {ll['pp'].get('n_threads', '?')} threads, "
      f"{len(ll['pp'].get('samples_ts', []))} reps)")
if kvs is not None:
    extra = f", model {kvs['model']}" if "model" in kvs else ""
    print(f"kvshare: threads {kvs.get('threads', '?')}{extra}")
print()

def fmt(x):
    return f"{x:.2f}" if x is not None else "n/a"

hdr = ("metric", "kvshare tok/s", "llama.cpp tok/s", "ratio kvshare/llama.cpp")
out = []
for key, name, kv_tok, kv_rate, want in (("pp", "prefill (pp512)", "prefill_tokens", "prefill_tok_s", 512),
                                        ("tg", "decode (tg128)", "decode_tokens", "decode_tok_s", 128)):
    r = ll[key]
    lc = f"{r['avg_ts']:.2f} ± {r.get('stddev_ts', 0.0):.2f}"
    if kvs is not None:
        kv = float(kvs[kv_rate])
        kvs_s = fmt(kv)
        if kvs.get(kv_tok) not in (None, want):
            kvs_s += f" (n={kvs[kv_tok]})"
        ratio = f"{kv / r['avg_ts']:.3f}" if r["avg_ts"] > 0 else "n/a"
    else:
        kvs_s, ratio = "missing", "n/a"
    out.append((name, kvs_s, lc, ratio))
w = [max(len(h), *(len(row[i]) for row in out)) for i, h in enumerate(hdr)]
print(" | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
print("-+-".join("-" * x for x in w))
for row in out:
    print(" | ".join(c.ljust(w[i]) for i, c in enumerate(row)))
print()
if kvs is None:
    print(f"kvshare bench is missing: {kvs_ok}")
    sys.exit(2)
PY
