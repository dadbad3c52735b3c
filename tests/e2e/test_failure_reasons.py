"""Honest failure reasons end to end (docs/failures.md): a real scheduler and two real workers
run one job per fault; `genfarm status` names the reason, and only the worker's own faults keep
it off the job.

Every job has one task, `retries: 1`, and the scheduler keeps a worker off a job after one blamed
failure (--blocklist_failures 1): a blamed reason keeps both workers off in turn (two "kept off"
lines in the scheduler log), an unblamed one none.

Disk full is a real full file system: a 1 MiB tmpfs mounted (as root) and filled. Without the
rights to mount, that case is skipped (and says so). Output not writable: the output folder's
parent is a regular file (root ignores permission bits, so chmod would not do).
"""

import json
import os
import shutil
import subprocess
import unittest

import farm


def is_root():
    return os.geteuid() == 0


class FailureReasonsTest(farm.FarmTestCase):
    def setUp(self):
        super().setUp()
        f = self.farm
        self.models = self._models_with_a_broken_one()
        f.start_scheduler("--blocklist_failures", "1")
        f.start_worker("w1", models=self.models)
        f.start_worker("w2", models=self.models)
        self.plates = f.make_plates("plates/p.####.exr", 1, 4, size="64x48")

    def _models_with_a_broken_one(self):
        """The real repository plus 'broken-x2': esrgan-slim-x2's weights under a manifest that
        claims scale 3, so every run returns the wrong size (a model error, on any worker)."""
        root = self.farm.path("models")
        os.makedirs(root)
        for name in os.listdir(farm.MODELS):
            os.symlink(os.path.join(farm.MODELS, name), os.path.join(root, name))
        src = os.path.join(farm.MODELS, "esrgan-slim-x2")
        broken = os.path.join(root, "broken-x2")
        os.makedirs(broken)
        os.symlink(os.path.join(src, "model.pt"), os.path.join(broken, "model.pt"))
        with open(os.path.join(src, "manifest.json")) as fh:
            manifest = json.load(fh)
        manifest["name"] = "broken-x2"
        manifest["scale"] = 3
        with open(os.path.join(broken, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)
        return root

    def _run(self, name, input_pattern, output_pattern, model="esrgan-slim-x2", frames="1-4",
             extra=""):
        """Submits a one-task job, waits for it to fail; returns (final job, `genfarm status`
        text, how many times the scheduler kept a worker off it)."""
        f = self.farm
        spec = farm.write_spec(f.path(f"{name}.yaml"), farm.job_yaml(
            name, farm.stage_yaml("s", model, input_pattern, output_pattern, frames, chunk=4,
                                  retries=1, extra=extra)))
        job_id = f.submit(spec, "--json")
        final = f.wait_job(job_id, timeout=120)
        self.assertEqual(final.job.state, farm.JOB_FAILED, final.job.message)
        status = f.cli("status", str(job_id))
        kept_off = f.scheduler.log_text().count(f"kept off job {job_id} ")
        return final, status.stdout, kept_off

    def _assert_reason(self, name, reason, blames, **kwargs):
        final, status, kept_off = self._run(name, **kwargs)
        task = final.tasks[0]
        self.assertIn(f"2 attempts, {reason}, last on ", status)
        self.assertEqual(farm.types_pb2.FailureReason.Name(task.failure_reason),
                         "FAILURE_REASON_" + reason.upper(), status)
        self.assertEqual(kept_off, 2 if blames else 0,
                         f"{reason}: kept-off lines in the scheduler log\n{status}")
        line = next((l.strip() for l in status.splitlines() if "attempts, " in l), "")
        print(f"{reason}: blocklisted={'yes' if blames else 'no'}; genfarm status: {line}")

    def test_each_reason_in_status_and_whether_it_blocklists(self):
        f = self.farm
        with self.subTest("input_missing"):
            self._assert_reason("missing", "input_missing", False,
                                input_pattern=f.path("nowhere", "p.####.exr"),
                                output_pattern=f.path("out_missing", "up.####.exr"))
        with self.subTest("input_corrupt"):
            os.makedirs(f.path("bad"))
            for i in range(1, 5):
                with open(f.path("bad", "p.%04d.exr" % i), "wb") as fh:
                    fh.write(b"\x76\x2f\x31\x01 not an image, just its magic number" * 10)
            self._assert_reason("corrupt", "input_corrupt", False,
                                input_pattern=f.path("bad", "p.####.exr"),
                                output_pattern=f.path("out_corrupt", "up.####.exr"))
        with self.subTest("output_write"):
            with open(f.path("blocker"), "w") as fh:
                fh.write("a file where the output folder should be\n")
            self._assert_reason("unwritable", "output_write", False, input_pattern=self.plates,
                                output_pattern=f.path("blocker", "out", "up.####.exr"))
        with self.subTest("disk_full"):
            full = f.path("full")
            os.makedirs(full)
            if not is_root() or subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full]).returncode != 0:
                self.skipTest("disk_full needs root to mount a 1 MiB tmpfs")
            self.addCleanup(subprocess.run, ["umount", "-l", full])
            # Fill it to the last block.
            try:
                with open(os.path.join(full, "ballast"), "wb", buffering=0) as fh:
                    while True:
                        fh.write(b"\0" * 4096)
            except OSError:  # ENOSPC: full to the last block
                pass
            os.makedirs(os.path.join(full, "out"), exist_ok=True)
            self._assert_reason("diskfull", "disk_full", False, input_pattern=self.plates,
                                output_pattern=os.path.join(full, "out", "up.####.exr"))
            self.assertEqual(farm.temp_files(os.path.join(full, "out")), [])
        with self.subTest("model_error"):
            self._assert_reason("modelerror", "model_error", True, input_pattern=self.plates,
                                output_pattern=f.path("out_model", "up.####.exr"),
                                model="broken-x2")
        with self.subTest("timeout"):
            big = f.make_plates("big/p.####.exr", 1, 4, size="960x540")
            self._assert_reason("timeout", "timeout", True, input_pattern=big,
                                output_pattern=f.path("out_timeout", "up.####.exr"),
                                extra="timeout: 1")


if __name__ == "__main__":
    unittest.main()
