#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build-fuzz/) and runs each for a fixed time.
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--replay-findings] [target...]
#     --seconds N        fuzzing time per target (default 20)
#     --jobs J           targets fuzzed at the same time (default KVS_JOBS = nproc)
#     --replay-findings  only run the kept reproducers of fuzz/findings/<target>/ (bugs in code owned
#                        elsewhere, not yet fixed) and say which still fail; never fails itself
#     target             fuzz_gguf fuzz_model_load fuzz_openai_api fuzz_tokenizer fuzz_chat_template fuzz_align
#                        fuzz_sensitive_screen
#                        (default: all)
# Corpora: fuzz/corpus/<target>/ (committed seeds and regression inputs, read only), build-fuzz/seeds/<target>/
# (GGUF seeds written by fuzz_make_seeds) and build-fuzz/corpus/<target>/ (what the fuzzer found, kept between
# local runs). A crash, leak, timeout or out-of-memory is a finding: its input is saved under
# build-fuzz/findings/<target>/ and the script exits 1. Prints executions and findings per target.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$KVS_ROOT/scripts/sanitizer_build.sh"
ALL=(fuzz_gguf fuzz_model_load fuzz_openai_api fuzz_tokenizer fuzz_chat_template fuzz_align fuzz_sensitive_screen)
seconds=20 jobs="$KVS_JOBS" replay=0 targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --replay-findings) replay=1; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) die "unknown argument '$1' (see scripts/fuzz.sh --help)" ;;
  esac
done
((${#targets[@]})) || targets=("${ALL[@]}")

log "building fuzz targets in $KVS_FUZZ_BUILD: ${targets[*]}"
kvs_sanitizer_build "${targets[@]}" fuzz_make_seeds
"$KVS_FUZZ_BUILD/fuzz/fuzz_make_seeds" "$KVS_FUZZ_BUILD/seeds" || die "fuzz_make_seeds failed"
export KVS_FUZZ_MODEL="${KVS_FUZZ_MODEL:-$KVS_ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

if ((replay)); then
  export KVS_FUZZ_NO_GUARDS=1   # the targets' skips for known findings are off
  for t in "${targets[@]}"; do
    for f in "$KVS_ROOT/fuzz/findings/$t"/*; do
      [[ -f "$f" && "$f" != *.md ]] || continue
      if "$KVS_FUZZ_BUILD/fuzz/$t" "$f" >/dev/null 2>&1; then echo "fixed       $t  ${f#$KVS_ROOT/}"
      else echo "still fails $t  ${f#$KVS_ROOT/}"; fi
    done
  done
  exit 0
fi

# run_one <target>: fuzzes for $seconds; the log is build-fuzz/logs/<target>.log.
run_one() {
  local t="$1" dict=() seeds=()
  rm -rf "$KVS_FUZZ_BUILD/findings/$t"   # this run's findings only
  mkdir -p "$KVS_FUZZ_BUILD/corpus/$t" "$KVS_FUZZ_BUILD/findings/$t" "$KVS_FUZZ_BUILD/logs"
  [[ -f "$KVS_ROOT/fuzz/dict/$t.dict" ]] && dict=(-dict="$KVS_ROOT/fuzz/dict/$t.dict")
  for d in "$KVS_ROOT/fuzz/corpus/$t" "$KVS_FUZZ_BUILD/seeds/$t"; do [[ -d "$d" ]] && seeds+=("$d"); done
  "$KVS_FUZZ_BUILD/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$KVS_FUZZ_BUILD/findings/$t/" "${dict[@]}" \
      "$KVS_FUZZ_BUILD/corpus/$t" "${seeds[@]}" >"$KVS_FUZZ_BUILD/logs/$t.log" 2>&1
}

log "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
declare -A rc
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=("$!:$t")
  if ((${#pids[@]} >= jobs)); then
    p="${pids[0]}"; pids=("${pids[@]:1}")
    wait "${p%%:*}" && rc[${p#*:}]=0 || rc[${p#*:}]=$?
  fi
done
for p in "${pids[@]}"; do wait "${p%%:*}" && rc[${p#*:}]=0 || rc[${p#*:}]=$?; done

status=0
printf '%-20s %12s %10s %8s  %s\n' target executions exec/s corpus findings
for t in "${targets[@]}"; do
  logf="$KVS_FUZZ_BUILD/logs/$t.log"
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logf" | grep -oE '[0-9]+$' || echo "?")
  speed=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$logf" | grep -oE '[0-9]+$' || echo "?")
  corpus=$(find "$KVS_FUZZ_BUILD/corpus/$t" -type f | wc -l)
  if [[ "${rc[$t]}" != 0 ]]; then
    status=1
    printf '%-20s %12s %10s %8s  %s\n' "$t" "$execs" "$speed" "$corpus" "FINDING (exit ${rc[$t]}, see ${logf#$KVS_ROOT/})"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|FUZZ_CHECK failed|.*runtime error)' "$logf" | head -5 | sed 's/^/    /'
    ls -1 "$KVS_FUZZ_BUILD/findings/$t" | sed "s|^|    input: ${KVS_FUZZ_BUILD#$KVS_ROOT/}/findings/$t/|"
  else
    printf '%-20s %12s %10s %8s  %s\n' "$t" "$execs" "$speed" "$corpus" "none"
  fi
done
exit "$status"
