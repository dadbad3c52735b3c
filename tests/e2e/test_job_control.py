"""`genfarm cancel`, `pause` and `resume` do what they say on a real farm.

"No new task starts" is shown without sleeping: after the action, a second job is run
to completion on the same worker, which proves the scheduler had free slots to give; the
first job must have got none of them."""

import os
import unittest

import farm


def _started(tasks):
    return {t.index for t in tasks if t.start_time_ms > 0}


class JobControlTest(farm.FarmTestCase):
    def _long_job(self, name, frames=24, chunk=4, size="128x96"):
        f = self.farm
        plates = f.make_plates(f"plates_{name}/p.####.exr", 1, frames, size=size)
        out = f.path(f"out_{name}", "up.####.exr")
        spec = farm.write_spec(f.path(f"{name}.yaml"), farm.job_yaml(
            name, farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, f"1-{frames}",
                                  chunk=chunk)))
        return spec, out

    def _barrier_job(self):
        """Runs a small job to completion; returns its id."""
        f = self.farm
        plates = f.make_plates("plates_barrier/p.####.exr", 1, 2, size="32x32")
        out = f.path("out_barrier", "up.####.exr")
        spec = farm.write_spec(f.path("barrier.yaml"), farm.job_yaml(
            "barrier", farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, "1-2")))
        result = f.cli("submit", spec, "--wait", timeout=120)
        self.assertEqual(result.returncode, 0, result.output)
        return out

    def test_cancel_stops_running_attempts_and_starts_nothing_new(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1")
        spec, out = self._long_job("to_cancel", chunk=6, size="256x192")
        job_id = f.submit(spec, "--json")

        def running_mid_task():
            tasks = f.get_job(job_id).tasks
            return any(t.state == farm.TASK_RUNNING and 1 <= t.frames_done <= len(t.frames) - 2
                       for t in tasks) and tasks

        tasks = farm.wait_for(running_mid_task, 60, "a task to be part-way done", interval=0.02)
        victim = next(t for t in tasks if t.state == farm.TASK_RUNNING)
        result = f.cli("cancel", job_id)
        self.assertEqual(result.returncode, 0, result.output)
        job = f.get_job(job_id)
        self.assertEqual(job.job.state, farm.JOB_CANCELED)
        started_at_cancel = _started(job.tasks)
        self.assertTrue(all(t.state in (farm.TASK_SUCCEEDED, farm.TASK_CANCELED)
                            for t in job.tasks), [t.state for t in job.tasks])

        # The running attempt stops within a frame: the worker frees its slot long before
        # the task could have finished, and says so in its log.
        farm.wait_for(lambda: all(w.busy_slots == 0 for w in f.client().workers()), 20,
                      "the worker to stop the canceled attempt")
        farm.wait_for(lambda: f"attempt {victim.attempt_id} failed (canceled)"
                      in f.workers["w1"].log_text(), 10, "the worker to stop the attempt")

        self._barrier_job()
        after = f.get_job(job_id)
        self.assertEqual(after.job.state, farm.JOB_CANCELED)
        self.assertEqual(_started(after.tasks), started_at_cancel, "a task started after cancel")
        victim_written = [p for p in farm.frame_paths(out, victim.frames) if os.path.exists(p)]
        self.assertLess(len(victim_written), len(victim.frames),
                        "the canceled attempt ran to its end")
        written = [p for p in farm.frame_paths(out, range(1, 25)) if os.path.exists(p)]
        self.assertLess(len(written), 24, "the canceled job ran to the end anyway")
        self.assertEqual(farm.temp_files(os.path.dirname(out)), [])
        # `submit --wait`-style exit code for a canceled job.
        self.assertEqual(f.cli("watch", job_id).returncode, 1)

    def test_pause_holds_new_tasks_and_resume_finishes(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1")
        spec, out = self._long_job("to_pause", frames=16, chunk=2, size="64x48")
        job_id = f.submit(spec, "--json")
        farm.wait_for(lambda: any(t.state == farm.TASK_SUCCEEDED
                                  for t in f.get_job(job_id).tasks), 60, "a first task to finish")
        result = f.cli("pause", job_id)
        self.assertEqual(result.returncode, 0, result.output)
        paused = f.get_job(job_id)
        self.assertEqual(paused.job.state, farm.JOB_PAUSED)
        started_at_pause = _started(paused.tasks)
        self.assertLess(len(started_at_pause), len(paused.tasks), "nothing left to hold")

        # Running attempts may finish; nothing new starts, even with a free slot.
        self._barrier_job()
        held = f.get_job(job_id)
        self.assertEqual(held.job.state, farm.JOB_PAUSED)
        self.assertEqual(_started(held.tasks), started_at_pause, "a task started while paused")
        status = f.cli("status", job_id, check=True)
        self.assertIn("[paused]", status.stdout, status.output)

        result = f.cli("resume", job_id)
        self.assertEqual(result.returncode, 0, result.output)
        watch = f.cli("watch", job_id, timeout=120)
        self.assertEqual(watch.returncode, 0, watch.output)
        final = f.get_job(job_id)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        self.assert_frames_valid(out, range(1, 17), width=128, height=96)


if __name__ == "__main__":
    unittest.main()
