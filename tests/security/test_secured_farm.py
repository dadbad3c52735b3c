"""A secured farm end to end: certificates from deploy/certs.sh, a TLS scheduler with a roles
file, and a real genfarm-worker on mutual TLS (its id taken from its certificate). A job
submitted with the CLI (alice's token) and one submitted with the Python client (carol's user
certificate) both run to completion, and their frames are written.

Needs the fetched models (worker/models/fetch_models.sh var/models); skipped without them.

Run: ctest -R security.test_secured_farm --output-on-failure
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import genfarm_testlib as lib
import genfarm
from genfarm.v1 import types_pb2

CERTS_SH = os.path.join(lib.SOURCE_DIR, "deploy", "certs.sh")
MODEL = "esrgan-slim-x2"


class SecuredFarmTest(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(lib.MODELS, MODEL)):
            self.skipTest(f"no {MODEL} in {lib.MODELS} (worker/models/fetch_models.sh)")
        self.tmp = tempfile.mkdtemp(prefix="genfarm-secured-farm-")
        self.procs = lib.ProcessGroup(self.tmp)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        self.procs.stop_all()
        if lib.test_failed(self):
            self.procs.dump_logs(lines=40)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def test_jobs_from_the_cli_and_the_python_client_run_on_a_mutual_tls_worker(self):
        tls = self.path("tls")
        out = subprocess.run(["bash", CERTS_SH, "--dir", tls, "--worker", "w1", "--user", "carol",
                              "--token", "alice", "--token", "olga"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        digest = {line.split()[0]: line.split()[2] for line in out.splitlines()
                  if " token_sha256: " in line}
        with open(self.path("roles.yaml"), "w") as f:
            f.write("people:\n"
                    f"  alice: {{token_sha256: {digest['alice']}, roles: {{e2e: artist}}}}\n"
                    f"  olga: {{token_sha256: {digest['olga']}, roles: {{'*': ops}}}}\n"
                    "  carol: {cert_cn: carol, roles: {e2e: artist}}\n"
                    f"projects:\n  e2e: {{storage_roots: [{self.tmp}/farm]}}\n")
        ca = os.path.join(tls, "ca.pem")
        scheduler = lib.start_scheduler(
            self.procs, self.path("data"), f"--tls_cert={tls}/server.pem",
            f"--tls_key={tls}/server.key", f"--tls_client_ca={ca}",
            f"--roles={self.path('roles.yaml')}")
        lib.start_worker(self.procs, scheduler.address, "w1", f"--tls_ca={ca}",
                         f"--tls_cert={tls}/workers/w1.pem", f"--tls_key={tls}/workers/w1.key",
                         models=lib.MODELS)
        with open(os.path.join(tls, "tokens", "olga.token")) as f:
            olga = f.read().strip()
        with genfarm.Client(scheduler.address, ca=ca, token=olga) as ops:
            lib.wait_for(lambda: any(w.id == "w1" and w.state == types_pb2.WORKER_STATE_ONLINE
                                     for w in ops.workers()), 60, "w1 online over mutual TLS")

        plates = self.path("farm", "plates", "p.####.exr")
        subprocess.run([lib.PYTHON, os.path.join(lib.SOURCE_DIR, "examples", "make_plates.py"),
                        plates, "1", "2", "--size", "32x24"], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)

        def spec(name, output):
            path = self.path(f"{name}.yaml")
            with open(path, "w") as f:
                f.write(f"name: {name}\nproject: e2e\nstages:\n"
                        f"  - name: upres\n    model: {MODEL}\n    input: {plates}\n"
                        f"    output: {output}\n    frames: 1-2\n")
            return path

        cli_out = self.path("farm", "cli", "up.####.exr")
        result = lib.run_cli(scheduler.address, "--tls_ca", ca, "--token_file",
                             os.path.join(tls, "tokens", "alice.token"), "submit",
                             spec("from_cli", cli_out), "--wait", "--json", timeout=240,
                             env={**os.environ, "GENFARM_TOKEN": ""})
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(json.loads(result.stdout)["state"], "succeeded")

        py_out = self.path("farm", "py", "up.####.exr")
        with genfarm.Client(scheduler.address, ca=ca, cert=os.path.join(tls, "users", "carol.pem"),
                            key=os.path.join(tls, "users", "carol.key")) as carol:
            job = carol.submit(spec("from_python", py_out), wait=True)
            self.assertTrue(job.succeeded, job)
        for pattern in (cli_out, py_out):
            for frame in (1, 2):
                self.assertTrue(os.path.isfile(pattern.replace("####", f"{frame:04d}")), pattern)

        # Contained paths on the worker: a symlink inside the project's root that points out
        # passes the scheduler's lexical check, and the worker refuses it before opening
        # anything (BAD_SPEC, naming the path).
        outside = self.path("outside")
        shutil.copytree(self.path("farm", "plates"), outside)
        os.symlink(outside, self.path("farm", "escape"))
        escaping = self.path("farm", "escape", "p.####.exr")
        with open(self.path("escape.yaml"), "w") as f:
            f.write(f"name: escape\nproject: e2e\nstages:\n"
                    f"  - name: upres\n    model: {MODEL}\n    input: {escaping}\n"
                    f"    output: {self.path('farm', 'esc', 'up.####.exr')}\n    frames: 1-2\n"
                    "    retries: 0\n")
        with genfarm.Client(scheduler.address, ca=ca, cert=os.path.join(tls, "users", "carol.pem"),
                            key=os.path.join(tls, "users", "carol.key")) as carol:
            job = carol.submit(self.path("escape.yaml"), wait=True)
            self.assertFalse(job.succeeded, job)
            failed = carol.tasks(job.id, failed_only=True)
            self.assertEqual({t.failure_reason for t in failed}, {"bad_spec"}, failed)
            self.assertEqual(len(failed), 2, failed)
            self.assertIn(escaping.replace("####", "0001"), failed[0].message)
            self.assertIn("outside the project's storage roots", failed[0].message)
        self.assertFalse(os.path.exists(self.path("farm", "esc")))


if __name__ == "__main__":
    unittest.main()
