# llama.cpp performance peer: download + build logic shared by the bench scripts. Sourced, not run.
#
# The peer is built from the llama.cpp sources vendored in the PyPI sdist of llama-cpp-python
# (pinned below). Nothing of it lives in the repository: the sdist, the extracted sources and the
# build all go under $LLAMACPP_CACHE (default ~/.cache/kvshare/llamacpp).
#
# After sourcing:
#   llamacpp_ensure_built     downloads/builds if needed (no-op when the stamp matches)
#   LLAMA_BENCH, LLAMA_CLI, LLAMA_SERVER   absolute paths of the binaries
#   LLAMACPP_PY_VERSION, LLAMACPP_COMMIT   pinned sdist version / vendored llama.cpp commit
#
# Environment knobs: LLAMACPP_CACHE, LLAMACPP_JOBS (default 2).

LLAMACPP_PY_VERSION="0.3.36"
# Vendored commit as recorded in the sdist's CHANGELOG (the sdist has no .git, so we pass it to cmake).
LLAMACPP_COMMIT="0c1e57098"
LLAMACPP_SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"

LLAMACPP_CACHE="${LLAMACPP_CACHE:-${KVS_CACHE:-$HOME/.cache/kvshare}/llamacpp}"
LLAMACPP_JOBS="${LLAMACPP_JOBS:-2}"
LLAMACPP_SDIST="$LLAMACPP_CACHE/sdist/llama_cpp_python-$LLAMACPP_PY_VERSION.tar.gz"
LLAMACPP_SRC="$LLAMACPP_CACHE/src/llama_cpp_python-$LLAMACPP_PY_VERSION/vendor/llama.cpp"
LLAMACPP_BUILD="$LLAMACPP_CACHE/build-$LLAMACPP_PY_VERSION"
LLAMACPP_STAMP="$LLAMACPP_BUILD/.kvshare-stamp"

LLAMA_BENCH="$LLAMACPP_BUILD/bin/llama-bench"
LLAMA_CLI="$LLAMACPP_BUILD/bin/llama-cli"
LLAMA_SERVER="$LLAMACPP_BUILD/bin/llama-server"

# CPU-only Release build; no network access at configure/build time (no UI download, no TLS, no curl).
# AMX is compiled out (-mno-amx-*, which GCC honours even with -march=native): on Sapphire Rapids
# hosts the vendored ggml AMX matmul segfaults in ldtilecfg (upstream issue "segfault in
# ggml_backend_amx_mul_mat"; the tile config on the stack is invalid), so the peer uses AVX512/VNNI.
LLAMACPP_NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
LLAMACPP_CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=ON
  "-DCMAKE_C_FLAGS=$LLAMACPP_NO_AMX"
  "-DCMAKE_CXX_FLAGS=$LLAMACPP_NO_AMX"
  -DGGML_CUDA=OFF
  -DGGML_OPENMP=ON
  -DGGML_CCACHE=OFF
  -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_COMMIT="$LLAMACPP_COMMIT"
)
LLAMACPP_TARGETS=(llama-bench llama-cli llama-server)

_llamacpp_log() { printf '\033[1m[llamacpp]\033[0m %s\n' "$*" >&2; }
_llamacpp_die() { printf '[llamacpp] error: %s\n' "$*" >&2; return 1; }

_llamacpp_stamp_text() {
  printf 'llama-cpp-python=%s commit=%s flags=%s cxx=%s\n' "$LLAMACPP_PY_VERSION" "$LLAMACPP_COMMIT" \
    "${LLAMACPP_CMAKE_FLAGS[*]}" "$(c++ --version 2>/dev/null | head -1)"
}

llamacpp_is_built() {
  [[ -x "$LLAMA_BENCH" && -x "$LLAMA_CLI" && -x "$LLAMA_SERVER" && -f "$LLAMACPP_STAMP" ]] &&
    [[ "$(cat "$LLAMACPP_STAMP")" == "$(_llamacpp_stamp_text)" ]]
}

_llamacpp_build_locked() {
  llamacpp_is_built && return 0

  mkdir -p "$LLAMACPP_CACHE/sdist" "$LLAMACPP_CACHE/src"
  if [[ ! -f "$LLAMACPP_SDIST" ]] ||
     [[ "$(sha256sum "$LLAMACPP_SDIST" | cut -d' ' -f1)" != "$LLAMACPP_SDIST_SHA256" ]]; then
    rm -f "$LLAMACPP_SDIST"
    _llamacpp_log "downloading llama-cpp-python==$LLAMACPP_PY_VERSION sdist from PyPI"
    python3 -m pip download -q --no-deps --no-binary :all: -d "$LLAMACPP_CACHE/sdist" \
      "llama-cpp-python==$LLAMACPP_PY_VERSION" || { _llamacpp_die "pip download failed"; return 1; }
    [[ -f "$LLAMACPP_SDIST" ]] || { _llamacpp_die "sdist not found at $LLAMACPP_SDIST"; return 1; }
    local got; got=$(sha256sum "$LLAMACPP_SDIST" | cut -d' ' -f1)
    [[ "$got" == "$LLAMACPP_SDIST_SHA256" ]] ||
      { _llamacpp_die "sdist sha256 mismatch: $got (expected $LLAMACPP_SDIST_SHA256)"; return 1; }
  fi

  if [[ ! -f "$LLAMACPP_SRC/CMakeLists.txt" ]]; then
    _llamacpp_log "extracting vendor/llama.cpp"
    rm -rf "$LLAMACPP_CACHE/src/llama_cpp_python-$LLAMACPP_PY_VERSION"
    tar -xzf "$LLAMACPP_SDIST" -C "$LLAMACPP_CACHE/src" \
      "llama_cpp_python-$LLAMACPP_PY_VERSION/vendor/llama.cpp" || { _llamacpp_die "extract failed"; return 1; }
  fi
  [[ -f "$LLAMACPP_SRC/tools/llama-bench/llama-bench.cpp" ]] ||
    { _llamacpp_die "vendored llama.cpp lacks tools/llama-bench"; return 1; }

  local gen=() t0=$SECONDS
  command -v ninja >/dev/null 2>&1 && [[ ! -f "$LLAMACPP_BUILD/CMakeCache.txt" ]] && gen=(-G Ninja)
  _llamacpp_log "configuring llama.cpp $LLAMACPP_COMMIT (CPU, Release) in $LLAMACPP_BUILD"
  rm -f "$LLAMACPP_STAMP"
  cmake -S "$LLAMACPP_SRC" -B "$LLAMACPP_BUILD" "${gen[@]}" "${LLAMACPP_CMAKE_FLAGS[@]}" \
    >"$LLAMACPP_CACHE/configure.log" 2>&1 ||
    { _llamacpp_die "cmake configure failed, see $LLAMACPP_CACHE/configure.log"; return 1; }
  _llamacpp_log "building ${LLAMACPP_TARGETS[*]} with -j$LLAMACPP_JOBS (log: $LLAMACPP_CACHE/build.log)"
  cmake --build "$LLAMACPP_BUILD" -j "$LLAMACPP_JOBS" --target "${LLAMACPP_TARGETS[@]}" \
    >"$LLAMACPP_CACHE/build.log" 2>&1 ||
    { tail -30 "$LLAMACPP_CACHE/build.log" >&2; _llamacpp_die "build failed, see $LLAMACPP_CACHE/build.log"; return 1; }
  [[ -x "$LLAMA_BENCH" && -x "$LLAMA_CLI" && -x "$LLAMA_SERVER" ]] ||
    { _llamacpp_die "build finished but binaries missing in $LLAMACPP_BUILD/bin"; return 1; }
  _llamacpp_stamp_text >"$LLAMACPP_STAMP"
  _llamacpp_log "built in $((SECONDS - t0)) s"
}

# Builds the peer if needed. Serialised with flock so that concurrent bench scripts don't race.
llamacpp_ensure_built() {
  llamacpp_is_built && return 0
  mkdir -p "$LLAMACPP_CACHE"
  if command -v flock >/dev/null 2>&1; then
    (
      flock 9 || exit 1
      _llamacpp_build_locked
    ) 9>"$LLAMACPP_CACHE/.lock"
  else
    _llamacpp_build_locked
  fi
}
