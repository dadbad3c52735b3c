#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS (default 20), one after the other, on a scratch copy of its seed corpus.
#
#   tests/fuzz/run.sh            # 5 targets x 20 s
#   tests/fuzz/run.sh 600        # a longer hunt
#   FUZZ_TARGETS="manifest frame_set" tests/fuzz/run.sh 60
#   FUZZ_RUNS=10000000 tests/fuzz/run.sh   # each target for 10M executions (no time limit)
#   FUZZ_TIMEOUT=60 ...          # seconds one input may take before it counts as a hang (10)
#
# Long hunts go about twice as fast with ASAN_OPTIONS=malloc_context_size=0 (ASan stops
# recording a stack at every malloc, which dominates the YAML target); errors are still
# caught, and a crash input replayed without it shows the full allocation stacks.
# Every target runs even after another one crashed; the exit status is non-zero if any
# did. A crashing input is kept as build-fuzz/fuzz-out/<target>/crash-* (reproduce:
# build-fuzz/tests/fuzz/<target>_fuzzer FILE). Once fixed, copy it into tests/fuzz/corpus/<target>/ so the ctest replay
# (fuzz.<target>.corpus, normal build) keeps it fixed. New coverage found during a run
# stays in build-fuzz/fuzz-out/<target>/corpus; the checked-in seeds are never modified.
# Prints, per target: runs, executions/s, coverage (cov: edges) and features (ft:).
set -euo pipefail

SECONDS_PER_TARGET=${1:-20}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$REPO/build-fuzz}
TARGETS=(${FUZZ_TARGETS:-frame_set frame_pattern job_spec_yaml job_spec_proto manifest})
CXX=${FUZZ_CXX:-clang++-14}

command -v "$CXX" >/dev/null ||
  { echo "fuzz: $CXX not found (deploy/install-deps.sh installs clang-14 libclang-rt-14-dev)" >&2; exit 1; }
export CCACHE_BASEDIR=$REPO
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DGENFARM_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD" -j"${FUZZ_JOBS:-2}" --target genfarm_fuzzers

summary=()
failed=()
for target in "${TARGETS[@]}"; do
  exe="$BUILD/tests/fuzz/${target}_fuzzer"
  out="$BUILD/fuzz-out/$target"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  cp "$REPO/tests/fuzz/corpus/$target"/* "$out/corpus/"
  # A run count (FUZZ_RUNS) replaces the time limit: libFuzzer stops after that many inputs.
  if [[ -n "${FUZZ_RUNS:-}" ]]; then
    limit=(-runs="$FUZZ_RUNS")
    echo "fuzz: $target for $FUZZ_RUNS executions"
  else
    limit=(-max_total_time="$SECONDS_PER_TARGET")
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  fi
  # -max_len 8192: room for a full job spec; -rss_limit_mb: an input that needs more
  # memory than that is a bug (every parser bounds what it allocates). -timeout: a single
  # input slower than that is a hang; a long hunt sharing a loaded machine raises it
  # (FUZZ_TIMEOUT) so a starved process is not reported as one.
  if ! (cd "$out" && "$exe" "${limit[@]}" -max_len=8192 \
          -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 -artifact_prefix="$out/" \
          "$out/corpus" >"$out/log" 2>&1); then
    grep -v -E '^#[0-9]+' "$out/log" | tail -n 40 >&2
    input=$(ls "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* 2>/dev/null | head -1)
    echo "fuzz: $target FAILED; input: $input" >&2
    failed+=("$target")
    summary+=("$(printf '%-15s FAILED: %s' "$target" "$input")")
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  last=$(grep -E '^#[0-9]+' "$out/log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-15s %12s runs %9s exec/s  cov: %-6s ft: %s' "$target" "$runs" "$speed" "$cov" "$ft")")
  echo "fuzz: ${summary[-1]}"
done
printf '  %s\n' "${summary[@]}"
if (( ${#failed[@]} > 0 )); then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
if [[ -n "${FUZZ_RUNS:-}" ]]; then
  echo "fuzz: no crashes ($FUZZ_RUNS executions per target)"
else
  echo "fuzz: no crashes (${SECONDS_PER_TARGET}s per target)"
fi
