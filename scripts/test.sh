#!/usr/bin/env bash
# The test command: installs what it needs (Debian packages, the model, the Python references), builds,
# then runs the C++ unit tests (ctest) and the reference tests (pytest) against the real model, then the
# sanitizer checks: every libFuzzer target for a short time and the unit tests + a server test under
# ASan+UBSan (clang, build-fuzz/; any finding fails the run).
#   KVS_TEST_FULL=1      also runs the long evaluations (off by default).
#   KVS_FUZZ_SECONDS=N   fuzzing time per target (default 20; 0 skips the sanitizer checks).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$KVS_ROOT"
"$KVS_ROOT/scripts/install_deps.sh"
"$KVS_ROOT/scripts/fetch_model.sh"
"$KVS_ROOT/scripts/fetch_model.sh" --model gemma3-270m
"$KVS_ROOT/scripts/setup_test_env.sh"
"$KVS_ROOT/scripts/fetch_embedder.sh"
"$KVS_ROOT/scripts/build.sh"
export KVS_BIN="$KVS_BUILD/kvshare"
export KVS_MODEL="$KVS_ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
export KVS_GEMMA_MODEL="$KVS_ROOT/models/gemma-3-270m-q4_k_m.gguf"
export KVS_EMBEDDER="$KVS_ROOT/models/all-MiniLM-L6-v2.gguf"
log "C++ unit tests"
# Every stage is bounded: a hang fails its test (ctest 600 s per test, pytest 900 s per test including its
# fixtures) instead of running the CI job into its wall-clock limit.
ctest --test-dir "$KVS_BUILD" --output-on-failure -j "$KVS_JOBS" --timeout 600
log "reference tests (transformers/torch, sacrebleu, rouge-score, openai client)"
"$KVS_VENV/bin/python" -m pytest -q -s "$KVS_ROOT/tests/python" -p no:cacheprovider --timeout 900 --durations 15
if [[ "${KVS_FUZZ_SECONDS:-20}" != 0 ]]; then
  log "fuzzing (libFuzzer, ASan+UBSan): ${KVS_FUZZ_SECONDS:-20}s per target"
  "$KVS_ROOT/scripts/fuzz.sh" --seconds "${KVS_FUZZ_SECONDS:-20}"
  log "unit tests and a server test under ASan+UBSan"
  "$KVS_ROOT/scripts/sanitize.sh"
fi
