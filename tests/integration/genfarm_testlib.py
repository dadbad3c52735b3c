"""Helpers for GenFarm integration tests: start the real daemons, poll with deadlines.

Binaries come from $GENFARM_BIN_DIR (the CMake build dir; default <repo>/build), sources from
$GENFARM_SOURCE_DIR (default: this file's repository). The generated stubs must be importable
(PYTHONPATH=<build>/python), which ctest sets up.

    scheduler = SchedulerProcess(data_dir, log_path, port=free_port())
    scheduler.start()
    job = scheduler.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=1), timeout=5)
    wait_until(lambda: ..., timeout=30, what="the job to finish")
    scheduler.stop()
"""

import os
import signal
import socket
import subprocess
import sys
import time

import grpc

from genfarm.v1 import farm_service_pb2_grpc
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("GENFARM_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN_DIR = os.environ.get("GENFARM_BIN_DIR") or os.path.join(SOURCE_DIR, "build")
PYTHON = "/usr/bin/python3"
RPC_TIMEOUT = 10  # seconds; every call has a deadline


def _find_binary(name, candidates):
    for rel in candidates:
        path = os.path.join(BIN_DIR, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    for root, _, files in os.walk(BIN_DIR):
        if name in files and os.access(os.path.join(root, name), os.X_OK):
            return os.path.join(root, name)
    raise FileNotFoundError(f"{name} not found under GENFARM_BIN_DIR={BIN_DIR}; build it first")


def scheduler_binary():
    return _find_binary("genfarm-scheduler", ["scheduler/genfarm-scheduler"])


def cli_binary():
    return _find_binary("genfarm", ["client/genfarm"])


def free_port():
    """A TCP port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something truthy; returns it. Fails after timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except grpc.RpcError as e:  # the daemon may still be starting
            last_error = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class SchedulerProcess:
    """A genfarm-scheduler subprocess on a fixed gRPC port (so it can be restarted on it)."""

    def __init__(self, data_dir, log_path, port=None, lease_seconds=10, heartbeat_seconds=0.5,
                 retry_backoff_seconds=0.2, extra_args=()):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.args = [f"--lease_seconds={lease_seconds}", f"--heartbeat_seconds={heartbeat_seconds}",
                     f"--retry_backoff_seconds={retry_backoff_seconds}", *extra_args]
        self.proc = None
        self.channel = None
        self.starts = 0

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=20):
        self.starts += 1
        port_file = os.path.join(os.path.dirname(self.log_path), f"ports.{self.port}.{self.starts}")
        log = open(self.log_path, "a")
        log.write(f"\n===== start #{self.starts} =====\n")
        log.flush()
        self.proc = subprocess.Popen(
            [scheduler_binary(), f"--listen={self.address}", "--http=127.0.0.1:0",
             f"--data_dir={self.data_dir}", f"--port_file={port_file}", *self.args],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"genfarm-scheduler exited with {self.proc.returncode}:\n"
                                     + tail(self.log_path))
            return os.path.exists(port_file)

        wait_until(ready, timeout, "the scheduler's port file")
        with open(port_file) as f:
            grpc_port, self.http_port = (int(p) for p in f.read().split())
        assert grpc_port == self.port, (grpc_port, self.port)
        self.channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.jobs = job_service_pb2_grpc.JobServiceStub(self.channel)
        self.farm = farm_service_pb2_grpc.FarmServiceStub(self.channel)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: no shutdown, no final flush."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM, then SIGKILL if it does not exit in time. Safe to call twice."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    # --- RPC shortcuts ---

    def get_job(self, job_id, include_tasks=True):
        return self.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id, include_tasks=include_tasks),
                                timeout=RPC_TIMEOUT)

    def list_jobs(self):
        return list(self.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=1000),
                                       timeout=RPC_TIMEOUT).jobs)


class WorkerProcess:
    """scripted_worker.py as a subprocess."""

    def __init__(self, scheduler_address, worker_id, journal, log_path, out_dir=None, slots=2,
                 frame_seconds=0.02, models=(), extra_args=()):
        args = [PYTHON, os.path.join(HERE, "scripted_worker.py"), "--scheduler", scheduler_address,
                "--id", worker_id, "--slots", str(slots), "--frame-seconds", str(frame_seconds),
                "--journal", journal, "--models", ",".join(models), *extra_args]
        if out_dir:
            args += ["--out-dir", out_dir]
        self.log_path = log_path
        log = open(log_path, "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_cli(scheduler_address, *args, timeout=30):
    return subprocess.run([cli_binary(), "--scheduler", scheduler_address, *args], capture_output=True,
                          text=True, timeout=timeout)


def task_state_name(state):
    return types_pb2.TaskState.Name(state)


def job_state_name(state):
    return types_pb2.JobState.Name(state)


def log_failure_context(*paths):
    for path in paths:
        sys.stderr.write(f"\n----- {path} (tail) -----\n{tail(path)}\n")
