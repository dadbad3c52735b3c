"""The integration tests' farm: a restartable real genfarm-scheduler with gRPC stubs, and
scripted workers (scripted_worker.py) as child processes. Processes, ports and waiting come
from the shared tests/lib/genfarm_testlib.

    procs = lib.ProcessGroup(tmp)
    scheduler = SchedulerProcess(procs, data_dir).start()   # a free port, read from --port_file
    scheduler.kill(); scheduler.start()                      # back on the same port
    worker = start_scripted_worker(procs, scheduler.address, "w1", journal)
"""

import os

import grpc

import genfarm_testlib as lib
from genfarm.v1 import farm_service_pb2_grpc
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2

HERE = os.path.dirname(os.path.abspath(__file__))


# The models the scripted worker advertises (scripted_worker.model_info), declared to the
# scheduler up front (--model_catalog) so jobs submitted before a worker's hello are planned
# at once, with the facts that hello will bring.
CATALOG_MODELS = ("esrgan-slim-x2", "esrgan-slim-x3", "rife-v4.6")


def write_model_catalog(path, models=CATALOG_MODELS):
    lines = ["models:"]
    for name in models:
        if name.startswith("rife"):
            lines.append(f"  - {{name: {name}, kind: interpolate, window_before: 0, window_after: 1}}")
        else:
            lines.append(f"  - {{name: {name}, kind: upscale}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class SchedulerProcess:
    """genfarm-scheduler on a free gRPC port, restarted on that same port; it knows the
    scripted worker's models from the start (CATALOG_MODELS)."""

    def __init__(self, procs, data_dir, lease_seconds=10, heartbeat_seconds=0.5,
                 retry_backoff_seconds=0.2, extra_args=()):
        self.procs = procs
        self.data_dir = data_dir
        self.port = 0  # known after the first start
        self.http_port = None
        catalog = write_model_catalog(os.path.join(procs.log_dir, "models.yaml"))
        self.args = [f"--lease_seconds={lease_seconds}", f"--heartbeat_seconds={heartbeat_seconds}",
                     f"--retry_backoff_seconds={retry_backoff_seconds}",
                     f"--model_catalog={catalog}", *extra_args]
        self.proc = None
        self.channel = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=20):
        self.proc = lib.start_scheduler(self.procs, self.data_dir, *self.args, port=self.port,
                                        timeout=timeout)
        self.port, self.http_port = self.proc.grpc_port, self.proc.http_port
        # A channel of its own subchannels: gRPC shares them process-wide by default, and the
        # one to the previous scheduler on this port may still be backing off its reconnects.
        self.channel = grpc.insecure_channel(self.address,
                                             options=[("grpc.use_local_subchannel_pool", 1)])
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.jobs = job_service_pb2_grpc.JobServiceStub(self.channel)
        self.farm = farm_service_pb2_grpc.FarmServiceStub(self.channel)
        return self

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def log_tail(self, lines=40):
        return self.proc.log_tail(lines) if self.proc else ""

    def _close(self):
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def kill(self):
        """SIGKILL: no shutdown, no final flush."""
        self._close()
        if self.proc is not None:
            self.proc.kill()

    def stop(self):
        """SIGTERM, then SIGKILL if it does not exit in time. Safe to call twice."""
        self._close()
        if self.proc is not None:
            self.proc.stop(timeout=10)

    # --- RPC shortcuts ---

    def get_job(self, job_id, include_tasks=True):
        return self.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id, include_tasks=include_tasks),
                                timeout=lib.RPC_TIMEOUT)

    def list_jobs(self):
        return list(self.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=1000),
                                       timeout=lib.RPC_TIMEOUT).jobs)


def start_scripted_worker(procs, scheduler_address, worker_id, journal, out_dir=None, slots=2,
                          frame_seconds=0.02, models=(), extra_args=()):
    """scripted_worker.py as a child process (stop() sends SIGTERM, SIGKILL after 10 s)."""
    args = [lib.PYTHON, os.path.join(HERE, "scripted_worker.py"), "--scheduler", scheduler_address,
            "--id", worker_id, "--slots", str(slots), "--frame-seconds", str(frame_seconds),
            "--journal", journal, "--models", ",".join(models), *extra_args]
    if out_dir:
        args += ["--out-dir", out_dir]
    return procs.spawn(f"scripted worker {worker_id}", args, log_name=f"{worker_id}.log")


def task_state_name(state):
    return types_pb2.TaskState.Name(state)


def job_state_name(state):
    return types_pb2.JobState.Name(state)
