"""Work no worker can run says why in `genfarm status` instead of waiting silently: a task
needing a tag nobody carries is queued with the reason while runnable stages of the same
job still run, and a job naming a model no worker has ever advertised waits, unplanned,
saying which model (its plan needs the model's facts, docs/architecture.md)."""

import unittest

import farm


class UnplaceableTest(farm.FarmTestCase):
    def test_status_explains_unplaceable_tasks(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1", tags=("cpu",))
        plates = f.make_plates("plates/p.####.exr", 1, 2, size="32x32")
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "unplaceable",
            farm.stage_yaml("ok", "esrgan-slim-x2", plates, f.path("out/ok/ok.####.exr"), "1-2"),
            farm.stage_yaml("notag", "esrgan-slim-x2", plates, f.path("out/notag/y.####.exr"),
                            "1-2", extra="tags: [a100]")))
        job_id = f.submit(spec, "--json")
        unknown = farm.write_spec(f.path("unknown.yaml"), farm.job_yaml(
            "unknown-model",
            farm.stage_yaml("nomodel", "no-such-model", plates,
                            f.path("out/nomodel/x.####.exr"), "1-2")))
        unknown_id = f.submit(unknown, "--json")

        def explained():
            status = f.cli("status", job_id)
            if "lacks tag 'a100'" in status.stdout and "ok" in status.stdout:
                return status
            return None

        try:
            status = farm.wait_for(explained, 30, "status to explain the stuck stage",
                                   interval=0.2)
        except farm.Deadline:
            print(f.cli("status", job_id).output)
            raise
        self.assertIn("not placed:", status.stdout, status.output)
        self.assertIn("no worker can run this task", status.stdout, status.output)

        farm.wait_for(lambda: all(t.state == farm.TASK_SUCCEEDED
                                  for t in f.get_job(job_id).tasks if t.stage == "ok"),
                      60, "the runnable stage to finish")
        job = f.get_job(job_id)
        for t in job.tasks:
            if t.stage == "notag":
                self.assertEqual(t.state, farm.TASK_QUEUED)
                self.assertIn("a100", t.message)
        self.assertEqual(job.job.state, farm.types_pb2.JOB_STATE_ACTIVE)

        # The job with the unknown model waits, unplanned, and says for what.
        waiting = f.get_job(unknown_id)
        self.assertEqual(waiting.job.state, farm.types_pb2.JOB_STATE_WAITING)
        self.assertEqual(len(waiting.tasks), 0)
        status = f.cli("status", unknown_id, check=True)
        self.assertIn("waiting for model no-such-model", status.stdout, status.output)

        # A worker that can run it clears the reason and runs the task.
        f.start_worker("w2", tags=("a100",))
        farm.wait_for(lambda: all(t.state == farm.TASK_SUCCEEDED
                                  for t in f.get_job(job_id).tasks if t.stage == "notag"),
                      60, "the tagged stage to run on the new worker")
        status = f.cli("status", job_id, check=True)
        self.assertNotIn("lacks tag 'a100'", status.stdout, status.output)


if __name__ == "__main__":
    unittest.main()
