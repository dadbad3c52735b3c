"""A small real farm for the metrics tests: genfarm-scheduler and genfarm-worker processes on
loopback, the genfarm CLI, and (optionally) a real Prometheus server scraping them.

    farm = MetricsFarm(self)          # registers cleanup: every process is killed at the end
    farm.start_scheduler()
    farm.start_worker("w1")           # waits until the scheduler lists its /metrics address
    farm.submit(farm.upres_job("good", frames=8))
    text = farm.scrape(farm.scheduler_metrics_url)

Environment (set by ctest): GENFARM_BIN_DIR (build tree), GENFARM_SOURCE_DIR, GENFARM_MODELS
(default <source>/var/models). Nothing sleeps blindly: wait_for polls until a deadline.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("GENFARM_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("GENFARM_BIN_DIR") or os.path.join(SOURCE_DIR, "build")
MODELS = os.environ.get("GENFARM_MODELS") or os.path.join(SOURCE_DIR, "var", "models")
PYTHON = "/usr/bin/python3"
MODEL = "esrgan-slim-x2"


def wait_for(what, fn, timeout=30.0, interval=0.1):
    """Polls fn() until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 (keep polling, report at the end)
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric_names(exposition):
    """Series names (with _bucket/_sum/_count) and family names in a text exposition."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(line.split("{")[0].split(" ")[0])
    return names


def sample_value(exposition, name, labels=None):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        if series.split("{")[0] != name:
            continue
        if labels and not all('%s="%s"' % kv in series for kv in labels.items()):
            continue
        total += float(value)
    return total


class MetricsFarm:
    def __init__(self, test):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="genfarm-metrics-")
        self.procs = []
        self.grpc_port = self.http_port = None
        test.addCleanup(self.stop)

    # --- processes ---
    def binary(self, *parts):
        path = os.path.join(BIN_DIR, *parts)
        if not os.access(path, os.X_OK):
            self.test.skipTest("%s is not built" % path)
        return path

    def spawn(self, name, argv):
        with open(os.path.join(self.dir, name + ".log"), "wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                    start_new_session=True)
        proc.name = name
        self.procs.append(proc)
        return proc

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        if os.environ.get("GENFARM_METRICS_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_scheduler(self, *extra):
        port_file = os.path.join(self.dir, "ports")
        self.scheduler = self.spawn("scheduler", [
            self.binary("scheduler", "genfarm-scheduler"), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
            "--data_dir", os.path.join(self.dir, "scheduler"), "--port_file", port_file, *extra])
        ports = wait_for("the scheduler's port file", lambda: self._read(port_file) or self._dead(self.scheduler))
        self.grpc_port, self.http_port = (int(p) for p in ports.split())
        self.address = "127.0.0.1:%d" % self.grpc_port
        self.scheduler_http = "127.0.0.1:%d" % self.http_port
        self.scheduler_metrics_url = "http://%s/metrics" % self.scheduler_http

    def start_worker(self, worker_id, http="127.0.0.1:0"):
        if not os.path.isdir(os.path.join(MODELS, MODEL)):
            self.test.skipTest("model %s not found in %s (set GENFARM_MODELS)" % (MODEL, MODELS))
        proc = self.spawn("worker-" + worker_id, [
            self.binary("worker", "genfarm-worker"), "--scheduler", self.address, "--models", MODELS,
            "--http", http, "--id", worker_id])
        if not http:
            wait_for("worker %s online" % worker_id,
                     lambda: self._dead(proc) or worker_id in self.cli_ok("workers"),
                     timeout=60)
            return proc, None
        # The worker advertises its /metrics address in its hello; the scheduler lists it for
        # Prometheus service discovery.
        target = wait_for("worker %s in /sd/workers" % worker_id,
                          lambda: self._dead(proc) or self._sd_target(worker_id), timeout=60)
        return proc, "http://%s/metrics" % target

    def _sd_target(self, worker_id):
        for group in json.loads(http_get("http://%s/sd/workers" % self.scheduler_http)):
            if group["labels"].get("worker") == worker_id:
                return group["targets"][0]
        return None

    def _dead(self, proc):
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (proc.name, proc.returncode, self.log(proc.name)))
        return None

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    # --- CLI and jobs ---
    def cli(self, *args, timeout=90):
        return subprocess.run([self.binary("client", "genfarm"), "--scheduler", self.address, *args],
                              cwd=self.dir, capture_output=True, text=True, timeout=timeout)

    def cli_ok(self, *args):
        r = self.cli(*args)
        return r.stdout if r.returncode == 0 else ""

    def make_plates(self, frames, size="64x48"):
        subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "examples", "make_plates.py"),
                        os.path.join(self.dir, "plates", "p.####.exr"), "1", str(frames), "--size", size],
                       check=True, capture_output=True)

    def upres_job(self, name, frames, input_pattern="plates/p.####.exr", retries=0, project="metrics"):
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write("""name: %s
project: %s
stages:
  - name: upres
    model: %s
    input: %s
    output: out/%s/up.####.exr
    frames: 1-%d
    chunk: 2
    retries: %d
""" % (name, project, MODEL, input_pattern, name, frames, retries))
        return path

    def submit(self, spec, expect_success=True):
        r = self.cli("submit", spec, "--wait")
        if expect_success:
            self.test.assertEqual(r.returncode, 0, "submit --wait failed:\n%s\n%s\nworker log:\n%s" % (
                r.stdout, r.stderr, self.log("worker-w1")))
        return r

    # --- scraping ---
    def scrape(self, url):
        return http_get(url)

    def promtool_check_metrics(self, exposition):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.test.skipTest("promtool not installed")
        r = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True)
        return r.returncode, (r.stdout + r.stderr).strip()
