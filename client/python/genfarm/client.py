"""Python client of the GenFarm scheduler, for pipeline tools::

    import genfarm

    farm = genfarm.Client()                      # $GENFARM_SCHEDULER or 127.0.0.1:7070
    job = farm.submit("shots/sh010/upres.yaml")  # or a dict in the same format
    for event in farm.watch(job.id):
        print(event.job.state, event.job.frames_done, "/", event.job.frames_total)
    job = farm.wait(job.id)
    if not job.succeeded:
        for task in farm.iter_tasks(job.id, state="failed"):   # paged: any job size
            print(task.index, task.frames, task.message)

A secured farm (docs/security.md) takes the farm CA and a token or a client certificate::

    farm = genfarm.Client("farm:7070", ca="ca.pem", token=open("alice.token").read())
    # or $GENFARM_CA with $GENFARM_TOKEN (or $GENFARM_TOKEN_FILE), or cert=/key= files

Every call but ``watch``/``wait`` has a deadline (``timeout`` seconds, default 10).
Failures raise ``genfarm.GenFarmError`` (bad specs raise ``genfarm.SpecError``, a
``ValueError``). A ``Client`` is thread-safe, like the gRPC channel under it.
"""

import dataclasses
import datetime
import getpass
import os
import socket
import time
from typing import Dict, Iterator, List, Optional, Tuple

import grpc

from genfarm import server_check
from genfarm import spec as spec_lib
from genfarm.v1 import farm_service_pb2
from genfarm.v1 import farm_service_pb2_grpc
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2

__all__ = ["Client", "GenFarmError", "Job", "JobEvent", "StageProgress", "Task",
           "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "127.0.0.1:7070"
_FINISHED = ("succeeded", "failed", "canceled")


class GenFarmError(Exception):
    """A scheduler call failed. ``code`` is the ``grpc.StatusCode``."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _enum_name(enum, value, prefix):
    try:
        name = enum.Name(value)
    except ValueError:
        return "unknown"
    name = name[len(prefix):] if name.startswith(prefix) else name
    return name.lower()


def _time(ms):
    if ms <= 0:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class StageProgress:
    name: str
    frames_total: int
    frames_done: int
    tasks_total: int
    tasks_by_state: Dict[str, int]


@dataclasses.dataclass(frozen=True)
class Job:
    """A job as the scheduler last reported it. ``proto`` is the full ``v1.Job``."""
    id: int
    name: str
    project: str
    shot: str
    state: str  # waiting, active, paused, succeeded, failed, canceled
    priority: int
    submitter: str
    stages: Tuple[StageProgress, ...]
    message: str
    submit_time: Optional[datetime.datetime]
    start_time: Optional[datetime.datetime]
    end_time: Optional[datetime.datetime]
    proto: types_pb2.Job = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, job):
        return cls(
            id=job.id, name=job.spec.name, project=job.spec.project, shot=job.spec.shot,
            state=_enum_name(types_pb2.JobState, job.state, "JOB_STATE_"),
            priority=job.spec.priority, submitter=job.spec.submitter,
            stages=tuple(StageProgress(s.name, s.frames_total, s.frames_done, s.tasks_total,
                                       dict(s.tasks_by_state)) for s in job.stages),
            message=job.message, submit_time=_time(job.submit_time_ms),
            start_time=_time(job.start_time_ms), end_time=_time(job.end_time_ms), proto=job)

    @property
    def finished(self):
        return self.state in _FINISHED

    @property
    def succeeded(self):
        return self.state == "succeeded"

    @property
    def frames_total(self):
        return sum(s.frames_total for s in self.stages)

    @property
    def frames_done(self):
        return sum(s.frames_done for s in self.stages)

    @property
    def progress(self):
        """Fraction of frames done, 0.0 to 1.0."""
        return self.frames_done / self.frames_total if self.frames_total else 0.0


@dataclasses.dataclass(frozen=True)
class Task:
    """One chunk of frames of one stage. ``proto`` is the full ``v1.Task``."""
    job_id: int
    index: int
    stage: str
    frames: Tuple[int, ...]
    state: str  # waiting, blocked, queued, running, succeeded, failed, canceled
    attempts: int
    worker: str
    failure_reason: str  # "" or e.g. input_missing, out_of_memory
    message: str  # last error, or why a queued task cannot be placed
    frames_done: int
    proto: types_pb2.Task = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, task):
        reason = ""
        if task.failure_reason != types_pb2.FAILURE_REASON_UNSPECIFIED:
            reason = _enum_name(types_pb2.FailureReason, task.failure_reason, "FAILURE_REASON_")
        return cls(job_id=task.job_id, index=task.index, stage=task.stage,
                   frames=tuple(task.frames),
                   state=_enum_name(types_pb2.TaskState, task.state, "TASK_STATE_"),
                   attempts=task.attempts, worker=task.worker, failure_reason=reason,
                   message=task.message, frames_done=task.frames_done, proto=task)


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One update from ``Client.watch``: the job (a summary: no labels or stage specs, with
    exact stage counters) and the tasks that changed, at most 1000 of them (the first event:
    the job's first tasks). ``tasks_truncated`` says more tasks changed (or exist) than the
    event lists: use ``Client.iter_tasks`` for all of them."""
    job: Job
    changed_tasks: Tuple[Task, ...]
    tasks_truncated: bool = False


def _read_file(what, path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise GenFarmError(f"{what} {path}: {e.strerror}") from None


# Several schedulers (genfarm-scheduler --ha): round_robin over them with client-side health
# checking, so calls go only to the one whose gRPC health is SERVING, the leader. The C++ twin
# is common/tls/scheduler_channel.h.
_LEADER_ONLY_SERVICE_CONFIG = (
    '{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}')


def _is_ip(host):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _is_grpc_uri(address):
    """dns:///..., ipv4:..., ipv6:..., unix:...: a target for gRPC's own resolvers."""
    return "://" in address or address.startswith(("ipv4:", "ipv6:", "unix:"))


def _split_host_port(address):
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
    else:
        host, _, port = address.rpartition(":")
    if not host or not port:
        raise GenFarmError(f"scheduler address {address!r} is not HOST:PORT")
    return host, port


def _resolve(host):
    """``[(family, ip)]`` that ``host`` names, without repeats (a literal is itself); raises
    ``socket.gaierror`` when it does not resolve."""
    if _is_ip(host):
        return [(socket.AF_INET6 if ":" in host else socket.AF_INET, host)]
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys((family, sockaddr[0]) for family, _, _, _, sockaddr in infos
                              if family in (socket.AF_INET, socket.AF_INET6)))


def scheduler_target(address):
    """``(target, options, balanced)`` for ``address``: one HOST:PORT, several
    comma-separated, or one DNS name with several records. ``balanced``: calls should wait
    for the leader (``wait_for_ready``), bounded by their deadline."""
    parts = [a.strip() for a in address.split(",") if a.strip()]
    if not parts:
        raise GenFarmError("no scheduler address given")
    if len(parts) == 1:
        if parts[0].startswith("unix:"):  # one local scheduler, as the C++ twin has it
            return parts[0], [], False
        if _is_grpc_uri(parts[0]):
            return parts[0], [("grpc.service_config", _LEADER_ONLY_SERVICE_CONFIG)], True
        host, _ = _split_host_port(parts[0])
        if _is_ip(host):
            return parts[0], [], False
        return parts[0], [("grpc.service_config", _LEADER_ONLY_SERVICE_CONFIG)], True
    v4, v6, unresolved = [], [], None
    for part in parts:
        host, port = _split_host_port(part)
        try:
            ips = _resolve(host)
        except socket.gaierror as e:
            # One scheduler missing from DNS must not cut the client off from the others.
            unresolved = GenFarmError(f"cannot resolve scheduler {host}: {e}")
            continue
        for family, ip in ips:
            entry = f"{ip}:{port}" if family == socket.AF_INET else f"[{ip}]:{port}"
            bucket = v4 if family == socket.AF_INET else v6
            if entry not in bucket:
                bucket.append(entry)
    if not v4 and not v6:
        raise unresolved
    target = "ipv4:" + ",".join(v4) if v4 else "ipv6:" + ",".join(v6)
    first_host = _split_host_port(parts[0])[0]
    options = [("grpc.service_config", _LEADER_ONLY_SERVICE_CONFIG),
               ("grpc.default_authority", parts[0]),
               ("grpc.ssl_target_name_override", first_host)]
    return target, options, True


def scheduler_endpoints(address, limit=8):
    """``[(ip, port, tls_name)]``: every scheduler ``address`` names (as ``scheduler_target``
    takes it), resolved, at most ``limit``; ``tls_name`` is the name the channel checks each
    certificate against (the first address's host). A gRPC URI gives none."""
    parts = [a.strip() for a in address.split(",") if a.strip()]
    out, tls_name = [], None
    for part in parts:
        if _is_grpc_uri(part):
            return []
        try:
            host, port = _split_host_port(part)
        except GenFarmError:
            return []
        tls_name = tls_name or host
        try:
            ips = _resolve(host)
        except socket.gaierror:
            continue
        for _, ip in ips:
            if len(out) >= limit:
                return out
            out.append((ip, port, tls_name))
    return out


def _make_channel(address, ca, token, cert, key):
    """``(channel, tls_check)``: the channel to the scheduler, TLS when a CA or a client
    certificate is given, and for TLS the check that says why a failed handshake refused
    the scheduler's certificate (genfarm/server_check.py; else ``None``)."""
    target, options, _ = scheduler_target(address)
    env = os.environ.get
    ca_source = (f"ca={ca}" if ca else f"$GENFARM_CA {env('GENFARM_CA')}" if env("GENFARM_CA")
                 else "the system's CA certificates")
    ca = ca or env("GENFARM_CA") or None
    cert = cert or env("GENFARM_CERT") or None
    key = key or env("GENFARM_KEY") or None
    if token is None:
        token = env("GENFARM_TOKEN") or None
        if token is None and env("GENFARM_TOKEN_FILE"):
            token = _read_file("$GENFARM_TOKEN_FILE", env("GENFARM_TOKEN_FILE")).decode()
    token = token.strip() if token else None
    if bool(cert) != bool(key):
        raise GenFarmError("a client certificate needs both cert and key")
    if not ca and not cert:
        if token:
            raise GenFarmError("a token is sent only over TLS: give the farm CA (ca= or "
                               "$GENFARM_CA), or drop the token for an insecure loopback scheduler")
        return grpc.insecure_channel(target, options=options), None
    ca_pem = _read_file("ca", ca) if ca else None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=_read_file("key", key) if key else None,
        certificate_chain=_read_file("cert", cert) if cert else None)
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token))

    def tls_check(timeout):
        deadline = time.monotonic() + timeout  # for all of them
        for ip, port, tls_name in scheduler_endpoints(address):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            why = server_check.check_server_certificate(ip, port, tls_name, ca_pem, ca_source,
                                                        left)
            if why:
                return why
        return None
    return grpc.secure_channel(target, credentials, options=options), tls_check


class Client:
    """Talks to one scheduler, or to whichever of several leads (``address`` =
    ``"sched-a:7070,sched-b:7070"``, or one DNS name with several records). Use as a context
    manager or call ``close()``."""

    def __init__(self, address=None, timeout=10.0, channel=None, ca=None, token=None, cert=None,
                 key=None):
        """``ca``: PEM file of the farm CA (TLS, the scheduler verified against it; default
        ``$GENFARM_CA``). ``token``: bearer token (default ``$GENFARM_TOKEN``, else the file
        ``$GENFARM_TOKEN_FILE``), sent only over TLS. ``cert``/``key``: PEM client certificate
        and key (default ``$GENFARM_CERT``/``$GENFARM_KEY``)."""
        self.address = address or os.environ.get("GENFARM_SCHEDULER") or DEFAULT_ADDRESS
        self.timeout = timeout
        self._own_channel = channel is None
        # Several schedulers: a call waits (within its deadline) for one to lead.
        self._wait_for_leader = channel is None and scheduler_target(self.address)[2]
        self._tls_check = None
        if channel is None:
            channel, self._tls_check = _make_channel(self.address, ca, token, cert, key)
        self._channel = channel
        self._jobs = job_service_pb2_grpc.JobServiceStub(self._channel)
        self._farm = farm_service_pb2_grpc.FarmServiceStub(self._channel)

    def close(self):
        if self._own_channel:
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- calls -------------------------------------------------------------------------

    def _error(self, method, e):
        code = e.code() if hasattr(e, "code") else None
        details = e.details() if hasattr(e, "details") else str(e)
        if (code == grpc.StatusCode.UNAVAILABLE and self._tls_check
                and "handshake failed" in (details or "").lower()):
            why = self._tls_check(min(max(self.timeout, 1.0), 5.0))
            if why:
                return GenFarmError(f"{method}: TLS with the scheduler failed: {why}", code)
            # The scheduler's certificate is fine: the failure is elsewhere (our own
            # certificate refused, or a scheduler that hung up).
            return GenFarmError(f"{method}: TLS with the scheduler at {self.address} failed "
                                f"({details}): is ca ($GENFARM_CA) the farm CA that signed its "
                                "certificate, and is the address one of its names?", code)
        if code == grpc.StatusCode.UNAVAILABLE or (
                code == grpc.StatusCode.DEADLINE_EXCEEDED and not self._connected()):
            why = "deadline exceeded" if code == grpc.StatusCode.DEADLINE_EXCEEDED else (
                "connection refused" if "refused" in (details or "").lower() else "unavailable")
            message = (f"cannot reach scheduler at {self.address} ({why}) "
                       "— is genfarm-scheduler running?")
        else:
            message = details or (code.name.lower() if code else "unknown error")
        return GenFarmError(f"{method}: {message}", code)

    def _connected(self):
        try:
            grpc.channel_ready_future(self._channel).result(timeout=0)
            return True
        except grpc.FutureTimeoutError:
            return False

    def _call(self, method, request):
        stub = self._farm if method in ("ListWorkers", "DrainWorker", "GetFarmStats") else self._jobs
        try:
            if self._wait_for_leader:
                return getattr(stub, method)(request, timeout=self.timeout, wait_for_ready=True)
            return getattr(stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._error(method, e) from None

    # --- jobs --------------------------------------------------------------------------

    def submit(self, spec, idempotency_key=None, wait=False):
        """Submits a job and returns it (``Job``), finished if ``wait``.

        ``spec`` is a dict in the YAML format, a path to a YAML file, or a ``v1.JobSpec``.
        The submitter defaults to the current user. With the same ``idempotency_key`` a
        resubmission returns the job already created.
        """
        if isinstance(spec, types_pb2.JobSpec):
            job_spec = types_pb2.JobSpec()
            job_spec.CopyFrom(spec)
        elif isinstance(spec, dict):
            job_spec = spec_lib.job_spec_from_dict(spec)
        elif isinstance(spec, (str, os.PathLike)):
            job_spec = spec_lib.load_job_spec(spec)
        else:
            raise TypeError(f"spec must be a dict, a YAML file path or a JobSpec, "
                            f"not {type(spec).__name__}")
        if not job_spec.submitter:
            try:
                job_spec.submitter = getpass.getuser()
            except (KeyError, OSError):
                pass
        response = self._call("SubmitJob", job_service_pb2.SubmitJobRequest(
            spec=job_spec, idempotency_key=idempotency_key or ""))
        return self.wait(response.job_id) if wait else self.get(response.job_id)

    def get(self, job_id):
        return Job.from_proto(self._call("GetJob", job_service_pb2.GetJobRequest(
            job_id=job_id)).job)

    def iter_tasks(self, job_id, state=None, stage=None, page_size=1000) -> Iterator[Task]:
        """Yields the job's tasks in index order, a page (one ListTasks call) at a time.

        ``state`` (e.g. ``"failed"``) and ``stage`` (a stage name) filter on the scheduler,
        so even a 1,000,000-task job is read in bounded replies.
        """
        request = job_service_pb2.ListTasksRequest(job_id=job_id, page_size=page_size,
                                                   stage=stage or "")
        if state:
            try:
                request.state = types_pb2.TaskState.Value(f"TASK_STATE_{state.upper()}")
            except ValueError:
                raise ValueError(f"unknown task state '{state}'") from None
        while True:
            response = self._call("ListTasks", request)
            for task in response.tasks:
                yield Task.from_proto(task)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def tasks(self, job_id, failed_only=False, state=None, stage=None) -> List[Task]:
        """Every task of the job (paged with ListTasks), or only the failed ones."""
        return list(self.iter_tasks(job_id, state="failed" if failed_only else state,
                                    stage=stage))

    def jobs(self, project=None, state=None, limit=100) -> List[Job]:
        """Most recent jobs first (the scheduler's order), optionally filtered. Summaries:
        ``Job.proto.spec`` has no labels or stage specs (``get`` has the whole spec)."""
        request = job_service_pb2.ListJobsRequest(project=project or "")
        if state:
            try:
                request.state = types_pb2.JobState.Value(f"JOB_STATE_{state.upper()}")
            except ValueError:
                raise ValueError(f"unknown job state '{state}'") from None
        jobs = []
        while len(jobs) < limit:
            request.page_size = min(1000, limit - len(jobs))
            response = self._call("ListJobs", request)
            jobs.extend(Job.from_proto(j) for j in response.jobs)
            if not response.next_page_token:
                break
            request.page_token = response.next_page_token
        return jobs[:limit]

    def watch(self, job_id, timeout=None) -> Iterator[JobEvent]:
        """Yields a ``JobEvent`` now and on every change, until the job ends."""
        try:
            for event in self._jobs.WatchJob(job_service_pb2.WatchJobRequest(job_id=job_id),
                                             timeout=timeout):
                job_event = JobEvent(Job.from_proto(event.job),
                                     tuple(Task.from_proto(t) for t in event.changed_tasks),
                                     event.tasks_truncated)
                # The scheduler closes the stream after the job's last event, once its
                # counters are final (a canceled job's tasks are canceled a slice at a time).
                yield job_event
        except grpc.RpcError as e:
            raise self._error("WatchJob", e) from None

    def wait(self, job_id, timeout=None) -> Job:
        """Blocks until the job ends (or ``timeout`` seconds pass) and returns it."""
        last = None
        for event in self.watch(job_id, timeout=timeout):
            last = event.job
        if last is None or not last.finished:
            last = self.get(job_id)
        return last

    def cancel(self, job_id) -> Job:
        return Job.from_proto(self._call("CancelJob", job_service_pb2.JobRequest(
            job_id=job_id)).job)

    def pause(self, job_id) -> Job:
        return Job.from_proto(self._call("PauseJob", job_service_pb2.JobRequest(
            job_id=job_id)).job)

    def resume(self, job_id) -> Job:
        return Job.from_proto(self._call("ResumeJob", job_service_pb2.JobRequest(
            job_id=job_id)).job)

    def retry(self, job_id, tasks=None) -> int:
        """Retries the given task indexes, or every failed/canceled task. Returns the count."""
        request = job_service_pb2.RetryTasksRequest(job_id=job_id, failed_only=not tasks,
                                                    task_indexes=list(tasks or []))
        return self._call("RetryTasks", request).retried

    def set_priority(self, job_id, priority) -> Job:
        return Job.from_proto(self._call("SetPriority", job_service_pb2.SetPriorityRequest(
            job_id=job_id, priority=priority)).job)

    def delete(self, job_id) -> Job:
        """Deletes an ended job with its tasks and logs (its id is never reused); returns it."""
        return Job.from_proto(self._call("DeleteJob", job_service_pb2.JobRequest(
            job_id=job_id)).job)

    def logs(self, job_id, task=None) -> List[job_service_pb2.LogLine]:
        return list(self._call("GetTaskLog", job_service_pb2.GetTaskLogRequest(
            job_id=job_id, task_index=-1 if task is None else task)).lines)

    # --- farm --------------------------------------------------------------------------

    def workers(self, include_offline=False) -> List[types_pb2.Worker]:
        return list(self._call("ListWorkers", farm_service_pb2.ListWorkersRequest(
            include_offline=include_offline)).workers)

    def drain(self, worker_id, undrain=False) -> types_pb2.Worker:
        return self._call("DrainWorker", farm_service_pb2.DrainWorkerRequest(
            worker_id=worker_id, undrain=undrain)).worker
