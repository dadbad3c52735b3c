"""Bad input through raw gRPC (issue 10, acceptance 2): the real genfarm-scheduler over
loopback, driven with the generated genfarm.v1 stubs (not the CLI, not the Python client).

Every case sends one bad request and asserts the status code and that the message starts
with the field it is about (``stages[0].params.factor: ...``, ``hello.worker_id: ...``).
After EACH case the scheduler must still serve and ListJobs must return exactly what it
returned before the first case (the whole response compared), so no bad request changed
the farm. Classes covered:

  * spec bounds: total size, stage count (10,000 stages refused fast), labels (count, key
    size and charset, value size), tags, ``after`` entries, params (count, type, range,
    unknown keys, value size, retime outputs), depends_on_jobs, path and frame-set length
  * control characters in every name, id and path of a spec
  * dependency cycles: through files (a stage reading a later stage's output) and through
    ``after``; ``after`` naming an unknown stage
  * queries: ListJobs page_token and state filter, GetTaskLog task_index, GetJob, CancelJob
    and GetTaskLog of an unknown job
  * the worker stream: bad worker ids and hello fields, a second hello, a duplicate worker
    id from another host, progress out of range, progress and results for someone else's
    attempt (ignored, and counted in genfarm_scheduler_worker_messages_ignored_total)
  * the HTTP port: 40 clients trickling their headers a byte at a time (before the fix they
    held every HTTP thread and /healthz stopped answering), oversized headers (431), an
    oversized or unframed body (413, 411), each with /healthz and /metrics still answering

Run: ctest -R integration.test_bad_input --output-on-failure
"""

import os
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import genfarm_testlib as lib  # noqa: E402
import scripted_worker  # noqa: E402
from integration_farm import SchedulerProcess  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402
from genfarm.v1 import worker_service_pb2  # noqa: E402

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
IGNORED_METRIC = "genfarm_scheduler_worker_messages_ignored_total"
OWNER_MODEL = "bad-input-model"  # only the owner worker advertises it
MIB = 1 << 20


def base_spec():
    """A valid one-stage, one-task spec; every spec case breaks one thing in it."""
    spec = types_pb2.JobSpec(name="bad_input", project="validation", priority=50,
                             tier=types_pb2.TIER_BATCH, submitter="ci")
    spec.labels["dept"] = "qa"
    spec.stages.add(name="up", kind=types_pb2.STAGE_KIND_MODEL, model=OWNER_MODEL,
                    input="/tmp/bad_input/in.####.exr", output="/tmp/bad_input/up.####.exr",
                    frames="1", chunk=1, retries=0)
    return spec


def second_stage(spec, name="grade", input="/tmp/bad_input/up.####.exr",
                 output="/tmp/bad_input/grade.####.exr"):
    return spec.stages.add(name=name, kind=types_pb2.STAGE_KIND_MODEL, model=OWNER_MODEL,
                           input=input, output=output, frames="1", chunk=1)


def edited(edit):
    spec = base_spec()
    edit(spec)
    return spec


# --- spec cases: (name, edit of base_spec, field the message must start with) ---

def _many_stages(spec):
    stage = spec.stages[0]
    for i in range(10000):
        spec.stages.add(name=f"s{i}", kind=stage.kind, model=stage.model,
                        input=f"/tmp/bad_input/{i}.####.exr", output=f"/tmp/bad_input/o{i}.####.exr",
                        frames="1", chunk=1)


def _labels(spec, count):
    for i in range(count):
        spec.labels[f"k{i}"] = "v"


def _after_cycle(spec):
    second_stage(spec, input="/tmp/bad_input/other.####.exr")
    spec.stages[0].after.append("grade")
    spec.stages[1].after.append("up")


def _reads_later_output(spec):
    # Stage 0 reads what stage 1 writes: it would wait for frames made only after it.
    spec.stages[0].input = "/tmp/bad_input/late.####.exr"
    second_stage(spec, input="/tmp/bad_input/plate.####.exr", output="/tmp/bad_input/late.%04d.exr")


def _param(key, value):
    def edit(spec):
        spec.stages[0].params[key] = value
    return edit


def _dailies_fps(spec):
    spec.stages[0].kind = types_pb2.STAGE_KIND_DAILIES
    spec.stages[0].model = ""
    spec.stages[0].output = "/tmp/bad_input/dailies/sh010"
    spec.stages[0].params["fps"] = "1000"


def _set(**fields):
    def edit(spec):
        for key, value in fields.items():
            setattr(spec, key, value)
    return edit


def _set_stage(**fields):
    def edit(spec):
        for key, value in fields.items():
            setattr(spec.stages[0], key, value)
    return edit


SPEC_CASES = [
    # Sizes and counts, each checked before the work they drive.
    ("spec over 1 MiB", lambda s: setattr(s, "shot", "x" * (MIB + 1)), "spec"),
    ("10,000 stages", _many_stages, "stages"),
    ("no stages", lambda s: s.ClearField("stages"), "stages"),
    ("65 labels", lambda s: _labels(s, 65), "labels"),
    ("label key of 64 chars", lambda s: s.labels.__setitem__("k" * 64, "v"), "labels"),
    ("label key with a space", lambda s: s.labels.__setitem__("my dept", "v"), "labels"),
    ("label value of 257 chars", lambda s: s.labels.__setitem__("dept", "v" * 257), "labels.dept"),
    ("label value with ESC", lambda s: s.labels.__setitem__("dept", "qa\x1b[31m"), "labels.dept"),
    ("33 tags", lambda s: s.stages[0].tags.extend(f"t{i}" for i in range(33)), "stages[0].tags"),
    ("65 after entries", lambda s: s.stages[0].after.extend(["up"] * 65), "stages[0].after"),
    ("17 params", lambda s: [s.stages[0].params.__setitem__(f"p{i}", "2") for i in range(17)],
     "stages[0].params"),
    ("257 job dependencies", lambda s: s.depends_on_jobs.extend(range(1, 258)), "depends_on_jobs"),
    ("input path of 5000 chars", _set_stage(input="/" + "a" * 5000 + ".####.exr"), "stages[0].input"),
    ("frame set text of 70,000 chars", _set_stage(frames="1," * 35000), "stages[0].frames"),
    ("2,000,000 frames", _set_stage(frames="1-2000000"), "stages[0].frames"),
    ("chunk 0", _set_stage(chunk=0), "stages[0].chunk"),
    ("priority 1000", _set(priority=1000), "priority"),
    ("tier enum 99", _set(tier=99), "tier"),
    ("stage kind enum 99", _set_stage(kind=99), "stages[0].kind"),
    # Params, typed and ranged by stage kind.
    ("factor 2147483647", _param("factor", "2147483647"), "stages[0].params.factor"),
    ("factor 20000000", _param("factor", "20000000"), "stages[0].params.factor"),
    ("factor 'two'", _param("factor", "two"), "stages[0].params.factor"),
    ("factor 2.5", _param("factor", "2.5"), "stages[0].params.factor"),
    ("factor of 100 chars", _param("factor", "2" * 100), "stages[0].params.factor"),
    ("unknown param", _param("strength", "1"), "stages[0].params.strength"),
    ("dailies fps 1000", _dailies_fps, "stages[0].params.fps"),
    ("retime of a sparse set", lambda s: (_set_stage(frames="1,1000000000")(s),
                                          _param("factor", "16")(s)), "stages[0].params.factor"),
    # Control characters in names, ids and paths.
    ("name with newline", _set(name="bad\ninput"), "name"),
    ("project with tab", _set(project="valid\tation"), "project"),
    ("shot with NUL", _set(shot="sh\x00010"), "shot"),
    ("submitter with CR", _set(submitter="ci\r"), "submitter"),
    ("stage name with DEL", _set_stage(name="up\x7f"), "stages[0].name"),
    ("model with newline", _set_stage(model="esrgan\n"), "stages[0].model"),
    ("input with newline", _set_stage(input="/tmp/bad\n/in.####.exr"), "stages[0].input"),
    ("output with ESC", _set_stage(output="/tmp/\x1b[2J/up.####.exr"), "stages[0].output"),
    ("tag with BEL", lambda s: s.stages[0].tags.append("gpu\x07"), "stages[0].tags[0]"),
    # Dependencies.
    ("reads a later stage's output", _reads_later_output, "stages[0].input"),
    ("after cycle", _after_cycle, "stages[0].after"),
    ("after an unknown stage", lambda s: s.stages[0].after.append("nope"), "stages[0].after[0]"),
    ("after itself", lambda s: s.stages[0].after.append("up"), "stages[0].after[0]"),
    ("unknown job dependency", lambda s: s.depends_on_jobs.append(987654), "depends_on_jobs"),
]

# ListTasks: (name, request builder taking the baseline job id, status code, field).
LIST_TASKS_CASES = [
    ("ListTasks page_token 'x'",
     lambda job: job_service_pb2.ListTasksRequest(job_id=job, page_token="x"), INVALID, "page_token"),
    ("ListTasks page_token of another job",
     lambda job: job_service_pb2.ListTasksRequest(job_id=job, page_token="job-99999-0"), INVALID,
     "page_token"),
    ("ListTasks state 42", lambda job: job_service_pb2.ListTasksRequest(job_id=job, state=42),
     INVALID, "state"),
    ("ListTasks unknown stage", lambda job: job_service_pb2.ListTasksRequest(job_id=job, stage="nope"),
     INVALID, "stage"),
    ("ListTasks negative page_size",
     lambda job: job_service_pb2.ListTasksRequest(job_id=job, page_size=-1), INVALID, "page_size"),
    ("ListTasks of an unknown job", lambda job: job_service_pb2.ListTasksRequest(job_id=999999),
     grpc.StatusCode.NOT_FOUND, "job 999999"),
]


class BadInputTest(unittest.TestCase):
    """One scheduler for all cases; a baseline job whose only task runs on `owner`."""

    cases_run = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="genfarm-bad-input-")
        cls.procs = lib.ProcessGroup(cls.tmp)
        # A long lease: nothing expires while the cases run, so ListJobs stays put.
        cls.scheduler = SchedulerProcess(cls.procs, os.path.join(cls.tmp, "data"),
                                         lease_seconds=600)
        try:
            cls.scheduler.start()
            cls.jobs = cls.scheduler.jobs
            cls.owner = scripted_worker.RawStream(cls.scheduler.address)
            cls.owner.send(scripted_worker.hello_message("owner", models=[OWNER_MODEL]))
            cls.owner.expect("welcome", timeout=10)
            reply = cls.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=base_spec()),
                                       timeout=lib.RPC_TIMEOUT)
            cls.job_id = reply.job_id
            cls.assignment = cls.owner.expect("assign", timeout=10)
            lib.wait_for(lambda: cls._task().state == types_pb2.TASK_STATE_RUNNING, 10,
                         "the baseline task to run")
            cls.baseline = cls._list_jobs()
            time.sleep(0.3)  # noqa: a settle check, not a wait for something
            assert cls._list_jobs() == cls.baseline, "ListJobs is not stable before the cases"
        except BaseException:
            cls.procs.dump_logs(lines=60)
            cls._teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    @classmethod
    def _teardown(cls):
        owner = getattr(cls, "owner", None)
        if owner is not None:
            owner.close()
        cls.scheduler.stop()
        cls.procs.stop_all()

    def tearDown(self):
        if lib.test_failed(self):
            self.procs.dump_logs(lines=60)

    @classmethod
    def _list_jobs(cls):
        return cls.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=1000),
                                 timeout=lib.RPC_TIMEOUT)

    @classmethod
    def _task(cls):
        reply = cls.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=cls.job_id, include_tasks=True),
                                timeout=lib.RPC_TIMEOUT)
        return reply.tasks[0]

    def _ignored(self, kind, reason):
        return lib.sample_value(lib.scrape_metrics(self.scheduler.proc.metrics_url), IGNORED_METRIC,
                                {"kind": kind, "reason": reason})

    # --- the checks every case ends with ---

    def assert_unchanged(self, case):
        self.assertTrue(self.scheduler.alive(), f"{case}: the scheduler died\n{self.scheduler.log_tail()}")
        self.assertEqual(self._list_jobs(), self.baseline, f"{case}: ListJobs changed")
        task = self._task()
        self.assertEqual(task.state, types_pb2.TASK_STATE_RUNNING, f"{case}: the baseline task moved")
        self.assertEqual(task.attempt_id, self.assignment.attempt_id, case)
        BadInputTest.cases_run += 1

    def assert_refused(self, case, call, code, field):
        with self.assertRaises(grpc.RpcError, msg=case) as raised:
            call()
        error = raised.exception
        self.assertEqual(error.code(), code, f"{case}: {error.details()}")
        details = error.details() or ""
        self.assertTrue(details.startswith(field + ":") or details.startswith(field + " "),
                        f"{case}: the message does not start with '{field}': {details[:300]!r}")
        self.assertLess(len(details), 2000, f"{case}: a message of {len(details)} bytes")
        self.assertFalse(any(ch in details for ch in "\n\r\x1b\x00\x07\x7f"),
                         f"{case}: control characters echoed: {details[:300]!r}")
        self.assert_unchanged(case)

    def stream_error(self, messages, expect_welcome=False):
        """Sends `messages` on a fresh worker stream; the RpcError the scheduler ended it with."""
        stream = scripted_worker.RawStream(self.scheduler.address)
        try:
            stream.send(messages[0])
            if expect_welcome:
                stream.expect("welcome", timeout=10)
            for message in messages[1:]:
                stream.send(message)
            self.assertTrue(stream.ended.wait(10), "the scheduler did not end the stream")
            return stream.error
        finally:
            stream.close()

    def assert_stream_refused(self, case, messages, code, field, expect_welcome=False):
        error = self.stream_error(messages, expect_welcome)
        self.assertIsNotNone(error, f"{case}: the stream ended without an error")
        self.assertEqual(error.code(), code, f"{case}: {error.details()}")
        self.assertTrue((error.details() or "").startswith(field),
                        f"{case}: the message does not start with '{field}': {error.details()!r}")
        self.assertFalse(any(ch in error.details() for ch in "\n\r\x1b\x00"), case)
        self.assert_unchanged(case)

    # --- cases ---

    def test_1_spec_bounds_and_fields(self):
        for name, edit, field in SPEC_CASES:
            with self.subTest(name):
                spec = edited(edit)
                request = job_service_pb2.SubmitJobRequest(spec=spec, idempotency_key=f"bad {name}")
                started = time.monotonic()
                self.assert_refused(name, lambda: self.jobs.SubmitJob(request, timeout=lib.RPC_TIMEOUT),
                                    INVALID, field)
                if name == "10,000 stages":
                    # Refused by its count, not after a pass over every pair of stages.
                    self.assertLess(time.monotonic() - started, 2.0, name)

    def test_2_queries(self):
        pb, job = job_service_pb2, self.job_id
        cases = [  # (name, JobService method, request, code, field)
            ("ListJobs page_token 'abc'", "ListJobs", pb.ListJobsRequest(page_token="abc"), INVALID,
             "page_token"),
            ("ListJobs page_token '-5'", "ListJobs", pb.ListJobsRequest(page_token="-5"), INVALID,
             "page_token"),
            ("ListJobs page_token with ESC", "ListJobs", pb.ListJobsRequest(page_token="1\x1b[2J"),
             INVALID, "page_token"),
            ("ListJobs state 99", "ListJobs", pb.ListJobsRequest(state=99), INVALID, "state"),
            ("GetTaskLog task_index 1000000", "GetTaskLog",
             pb.GetTaskLogRequest(job_id=job, task_index=1000000), INVALID, "task_index"),
            ("GetTaskLog task_index -2", "GetTaskLog", pb.GetTaskLogRequest(job_id=job, task_index=-2),
             INVALID, "task_index"),
            ("GetTaskLog of an unknown job", "GetTaskLog",
             pb.GetTaskLogRequest(job_id=999999, task_index=0), NOT_FOUND, "job 999999"),
            ("GetJob of an unknown job", "GetJob", pb.GetJobRequest(job_id=999999), NOT_FOUND,
             "job 999999"),
            ("CancelJob of an unknown job", "CancelJob", pb.JobRequest(job_id=999999), NOT_FOUND,
             "job 999999"),
        ]
        cases += [(name, "ListTasks", build(job), code, field)
                  for name, build, code, field in LIST_TASKS_CASES]
        for name, method, request, code, field in cases:
            with self.subTest(name):
                call = getattr(self.jobs, method)
                self.assert_refused(name, lambda: call(request, timeout=lib.RPC_TIMEOUT), code, field)

    def test_3_worker_hello(self):
        hello = scripted_worker.hello_message

        def with_hello(worker_id="probe", **fields):
            message = hello(worker_id)
            for key, value in fields.items():
                setattr(message.hello, key, value)
            return message

        def with_devices(count):
            message = hello("probe")
            for i in range(count):
                message.hello.devices.add(name="cpu", kind="cpu", index=0)
            return message

        def with_model_window():
            message = hello("probe", models=["m"])
            message.hello.models[0].window_after = 1000000
            return message

        cases = [
            ("worker id with a space", hello("gpu 07"), "hello.worker_id"),
            ("worker id with a slash", hello("a/b"), "hello.worker_id"),
            ("worker id with a newline", hello("w1\nw2"), "hello.worker_id"),
            ("worker id of 129 chars", hello("w" * 129), "hello.worker_id"),
            ("empty worker id", hello(""), "hello.worker_id"),
            ("hostname with ESC", with_hello(hostname="host\x1b[2J"), "hello.hostname"),
            ("negative slots", with_hello(slots=-1), "hello.slots"),
            ("100,000 slots", with_hello(slots=100000), "hello.slots"),
            ("65 devices", with_devices(64), "hello.devices"),
            ("model window of 1,000,000", with_model_window(), "hello.models[0].window_after"),
            ("65 tags", hello("probe", tags=[f"t{i}" for i in range(65)]), "hello.tags"),
            ("negative running attempt", hello("probe", running_attempts=[-3]),
             "hello.running_attempts[0]"),
        ]
        for name, message, field in cases:
            with self.subTest(name):
                self.assert_stream_refused(name, [message], INVALID, field)

    def test_4_worker_stream_rules(self):
        hello = scripted_worker.hello_message
        with self.subTest("second hello"):
            self.assert_stream_refused("second hello", [hello("probe-2"), hello("probe-3")],
                                       grpc.StatusCode.FAILED_PRECONDITION, "hello", expect_welcome=True)
        with self.subTest("duplicate worker id from another host"):
            other = hello("owner", models=[OWNER_MODEL])
            other.hello.hostname = "another-host"
            self.assert_stream_refused("duplicate worker id", [other], grpc.StatusCode.ALREADY_EXISTS,
                                       "hello.worker_id: worker 'owner' is already connected")
            self.assertFalse(self.owner.ended.is_set(), "the first 'owner' stream was closed")
        with self.subTest("heartbeat with too many attempts"):
            beat = worker_service_pb2.WorkerMessage(heartbeat=worker_service_pb2.Heartbeat(
                running_attempts=list(range(1, 2000))))
            self.assert_stream_refused("heartbeat with too many attempts", [hello("probe-4"), beat],
                                       INVALID, "heartbeat.running_attempts", expect_welcome=True)
        with self.subTest("result with an unknown failure reason"):
            result = worker_service_pb2.WorkerMessage(result=worker_service_pb2.Result(
                attempt_id=self.assignment.attempt_id, failure_reason=999))
            self.assert_stream_refused("result with an unknown failure reason", [hello("probe-5"), result],
                                       INVALID, "result.failure_reason", expect_welcome=True)

    def test_5_progress_and_results_are_fenced(self):
        a = self.assignment

        def progress(done, last):
            return worker_service_pb2.WorkerMessage(progress=worker_service_pb2.Progress(
                attempt_id=a.attempt_id, job_id=a.job_id, task_index=a.task_index, frames_done=done,
                last_frame=last))

        def result(success=True):
            return worker_service_pb2.WorkerMessage(result=worker_service_pb2.Result(
                attempt_id=a.attempt_id, job_id=a.job_id, task_index=a.task_index, success=success,
                frames_done=list(a.frames)))

        # The owner miscounts: clamped to the task's one frame, and counted.
        with self.subTest("progress beyond the task"):
            before = self._ignored("progress", "out_of_range")
            self.owner.send(progress(10 ** 9, 10 ** 9))
            lib.wait_for(lambda: self._ignored("progress", "out_of_range") >= before + 1, 10,
                         "the out-of-range progress to be counted")
            self.assertEqual(self._task().frames_done, len(a.frames))
            self.owner.send(progress(-5, a.frames[0]))
            lib.wait_for(lambda: self._ignored("progress", "out_of_range") >= before + 2, 10,
                         "the negative progress to be counted")
            self.assertEqual(self._task().frames_done, 0)
            self.assert_unchanged("progress beyond the task")

        # Another worker cannot report on the owner's attempt. (A refused duplicate's messages,
        # fenced by stream, are covered in tests/scheduler/core/worker_events_test.cc: here the
        # refusal may end the stream before the next message is read.)
        for name, worker_id, host, message, kind, reason in [
                ("someone else's progress", "thief-1", "test", progress(1, a.frames[0]), "progress",
                 "stale_attempt"),
                ("someone else's result", "thief-2", "test", result(), "result", "stale_attempt"),
                ("someone else's failure", "thief-3", "test", result(success=False), "result",
                 "stale_attempt")]:
            with self.subTest(name):
                before = self._ignored(kind, reason)
                stream = scripted_worker.RawStream(self.scheduler.address)
                try:
                    first = scripted_worker.hello_message(worker_id)
                    first.hello.hostname = host
                    stream.send(first)
                    stream.expect("welcome", timeout=10)
                    stream.send(message)
                    lib.wait_for(lambda: self._ignored(kind, reason) >= before + 1, 10,
                                 f"{name} to be counted as ignored")
                    self.assertFalse(stream.ended.is_set(), f"{name}: the stream was ended")
                finally:
                    stream.close()
                self.assert_unchanged(name)

    def _http(self, path):
        url = f"http://127.0.0.1:{self.scheduler.http_port}{path}"
        with urllib.request.urlopen(url, timeout=3) as reply:
            return reply.status

    def _raw_http(self, request):
        with socket.create_connection(("127.0.0.1", self.scheduler.http_port), timeout=5) as s:
            s.sendall(request)
            return s.recv(4096).decode("latin-1").split("\r\n", 1)[0]

    def test_5_http_clients_cannot_stall_or_flood_the_http_port(self):
        slow = []
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for s in slow:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.2)  # the attack's pace

        try:
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", self.scheduler.http_port), timeout=5)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            pacer = threading.Thread(target=trickle)
            pacer.start()
            try:
                for i in range(5):
                    self.assertEqual(self._http("/healthz"), 200, f"/healthz #{i} while 40 trickle")
                self.assertEqual(self._http("/metrics"), 200, "/metrics while 40 trickle")
            finally:
                stop.set()
                pacer.join()
        finally:
            for s in slow:
                s.close()
        self.assert_unchanged("http: 40 clients trickling headers")
        for case, request, status in [
                ("http: 100 KB of headers", b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 100_000,
                 "HTTP/1.1 431"),
                ("http: a 10 MB body", b"GET /healthz HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n",
                 "HTTP/1.1 413"),
                ("http: a chunked body", b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                 "HTTP/1.1 411")]:
            with self.subTest(case):
                self.assertTrue(self._raw_http(request).startswith(status), case)
                self.assertEqual(self._http("/healthz"), 200, case)
                self.assert_unchanged(case)
        # Ops see the attack in the HTTP port's own metrics (common/http/http_metrics.h).
        metrics = lib.scrape_metrics(f"http://127.0.0.1:{self.scheduler.http_port}/metrics")
        self.assertGreaterEqual(lib.sample_value(metrics, "genfarm_scheduler_http_connections_dropped_total",
                                                 {"reason": "refused"}), 3)
        self.assertGreaterEqual(
            lib.sample_value(metrics, "genfarm_scheduler_http_connections_accepted_total"), 40 + 3 + 6)

    def test_6_enough_cases(self):
        # unittest runs the methods in name order: this one last.
        self.assertGreaterEqual(BadInputTest.cases_run, 40)


if __name__ == "__main__":
    unittest.main()
