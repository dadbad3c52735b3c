"""The Python client (`import genfarm`) submits a job from a dict and watches it to the
end against a real scheduler and worker."""

import os
import unittest

import farm
import genfarm


class PythonClientTest(farm.FarmTestCase):
    def test_submit_dict_and_watch_to_completion(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1")
        plates = f.make_plates("plates/p.####.exr", 1, 6, size="32x32")
        out = f.path("out", "up.####.exr")
        spec = {
            "name": "python_client",
            "project": "e2e",
            "shot": "sh010",
            "priority": 70,
            "labels": {"dept": "comp"},
            "stages": [{"name": "upres", "model": "esrgan-slim-x2", "input": plates,
                        "output": out, "frames": "1-6", "chunk": 2}],
        }
        with genfarm.Client(f.address) as client:
            job = client.submit(spec, idempotency_key="e2e-python-client-1")
            self.assertIsInstance(job, genfarm.Job)
            self.assertEqual(job.name, "python_client")
            self.assertEqual(job.priority, 70)
            self.assertEqual(job.frames_total, 6)
            # Same key, same job.
            self.assertEqual(client.submit(spec, idempotency_key="e2e-python-client-1").id, job.id)

            events = list(client.watch(job.id, timeout=120))
            self.assertGreaterEqual(len(events), 2, "watch should report progress, not only the end")
            done = [e.job.frames_done for e in events]
            self.assertEqual(done, sorted(done), "frames_done must not go backwards")
            last = events[-1].job
            self.assertTrue(last.finished)
            self.assertEqual(last.state, "succeeded", last.message)
            self.assertEqual(last.frames_done, 6)
            self.assertEqual(last.progress, 1.0)
            changed = {t.index for e in events for t in e.changed_tasks}
            self.assertEqual(changed, {0, 1, 2}, "every task's change is reported")

            got = client.get(job.id)
            self.assertTrue(got.succeeded)
            self.assertIsNotNone(got.end_time)
            tasks = client.tasks(job.id)
            self.assertEqual([t.state for t in tasks], ["succeeded"] * 3)
            self.assertEqual(sorted(fr for t in tasks for fr in t.frames), list(range(1, 7)))
            self.assertIn(job.id, [j.id for j in client.jobs(project="e2e")])
            self.assertEqual(client.wait(job.id).state, "succeeded")
        self.assert_frames_valid(out, range(1, 7), width=64, height=64)

    def test_cancel_from_python(self):
        f = self.farm
        f.start_scheduler()  # no worker: the job stays queued until canceled
        plates = f.make_plates("plates/p.####.exr", 1, 4, size="32x32")
        with genfarm.Client(f.address) as client:
            job = client.submit({"name": "py_cancel", "project": "e2e", "stages": [
                {"name": "upres", "model": "esrgan-slim-x2", "input": plates,
                 "output": f.path("out", "up.####.exr"), "frames": "1-4"}]})
            self.assertFalse(job.finished)
            canceled = client.cancel(job.id)
            self.assertEqual(canceled.state, "canceled")
            self.assertEqual(client.wait(job.id, timeout=30).state, "canceled")
            with self.assertRaises(genfarm.GenFarmError):
                client.get(987654)
        self.assertFalse(os.path.exists(f.path("out")))


if __name__ == "__main__":
    unittest.main()
