"""Lease fencing (docs/fencing.md): a worker frozen (SIGSTOP) past its lease mid-task is
declared lost, its task is finished by another worker, and when the frozen worker wakes
(SIGCONT) it renames nothing over the accepted frames: every output keeps the inode, mtime
and genfarm:attempt the accepted attempt gave it, and no temporary file is left."""

import os
import time
import unittest

import farm

LEASE_SECONDS = 3  # farm.FAST_SCHEDULER_FLAGS


class StaleWorkerTest(farm.FarmTestCase):
    def test_frozen_worker_writes_nothing_after_its_task_was_finished_elsewhere(self):
        f = self.farm
        f.start_scheduler()
        w1 = f.start_worker("w1")
        f.wait_worker_online("w1")
        frames = range(1, 41)
        plates = f.make_plates("plates/p.####.exr", 1, 40, size="128x96")
        out = f.path("out", "up.####.exr")
        # One task of 40 frames, so w1 is frozen with most of them still to write.
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "stale_worker", farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, "1-40",
                                            chunk=40)))
        job_id = f.submit(spec, "--json")

        def w1_mid_task():
            tasks = [t for t in f.get_job(job_id).tasks
                     if t.state == farm.TASK_RUNNING and t.worker == "w1"]
            return tasks if any(2 <= t.frames_done <= len(t.frames) - 10 for t in tasks) else None

        stale = farm.wait_for(w1_mid_task, 90, "w1 part-way through its task", interval=0.02)[0]
        w1.freeze()
        frozen_at = time.monotonic()
        self.addCleanup(w1.thaw)  # never leave a stopped process behind
        f.start_worker("w2")

        final = f.wait_job(job_id, timeout=180)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        task = final.tasks[0]
        self.assertEqual(task.worker, "w2")
        self.assertNotEqual(task.attempt_id, stale.attempt_id)
        self.assert_frames_valid(out, frames, width=256, height=192)
        paths = farm.frame_paths(out, frames)

        def snapshot():
            return {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns, farm.attempt_of(p))
                    for p in paths}

        accepted = snapshot()
        for p, (_, _, attempt) in accepted.items():
            self.assertEqual(attempt, str(task.attempt_id), p)
        # Frozen well past its lease (the scheduler declared it lost after one lease).
        self.assertGreater(time.monotonic() - frozen_at, LEASE_SECONDS)

        w1.thaw()
        # w1 wakes up: its lease ran out while it was frozen, so it stops the attempt and
        # reports it lost; whatever it was about to rename stays a temporary, then goes.
        farm.wait_for(lambda: f"attempt {stale.attempt_id} failed (" in w1.log_text(),
                      60, f"w1 to stop stale attempt {stale.attempt_id}")
        # Give any straggling writer thread of w1 the time to do its worst: w1 heartbeats
        # again (so it is past its wake-up), and its metrics answer.
        farm.wait_for(lambda: f.client().workers(include_offline=True) and any(
            w.id == "w1" and w.state == farm.types_pb2.WORKER_STATE_ONLINE
            for w in f.client().workers(include_offline=True)), 60, "w1 back online")
        self.assertEqual(snapshot(), accepted, "a stale attempt rewrote accepted frames")
        self.assertEqual(farm.temp_files(os.path.dirname(out)), [])
        self.assertIn(f"attempt {stale.attempt_id} failed (worker_lost)", w1.log_text())
        log = w1.log_text()
        self.assertTrue("lease ran out" in log or "no longer holds" in log, log[-2000:])


if __name__ == "__main__":
    unittest.main()
