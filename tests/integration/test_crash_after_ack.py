"""Acknowledged means durable: SIGKILL the scheduler at a random moment 0-1000 ms after
it acknowledged a burst of submissions (small jobs and one 200,000-task job), restart it on
the same data dir, and check that every acknowledged job is there with all its tasks, in
states dispatch acts on, that the scheduler starts every round, and that no job id is
reused. At the end a scripted worker runs every small job to completion.

Raw gRPC (generated stubs), the real genfarm-scheduler and its SQLite store.
"""

import os
import random
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import genfarm_testlib as lib  # noqa: E402
from integration_farm import SchedulerProcess, job_state_name, start_scripted_worker  # noqa: E402
from genfarm.v1 import job_service_pb2, types_pb2  # noqa: E402

ROUNDS = int(os.environ.get("GENFARM_CRASH_ROUNDS", "20"))
BIG_FRAMES = 200_000
# States the core acts on after a restart (waiting only while a job waits on another job).
LIVE_STATES = {"queued", "blocked", "running", "succeeded", "failed", "canceled"}


def spec(name, frames, chunk=1):
    s = types_pb2.JobSpec(name=name, project="crash")
    stage = s.stages.add()
    stage.name = "upres"
    stage.model = "esrgan-slim-x2"
    stage.input = "in/plate.####.exr"
    stage.output = "out/upres.####.exr"
    stage.frames = frames
    stage.chunk = chunk
    return s


class CrashAfterAckTest(unittest.TestCase):
    def test_every_acknowledged_job_survives_a_sigkill(self):
        rng = random.Random(int(os.environ.get("GENFARM_CRASH_SEED", "10")))
        with tempfile.TemporaryDirectory() as tmp:
            procs = lib.ProcessGroup(tmp)
            sched = SchedulerProcess(procs, os.path.join(tmp, "data"))
            acked = {}  # job id -> expected task count
            try:
                sched.start()
                for round_no in range(ROUNDS):
                    before = {j.id for j in sched.list_jobs()}
                    burst = [(f"small-{round_no}-{i}", f"1-{rng.randint(1, 40)}") for i in range(5)]
                    big_at = rng.randrange(len(burst) + 1)
                    burst.insert(big_at, (f"big-{round_no}", f"1-{BIG_FRAMES}"))
                    for name, frames in burst:
                        n = int(frames.split("-")[1])
                        resp = sched.jobs.SubmitJob(
                            job_service_pb2.SubmitJobRequest(spec=spec(name, frames)), timeout=120)
                        self.assertNotIn(resp.job_id, acked, "a job id was handed out twice")
                        self.assertNotIn(resp.job_id, before)
                        acked[resp.job_id] = n
                    # SIGKILL at a random moment after the acks.
                    time.sleep(rng.uniform(0.0, 1.0))
                    sched.kill()
                    sched.start(timeout=120)  # starts every round
                    jobs = {j.id: j for j in sched.list_jobs()}
                    for job_id, tasks in acked.items():
                        self.assertIn(job_id, jobs, f"round {round_no}: acknowledged job {job_id} lost")
                        job = sched.get_job(job_id, include_tasks=False).job
                        stage = job.stages[0]
                        self.assertEqual(stage.tasks_total, tasks,
                                         f"round {round_no}: job {job_id} torn")
                        states = set(k for k, v in stage.tasks_by_state.items() if v > 0)
                        self.assertLessEqual(states, LIVE_STATES,
                                             f"round {round_no}: job {job_id} stranded: {dict(stage.tasks_by_state)}")
                        self.assertNotIn(job_state_name(job.state), ("JOB_STATE_FAILED",),
                                         f"job {job_id}: {job.message}")
                    # Big jobs would take too long to render here: cancel them durably so the
                    # next round's restart is not dominated by them.
                    for job_id, tasks in acked.items():
                        if tasks == BIG_FRAMES:
                            sched.jobs.CancelJob(job_service_pb2.JobRequest(job_id=job_id), timeout=60)
                # The small jobs run to completion on a scripted worker.
                worker = start_scripted_worker(procs, sched.address, "w1",
                                               os.path.join(tmp, "w1.jsonl"),
                                               out_dir=os.path.join(tmp, "out"), slots=8,
                                               frame_seconds=0.001, models=("esrgan-slim-x2",))
                try:
                    small = [j for j, n in acked.items() if n != BIG_FRAMES]

                    def all_done():
                        return all(sched.get_job(j, include_tasks=False).job.state ==
                                   types_pb2.JOB_STATE_SUCCEEDED for j in small)

                    lib.wait_for(all_done, 240, "every acknowledged small job to succeed")
                finally:
                    worker.stop()
                print(f"{ROUNDS} rounds, {len(acked)} acknowledged jobs, all present and whole")
            except Exception:
                procs.dump_logs()
                raise
            finally:
                sched.stop()
                procs.stop_all()


if __name__ == "__main__":
    unittest.main()
