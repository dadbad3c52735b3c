"""Child processes with captured logs, and the two GenFarm daemons.

Every child runs in its own session (so a SIGKILL reaches what it started, e.g. ffmpeg) with
stdout and stderr appended to a log file; ``ProcessGroup`` remembers them all so cleanup
kills every one, pass or fail, and ``dump_logs`` shows their tails when a test failed.
"""

import os
import signal as signals
import subprocess
import sys

from .env import binary
from .ports import wait_port_file


def tail(path, lines=40):
    """The last ``lines`` lines of a text file ('' if unreadable)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Process:
    """One child process with its log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(f"===== {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                          start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        """Raises AssertionError with the log's tail if the process has exited."""
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n"
                                 f"{self.log_tail()}")

    def signal(self, sig, group=False):
        """Sends ``sig`` to the process, or with ``group`` to its whole session (what it
        started, too). A no-op once it has exited."""
        if self.alive():
            try:
                (os.killpg if group else os.kill)(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def freeze(self):
        """SIGSTOP to the session: alive but doing nothing (a long GC pause, a swapping host)."""
        self.signal(signals.SIGSTOP, group=True)

    def thaw(self):
        """SIGCONT after freeze()."""
        self.signal(signals.SIGCONT, group=True)

    def kill(self):
        """SIGKILL (no clean shutdown) and reap. Safe to call twice."""
        self.signal(signals.SIGKILL, group=True)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, sig=signals.SIGTERM, timeout=20):
        """Sends ``sig``, waits for exit, SIGKILLs after ``timeout``. Returns the exit code."""
        self.signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.returncode

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])


class ProcessGroup:
    """Every process a test started, logs under ``log_dir``; ``stop_all`` kills them all."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.processes = []

    def spawn(self, name, argv, log_name=None, cls=Process, **kwargs):
        log_path = os.path.join(self.log_dir, log_name or f"{name.replace(' ', '-')}.log")
        proc = cls(name, argv, log_path, **kwargs)
        self.processes.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.processes):
            proc.kill()

    def logs(self):
        """name -> log text of every process started (later runs of a name win)."""
        return {p.name: p.log_text() for p in self.processes}

    def dump_logs(self, lines=60, stream=None):
        stream = stream or sys.stderr
        for proc in self.processes:
            stream.write(f"\n===== {proc.name} (exit {proc.returncode}, last {lines} lines of "
                         f"{proc.log_path}) =====\n{proc.log_tail(lines)}\n")


class SchedulerDaemon(Process):
    """A genfarm-scheduler child; ``grpc_port``/``http_port`` are read from its --port_file."""

    grpc_port = None
    http_port = None

    @property
    def address(self):
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_address(self):
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.http_port}/metrics"


class WorkerDaemon(Process):
    """A genfarm-worker child; ``http_port`` (its /metrics) is read from its --port_file."""

    http_port = None

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.http_port}/metrics" if self.http_port else None


def start_scheduler(group, data_dir, *extra, name="scheduler", port=0, http=True,
                    timeout=30):
    """Starts genfarm-scheduler on 127.0.0.1:``port`` (0: a free one; pass the previous
    port to restart in place) and, if ``http``, HTTP on a free port; returns the
    SchedulerDaemon once its --port_file says what it bound."""
    runs = sum(1 for p in group.processes if p.name.split("#")[0] == name)
    label = f"{name}#{runs + 1}" if runs else name
    port_file = os.path.join(group.log_dir, f"{label.replace('#', '-')}.ports")
    argv = [binary("scheduler", "genfarm-scheduler"), f"--listen=127.0.0.1:{port}",
            "--http=127.0.0.1:0" if http else "--http=", f"--data_dir={data_dir}",
            f"--port_file={port_file}", *extra]
    proc = group.spawn(label, argv, log_name=f"{label.replace('#', '-')}.log", cls=SchedulerDaemon)
    ports = wait_port_file(port_file, proc, timeout)
    proc.grpc_port, proc.http_port = ports["grpc_port"], ports["http_port"]
    if port:
        assert proc.grpc_port == port, (proc.grpc_port, port)
    return proc


def start_worker(group, scheduler_address, worker_id, *extra, models, slots=1, http=True,
                 timeout=60):
    """Starts genfarm-worker ``worker_id`` (HTTP /metrics on a free port unless ``http`` is
    False); returns the WorkerDaemon once its --port_file is written. Whether the scheduler
    lists it yet is for the caller to wait for."""
    port_file = os.path.join(group.log_dir, f"worker-{worker_id}.ports")
    argv = [binary("worker", "genfarm-worker"), f"--scheduler={scheduler_address}",
            f"--id={worker_id}", f"--slots={slots}", f"--models={models}",
            "--http=127.0.0.1:0" if http else "--http=", f"--port_file={port_file}", *extra]
    proc = group.spawn(f"worker {worker_id}", argv, log_name=f"worker-{worker_id}.log",
                       cls=WorkerDaemon)
    proc.http_port = wait_port_file(port_file, proc, timeout)["http_port"]
    return proc


def run_cli(scheduler_address, *args, timeout=30, cwd=None, env=None):
    """Runs the genfarm CLI against ``scheduler_address``; returns CompletedProcess (text)."""
    return subprocess.run([binary("client", "genfarm"), "--scheduler", scheduler_address,
                           *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


