"""The scheduler killed (SIGKILL) and restarted on the same data dir and port mid-job:
workers reconnect and the job completes with every frame written exactly once, each by
its task's final attempt (results of stale attempts are ignored)."""

import unittest

import farm


class SchedulerRestartTest(farm.FarmTestCase):
    def test_sigkill_and_restart_mid_job(self):
        f = self.farm
        first = f.start_scheduler()
        f.start_worker("w1")
        f.start_worker("w2")
        plates = f.make_plates("plates/p.####.exr", 1, 24, size="96x64")
        out = f.path("out", "up.####.exr")
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "scheduler_restart",
            farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, "1-24", chunk=3)))
        job_id = f.submit(spec, "--json")

        # Mid-job: something finished, something running, something still to do.
        def mid_job():
            tasks = f.get_job(job_id).tasks
            states = [t.state for t in tasks]
            return (states.count(farm.TASK_SUCCEEDED) >= 1 and farm.TASK_RUNNING in states
                    and farm.TASK_QUEUED in states)

        farm.wait_for(mid_job, 60, "the job to be part-way done", interval=0.02)
        f.kill_scheduler()
        self.assertFalse(first.alive())
        second = f.start_scheduler()  # same --data_dir, same port
        self.assertIsNot(first, second)
        f.wait_worker_online("w1")
        f.wait_worker_online("w2")

        final = f.wait_job(job_id, timeout=120)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        self.assert_frames_valid(out, range(1, 25), width=192, height=128)
        # Exactly once, by the attempt the scheduler finally recorded: a late write from
        # an attempt fenced off by the restart would carry another attempt id.
        for t in final.tasks:
            self.assertEqual(t.state, farm.TASK_SUCCEEDED)
            for path in farm.frame_paths(out, t.frames):
                self.assertEqual(farm.attempt_of(path), str(t.attempt_id),
                                 f"{path}: written by a stale attempt (task {t.index})")
        # The CLI agrees with the recovered state.
        status = f.cli("status", job_id, check=True)
        self.assertIn("[succeeded]", status.stdout, status.output)


if __name__ == "__main__":
    unittest.main()
