#!/usr/bin/env bash
# Runs GenFarm's chaos test (tests/chaos/test_chaos.py) for a while: a real scheduler and three
# real workers render two-stage jobs, round after round, while a seeded loop SIGKILLs workers and
# the scheduler and SIGSTOPs workers past their lease; every round's frames are audited.
#
#   deploy/chaos.sh --minutes 30 --seed 7
#   deploy/chaos.sh --minutes 5 --seed 3 --frames 48 --report chaos.txt
#
# Needs a build (build/ by default, or --build DIR) and the models (var/models, or
# $GENFARM_MODELS). Prints one line per round; exits non-zero if any round lost, duplicated,
# corrupted or stale-wrote a frame, left a temporary file or a task without its log.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MINUTES=10
SEED=1
FRAMES=48
BUILD=$REPO/build
REPORT=/dev/null
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

for bin in scheduler/genfarm-scheduler worker/genfarm-worker client/genfarm; do
  [[ -x "$BUILD/$bin" ]] || { echo "chaos: $BUILD/$bin not built" >&2; exit 1; }
done
export GENFARM_BIN_DIR=$BUILD
export GENFARM_SOURCE_DIR=$REPO
export GENFARM_MODELS=${GENFARM_MODELS:-$REPO/var/models}
export GENFARM_CHAOS_SEED=$SEED GENFARM_CHAOS_MINUTES=$MINUTES GENFARM_CHAOS_FRAMES=$FRAMES
export GENFARM_CHAOS_REPORT=$REPORT
export PYTHONPATH=$BUILD/python:$REPO/tests/lib${PYTHONPATH:+:$PYTHONPATH}
cd "$REPO/tests/chaos"
exec /usr/bin/python3 -m unittest -v test_chaos
