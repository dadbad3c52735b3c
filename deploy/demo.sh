#!/usr/bin/env bash
# GenFarm demo: the README's first command. On a fresh Debian bookworm machine (as root,
# or a user with sudo) it installs the dependencies, builds the daemons and the CLI,
# fetches and converts the real models, starts a scheduler (embedded SQLite store) and
# one local worker, submits the demo shot (24 scene-linear EXR plates: upres 2x ->
# retime 2x -> dailies), waits with a progress bar, and prints where the frames, the
# contact sheet, the movie and the dashboard are. The daemons keep running afterwards.
#
#   bash deploy/demo.sh          # set up (idempotent) and run a new demo job
#   bash deploy/demo.sh status   # are the demo daemons running, and where
#   bash deploy/demo.sh stop     # stop them
#
# Environment:
#   GENFARM_BUILD_DIR   build folder (default <repo>/build)
#   GENFARM_JOBS        ninja parallelism (default 2)
#   GENFARM_DEMO_DIR    state, logs and outputs (default <repo>/var/demo)
#   GENFARM_DEMO_HTTP   dashboard address (default 127.0.0.1:7080; a free port if taken;
#                       0.0.0.0:7080 to browse from another machine)
#   GENFARM_DEMO_GRPC   scheduler gRPC address (default 127.0.0.1:7070; a free port if taken)
#
# Running it again reuses the build and the models, restarts the demo daemons on the same
# data folder (earlier jobs stay on the dashboard) and writes the new job's outputs to a
# fresh folder var/demo/runs/N/.
set -Eeuo pipefail
trap 'printf "\ndemo: FAILED at deploy/demo.sh line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${GENFARM_BUILD_DIR:-$REPO/build}
JOBS=${GENFARM_JOBS:-2}
DEMO=${GENFARM_DEMO_DIR:-$REPO/var/demo}
MODELS=$REPO/var/models
HTTP_WANT=${GENFARM_DEMO_HTTP:-127.0.0.1:7080}
GRPC_WANT=${GENFARM_DEMO_GRPC:-127.0.0.1:7070}
PLATES_FIRST=1001
PLATES_LAST=1024
PLATES_SIZE=256x144
PLATES_N=$((PLATES_LAST - PLATES_FIRST + 1))
RETIME_WANT=$((2 * PLATES_N - 1))   # retime factor 2: every gap gets one new frame
PY=/usr/bin/python3   # Debian's python3-openimageio is visible to this interpreter only

SCHEDULER_BIN=$BUILD/scheduler/genfarm-scheduler
WORKER_BIN=$BUILD/worker/genfarm-worker
CLI_BIN=$BUILD/client/genfarm
RUN_DIR=$DEMO/run          # pid and port files
PLATES=$DEMO/plates/$PLATES_SIZE
LOG_DIR=$DEMO/logs

T0=$(date +%s)
STEP=0
STEPS=7
STEP_T0=$T0

say() { printf '%s\n' "$*"; }
die() {
  printf '\ndemo: FAILED: %s\n' "$*" >&2
  exit 1
}
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
step() {
  if [ "$STEP" -gt 0 ]; then say "      done in $(elapsed "$STEP_T0")"; fi
  STEP=$((STEP + 1))
  STEP_T0=$(date +%s)
  say "[$STEP/$STEPS] $*"
}
# Runs a command with its output in a log file; on failure shows the log's tail.
quiet() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    die "'$*' failed (full log: $log)"
  fi
}

# Like quiet, for long steps: on a terminal, shows the latest "[N/M]" or "fetch_models:"
# line of the log while the command runs.
quiet_progress() {
  local log=$1 pid rc=0 line
  shift
  "$@" >"$log" 2>&1 &
  pid=$!
  if [ -t 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      line=$(grep -E '^\[[0-9]+/[0-9]+\]|^fetch_models:' "$log" 2>/dev/null | tail -n 1 | cut -c1-100 || true)
      printf '\r\033[K      %s' "$line"
      sleep 1
    done
    printf '\r\033[K'
  fi
  wait "$pid" || rc=$?
  if [ "$rc" != 0 ]; then
    tail -n 30 "$log" >&2 || true
    die "'$*' failed (full log: $log)"
  fi
}

# --- daemon bookkeeping ----------------------------------------------------------------

# The pid in $RUN_DIR/NAME.pid when that process is alive and is still our binary.
live_pid() {
  local name=$1 bin=$2 pid exe
  [ -f "$RUN_DIR/$name.pid" ] || return 1
  pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  # A rebuilt binary shows as "PATH (deleted)".
  [ "${exe% (deleted)}" = "$(readlink -f "$bin")" ] || return 1
  echo "$pid"
}

stop_one() {
  local name=$1 bin=$2 sig=$3 pid
  if pid=$(live_pid "$name" "$bin"); then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "demo: $name (pid $pid) did not stop in 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    say "demo: stopped $name (pid $pid)"
  fi
  rm -f "$RUN_DIR/$name.pid"
}

stop_all() {
  # SIGINT: the worker hands its running tasks back at once instead of draining.
  stop_one worker "$WORKER_BIN" INT
  stop_one scheduler "$SCHEDULER_BIN" TERM
  rm -f "$RUN_DIR/scheduler.ports"
}

port_busy() {  # HOST PORT
  local host=$1
  [ "$host" = 0.0.0.0 ] && host=127.0.0.1
  (exec 3<>"/dev/tcp/$host/$2") 2>/dev/null
}

# HOST:PORT as wanted, or HOST:0 (a free port) when the port is taken.
pick_address() {
  local want=$1 what=$2 host port
  host=${want%:*}
  port=${want##*:}
  if [ "$port" != 0 ] && port_busy "$host" "$port"; then
    say "      $what port $port is taken; using a free port instead" >&2
    port=0
  fi
  echo "$host:$port"
}

status() {
  local spid wpid grpc_port http_port
  if spid=$(live_pid scheduler "$SCHEDULER_BIN"); then
    grpc_port=$(sed -n 's/^grpc_port=//p' "$RUN_DIR/scheduler.ports" 2>/dev/null || true)
    http_port=$(sed -n 's/^http_port=//p' "$RUN_DIR/scheduler.ports" 2>/dev/null || true)
    say "scheduler: running (pid $spid), gRPC 127.0.0.1:${grpc_port:-?}, dashboard http://$(cat "$RUN_DIR/http_host" 2>/dev/null || echo 127.0.0.1):${http_port:-?}/"
  else
    say "scheduler: not running"
  fi
  if wpid=$(live_pid worker "$WORKER_BIN"); then say "worker:    running (pid $wpid)"; else say "worker:    not running"; fi
  say "logs:      $LOG_DIR"
}

case "${1:-run}" in
  stop)
    stop_all
    exit 0
    ;;
  status)
    status
    exit 0
    ;;
  run | "") ;;
  -h | --help | help)
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown command '$1' (use: run, status, stop)" ;;
esac

mkdir -p "$RUN_DIR" "$LOG_DIR" "$DEMO/runs"
say "GenFarm demo (repo $REPO)"

# --- 1. dependencies -------------------------------------------------------------------
step "dependencies (deploy/install-deps.sh)"
quiet "$LOG_DIR/install-deps.log" bash "$REPO/deploy/install-deps.sh"
tail -n 1 "$LOG_DIR/install-deps.log" | sed 's/^/      /'

# --- 2. build ----------------------------------------------------------------------------
step "build genfarm-scheduler, genfarm-worker, genfarm (ninja -j$JOBS, $BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
  quiet "$LOG_DIR/cmake.log" cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
say "      (log: $LOG_DIR/build.log; a first build takes 15-30 minutes on 2 cores)"
quiet_progress "$LOG_DIR/build.log" ninja -C "$BUILD" -j"$JOBS" genfarm-scheduler genfarm-worker genfarm
for bin in "$SCHEDULER_BIN" "$WORKER_BIN" "$CLI_BIN"; do
  [ -x "$bin" ] || die "the build did not produce $bin (see $LOG_DIR/build.log)"
done
grep -E '^\[[0-9]+/[0-9]+\]' "$LOG_DIR/build.log" | tail -n 1 | sed 's/^/      /' || say "      up to date"

# --- 3. models ---------------------------------------------------------------------------
step "models: fetch and convert from npm (worker/models/fetch_models.sh $MODELS)"
quiet_progress "$LOG_DIR/fetch_models.log" bash "$REPO/worker/models/fetch_models.sh" "$MODELS"
tail -n 1 "$LOG_DIR/fetch_models.log" | sed 's/^/      /'
for m in esrgan-slim-x2 rife-v4.6; do
  [ -f "$MODELS/$m/manifest.json" ] || die "model $m is missing from $MODELS (see $LOG_DIR/fetch_models.log)"
done

# --- 4. plates ---------------------------------------------------------------------------
step "plates: $PLATES_N scene-linear EXR frames at $PLATES_SIZE"
quiet "$LOG_DIR/make_plates.log" "$PY" "$REPO/examples/make_plates.py" \
  "$PLATES/sh010_plate.####.exr" "$PLATES_FIRST" "$PLATES_LAST" --size "$PLATES_SIZE"
say "      $PLATES/sh010_plate.####.exr"

# --- 5. daemons --------------------------------------------------------------------------
step "start the scheduler (SQLite store in $DEMO/scheduler) and a local worker"
stop_all
grpc_addr=$(pick_address "$GRPC_WANT" gRPC)
http_addr=$(pick_address "$HTTP_WANT" dashboard)
http_host=${http_addr%:*}
[ "$http_host" = 0.0.0.0 ] && http_host=$(hostname -I 2>/dev/null | awk '{print $1}')
echo "${http_host:-127.0.0.1}" >"$RUN_DIR/http_host"
mkdir -p "$DEMO/scheduler"
# setsid: the daemons outlive this script and ignore the terminal's Ctrl-C.
setsid "$SCHEDULER_BIN" --listen "$grpc_addr" --http "$http_addr" --data_dir "$DEMO/scheduler" \
  --port_file "$RUN_DIR/scheduler.ports" </dev/null >>"$LOG_DIR/scheduler.log" 2>&1 &
echo $! >"$RUN_DIR/scheduler.pid"
for _ in $(seq 1 300); do
  [ -s "$RUN_DIR/scheduler.ports" ] && break
  kill -0 "$(cat "$RUN_DIR/scheduler.pid")" 2>/dev/null || { tail -n 20 "$LOG_DIR/scheduler.log" >&2; die "the scheduler exited (log: $LOG_DIR/scheduler.log)"; }
  sleep 0.1
done
[ -s "$RUN_DIR/scheduler.ports" ] || die "the scheduler did not start listening in 30 s (log: $LOG_DIR/scheduler.log)"
# --port_file writes "grpc_port=N" and "http_port=N" lines.
GRPC_PORT=$(sed -n 's/^grpc_port=//p' "$RUN_DIR/scheduler.ports")
HTTP_PORT=$(sed -n 's/^http_port=//p' "$RUN_DIR/scheduler.ports")
export GENFARM_SCHEDULER=127.0.0.1:$GRPC_PORT
DASHBOARD="http://${http_host:-127.0.0.1}:$HTTP_PORT/"

setsid "$WORKER_BIN" --scheduler "$GENFARM_SCHEDULER" --models "$MODELS" --id demo-worker --slots 1 \
  </dev/null >>"$LOG_DIR/worker.log" 2>&1 &
echo $! >"$RUN_DIR/worker.pid"
for _ in $(seq 1 600); do
  if "$CLI_BIN" workers 2>/dev/null | grep -q demo-worker; then break; fi
  kill -0 "$(cat "$RUN_DIR/worker.pid")" 2>/dev/null || { tail -n 20 "$LOG_DIR/worker.log" >&2; die "the worker exited (log: $LOG_DIR/worker.log)"; }
  sleep 0.1
done
"$CLI_BIN" workers 2>/dev/null | grep -q demo-worker || die "the worker did not register in 60 s (log: $LOG_DIR/worker.log)"
say "      scheduler pid $(cat "$RUN_DIR/scheduler.pid") on gRPC $GENFARM_SCHEDULER, dashboard $DASHBOARD"
say "      worker demo-worker pid $(cat "$RUN_DIR/worker.pid")"

# --- 6. submit ---------------------------------------------------------------------------
n=1
while [ -e "$DEMO/runs/$n" ]; do n=$((n + 1)); done
RUN=$DEMO/runs/$n
mkdir -p "$RUN"
cp "$REPO/examples/demo_sh010.yaml" "$RUN/demo_sh010.yaml"
ln -s "$PLATES" "$RUN/plates"
ln -sfn "runs/$n" "$DEMO/latest"
step "submit the demo shot (upres esrgan-slim-x2 -> retime rife-v4.6 -> dailies) and wait"
say "      genfarm submit $RUN/demo_sh010.yaml --wait --json"
# --json: the summary goes to a file, the progress bar to the terminal (stderr).
set +e
"$CLI_BIN" submit "$RUN/demo_sh010.yaml" --wait --json >"$RUN/summary.json"
rc=$?
set -e
JOB_ID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$RUN/summary.json" 2>/dev/null || true)
if [ "$rc" != 0 ]; then
  [ -n "$JOB_ID" ] && { "$CLI_BIN" status "$JOB_ID" >&2 || true; }
  die "the demo job did not succeed (genfarm exit $rc); task logs: $CLI_BIN logs ${JOB_ID:-JOB}; summary: $RUN/summary.json; daemon logs: $LOG_DIR"
fi

# --- 7. check ----------------------------------------------------------------------------
step "check the outputs"
OUT=$RUN/renders/sh010
SHEET=$OUT/dailies/sh010_contact.jpg
MOVIE=$OUT/dailies/sh010.mp4
count() { find "$1" -maxdepth 1 -name "$2" 2>/dev/null | wc -l; }
UPRES_N=$(count "$OUT/upres" 'sh010_upres.*.exr')
RETIME_N=$(count "$OUT/retime" 'sh010_retime.*.exr')
[ "$UPRES_N" -eq "$PLATES_N" ] || die "expected $PLATES_N upres frames in $OUT/upres, found $UPRES_N"
[ "$RETIME_N" -eq "$RETIME_WANT" ] || die "expected $RETIME_WANT retimed frames in $OUT/retime, found $RETIME_N"
[ -s "$SHEET" ] || die "no contact sheet at $SHEET"
[ -s "$MOVIE" ] || die "no movie at $MOVIE"
MOVIE_FRAMES=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$MOVIE")
[ "$MOVIE_FRAMES" = "$RETIME_N" ] || die "the movie has $MOVIE_FRAMES frames, expected $RETIME_N"
MOVIE_INFO=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0:s=x "$MOVIE")
UPRES_SIZE=$(oiiotool --info "$OUT/upres/sh010_upres.1001.exr" 2>/dev/null | grep -oE '[0-9]+ x +[0-9]+' | head -n 1 | tr -d ' ')
SHEET_SIZE=$(oiiotool --info "$SHEET" 2>/dev/null | grep -oE '[0-9]+ x +[0-9]+' | head -n 1 | tr -d ' ')
say "      $UPRES_N upres frames, $RETIME_N retimed frames, movie $MOVIE_FRAMES frames (ffprobe)"
say "      done in $(elapsed "$STEP_T0")"

cat <<EOF

GenFarm demo finished in $(elapsed "$T0"): job ${JOB_ID:-?} sh010_demo succeeded.

  plates         $PLATES/sh010_plate.####.exr   ($PLATES_N frames, $PLATES_SIZE, scene-linear)
  upres frames   $OUT/upres/sh010_upres.####.exr   ($UPRES_N frames, ${UPRES_SIZE:-?})
  retime frames  $OUT/retime/sh010_retime.####.exr   ($RETIME_N frames, $PLATES_FIRST-$((PLATES_FIRST + RETIME_WANT - 1)))
  contact sheet  $SHEET   (${SHEET_SIZE:-?})
  movie          $MOVIE   ($MOVIE_FRAMES frames, ${MOVIE_INFO//x/ }, 24 fps)
  dashboard      $DASHBOARD   (metrics: ${DASHBOARD}metrics)
  logs           $LOG_DIR/scheduler.log, $LOG_DIR/worker.log

The scheduler and the worker are still running. Try:
  export GENFARM_SCHEDULER=$GENFARM_SCHEDULER
  $CLI_BIN jobs
  $CLI_BIN status ${JOB_ID:-JOB}
  $CLI_BIN logs ${JOB_ID:-JOB}
  $CLI_BIN workers
Stop them: bash deploy/demo.sh stop
EOF
