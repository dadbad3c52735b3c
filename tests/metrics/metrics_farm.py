"""A small real farm for the metrics tests: genfarm-scheduler and genfarm-worker processes on
loopback, the genfarm CLI, and (optionally) a real Prometheus server scraping them.

    farm = MetricsFarm(self)          # registers cleanup: every process is killed at the end
    farm.start_scheduler()
    farm.start_worker("w1")           # waits until the scheduler lists its /metrics address
    farm.submit(farm.upres_job("good", frames=8))
    text = farm.scrape(farm.scheduler_metrics_url)

Environment (set by ctest): GENFARM_BIN_DIR (build tree), GENFARM_SOURCE_DIR, GENFARM_MODELS
(default <source>/var/models). Processes, ports, waiting and the /metrics parser come from the
shared tests/lib/genfarm_testlib; nothing sleeps blindly.
"""

import json
import os
import shutil
import subprocess
import tempfile

import genfarm_testlib as lib
from genfarm_testlib import (MODELS, PYTHON, SOURCE_DIR, http_get, metric_names,  # noqa: F401
                             sample_labels, sample_value, wait_for)

MODEL = "esrgan-slim-x2"


class MetricsFarm:
    def __init__(self, test):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="genfarm-metrics-")
        self.procs = lib.ProcessGroup(self.dir)
        self.grpc_port = self.http_port = None
        test.addCleanup(self.stop)

    # --- processes ---
    def binary(self, *parts):
        try:
            return lib.binary(*parts)
        except FileNotFoundError as e:
            self.test.skipTest(str(e))

    def spawn(self, name, argv):
        return self.procs.spawn(name, argv, cwd=self.dir)

    def stop(self):
        failed = lib.test_failed(self.test)
        self.procs.stop_all()
        if failed:
            self.procs.dump_logs(lines=60)
        if os.environ.get("GENFARM_METRICS_KEEP") or failed:
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_scheduler(self, *extra):
        self.binary("scheduler", "genfarm-scheduler")
        self.scheduler = lib.start_scheduler(self.procs, os.path.join(self.dir, "scheduler"), *extra)
        self.grpc_port, self.http_port = self.scheduler.grpc_port, self.scheduler.http_port
        self.address = self.scheduler.address
        self.scheduler_http = self.scheduler.http_address
        self.scheduler_metrics_url = self.scheduler.metrics_url

    def start_worker(self, worker_id, http=True):
        """Starts a worker; returns (process, its /metrics URL as the scheduler lists it, or
        None when ``http`` is False)."""
        if not os.path.isdir(os.path.join(MODELS, MODEL)):
            self.test.skipTest("model %s not found in %s (set GENFARM_MODELS)" % (MODEL, MODELS))
        self.binary("worker", "genfarm-worker")
        proc = lib.start_worker(self.procs, self.address, worker_id, models=MODELS, http=http)
        if not http:
            wait_for(lambda: proc.check_alive() or worker_id in self.cli_ok("workers"), 60,
                     "worker %s online" % worker_id)
            return proc, None
        # The worker advertises its /metrics address in its hello; the scheduler lists it for
        # Prometheus service discovery.
        target = wait_for(lambda: proc.check_alive() or self._sd_target(worker_id), 60,
                          "worker %s in /sd/workers" % worker_id)
        self.test.assertEqual(target, "127.0.0.1:%d" % proc.http_port,
                              "the scheduler's /sd/workers and the worker's --port_file disagree")
        return proc, "http://%s/metrics" % target

    def _sd_target(self, worker_id):
        for group in json.loads(http_get("http://%s/sd/workers" % self.scheduler_http)):
            if group["labels"].get("worker") == worker_id:
                return group["targets"][0]
        return None

    def log(self, name):
        """The tail of process ``name``'s log ('' if there is no such process)."""
        for proc in reversed(self.procs.processes):
            if proc.name == name:
                return proc.log_text()[-4000:]
        return ""

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
                r.stdout, r.stderr, self.log("worker w1")))
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
