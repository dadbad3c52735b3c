"""A corrupt input frame: its task retries, then fails with a message naming the file; the
rest of the job succeeds and `genfarm submit --wait` exits 1. Fixing the frame and running
`genfarm retry JOB --failed` then ends the job in success."""

import json
import os
import unittest

import farm

RETRIES = 2
BAD_FRAME = 2
FRAMES = 30


class CorruptInputTest(farm.FarmTestCase):
    def test_corrupt_frame_fails_its_task_then_retry_failed_succeeds(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w1")
        plates = f.make_plates("plates/p.####.exr", 1, FRAMES)
        bad_path = farm.frame_paths(plates, [BAD_FRAME])[0]
        with open(bad_path, "rb") as fh:
            good_bytes = fh.read()
        with open(bad_path, "wb") as fh:
            fh.write(b"\x76\x2f\x31\x01 this is not an EXR " + os.urandom(512))
        out = f.path("out", "up.####.exr")
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "corrupt_input",
            farm.stage_yaml("upres", "esrgan-slim-x2", plates, out, f"1-{FRAMES}", chunk=1,
                            retries=RETRIES)))

        result = f.cli("submit", spec, "--wait", "--json", timeout=150)
        self.assertEqual(result.returncode, 1, result.output)
        summary = json.loads(result.stdout)
        job_id = summary["job_id"]

        job = f.get_job(job_id)
        self.assertEqual(job.job.state, farm.JOB_FAILED)
        failed = [t for t in job.tasks if t.state == farm.TASK_FAILED]
        self.assertEqual([list(t.frames) for t in failed], [[BAD_FRAME]],
                         "only the corrupt frame's task fails")
        bad = failed[0]
        self.assertEqual(bad.attempts, RETRIES + 1, "the task is retried before it fails")
        self.assertEqual(bad.failure_reason, farm.types_pb2.FAILURE_REASON_INPUT_CORRUPT,
                         bad.message)
        self.assertIn(bad_path, bad.message)
        self.assertIn(str(BAD_FRAME), bad.message)
        good = [fr for fr in range(1, FRAMES + 1) if fr != BAD_FRAME]
        for t in job.tasks:
            if t.index != bad.index:
                self.assertEqual(t.state, farm.TASK_SUCCEEDED, t.message)
        for path in farm.frame_paths(out, good):
            farm.read_image(path)
        self.assertFalse(os.path.exists(farm.frame_paths(out, [BAD_FRAME])[0]))
        self.assertEqual(farm.temp_files(os.path.dirname(out)), [])

        status = f.cli("status", job_id)
        self.assertEqual(status.returncode, 0, status.output)
        self.assertIn("[failed]", status.stdout, status.output)
        self.assertIn(bad_path, status.stdout, status.output)
        # The task log keeps each attempt's failure.
        logs = f.cli("logs", job_id, "--task", bad.index, check=True)
        self.assertGreaterEqual(logs.stdout.count(bad_path), RETRIES + 1, logs.output)

        # Fix the plate and retry only what failed.
        with open(bad_path, "wb") as fh:
            fh.write(good_bytes)
        done_before = {t.index: t.attempt_id for t in job.tasks if t.state == farm.TASK_SUCCEEDED}
        retry = f.cli("retry", job_id, "--failed")
        self.assertEqual(retry.returncode, 0, retry.output)
        wait = f.cli("watch", job_id, timeout=120)
        self.assertEqual(wait.returncode, 0, wait.output)
        final = f.get_job(job_id)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        for t in final.tasks:
            if t.index in done_before:  # succeeded tasks are not run again
                self.assertEqual(t.attempt_id, done_before[t.index], f"task {t.index} re-ran")
        self.assert_frames_valid(out, range(1, FRAMES + 1), width=128, height=96)


if __name__ == "__main__":
    unittest.main()
