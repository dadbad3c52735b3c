"""A task no worker can run (a model nobody has, a tag nobody carries) says why in
`genfarm status` instead of waiting silently; runnable stages of the same job still run."""

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
            farm.stage_yaml("nomodel", "no-such-model", plates,
                            f.path("out/nomodel/x.####.exr"), "1-2"),
            farm.stage_yaml("notag", "esrgan-slim-x2", plates, f.path("out/notag/y.####.exr"),
                            "1-2", extra="tags: [a100]")))
        job_id = f.submit(spec, "--json")

        def explained():
            status = f.cli("status", job_id)
            text = status.stdout
            if ("does not have model 'no-such-model'" in text and "lacks tag 'a100'" in text
                    and "ok" in text):
                return status
            return None

        try:
            status = farm.wait_for(explained, 30, "status to explain both stuck stages",
                                   interval=0.2)
        except farm.Deadline:
            print(f.cli("status", job_id).output)
            raise
        self.assertIn("not placed:", status.stdout, status.output)
        self.assertIn("no worker can run this task", status.stdout, status.output)

        job = f.get_job(job_id)
        by_stage = {}
        for t in job.tasks:
            by_stage.setdefault(t.stage, []).append(t)
        farm.wait_for(lambda: all(t.state == farm.TASK_SUCCEEDED
                                  for t in f.get_job(job_id).tasks if t.stage == "ok"),
                      60, "the runnable stage to finish")
        job = f.get_job(job_id)
        for t in job.tasks:
            if t.stage == "nomodel":
                self.assertEqual(t.state, farm.TASK_QUEUED)
                self.assertIn("no-such-model", t.message)
            elif t.stage == "notag":
                self.assertEqual(t.state, farm.TASK_QUEUED)
                self.assertIn("a100", t.message)
        self.assertEqual(job.job.state, farm.types_pb2.JOB_STATE_ACTIVE)

        # A worker that can run it clears the reason and runs the task.
        f.start_worker("w2", tags=("a100",))
        farm.wait_for(lambda: all(t.state == farm.TASK_SUCCEEDED
                                  for t in f.get_job(job_id).tasks if t.stage == "notag"),
                      60, "the tagged stage to run on the new worker")
        status = f.cli("status", job_id, check=True)
        self.assertNotIn("lacks tag 'a100'", status.stdout, status.output)
        self.assertIn("does not have model 'no-such-model'", status.stdout, status.output)


if __name__ == "__main__":
    unittest.main()
