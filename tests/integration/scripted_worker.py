#!/usr/bin/python3
"""A scripted GenFarm worker for integration tests.

Speaks the real ``WorkerService.Connect`` stream like a worker daemon does, but instead of
running models it "renders" each frame by sleeping a configurable time and writing a marker
file ``<out_dir>/<job>/<stage>/<frame>.done`` that holds the attempt id. Everything it sees and
does goes to a JSON-lines journal, so a test can check afterwards which attempts ran where and
when (e.g. "no task ran again after its success was recorded").

As a subprocess::

    /usr/bin/python3 scripted_worker.py --scheduler 127.0.0.1:7070 --id w1 --slots 2 \
        --frame-seconds 0.02 --journal /tmp/w1.jsonl --models esrgan-slim-x2,rife-v4.6 \
        --fail-frames 1005

In-process::

    worker = ScriptedWorker(WorkerOptions(scheduler="127.0.0.1:7070", worker_id="w1"))
    worker.start()
    ...
    worker.stop()

Behaviour:
  * Hello advertises one CPU device (``--memory-gib``), ``--slots``, ``--tags`` and ``--models``
    (``rife*`` models advertise a temporal window of one frame after).
  * Heartbeats every interval the Welcome asks for, listing running attempts.
  * Each Assignment runs on its own thread: per frame sleep, write the marker, send Progress;
    then a Result (success, or MODEL_ERROR naming the frame for ``--fail-frames``).
  * CancelAttempt stops that attempt within a frame and reports it canceled.
    Drain is journaled; with ``--exit-when-drained`` the worker exits once idle.
  * When the stream breaks (e.g. the scheduler restarted) it reconnects with backoff; the
    Hello then lists attempts still running or whose Result was not yet sent, and the
    buffered Results are sent right after it.

Journal events (one JSON object per line, all with ``t`` = time.time() and ``conn`` =
connection number, 1 for the first stream): ``connect``, ``welcome``, ``disconnect``,
``assign``, ``progress``, ``result``, ``cancel``, ``drain``, ``stop``.
"""

import argparse
import json
import os
import queue
import signal
import socket
import sys
import threading
import time

import grpc

from genfarm.v1 import types_pb2
from genfarm.v1 import worker_service_pb2
from genfarm.v1 import worker_service_pb2_grpc

_CLOSE = object()  # ends a request stream


class WorkerOptions:
    def __init__(self, scheduler, worker_id, slots=2, frame_seconds=0.02, journal=None,
                 models=(), tags=(), out_dir=None, fail_frames=(), fail_attempts=None,
                 memory_bytes=16 << 30, heartbeat_seconds=None, reconnect_min_seconds=0.1,
                 reconnect_max_seconds=2.0, exit_when_drained=False, hostname=None):
        self.scheduler = scheduler
        self.worker_id = worker_id
        self.slots = slots
        self.frame_seconds = frame_seconds
        self.journal = journal
        self.models = list(models)
        self.tags = list(tags)
        self.out_dir = out_dir
        self.fail_frames = set(int(f) for f in fail_frames)
        # How many attempts of a task touching a fail frame fail (None = every attempt).
        self.fail_attempts = fail_attempts
        self.memory_bytes = memory_bytes
        self.heartbeat_seconds = heartbeat_seconds  # None: as the Welcome asks
        self.reconnect_min_seconds = reconnect_min_seconds
        self.reconnect_max_seconds = reconnect_max_seconds
        self.exit_when_drained = exit_when_drained
        self.hostname = hostname or socket.gethostname()


def model_info(name):
    info = types_pb2.ModelInfo(name=name, version="scripted-1", sha256="0" * 64,
                               memory_bytes=256 << 20, batch_size=1)
    if name.startswith("rife"):
        info.kind = "interpolate"
        info.window_after = 1
    else:
        info.kind = "upscale"
        info.scale = 2
    return info


class _Attempt:
    def __init__(self, assignment):
        self.assignment = assignment
        self.cancel = threading.Event()
        self.cancel_reason = types_pb2.FAILURE_REASON_CANCELED
        self.thread = None


class ScriptedWorker:
    """One scripted worker. Thread-safe; start() returns once the connect loop runs."""

    def __init__(self, options):
        self.options = options
        self._lock = threading.RLock()
        self._journal_lock = threading.Lock()
        self._journal = open(options.journal, "a", buffering=1) if options.journal else None
        self._stopping = threading.Event()
        self._conn = 0                 # number of the current stream
        self._send_queue = None        # request queue of the current stream, None if down
        self._connected = threading.Event()
        self._running = {}             # attempt id -> _Attempt (still rendering)
        self._unsent = {}              # attempt id -> Result finished while disconnected
        self._failures = {}            # (job, task) -> failed attempts so far
        self._draining = False
        self._heartbeat_seconds = options.heartbeat_seconds or 1.0
        self._thread = None
        self.exited = threading.Event()

    # --- journal ---

    def _log(self, event, **fields):
        record = {"event": event, "t": time.time(), "conn": self._conn, "worker": self.options.worker_id}
        record.update(fields)
        if self._journal is None:
            return
        with self._journal_lock:
            self._journal.write(json.dumps(record, sort_keys=True) + "\n")

    # --- lifecycle ---

    def start(self):
        self._thread = threading.Thread(target=self._connect_loop, name="connect", daemon=True)
        self._thread.start()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        return self

    def stop(self, timeout=5.0):
        self._stopping.set()
        with self._lock:
            attempts = list(self._running.values())
            q = self._send_queue
        for attempt in attempts:
            attempt.cancel.set()
        if q is not None:
            q.put(_CLOSE)
        if self._thread is not None:
            self._thread.join(timeout)
        self._log("stop")
        if self._journal is not None:
            with self._journal_lock:
                self._journal.close()
                self._journal = None

    def wait_connected(self, timeout):
        return self._connected.wait(timeout)

    def running_attempts(self):
        with self._lock:
            return sorted(self._running)

    # --- stream ---

    def _send(self, message):
        """Queues a message on the current stream; False if the stream is down."""
        with self._lock:
            q = self._send_queue
        if q is None:
            return False
        q.put(message)
        return True

    def _hello(self):
        o = self.options
        hello = worker_service_pb2.Hello(worker_id=o.worker_id, hostname=o.hostname, slots=o.slots,
                                         tags=o.tags, version="scripted-worker")
        hello.devices.add(name="cpu", kind="cpu", index=0, memory_total_bytes=o.memory_bytes)
        for name in o.models:
            hello.models.append(model_info(name))
        # Called with self._lock held.
        claimed = sorted(set(self._running) | set(self._unsent))
        hello.running_attempts.extend(claimed)
        return worker_service_pb2.WorkerMessage(hello=hello), claimed

    def _connect_loop(self):
        backoff = self.options.reconnect_min_seconds
        channel_options = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        while not self._stopping.is_set():
            channel = grpc.insecure_channel(self.options.scheduler, options=channel_options)
            stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
            q = queue.Queue()
            with self._lock:
                self._conn += 1
                conn = self._conn
                hello, claimed = self._hello()
                q.put(hello)
                # Results that finished while we were away go right after the hello.
                for result in self._unsent.values():
                    q.put(worker_service_pb2.WorkerMessage(result=result))
                self._send_queue = q
            self._log("connect", running_attempts=claimed)

            def requests(q=q):
                while True:
                    item = q.get()
                    if item is _CLOSE:
                        return
                    yield item

            got_welcome = False
            try:
                for message in stub.Connect(requests()):
                    if not got_welcome and message.HasField("welcome"):
                        got_welcome = True
                        with self._lock:
                            self._unsent.clear()  # queued right after the hello
                    self._handle(message)
                self._log("disconnect", reason="stream ended by scheduler")
            except grpc.RpcError as e:
                self._log("disconnect", reason=f"{e.code().name}: {e.details()}")
            finally:
                with self._lock:
                    if self._send_queue is q:
                        self._send_queue = None
                self._connected.clear()
                q.put(_CLOSE)
                channel.close()
            if self._stopping.is_set():
                break
            if got_welcome:
                backoff = self.options.reconnect_min_seconds
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, self.options.reconnect_max_seconds)
        self.exited.set()

    def _heartbeat_loop(self):
        while not self._stopping.wait(self._heartbeat_seconds):
            with self._lock:
                running = sorted(self._running)
            self._send(worker_service_pb2.WorkerMessage(
                heartbeat=worker_service_pb2.Heartbeat(running_attempts=running,
                                                       loaded_models=self.options.models)))

    def _handle(self, message):
        body = message.WhichOneof("body")
        if body == "welcome":
            if self.options.heartbeat_seconds is None and message.welcome.heartbeat_interval_ms > 0:
                self._heartbeat_seconds = message.welcome.heartbeat_interval_ms / 1000.0
            self._log("welcome", heartbeat_interval_ms=message.welcome.heartbeat_interval_ms)
            self._connected.set()
        elif body == "assign":
            self._start_attempt(message.assign)
        elif body == "cancel":
            with self._lock:
                attempt = self._running.get(message.cancel.attempt_id)
                self._unsent.pop(message.cancel.attempt_id, None)
            self._log("cancel", attempt=message.cancel.attempt_id, reason=message.cancel.reason,
                      known=attempt is not None)
            if attempt is not None:
                attempt.cancel_reason = message.cancel.reason or types_pb2.FAILURE_REASON_CANCELED
                attempt.cancel.set()
        elif body == "drain":
            with self._lock:
                self._draining = message.drain.drain
            self._log("drain", drain=message.drain.drain)
            self._maybe_exit_drained()

    def _maybe_exit_drained(self):
        if not self.options.exit_when_drained:
            return
        with self._lock:
            idle = self._draining and not self._running
        if idle:
            threading.Thread(target=self.stop, daemon=True).start()

    # --- "rendering" ---

    def _start_attempt(self, a):
        attempt = _Attempt(a)
        with self._lock:
            if a.attempt_id in self._running:
                return  # duplicate assignment: already running
            self._running[a.attempt_id] = attempt
        self._log("assign", attempt=a.attempt_id, job=a.job_id, task=a.task_index, stage=a.stage.name,
                  kind=types_pb2.StageKind.Name(a.stage.kind), model=a.stage.model,
                  frames=list(a.frames), device=a.device_index)
        attempt.thread = threading.Thread(target=self._run_attempt, args=(attempt,),
                                          name=f"attempt-{a.attempt_id}", daemon=True)
        attempt.thread.start()

    def _should_fail(self, a):
        bad = [f for f in a.frames if f in self.options.fail_frames]
        if not bad:
            return None
        key = (a.job_id, a.task_index)
        with self._lock:
            done = self._failures.get(key, 0)
            if self.options.fail_attempts is not None and done >= self.options.fail_attempts:
                return None
            self._failures[key] = done + 1
        return bad[0]

    def _run_attempt(self, attempt):
        a = attempt.assignment
        start = time.time()
        fail_frame = self._should_fail(a)
        out_dir = None
        if self.options.out_dir:
            out_dir = os.path.join(self.options.out_dir, str(a.job_id), a.stage.name or "stage")
            os.makedirs(out_dir, exist_ok=True)
        result = worker_service_pb2.Result(attempt_id=a.attempt_id, job_id=a.job_id, task_index=a.task_index)
        done = []
        for frame in a.frames:
            if attempt.cancel.wait(self.options.frame_seconds):
                break
            if frame == fail_frame:
                break
            if out_dir:
                path = os.path.join(out_dir, f"{frame}.done")
                with open(path + ".tmp", "w") as f:
                    f.write(f"{a.attempt_id}\n")
                os.replace(path + ".tmp", path)
            done.append(frame)
            self._send(worker_service_pb2.WorkerMessage(progress=worker_service_pb2.Progress(
                attempt_id=a.attempt_id, job_id=a.job_id, task_index=a.task_index,
                frames_done=len(done), last_frame=frame)))
        result.frames_done.extend(done)
        result.run_seconds = time.time() - start
        if attempt.cancel.is_set():
            result.success = False
            result.failure_reason = attempt.cancel_reason
            result.message = f"attempt {a.attempt_id} canceled after {len(done)} frames"
        elif fail_frame is not None:
            result.success = False
            result.failure_reason = types_pb2.FAILURE_REASON_MODEL_ERROR
            result.message = f"frame {fail_frame}: scripted failure"
        else:
            result.success = True
            result.log_lines.append(f"scripted worker {self.options.worker_id}: {len(done)} frames")
        with self._lock:
            self._running.pop(a.attempt_id, None)
            canceled_by_scheduler = attempt.cancel.is_set() and not self._stopping.is_set()
            sent = False
            if self._send_queue is not None:
                self._send_queue.put(worker_service_pb2.WorkerMessage(result=result))
                sent = True
            elif not canceled_by_scheduler and not self._stopping.is_set():
                self._unsent[a.attempt_id] = result
        self._log("result", attempt=a.attempt_id, job=a.job_id, task=a.task_index, stage=a.stage.name,
                  success=result.success, reason=types_pb2.FailureReason.Name(result.failure_reason),
                  frames=list(done), start=start, end=time.time(), sent=sent)
        self._maybe_exit_drained()


class RawStream:
    """One hand-driven WorkerService.Connect stream, for tests that need to send exactly
    the messages they want (e.g. a Result for an attempt the worker was never given).

        stream = RawStream("127.0.0.1:7070")
        stream.send(hello_message("intruder", models=["esrgan-slim-x2"]))
        welcome = stream.expect("welcome", timeout=5)
        stream.close()
    """

    def __init__(self, address):
        self._channel = grpc.insecure_channel(address)
        self._requests = queue.Queue()
        self.received = queue.Queue()
        self.error = None
        self.ended = threading.Event()

        def requests():
            while True:
                item = self._requests.get()
                if item is _CLOSE:
                    return
                yield item

        self._call = worker_service_pb2_grpc.WorkerServiceStub(self._channel).Connect(requests())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            for message in self._call:
                self.received.put(message)
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.ended.set()

    def send(self, message):
        self._requests.put(message)

    def expect(self, body, timeout):
        """The next message whose oneof body is `body`, skipping others; raises on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no '{body}' message within {timeout} s")
            try:
                message = self.received.get(timeout=min(left, 0.1))
            except queue.Empty:
                if self.ended.is_set() and self.received.empty():
                    raise ConnectionError(f"stream ended before a '{body}' message: {self.error}")
                continue
            if message.WhichOneof("body") == body:
                return getattr(message, body)

    def close(self, timeout=5.0):
        """Half-closes our side and waits for the scheduler to end the stream."""
        self._requests.put(_CLOSE)
        self.ended.wait(timeout)
        self._call.cancel()
        self._channel.close()


def hello_message(worker_id, slots=1, models=(), tags=(), running_attempts=(), memory_bytes=16 << 30):
    hello = worker_service_pb2.Hello(worker_id=worker_id, hostname="test", slots=slots, tags=list(tags),
                                     running_attempts=list(running_attempts), version="raw-stream")
    hello.devices.add(name="cpu", kind="cpu", index=0, memory_total_bytes=memory_bytes)
    for name in models:
        hello.models.append(model_info(name))
    return worker_service_pb2.WorkerMessage(hello=hello)


def read_journal(path):
    """The journal's events as a list of dicts (tolerates a torn last line)."""
    events = []
    if not os.path.exists(path):
        return events
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return events


def _split(text):
    return [item for item in (text or "").split(",") if item]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", required=True, help="HOST:PORT of genfarm-scheduler")
    parser.add_argument("--id", required=True, help="worker id")
    parser.add_argument("--hostname", default=None)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--frame-seconds", type=float, default=0.02)
    parser.add_argument("--journal", default=None, help="JSON-lines journal file")
    parser.add_argument("--out-dir", default=None, help="marker files <out>/<job>/<stage>/<frame>.done")
    parser.add_argument("--models", default="", help="comma-separated model names to advertise")
    parser.add_argument("--tags", default="", help="comma-separated tags")
    parser.add_argument("--fail-frames", default="", help="comma-separated frames whose task fails")
    parser.add_argument("--fail-attempts", type=int, default=None,
                        help="fail only the first N attempts of such a task (default: all)")
    parser.add_argument("--memory-gib", type=float, default=16)
    parser.add_argument("--heartbeat-seconds", type=float, default=None)
    parser.add_argument("--exit-when-drained", action="store_true")
    args = parser.parse_args(argv)

    worker = ScriptedWorker(WorkerOptions(
        scheduler=args.scheduler, worker_id=args.id, hostname=args.hostname, slots=args.slots,
        frame_seconds=args.frame_seconds, journal=args.journal, out_dir=args.out_dir,
        models=_split(args.models), tags=_split(args.tags),
        fail_frames=[int(f) for f in _split(args.fail_frames)], fail_attempts=args.fail_attempts,
        memory_bytes=int(args.memory_gib * (1 << 30)), heartbeat_seconds=args.heartbeat_seconds,
        exit_when_drained=args.exit_when_drained))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    while not stop.is_set() and not worker.exited.is_set():
        stop.wait(0.2)
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
