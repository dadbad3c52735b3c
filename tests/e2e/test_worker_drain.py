"""SIGTERM drains a worker: it finishes what it runs within --drain_grace_seconds (or hands
it back when the grace runs out), takes no new work meanwhile, exits 0, and the scheduler
requeues handed-back attempts without charging a retry or blaming the worker."""

import re
import sys
import time
import unittest
import urllib.request

import farm

_STARTED = re.compile(r"\] attempt (\d+): job \d+ task \d+ stage")
_REFUSED = re.compile(r"\] attempt (\d+): refused, worker is draining")
_SIGTERM = "SIGTERM: draining"


def _after_sigterm(log):
    """The part of a worker log written after it received SIGTERM."""
    at = log.find(_SIGTERM)
    if at < 0:
        raise AssertionError(f"the worker never logged '{_SIGTERM}':\n{log[-2000:]}")
    return log[:at], log[at:]


class WorkerDrainTest(farm.FarmTestCase):
    def _job(self, name, frames, chunk, size, extra=""):
        f = self.farm
        plates = f.make_plates(f"plates_{name}/p.####.exr", 1, frames, size=size)
        out = f.path(f"out_{name}", "up.####.exr")
        spec = farm.write_spec(f.path(f"{name}.yaml"), farm.job_yaml(
            name, farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, f"1-{frames}",
                                  chunk=chunk, extra=extra)))
        return spec, out

    def _wait_mid_task(self, job_id, worker, frames_left=2, min_done=1):
        """Waits until ``worker`` runs a task of the job with at least ``min_done`` frames
        written and at least ``frames_left`` to go; returns that task."""
        f = self.farm

        def mid_task():
            job = f.get_job(job_id)
            if job.job.state in farm.JOB_FINISHED:
                raise AssertionError(f"job {job_id} ended before {worker} was caught mid-task")
            for t in job.tasks:
                if (t.state == farm.TASK_RUNNING and t.worker == worker
                        and min_done <= t.frames_done <= len(t.frames) - frames_left):
                    return t
            return None

        return farm.wait_for(mid_task, 60, f"{worker} to be part-way through a task of job {job_id}",
                             interval=0.02)

    def _sigterm(self, worker, timeout):
        """SIGTERMs a worker and waits for it to exit; returns (exit code, seconds taken)."""
        proc = self.farm.workers[worker]
        t0 = time.monotonic()
        proc.signal(farm.signals.SIGTERM)
        try:
            rc = proc.popen.wait(timeout=timeout)
        except farm.subprocess.TimeoutExpired:
            self.fail(f"{worker} still running {timeout:.0f} s after SIGTERM")
        return rc, time.monotonic() - t0

    def _metric(self, name):
        """Sum of a scheduler counter over all its label sets (0 when never incremented)."""
        url = f"http://127.0.0.1:{self.farm.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def _assert_no_new_work_after_sigterm(self, worker, max_refusals=1):
        """``worker`` started no attempt after SIGTERM, and the scheduler stopped offering
        it work after at most ``max_refusals`` refused assignment(s)."""
        before, after = _after_sigterm(self.farm.workers[worker].log_text())
        self.assertEqual(_STARTED.findall(after), [], f"{worker} started attempts while draining")
        refused = _REFUSED.findall(after)
        self.assertLessEqual(len(refused), max_refusals,
                             f"the scheduler kept assigning to draining {worker}: {len(refused)} refused "
                             f"assignments, the first {refused[:10]}")
        return {int(a) for a in _STARTED.findall(before)}

    def test_sigterm_with_grace_finishes_running_attempt(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1", extra=("--drain_grace_seconds", "30"))
        spec, out = self._job("graceful", frames=32, chunk=8, size="128x96")
        job_id = f.submit(spec, "--json")
        # w1 alone first, so it surely has work (a warm worker may otherwise take it all).
        self._wait_mid_task(job_id, "w1", frames_left=0, min_done=0)
        f.start_worker("w2")

        victim = self._wait_mid_task(job_id, "w1", frames_left=3)
        rc, took = self._sigterm("w1", timeout=30)
        self.assertEqual(rc, 0, f.workers["w1"].log_text()[-2000:])
        self.assertLess(took, 30)

        final = f.wait_job(job_id, timeout=60)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        by_index = {t.index: t for t in final.tasks}
        # The running attempt finished on w1 and counts: not re-run, not charged.
        t = by_index[victim.index]
        self.assertEqual((t.state, t.worker, t.attempt_id), (farm.TASK_SUCCEEDED, "w1", victim.attempt_id))
        self.assertEqual(t.attempts, victim.attempts)
        started_before = self._assert_no_new_work_after_sigterm("w1")
        for t in final.tasks:
            if t.worker == "w1":
                self.assertIn(t.attempt_id, started_before, f"task {t.index} ran on w1 after SIGTERM")
            self.assertEqual(t.attempts, 1, f"task {t.index} was charged a retry")
        self.assert_frames_valid(out, range(1, 33), width=256, height=192)
        for t in final.tasks:
            for path in farm.frame_paths(out, t.frames):
                self.assertEqual(farm.attempt_of(path), str(t.attempt_id), path)
        self.assertEqual(self._metric("genfarm_scheduler_retries_total"), 0)

    def test_sigterm_short_grace_hands_back_long_task(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1", extra=("--drain_grace_seconds", "1"))
        # One long task: placed on w1 (the only worker), handed back mid-way.
        spec, out = self._job("handback", frames=16, chunk=16, size="192x144")
        job_id = f.submit(spec, "--json")
        self._wait_mid_task(job_id, "w1", frames_left=8)
        f.start_worker("w2")
        victim = self._wait_mid_task(job_id, "w1", frames_left=4)
        # w1's own pace so far (its attempt's start to now, over the frames it has written;
        # w1 ran beside w2's start-up, so it may be slower than w2 is later).
        (running,) = f.get_job(job_id).tasks
        w1_frame = (time.time() * 1000 - running.start_time_ms) / 1000 / max(1, running.frames_done)

        rc, took = self._sigterm("w1", timeout=20)
        self.assertEqual(rc, 0, f.workers["w1"].log_text()[-2000:])
        # 1 s of grace, then cancellation between frames: a frame or two more at most. Checked
        # below in frames, at the slower of w1's pace and w2's (a fixed 6 s failed in CI under
        # load, at 3 s a frame, with w1 doing exactly what it should).
        self.assertIn(f"attempt {victim.attempt_id} failed (canceled)",
                      f.workers["w1"].log_text(), "w1 did not hand its attempt back")

        final = f.wait_job(job_id, timeout=60)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        (t,) = final.tasks
        self.assertEqual(t.worker, "w2")
        w2_frame = (t.end_time_ms - t.start_time_ms) / 1000 / len(t.frames)
        per_frame = max(w1_frame, w2_frame)
        # Grace, then the frame in flight and the one the pipeline has read ahead, a third as
        # slack, and a second to exit: far short of the 12+ frames left of the task.
        limit = 1 + 3 * per_frame + 1
        sys.stderr.write(f"short grace: w1 exited {took:.2f} s after SIGTERM (a frame took "
                         f"{w1_frame:.2f} s on w1, {w2_frame:.2f} s on w2; limit {limit:.2f} s)\n")
        self.assertLess(took, limit, "w1 outlived its 1 s grace by more than a frame")
        self.assertNotEqual(t.attempt_id, victim.attempt_id)
        self.assertEqual(t.attempts, victim.attempts, "the hand-back was charged as a retry")
        logs = [l.text for l in f.client().logs(job_id) if l.attempt_id == victim.attempt_id]
        self.assertTrue(any("attempt failed (canceled)" in l for l in logs), logs)
        self._assert_no_new_work_after_sigterm("w1")
        # Every frame once, whole, from the attempt that succeeded; no temporary files.
        self.assert_frames_valid(out, range(1, 17), width=384, height=288)
        for path in farm.frame_paths(out, t.frames):
            self.assertEqual(farm.attempt_of(path), str(t.attempt_id), path)
        self.assertEqual(self._metric("genfarm_scheduler_retries_total"), 0)

    def test_draining_worker_gets_no_new_work_and_is_not_blamed(self):
        f = self.farm
        f.start_scheduler()
        # w1 has two slots: while its long task finishes, the other slot is free, and the
        # scheduler must not keep offering it the short job's tasks.
        f.start_worker("w1", slots=2, tags=("big",), extra=("--drain_grace_seconds", "60"))
        f.start_worker("w2")
        long_spec, long_out = self._job("long", frames=24, chunk=24, size="192x144", extra="tags: [big]")
        short_spec, short_out = self._job("short", frames=60, chunk=2, size="128x96")
        long_id = f.submit(long_spec, "--json")
        self._wait_mid_task(long_id, "w1", frames_left=18)
        short_id = f.submit(short_spec, "--json")
        self._wait_mid_task(short_id, "w1", frames_left=0, min_done=0)
        long_task = self._wait_mid_task(long_id, "w1", frames_left=12, min_done=0)
        queued = [t.index for t in f.get_job(short_id).tasks if t.state == farm.TASK_QUEUED]
        self.assertGreaterEqual(len(queued), 12, "too little short work left to offer w1")

        rc, took = self._sigterm("w1", timeout=60)
        self.assertEqual(rc, 0, f.workers["w1"].log_text()[-2000:])
        self.assertLess(took, 60)

        long_final = f.wait_job(long_id, timeout=60)
        short_final = f.wait_job(short_id, timeout=60)
        self.assertEqual(long_final.job.state, farm.JOB_SUCCEEDED, long_final.job.message)
        self.assertEqual(short_final.job.state, farm.JOB_SUCCEEDED, short_final.job.message)
        (t,) = long_final.tasks
        self.assertEqual((t.worker, t.attempt_id), ("w1", long_task.attempt_id))
        started_before = self._assert_no_new_work_after_sigterm("w1")
        # Short work was queued when w1's second slot came free while its long task ran on:
        # it was offered once, refused, and the scheduler then stopped offering.
        refusals = [l for l in f.client().logs(short_id) if "worker is draining" in l.text]
        self.assertEqual(len(refusals), 1, [l.text for l in refusals])
        for t in list(long_final.tasks) + list(short_final.tasks):
            self.assertEqual(t.attempts, 1, f"task {t.index} was charged a retry")
            if t.worker == "w1":
                self.assertIn(t.attempt_id, started_before, f"task {t.index} ran on w1 after SIGTERM")
        # A refusal while draining is neither a retry nor a strike against the worker.
        self.assertEqual(self._metric("genfarm_scheduler_retries_total"), 0)
        self.assertNotIn("kept off job", f.scheduler.log_text())
        self.assert_frames_valid(long_out, range(1, 25), width=384, height=288)
        self.assert_frames_valid(short_out, range(1, 61), width=256, height=192)


if __name__ == "__main__":
    unittest.main()
