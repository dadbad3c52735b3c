"""Every project binary answers --help with its own flags, and the daemons' --port_file
tells the truth.

Abseil's default --help lists only flags defined in a file named like the binary, so the
daemons (flags in main.cc) printed "No flags matched"; common/flags_usage.h fixes that for
every binary. The expected flags are read from each main's ABSL_FLAG definitions, and every
source file that defines absl flags must belong to a binary listed here, so a new binary or
flag cannot slip past.

    PYTHONPATH=<build>/python:<source>/tests/lib GENFARM_BIN_DIR=<build> \
        /usr/bin/python3 -m unittest -v test_help
"""

import glob
import os
import re
import subprocess
import tempfile
import unittest
import urllib.request

import genfarm_testlib as lib

# binary (relative to the build dir) -> the source files whose ABSL_FLAGs it must list.
ABSL_BINARIES = {
    "scheduler/genfarm-scheduler": ["scheduler/main.cc"],
    "worker/genfarm-worker": ["worker/main.cc"],
    "scheduler/sim/genfarm-sim": ["scheduler/sim/main.cc"],
    "scheduler/bench/genfarm-core-bench": ["scheduler/bench/main.cc"],
    "scheduler/bench/genfarm-core-hold-bench": ["scheduler/bench/hold_main.cc"],
    "worker/bench/genfarm-worker-bench": ["worker/bench/main.cc"],
}
FLAG_RE = re.compile(r"ABSL_FLAG\(\s*[\w:<>]+\s*,\s*(\w+)\s*,", re.S)


def defined_flags(rel):
    with open(os.path.join(lib.SOURCE_DIR, rel)) as f:
        return FLAG_RE.findall(f.read())


def run(argv, timeout=30):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class HelpTest(unittest.TestCase):
    def test_every_source_with_absl_flags_belongs_to_a_checked_binary(self):
        sources = set()
        for top in ("scheduler", "worker", "client", "common", "tests"):
            for path in glob.glob(os.path.join(lib.SOURCE_DIR, top, "**", "*.cc"), recursive=True):
                with open(path, errors="replace") as f:
                    if FLAG_RE.search(f.read()):
                        sources.add(os.path.relpath(path, lib.SOURCE_DIR))
        checked = {s for rels in ABSL_BINARIES.values() for s in rels}
        self.assertEqual(sorted(sources - checked), [],
                         "sources defining absl flags that test_help does not check")

    def test_absl_binaries_list_their_own_flags(self):
        checked = 0
        for rel, sources in ABSL_BINARIES.items():
            path = os.path.join(lib.BIN_DIR, rel)
            if not os.access(path, os.X_OK) and rel.startswith("worker/"):
                continue  # built only with LibTorch (GENFARM_WITH_TORCH)
            with self.subTest(binary=rel):
                result = run([lib.binary(rel), "--help"])
                out = result.stdout + result.stderr
                self.assertNotIn("No flags matched", out)
                name = os.path.basename(rel)
                self.assertIn(f"{name}:", out, "the usage message names the program")
                flags = [f for s in sources for f in defined_flags(s)]
                self.assertTrue(flags, f"no ABSL_FLAG found in {sources}")
                missing = [f for f in flags if f"--{f} " not in out and f"--{f}\n" not in out
                           and f"-{f} (" not in out]
                self.assertEqual(missing, [], f"{rel} --help lacks these flags:\n{out}")
                # Abseil's own flags stay in --helpfull.
                self.assertNotIn("--flagfile", out)
                full = run([path, "--helpfull"])
                self.assertIn("flagfile", full.stdout + full.stderr)
                version = run([path, "--version"])
                self.assertIn(name, version.stdout + version.stderr)
                checked += 1
        self.assertGreaterEqual(checked, 3)

    def test_the_cli_lists_its_flags_and_commands(self):
        result = run([lib.binary("client", "genfarm"), "--help"])
        self.assertEqual(result.returncode, 0, result.stderr)
        for word in ("--scheduler", "--timeout", "submit", "status", "workers"):
            self.assertIn(word, result.stdout)
        sub = run([lib.binary("client", "genfarm"), "submit", "--help"])
        for word in ("--wait", "--json", "--idempotency-key"):
            self.assertIn(word, sub.stdout)

    # The acceptance of issue 11, verbatim: --help | grep -- --listen / --scheduler.
    def test_daemon_help_names_the_flags_a_new_user_needs(self):
        self.assertIn("--listen", run([lib.binary("scheduler", "genfarm-scheduler"), "--help"]).stdout)
        worker = os.path.join(lib.BIN_DIR, "worker", "genfarm-worker")
        if os.access(worker, os.X_OK):
            self.assertIn("--scheduler", run([worker, "--help"]).stdout)


class PortFileTest(unittest.TestCase):
    """--port_file holds the ports the daemons bound on 127.0.0.1:0, and they answer there."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="genfarm-port-file-")
        self.procs = lib.ProcessGroup(self.tmp.name)
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self._stop)

    def _stop(self):
        if lib.test_failed(self):
            self.procs.dump_logs()
        self.procs.stop_all()

    def test_scheduler_and_worker_write_their_bound_ports(self):
        scheduler = lib.start_scheduler(self.procs, os.path.join(self.tmp.name, "data"))
        self.assertGreater(scheduler.grpc_port, 0)
        self.assertGreater(scheduler.http_port, 0)
        self.assertNotEqual(scheduler.grpc_port, scheduler.http_port)
        self.assertIn(scheduler.grpc_port, lib.listening_ports(scheduler.pid))
        with urllib.request.urlopen(f"http://{scheduler.http_address}/healthz", timeout=5) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(lib.run_cli(scheduler.address, "workers").returncode, 0)
        # Written atomically: no temporary file is left beside it.
        self.assertEqual([n for n in os.listdir(self.tmp.name) if ".tmp" in n], [])

        if not os.access(os.path.join(lib.BIN_DIR, "worker", "genfarm-worker"), os.X_OK):
            self.skipTest("genfarm-worker is not built (GENFARM_WITH_TORCH=OFF)")
        models = os.path.join(self.tmp.name, "models")
        os.makedirs(models)
        worker = lib.start_worker(self.procs, scheduler.address, "port-file-w1", models=models)
        self.assertGreater(worker.http_port, 0)
        families = lib.wait_for(lambda: lib.scrape_metrics(worker.metrics_url), 30,
                                "the worker's /metrics on its --port_file port")
        self.assertTrue(any(f.name.startswith("genfarm_worker_") for f in families))
        lib.wait_for(lambda: "port-file-w1" in lib.run_cli(scheduler.address, "workers").stdout, 30,
                     "the worker to register")

    def test_worker_without_http_writes_port_zero(self):
        if not os.access(os.path.join(lib.BIN_DIR, "worker", "genfarm-worker"), os.X_OK):
            self.skipTest("genfarm-worker is not built (GENFARM_WITH_TORCH=OFF)")
        models = os.path.join(self.tmp.name, "models")
        os.makedirs(models)
        # No scheduler needed: the port file is written before the worker connects.
        scheduler = lib.start_scheduler(self.procs, os.path.join(self.tmp.name, "data"), http=False)
        self.assertEqual(scheduler.http_port, 0)
        worker = lib.start_worker(self.procs, scheduler.address, "no-http", models=models, http=False)
        self.assertEqual(worker.http_port, 0)
        self.assertIsNone(worker.metrics_url)


if __name__ == "__main__":
    unittest.main()
