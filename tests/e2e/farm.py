"""Shared harness for GenFarm end-to-end tests: real scheduler and worker processes on loopback.

    class MyTest(farm.FarmTestCase):
        def test_upres(self):
            self.farm.start_scheduler()
            self.farm.start_worker("w1")
            plates = self.farm.make_plates("plates/p.####.exr", 1, 8)
            spec = farm.upres_spec(self.farm.path("spec.yaml"), plates, "out/up.####.exr", "1-8")
            result = self.farm.cli("submit", spec, "--wait")
            self.assertEqual(result.returncode, 0, result.output)

Every process is started in its own session and killed (SIGKILL) when the test ends, pass
or fail; on failure the tail of every process log is printed. Nothing sleeps blindly:
``wait_for`` polls a condition until a deadline and fails with a message that says what
was awaited and what was last seen. Processes, ports and waiting come from the shared
tests/lib/genfarm_testlib; this file adds the e2e farm, job specs and output checks.

Environment (set by ctest; defaults suit a build in <source>/build):
  GENFARM_BIN_DIR     build tree with scheduler/genfarm-scheduler, worker/genfarm-worker,
                      client/genfarm and python/ (the generated Python client)
  GENFARM_SOURCE_DIR  source tree (for examples/make_plates.py)
  GENFARM_MODELS      model repository (var/models)
  GENFARM_E2E_KEEP=1  keep each test's temporary directory
"""

import glob
import os
import re
import shutil
import signal as signals  # noqa: F401 (tests use farm.signals)
import subprocess
import sys
import tempfile
import time
import unittest

import genfarm_testlib as lib
from genfarm_testlib import MODELS, PYTHON, SOURCE_DIR, Deadline, wait_for  # noqa: F401 (tests use farm.*)

import grpc  # noqa: E402  (after the sys.path fix-up)
import OpenImageIO as oiio  # noqa: E402

import genfarm  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import job_service_pb2_grpc  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402

TASK_RUNNING = types_pb2.TASK_STATE_RUNNING
TASK_QUEUED = types_pb2.TASK_STATE_QUEUED
TASK_SUCCEEDED = types_pb2.TASK_STATE_SUCCEEDED
TASK_FAILED = types_pb2.TASK_STATE_FAILED
TASK_CANCELED = types_pb2.TASK_STATE_CANCELED
JOB_SUCCEEDED = types_pb2.JOB_STATE_SUCCEEDED
JOB_FAILED = types_pb2.JOB_STATE_FAILED
JOB_CANCELED = types_pb2.JOB_STATE_CANCELED
JOB_PAUSED = types_pb2.JOB_STATE_PAUSED
JOB_FINISHED = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELED)

# Short leases and backoffs keep failure tests quick.
FAST_SCHEDULER_FLAGS = ("--lease_seconds", "3", "--heartbeat_seconds", "0.5",
                        "--retry_backoff_seconds", "0.2", "--retry_backoff_max_seconds", "1")


class CliResult:
    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self):
        """Everything printed, for assertion messages."""
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


class Farm:
    """A scheduler, workers and helpers, all under one temporary directory."""

    def __init__(self, root):
        self.root = root
        self.data_dir = os.path.join(root, "scheduler-data")
        self.scheduler = None
        self.grpc_port = None
        self.http_port = None
        self.workers = {}
        self.procs = lib.ProcessGroup(root)  # every process ever started, for cleanup
        self._client = None
        self._channel = None
        self._jobs = None

    # --- paths and inputs ------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def address(self):
        return f"127.0.0.1:{self.grpc_port}"

    def make_plates(self, pattern, first, last, size="64x48"):
        """Writes an EXR plate sequence (relative to the farm root); returns its full pattern."""
        full = self.path(pattern)
        subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "examples", "make_plates.py"), full,
                        str(first), str(last), "--size", size],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        return full

    # --- processes -------------------------------------------------------------------

    def _binary(self, *parts):
        try:
            return lib.binary(*parts)
        except FileNotFoundError as e:
            raise unittest.SkipTest(str(e)) from None

    def start_scheduler(self, *extra, port=None, fast=True):
        """Starts the scheduler on ``port`` (default: a free one, or the previous port on a
        restart) with the farm's data dir; waits until it serves and returns it."""
        if port is None:
            port = self.grpc_port or 0
        self._binary("scheduler", "genfarm-scheduler")
        args = list(FAST_SCHEDULER_FLAGS) if fast else []
        proc = lib.start_scheduler(self.procs, self.data_dir, *args, *extra, port=port)
        self.scheduler = proc
        self.grpc_port, self.http_port = proc.grpc_port, proc.http_port
        self._reset_clients()
        wait_for(lambda: proc.check_alive() or self.client().jobs(limit=1) is not None, 30,
                 "the scheduler to answer")
        return proc

    def kill_scheduler(self):
        """SIGKILLs the scheduler (no clean shutdown)."""
        self.scheduler.kill()
        self._reset_clients()

    def start_worker(self, worker_id, slots=1, tags=(), models=None, extra=()):
        """Starts a real genfarm-worker; waits until the scheduler lists it online."""
        self._binary("worker", "genfarm-worker")
        args = ["--tags", ",".join(tags)] if tags else []
        # HTTP on a free port (read back from its --port_file): never clash with another farm.
        proc = lib.start_worker(self.procs, self.address, worker_id, *args, *extra,
                                models=models or MODELS, slots=slots)
        self.workers[worker_id] = proc
        self.wait_worker_online(worker_id)
        return proc

    def wait_worker_online(self, worker_id, timeout=60):
        proc = self.workers[worker_id]

        def online():
            proc.check_alive()
            return any(w.id == worker_id and w.state == types_pb2.WORKER_STATE_ONLINE
                       for w in self.client().workers())

        wait_for(online, timeout, f"worker {worker_id} to be online")

    def kill_worker(self, worker_id):
        self.workers[worker_id].kill()

    def stop_all(self):
        if self._client is not None:
            self._client.close()
        if self._channel is not None:
            self._channel.close()
        self._client = self._channel = None
        self.procs.stop_all()

    def logs(self):
        """name -> log text of every process started."""
        return self.procs.logs()

    # --- talking to the scheduler ----------------------------------------------------

    def _reset_clients(self):
        if self._client is not None:
            self._client.close()
        if self._channel is not None:
            self._channel.close()
        self._client = self._channel = self._jobs = None

    def client(self):
        """A genfarm.Client (the Python client under test) for the current scheduler."""
        if self._client is None:
            self._client = genfarm.Client(self.address, timeout=10)
        return self._client

    def _stub(self):
        if self._jobs is None:
            self._channel = grpc.insecure_channel(self.address)
            self._jobs = job_service_pb2_grpc.JobServiceStub(self._channel)
        return self._jobs

    def get_job(self, job_id):
        """The raw GetJobResponse with tasks (Task.start_time_ms, attempt_id, ...)."""
        return self._stub().GetJob(job_service_pb2.GetJobRequest(job_id=job_id, include_tasks=True),
                                   timeout=10)

    def wait_job(self, job_id, timeout=120, states=JOB_FINISHED):
        """Waits until the job is in one of ``states``; returns GetJobResponse."""
        last = {}

        def done():
            response = self.get_job(job_id)
            last["r"] = response
            return response if response.job.state in states else None

        try:
            return wait_for(done, timeout, f"job {job_id} to reach "
                            f"{[types_pb2.JobState.Name(s) for s in states]}", interval=0.1)
        except Deadline as e:
            r = last.get("r")
            if r is not None:
                raise Deadline(f"{e}; last seen {types_pb2.JobState.Name(r.job.state)}, tasks "
                               + ", ".join(f"{t.index}:{types_pb2.TaskState.Name(t.state)}"
                                           f"({t.message})" for t in r.tasks)) from None
            raise

    def cli(self, *args, timeout=120, check=False):
        """Runs the genfarm CLI against this farm; returns a CliResult."""
        argv = [self._binary("client", "genfarm"), "--scheduler", self.address] + [str(a) for a in args]
        env = dict(os.environ, USER=os.environ.get("USER", "e2e"))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        result = CliResult(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and result.returncode != 0:
            raise AssertionError(f"CLI failed:\n{result.output}")
        return result

    def submit(self, spec_path, *args):
        """`genfarm submit SPEC --json`; returns the job id."""
        result = self.cli("submit", spec_path, *args, check=True)
        m = re.search(r'"(?:job_id|id)"\s*:\s*(\d+)', result.stdout) or re.search(
            r"job (\d+)", result.stdout + result.stderr)
        if not m:
            raise AssertionError(f"no job id in submit output:\n{result.output}")
        return int(m.group(1))


# --- specs ----------------------------------------------------------------------------

def write_spec(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def stage_yaml(name, model, input_pattern, output_pattern, frames, chunk=1, retries=2,
               extra=""):
    out = (f"  - name: {name}\n"
           f"    model: {model}\n"
           f"    input: {input_pattern}\n"
           f"    output: {output_pattern}\n"
           f"    frames: {frames}\n"
           f"    chunk: {chunk}\n"
           f"    retries: {retries}\n")
    for line in extra.strip("\n").splitlines():
        out += f"    {line.strip()}\n"
    return out


def job_yaml(name, *stages, project="e2e"):
    return f"name: {name}\nproject: {project}\nshot: sh010\nstages:\n" + "".join(stages)


# --- output checks --------------------------------------------------------------------

def frame_paths(pattern, frames):
    fmt = pattern.replace("####", "%04d")
    return [fmt % f for f in frames]


def temp_files(directory):
    """Leftover temporary frames (``.NAME.tmp-*``) in ``directory``."""
    return sorted(glob.glob(os.path.join(directory, ".*.tmp-*")))


def read_image(path):
    """(spec, pixels) of a valid image, or raises AssertionError."""
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise AssertionError(f"{path} is not a readable image: {oiio.geterror()}")
    try:
        spec = inp.spec()
        pixels = inp.read_image("float")
        if pixels is None:
            raise AssertionError(f"{path}: cannot read pixels: {inp.geterror()}")
        return spec, pixels
    finally:
        inp.close()


def attempt_of(path):
    """The genfarm:attempt provenance header of an output frame ('' if none)."""
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise AssertionError(f"{path} is not a readable image: {oiio.geterror()}")
    try:
        return str(inp.spec().get_string_attribute("genfarm:attempt", ""))
    finally:
        inp.close()


class FarmTestCase(unittest.TestCase):
    """Gives each test ``self.farm`` in a fresh temporary directory; kills everything after."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=f"genfarm-e2e-{self._testMethodName}-")
        self.farm = Farm(self.tmp)
        self.addCleanup(self._cleanup)
        self._t0 = time.monotonic()

    def _cleanup(self):
        self.farm.stop_all()
        failed = lib.test_failed(self)
        if failed:
            self.farm.procs.dump_logs(lines=60)
        if os.environ.get("GENFARM_E2E_KEEP") or failed:
            sys.stderr.write(f"{self._testMethodName}: kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        sys.stderr.write(f"{self._testMethodName}: {time.monotonic() - self._t0:.1f} s\n")

    # --- assertions shared by the tests ----------------------------------------------

    def assert_frames_valid(self, pattern, frames, width=None, height=None):
        """Every frame exists once, reads as an image, and no temporary file is left."""
        paths = frame_paths(pattern, frames)
        missing = [p for p in paths if not os.path.isfile(p)]
        self.assertEqual(missing, [], "output frames missing")
        for p in paths:
            spec, _ = read_image(p)
            if width is not None:
                self.assertEqual((spec.width, spec.height), (width, height), p)
        directory = os.path.dirname(paths[0])
        self.assertEqual(temp_files(directory), [], "temporary files left behind")
        # Exactly once: no stray files besides the expected sequence.
        names = sorted(os.listdir(directory))
        self.assertEqual(names, sorted(os.path.basename(p) for p in paths),
                         "unexpected files in the output folder")
