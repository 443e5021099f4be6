#!/usr/bin/env bash
# Performance peer: compares `kvshare bench` with llama.cpp's llama-bench on the same model/threads.
#
# Usage: bench/peer_llamacpp.sh [--threads N] [--model PATH] [--reps N] [--depth D] [--long P] [--build-only]
#   --threads N   threads for both engines (default: nproc)
#   --model PATH  GGUF model (default: models/SmolLM2-135M-Instruct.Q4_1.gguf in the repo)
#   --reps N      repetitions of both benches (default 3)
#   --depth D     context depth of the second decode test (default 2048; 0 skips the depth tests)
#   --long P      tokens of the long prefill test (default 2048)
#   --build-only  only make sure the llama.cpp peer is built (see bench/llamacpp_common.sh)
#
# Runs `llama-bench -p 512,P -n 128` and `llama-bench -p 0 -n 128 -d D` (-t N -r REPS -o json), then
# `build/kvshare bench` for the same tests (-p 512 -n 128; -p P -n 0; --depth D -p 0 -n 128; --json, last stdout
# line = JSON object), and prints one table: pp512, ppP, tg128, tg128@dD in tok/s, the kvshare/llama.cpp ratio and
# the ratio the issue asks for (pp512 >= 1.5, ppP >= 1.3, tg128 >= 1.2, tg128@dD >= 2.0).
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
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

threads="$(nproc)"
model="$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
reps=3
depth=2048
long=2048
build_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) [[ $# -ge 2 ]] || die "--threads needs a value"; threads="$2"; shift 2 ;;
    --model)   [[ $# -ge 2 ]] || die "--model needs a value"; model="$2"; shift 2 ;;
    --reps)    [[ $# -ge 2 ]] || die "--reps needs a value"; reps="$2"; shift 2 ;;
    --depth)   [[ $# -ge 2 ]] || die "--depth needs a value"; depth="$2"; shift 2 ;;
    --long)    [[ $# -ge 2 ]] || die "--long needs a value"; long="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
[[ "$depth" =~ ^[0-9]+$ ]] || die "--depth must be a non-negative integer"
[[ "$long" =~ ^[1-9][0-9]*$ ]] || die "--long must be a positive integer"

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

printf '[peer] llama-bench: %s, -p 512,%s -n 128 -t %s -r %s\n' "$(basename "$model")" "$long" "$threads" "$reps" >&2
"$LLAMA_BENCH" -m "$model" -p "512,$long" -n 128 -t "$threads" -r "$reps" -o json \
  >"$tmp/llama.json" 2>"$tmp/llama.err" || { cat "$tmp/llama.err" >&2; die "llama-bench failed"; }
echo '[]' >"$tmp/llama_d.json"
if [[ $depth -gt 0 ]]; then
  printf '[peer] llama-bench: -p 0 -n 128 -d %s\n' "$depth" >&2
  "$LLAMA_BENCH" -m "$model" -p 0 -n 128 -d "$depth" -t "$threads" -r "$reps" -o json \
    >"$tmp/llama_d.json" 2>"$tmp/llama.err" || { cat "$tmp/llama.err" >&2; die "llama-bench -d failed"; }
fi

kvs="$ROOT/build/kvshare"
kvs_ok="build/kvshare not found (build it with scripts/build.sh)"
: >"$tmp/kvs.out"
if [[ -x "$kvs" ]]; then
  kvs_ok=1
  runs=("-p 512 -n 128" "-p $long -n 0")
  [[ $depth -gt 0 ]] && runs+=("--depth $depth -p 0 -n 128")
  for r in "${runs[@]}"; do
    # shellcheck disable=SC2206
    kvs_args=(bench --threads "$threads" --model "$model" --reps "$reps" $r --json)
    printf '[peer] kvshare: build/kvshare %s\n' "${kvs_args[*]}" >&2
    if "$kvs" "${kvs_args[@]}" >"$tmp/kvs1.out" 2>"$tmp/kvs.err"; then
      tail -1 "$tmp/kvs1.out" >>"$tmp/kvs.out"
    else
      kvs_ok="\`build/kvshare ${kvs_args[*]}\` failed (exit $?)"
      tail -5 "$tmp/kvs.err" >&2 || true
      break
    fi
  done
fi

python3 - "$tmp/llama.json" "$tmp/llama_d.json" "$tmp/kvs.out" "$kvs_ok" "$threads" "$model" "$LLAMACPP_PY_VERSION" \
  "$LLAMACPP_COMMIT" "$depth" "$long" <<'PY'
import json, os, platform, sys

llama_path, llama_d_path, kvs_path, kvs_ok, threads, model, pyver, commit, depth, long_p = sys.argv[1:]
depth, long_p = int(depth), int(long_p)

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

rows = json.load(open(llama_path)) + json.load(open(llama_d_path))
# (name, llama.cpp (n_prompt, n_gen, n_depth), kvshare (test, tokens, depth), target ratio kvshare/llama.cpp)
tests = [("prefill (pp512)", (512, 0, 0), ("prefill", 512, 0), 1.5),
         (f"prefill (pp{long_p})", (long_p, 0, 0), ("prefill", long_p, 0), 1.3),
         ("decode (tg128)", (0, 128, 0), ("decode", 128, 0), 1.2)]
if depth > 0:
    tests.append((f"decode (tg128@d{depth})", (0, 128, depth), ("decode", 128, depth), 2.0))
ll = {}
for r in rows:
    key = (r.get("n_prompt"), r.get("n_gen"), r.get("n_depth", 0))
    ll[key] = r
missing = [name for name, sel, _, _ in tests if sel not in ll]
if missing:
    sys.exit(f"[peer] error: unexpected llama-bench JSON (no rows for {', '.join(missing)})")

kvs = []
if kvs_ok == "1":
    try:
        kvs = [json.loads(l) for l in open(kvs_path, errors="replace") if l.strip()]
        for k in kvs:
            float(k["prefill_tok_s"]); float(k["decode_tok_s"])
    except (ValueError, KeyError, TypeError):
        kvs = []
        kvs_ok = "build/kvshare bench did not print a JSON object with prefill_tok_s/decode_tok_s last"

def kvs_value(kind, n, d):
    for k in kvs:
        if k.get("depth", 0) != d:
            continue
        if kind == "prefill" and k.get("prefill_tokens") == n and k["prefill_tok_s"] > 0:
            return float(k["prefill_tok_s"])
        if kind == "decode" and k.get("decode_tokens") == n and k["decode_tok_s"] > 0:
            return float(k["decode_tok_s"])
    return None

ll["pp"] = ll[(512, 0, 0)]
print()
print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), threads: {threads}")
print(f"model: {os.path.basename(model)}; load average: {os.getloadavg()[0]:.2f}; "
      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
print(f"llama.cpp: llama-cpp-python {pyver} sdist, llama.cpp {commit} "
      f"(backend {ll['pp'].get('backends', '?')}, {ll['pp'].get('n_threads', '?')} threads, "
      f"{len(ll['pp'].get('samples_ts', []))} reps)")
if kvs:
    extra = f", model {kvs[0]['model']}" if "model" in kvs[0] else ""
    print(f"kvshare: threads {kvs[0].get('threads', '?')}, isa {kvs[0].get('isa', '?')}{extra}")
print()

hdr = ("metric", "kvshare tok/s", "llama.cpp tok/s", "ratio kvshare/llama.cpp", "target", "")
out = []
failed = 0
for name, sel, (kind, n, d), target in tests:
    r = ll[sel]
    lc = f"{r['avg_ts']:.2f} ± {r.get('stddev_ts', 0.0):.2f}"
    kv = kvs_value(kind, n, d)
    if kv is not None and r["avg_ts"] > 0:
        ratio = kv / r["avg_ts"]
        verdict = "ok" if ratio >= target else "below"
        failed += ratio < target
        out.append((name, f"{kv:.2f}", lc, f"{ratio:.3f}", f">= {target}", verdict))
    else:
        out.append((name, "missing", lc, "n/a", f">= {target}", ""))
w = [max(len(h), *(len(row[i]) for row in out)) for i, h in enumerate(hdr)]
print(" | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
print("-+-".join("-" * x for x in w))
for row in out:
    print(" | ".join(c.ljust(w[i]) for i, c in enumerate(row)))
print()
if not kvs:
    print(f"kvshare bench is missing: {kvs_ok}")
    sys.exit(2)
print(f"{len(tests) - failed} of {len(tests)} ratios at their target "
      f"(timings from one run on this machine: noisy when the CPU is shared)")
PY
