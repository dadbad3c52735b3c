"""A worker killed with SIGKILL mid-task: its attempt is requeued and finished by the other
worker; every output frame exists once, is a valid image, and no temporary file is left."""

import os
import unittest

import farm


class WorkerLossTest(farm.FarmTestCase):
    def test_sigkill_mid_task_requeues_to_other_worker(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1")
        f.start_worker("w2")
        plates = f.make_plates("plates/p.####.exr", 1, 24, size="128x96")
        out = f.path("out", "up.####.exr")
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "worker_loss", farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, "1-24", chunk=6)))
        job_id = f.submit(spec, "--json")

        # Kill w1 while it is inside a task: some frames of it written, at least two not.
        def w1_mid_task():
            tasks = [t for t in f.get_job(job_id).tasks
                     if t.state == farm.TASK_RUNNING and t.worker == "w1"]
            if any(1 <= t.frames_done <= len(t.frames) - 2 for t in tasks):
                return tasks
            return None

        running = farm.wait_for(w1_mid_task, 60, "w1 to be part-way through a task", interval=0.02)
        f.kill_worker("w1")
        lost = {t.index: t.attempt_id for t in running}

        final = f.wait_job(job_id, timeout=120)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        by_index = {t.index: t for t in final.tasks}
        for index, old_attempt in lost.items():
            t = by_index[index]
            self.assertEqual(t.worker, "w2", f"task {index} should have been finished by w2")
            self.assertNotEqual(t.attempt_id, old_attempt, f"task {index} was not re-attempted")
        # Worker loss is not the task's fault: it is not charged as a failed attempt.
        self.assertTrue(all(t.state == farm.TASK_SUCCEEDED for t in final.tasks))

        self.assert_frames_valid(out, range(1, 25), width=256, height=192)
        # Every frame comes from its task's final attempt, not a half-done lost one.
        for t in final.tasks:
            for path in farm.frame_paths(out, t.frames):
                self.assertEqual(farm.attempt_of(path), str(t.attempt_id), path)
        workers = {w.id: w for w in f.client().workers(include_offline=True)}
        self.assertNotEqual(workers["w1"].state, farm.types_pb2.WORKER_STATE_ONLINE)


if __name__ == "__main__":
    unittest.main()
