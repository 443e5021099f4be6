#!/usr/bin/env bash
# Fidelity study (issue 9): choose the selection settings on the TUNE split, then report the chosen defaults on
# the disjoint TEST split. Every figure comes from `kvshare eval` (src/eval/runner.h), which measures each mode
# against full computation in one run: ROUGE-L / first-token agreement vs the full answer, the answers'
# perplexity ratio under the exact model, first-token KL, TTFT p50 and reuse.
#
# Usage: bench/fidelity_tune.sh [--stage tune|test|length|all] [--n N] [--threads T] [--out DIR]
#   tune    paraphrase (n) and rag (n/2) on the tune split: every method as its own mode, and the edit-aware
#           window/tail grid (semantic-edit*-modes at each setting), max_tokens 64
#   test    the server's defaults (`semantic-runs-attn-edit-repair`, i.e. what `kvshare serve` runs:
#           engine/sharing_defaults.h) beside full, prefix and plain CacheBlend (`semantic`) on the test split,
#           n per workload (200 for the issue's figures), max_tokens 64
#   length  rag with 1-4 passages on the test split: the by-length table and plot (400 / 800 / 1,600 tokens)
# Results: DIR/<stage>-<workload>[-<setting>]/eval_<workload>.{md,json,png}; the Markdown tables are printed.
# KVS_BIN: the kvshare binary (default build/kvshare). Time: unloaded 2 cores, tune at n=60 is about 40 minutes, test at n=200 about an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=all n=60 threads=2 out=eval_out/fidelity
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --n) n="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--stage tune|test|length|all] [--n N] [--threads T] [--out DIR]" >&2; exit 1 ;;
  esac
done
bin="${KVS_BIN:-build/kvshare}"
[[ -x "$bin" ]] || { echo "$bin missing: run scripts/build.sh" >&2; exit 1; }

run() {  # run NAME ARGS...: one eval into $out/NAME, its Markdown printed
  local name="$1"; shift
  echo "== $name: kvshare eval $*" >&2
  "$bin" eval --threads "$threads" --max-tokens 64 --no-sweep --out "$out/$name" "$@" >/dev/null
  cat "$out/$name"/eval_*.md
}

methods=full,prefix,semantic,semantic-attn,semantic-gradual,semantic-adaptive,semantic-repair,semantic-edit-repair
if [[ $stage == tune || $stage == all ]]; then
  run tune-paraphrase --workload paraphrase --split tune --n "$n" --modes "$methods"
  run tune-rag --workload rag --split tune --n "$((n / 2))" --modes "$methods"
  for wt in 0:6 1:6 2:6 2:8; do  # edit-aware window:tail, with and without decode-stage repair
    run "tune-paraphrase-edit-${wt/:/-}" --workload paraphrase --split tune --n "$n" \
      --modes semantic-edit,semantic-edit-repair --edit-window "${wt%%:*}" --edit-tail "${wt##*:}"
  done
fi
if [[ $stage == test || $stage == all ]]; then
  run test-paraphrase --workload paraphrase --split test --n "$n" --modes full,prefix,semantic,semantic-runs-attn-edit-repair
  run test-rag --workload rag --split test --n "$n" --modes full,prefix,semantic,semantic-runs-attn-edit-repair
fi
if [[ $stage == length || $stage == all ]]; then
  run test-length --workload rag --rag-passages 1-4 --split test --n "$((n < 150 ? n : 150))" \
    --modes full,prefix,semantic-runs-attn-edit-repair
fi
