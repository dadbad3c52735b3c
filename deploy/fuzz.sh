#!/usr/bin/env bash
# Runs the project's libFuzzer targets (frame sets, frame patterns, the YAML and protobuf spec
# validators, the model manifest) with clang-14, ASan and UBSan: builds them in build-fuzz/ and
# runs each for a while on a scratch copy of its seed corpus (tests/fuzz/run.sh does the work).
#
#   deploy/fuzz.sh                          # every target, 20 s each
#   deploy/fuzz.sh --seconds 600            # a longer hunt
#   deploy/fuzz.sh --seconds 5 --targets "manifest frame_set"
#   deploy/fuzz.sh --runs 10000000           # each target until it has run 10M inputs
#   deploy/fuzz.sh --timeout 60              # an input slower than 60 s is a hang (default 10)
#
# A crash is kept as build-fuzz/fuzz-out/<target>/crash-*; the exit status is non-zero if any
# target crashed. Per target it prints runs, executions/s and coverage.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET=$2; shift 2 ;;
    --runs) export FUZZ_RUNS=$2; shift 2 ;;
    --targets) export FUZZ_TARGETS=$2; shift 2 ;;
    --timeout) export FUZZ_TIMEOUT=$2; shift 2 ;;
    --build) export FUZZ_BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
BUILD=${FUZZ_BUILD_DIR:-$REPO/build-fuzz}
# A fuzz build copied from another checkout points CMake at that tree: start it afresh.
if [[ -f "$BUILD/CMakeCache.txt" ]] &&
   ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$REPO" "$BUILD/CMakeCache.txt"; then
  echo "fuzz: $BUILD was configured for another source tree; reconfiguring it for $REPO" >&2
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
exec "$REPO/tests/fuzz/run.sh" "$SECONDS_PER_TARGET"
