# The clang ASan+UBSan build tree shared by scripts/fuzz.sh (libFuzzer targets) and scripts/sanitize.sh
# (unit tests, server test): one configuration, so the libraries are compiled once for both. Sourced.
#   KVS_FUZZ_BUILD   the tree (default build-fuzz/, ignored by git as build-*)
KVS_FUZZ_BUILD="${KVS_FUZZ_BUILD:-$KVS_ROOT/build-fuzz}"
# -ffp-contract=off: clang ignores the kernels' "#pragma GCC optimize(fp-contract=off)" (dequantisation must not
# fuse d*q + m into an FMA to keep ggml's rounding), so contraction is off for the whole tree.
KVS_SANITIZE_FLAGS="-O2 -gline-tables-only -ffp-contract=off"

# kvs_sanitizer_build <target>...: configures the tree (clang, -O2 with line tables, assertions on) and builds
# the targets with KVS_JOBS jobs.
kvs_sanitizer_build() {
  command -v clang++ >/dev/null || die "clang++ not found (scripts/install_deps.sh installs clang)"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$KVS_ROOT")}" CCACHE_NOHASHDIR=1
  cmake -S "$KVS_ROOT" -B "$KVS_FUZZ_BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="$KVS_SANITIZE_FLAGS" -DCMAKE_C_FLAGS_SANITIZE="$KVS_SANITIZE_FLAGS" \
        -DKVS_BUILD_FUZZ=ON -DKVS_BUILD_BENCH=OFF -DKVS_BUILD_TESTS=ON "${launcher[@]}" >/dev/null \
    || die "configuring $KVS_FUZZ_BUILD failed"
  cmake --build "$KVS_FUZZ_BUILD" -j "$KVS_JOBS" --target "$@" >"$KVS_FUZZ_BUILD/build.log" 2>&1 \
    || { grep -E "error|Error" "$KVS_FUZZ_BUILD/build.log" | head -30 >&2; die "sanitizer build failed (see $KVS_FUZZ_BUILD/build.log)"; }
}
