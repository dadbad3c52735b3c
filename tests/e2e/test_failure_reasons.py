"""Honest failure reasons end to end (docs/failures.md): a real scheduler and real workers run
one job per fault; `genfarm status` names the reason, and only the worker's own faults keep it
off the job. The scheduler keeps a worker off a job after one blamed failure
(--blocklist_failures 1), so a single failure that counts shows as a "kept off" line in its log.

FailureReasonsTest: two workers; every job has one task and `retries: 1`, so a blamed reason
keeps both workers off in turn (two "kept off" lines), an unblamed one none. Disk full is a real
full file system: a 1 MiB tmpfs mounted (as root) and filled; without the rights to mount, that
case is skipped (and says so). Output not writable: the output folder's parent is a regular file
(root ignores permission bits, so chmod would not do).

OutOfMemoryTest: a real out-of-memory on the CPU, no mock: the worker's address space is capped
(RLIMIT_AS, set on the running worker with prlimit(2)) a few hundred MiB above what it uses once
warm, and a frame needs more than that from LibTorch's CPU allocator: once in the runner's
accumulators (ATen throws c10::Error), once inside the TorchScript forward (the interpreter
rethrows it as std::runtime_error, which used to kill the worker).

WorkerLostTest: a worker SIGKILLed mid-task; the attempt is worker_lost, the task is retried on
another worker, and the lost worker is not kept off the job: restarted, it runs the job's next
stage, which only it can run.
"""

import json
import os
import re
import resource
import subprocess
import unittest

import farm


def is_root():
    return os.geteuid() == 0


def models_with_variants(f):
    """The real repository plus two manifests over esrgan-slim-x2's weights: 'broken-x2' claims
    scale 3, so every run returns the wrong size (a model error, on any worker); 'untiled-x2'
    has no tiling, so a frame goes through forward() whole (its memory grows with the frame)."""
    root = f.path("models")
    os.makedirs(root)
    for name in os.listdir(farm.MODELS):
        os.symlink(os.path.join(farm.MODELS, name), os.path.join(root, name))
    src = os.path.join(farm.MODELS, "esrgan-slim-x2")
    with open(os.path.join(src, "manifest.json")) as fh:
        manifest = json.load(fh)
    for name, change in (("broken-x2", {"scale": 3}),
                         ("untiled-x2", {"tile": {"size": 0, "overlap": 0}})):
        variant = os.path.join(root, name)
        os.makedirs(variant)
        os.symlink(os.path.join(src, "model.pt"), os.path.join(variant, "model.pt"))
        with open(os.path.join(variant, "manifest.json"), "w") as fh:
            json.dump(dict(manifest, name=name, **change), fh)
    return root


def kept_off_count(f, job_id):
    """How many times the scheduler kept a worker off the job (its blocklist, docs/failures.md)."""
    return f.scheduler.log_text().count(f"kept off job {job_id} ")


def status_line(status):
    """The failed task's line of `genfarm status`."""
    return next((l.strip() for l in status.splitlines() if "attempts, " in l), "")


class ReasonTestCase(farm.FarmTestCase):
    """Runs one-task jobs to failure and checks what `genfarm status` and the blocklist say."""

    def _run(self, name, input_pattern, output_pattern, model="esrgan-slim-x2", frames="1-4",
             extra="", retries=1):
        """Submits a one-task job, waits for it to fail; returns (final job, `genfarm status`
        text, how many times the scheduler kept a worker off it)."""
        f = self.farm
        spec = farm.write_spec(f.path(f"{name}.yaml"), farm.job_yaml(
            name, farm.stage_yaml("s", model, input_pattern, output_pattern, frames, chunk=4,
                                  retries=retries, extra=extra)))
        job_id = f.submit(spec, "--json")
        final = f.wait_job(job_id, timeout=120)
        self.assertEqual(final.job.state, farm.JOB_FAILED, final.job.message)
        status = f.cli("status", str(job_id))
        return final, status.stdout, kept_off_count(f, job_id)

    def _assert_reason(self, name, reason, blames, workers=2, **kwargs):
        """Runs the job to failure (each of `workers` tries it once); `genfarm status` names
        `reason`, and each worker was kept off the job if and only if `blames`. Returns the
        final job and the status text."""
        final, status, kept_off = self._run(name, retries=workers - 1, **kwargs)
        task = final.tasks[0]
        self.assertIn(f"{workers} attempts, {reason}, last on ", status)
        self.assertEqual(farm.types_pb2.FailureReason.Name(task.failure_reason),
                         "FAILURE_REASON_" + reason.upper(), status)
        self.assertEqual(kept_off, workers if blames else 0,
                         f"{reason}: kept-off lines in the scheduler log\n{status}")
        print(f"{reason}: blocklisted={'yes' if blames else 'no'}; "
              f"genfarm status: {status_line(status)}")
        return final, status


class FailureReasonsTest(ReasonTestCase):
    def setUp(self):
        super().setUp()
        f = self.farm
        f.start_scheduler("--blocklist_failures", "1")
        f.start_worker("w1", models=models_with_variants(f))
        f.start_worker("w2", models=f.path("models"))
        self.plates = f.make_plates("plates/p.####.exr", 1, 4, size="64x48")

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


def vm_size(pid):
    """The process's address space in bytes (VmSize), what RLIMIT_AS caps."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmSize for pid {pid}")


def worker_metric(proc, name, labels):
    """A sample of the worker's /metrics (0 if absent)."""
    return farm.lib.sample_value(farm.lib.scrape_metrics(proc.metrics_url), name, labels)


# How far above its warm size the worker's address space may grow. The frames below need well
# over this from LibTorch's CPU allocator, and well under it for everything else (reading the
# plate: 12 and 24 MB of floats; a task's threads).
HEADROOM = 384 << 20


class OutOfMemoryTest(ReasonTestCase):
    def test_out_of_memory_in_status_blocklists_and_the_worker_survives(self):
        f = self.farm
        f.start_scheduler("--blocklist_failures", "1")
        w1 = f.start_worker("w1", models=models_with_variants(f))
        small = f.make_plates("small/p.####.exr", 1, 1, size="64x48")
        # Warm, without a limit: both models loaded, LibTorch's thread pool started and the
        # TorchScript graphs profiled, so what the cap catches is the big frames' tensors.
        warm = farm.write_spec(f.path("warm.yaml"), farm.job_yaml(
            "warm",
            farm.stage_yaml("x8", "esrgan-slim-x8", small, f.path("warm8", "up.####.exr"), "1"),
            farm.stage_yaml("whole", "untiled-x2", small, f.path("warm2", "up.####.exr"), "1")))
        warm_job = f.wait_job(f.submit(warm, "--json"), timeout=120)
        self.assertEqual(warm_job.job.state, farm.JOB_SUCCEEDED, warm_job.job.message)
        warm_size = vm_size(w1.pid)
        limit = warm_size + HEADROOM
        resource.prlimit(w1.pid, resource.RLIMIT_AS, (limit, limit))
        print(f"worker w1 warm at {warm_size >> 20} MiB of address space, capped at "
              f"{limit >> 20} MiB (RLIMIT_AS)")

        cases = (
            # x8 of 1000x1000: the runner's 8000x8000 accumulators alone are 768 MB (ATen).
            ("accumulators", "esrgan-slim-x8", "1000x1000"),
            # Untiled 2000x1000: the first convolution's output is 512 MB (inside forward).
            ("forward", "untiled-x2", "2000x1000"),
        )
        for name, model, size in cases:
            with self.subTest(name):
                plate = f.make_plates(f"{name}/p.####.exr", 1, 1, size=size)
                final, status = self._assert_reason(
                    f"oom_{name}", "out_of_memory", True, workers=1, model=model, frames="1",
                    input_pattern=plate, output_pattern=f.path(f"out_{name}", "up.####.exr"))
                self.assertIn("can't allocate memory", final.tasks[0].message)
                self.assertIn("can't allocate memory", status_line(status))
                self.assertNotIn("Traceback", status)  # the allocator's line, not the script's
                self.assertTrue(w1.alive(), f"the worker died of {name}:\n{w1.log_tail()}")
                f.wait_worker_online("w1", timeout=10)

        self.assertEqual(worker_metric(w1, "genfarm_worker_tasks_failed_total",
                                    {"reason": "out_of_memory"}), len(cases))
        self.assertEqual(worker_metric(w1, "genfarm_worker_tasks_failed_total",
                                    {"reason": "model_error"}), 0)
        # Still capped, the worker serves a frame that fits (a new job: the blocklist is per job).
        after = farm.write_spec(f.path("after.yaml"), farm.job_yaml(
            "after", farm.stage_yaml("s", "esrgan-slim-x8", small, f.path("after", "up.####.exr"),
                                     "1", retries=0)))
        after_job = f.wait_job(f.submit(after, "--json"), timeout=120)
        self.assertEqual(after_job.job.state, farm.JOB_SUCCEEDED, after_job.job.message)
        self.assertEqual(after_job.tasks[0].worker, "w1")


class WorkerLostTest(ReasonTestCase):
    def test_sigkill_is_worker_lost_retried_elsewhere_not_blocklisted(self):
        f = self.farm
        f.start_scheduler("--blocklist_failures", "1")
        f.start_worker("w1", tags=("w1",))
        plates = f.make_plates("plates/p.####.exr", 1, 6, size="256x192")
        small = f.make_plates("small/p.####.exr", 1, 6, size="32x32")
        # Stage "up" runs anywhere; stage "late" waits for it and only a worker tagged w1 may
        # run it: if w1 were kept off the job, "late" could never run.
        spec = farm.write_spec(f.path("lost.yaml"), farm.job_yaml(
            "lost",
            farm.stage_yaml("up", "esrgan-slim-x2", plates, f.path("up", "up.####.exr"), "1-6",
                            chunk=6, retries=0),
            farm.stage_yaml("late", "esrgan-slim-x2", small, f.path("late", "up.####.exr"),
                            "1-6", chunk=6, retries=0, extra="after: [up]\ntags: [w1]")))
        job_id = f.submit(spec, "--json")

        def up_task():
            return next(t for t in f.get_job(job_id).tasks if t.stage == "up")

        def w1_mid_task():
            t = up_task()
            ok = t.state == farm.TASK_RUNNING and t.worker == "w1" and 1 <= t.frames_done <= 4
            return t if ok else None

        lost = farm.wait_for(w1_mid_task, 90, "w1 to be part-way through stage up", interval=0.02)
        f.kill_worker("w1")  # SIGKILL, a real worker with its real model mid-frame

        # With no other worker, the task waits, and `genfarm status` says why: w1 was lost.
        # (The "not placed" line names the reason of the failed attempt, then its message.)
        lost_line = re.compile(rf"task {lost.index} up frames 1-6 \(queued, worker_lost\): "
                               r"worker w1 lost: ")

        seen = {}

        def lost_in_status():
            text = seen["status"] = f.cli("status", job_id).stdout
            return text if lost_line.search(text) else None

        try:
            status = farm.wait_for(lost_in_status, 30, "`genfarm status` to show the lost attempt")
        except Exception as e:  # the deadline: say what status showed last
            self.fail(f"{e}\nlast `genfarm status`:\n{seen.get('status')}")
        queued = up_task()
        self.assertEqual(farm.types_pb2.FailureReason.Name(queued.failure_reason),
                         "FAILURE_REASON_WORKER_LOST", status)
        self.assertEqual(queued.attempts, 0, "a lost attempt is not charged to the task")
        print("worker_lost: genfarm status: " + next(
            l.strip() for l in status.splitlines() if "worker w1 lost" in l))

        # Retried elsewhere: w2 takes it over and finishes it, although retries is 0.
        f.start_worker("w2")
        done = farm.wait_for(lambda: (lambda t: t if t.state == farm.TASK_SUCCEEDED else None)(
            up_task()), 120, "stage up to succeed on w2")
        self.assertEqual(done.worker, "w2")
        self.assertNotEqual(done.attempt_id, lost.attempt_id)

        # Not blocklisted: w1, restarted, runs "late", which only it can. (Its old port file
        # goes first, or the new process would be credited with the dead one's HTTP port.)
        os.remove(f.path("worker-w1.ports"))
        f.start_worker("w1", tags=("w1",))
        final = f.wait_job(job_id, timeout=120)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        late = next(t for t in final.tasks if t.stage == "late")
        self.assertEqual(late.worker, "w1")
        self.assertEqual(kept_off_count(f, job_id), 0, "w1 was kept off the job")
        self.assert_frames_valid(f.path("up", "up.####.exr"), range(1, 7), width=512, height=384)

        # The attempt history names the reason (`genfarm logs`), and the scheduler counted a
        # requeue for worker_lost but no retry (nothing was charged).
        logs = f.cli("logs", job_id, "--task", lost.index, check=True).stdout
        self.assertRegex(logs, rf"#{lost.attempt_id}  attempt failed \(worker_lost\): "
                               r"worker w1 lost")
        metrics = farm.lib.scrape_metrics(f.scheduler.metrics_url)
        self.assertGreaterEqual(farm.lib.sample_value(
            metrics, "genfarm_scheduler_requeues_total", {"reason": "worker_lost"}), 1)
        self.assertEqual(farm.lib.sample_value(
            metrics, "genfarm_scheduler_retries_total", {"reason": "worker_lost"}), 0)
        print("worker_lost: blocklisted=no; retried on w2; restarted w1 ran stage late")


if __name__ == "__main__":
    unittest.main()
