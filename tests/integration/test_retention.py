"""Retention and what recovery must keep, with a real genfarm-scheduler and scripted workers:

  * `genfarm delete JOB`: a finished job is gone from memory and from the store (its tasks and
    logs too), stays gone after a restart, and its id is never handed out again; a running job
    or an unknown one is refused, naming why.
  * `--retain_finished`: jobs that ended longer ago are deleted on their own, running ones kept.
  * A drained worker stays drained across a scheduler restart.
  * Damaged rows (written with sqlite3 while the scheduler is down) quarantine their own job
    only: it comes back failed, saying which row and field, and every other job is served.

Run: ctest -R integration.test_retention --output-on-failure
"""

import os
import sqlite3
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import genfarm_testlib as lib  # noqa: E402  (puts build/python on the path)
import genfarm  # noqa: E402  (the Python client)
from test_scheduler_restart import IntegrationTestCase  # noqa: E402
from genfarm.v1 import farm_service_pb2  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402

MODEL = "esrgan-slim-x2"


def spec(name, frames, chunk=1):
    s = types_pb2.JobSpec(name=name, project="retention")
    stage = s.stages.add()
    stage.name = "upres"
    stage.model = MODEL
    stage.input = "in/plate.####.exr"
    stage.output = "out/upres.####.exr"
    stage.frames = frames
    stage.chunk = chunk
    return s


class RetentionTest(IntegrationTestCase):

    def submit(self, name, frames):
        return self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec(name, frames)),
                                             timeout=lib.RPC_TIMEOUT).job_id

    def wait_state(self, job_id, state, timeout=60):
        def reached():
            job = self.scheduler.get_job(job_id, include_tasks=False).job
            return job if job.state == state else None
        return lib.wait_for(reached, timeout, f"job {job_id} to be {types_pb2.JobState.Name(state)}")

    def db_count(self, sql, *args):
        with sqlite3.connect(os.path.join(self.scheduler.data_dir, "genfarm.db")) as db:
            return db.execute(sql, args).fetchone()[0]

    def test_deleted_job_is_gone_after_a_restart_and_its_id_is_not_reused(self):
        kept = self.submit("kept", "1-4")
        doomed = self.submit("doomed", "1-6")  # the newest: its id must not come free
        self.start_worker("w1", slots=2, models=(MODEL,))
        self.wait_state(kept, types_pb2.JOB_STATE_SUCCEEDED)
        self.wait_state(doomed, types_pb2.JOB_STATE_SUCCEEDED)

        result = lib.run_cli(self.scheduler.address, "delete", doomed)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"deleted job {doomed} (doomed, succeeded)", result.stdout)
        with self.assertRaises(grpc.RpcError) as gone:
            self.scheduler.get_job(doomed)
        self.assertEqual(gone.exception.code(), grpc.StatusCode.NOT_FOUND)
        # The reply came after the commit: the store no longer has it either.
        self.assertEqual(self.db_count("SELECT count(*) FROM tasks WHERE job_id = ?", doomed), 0)
        self.assertEqual(self.db_count("SELECT count(*) FROM jobs WHERE id = ?", doomed), 0)
        self.assertEqual(self.db_count("SELECT count(*) FROM logs WHERE job_id = ?", doomed), 0)

        # Refusals name why, and do not stop the other ids on the command line.
        running = self.submit("running", "1-2000")
        self.wait_state(running, types_pb2.JOB_STATE_ACTIVE)
        result = lib.run_cli(self.scheduler.address, "delete", running, 999999, kept)
        self.assertEqual(result.returncode, 2, result.stdout)
        self.assertIn(f"job {running} is active", result.stderr)
        self.assertIn("job 999999 not found", result.stderr)
        self.assertIn(f"deleted job {kept}", result.stdout)
        # The Python client deletes too.
        client = genfarm.Client(self.scheduler.address)
        client.cancel(running)
        self.assertEqual(client.delete(running).id, running)
        with self.assertRaises(genfarm.GenFarmError):
            client.delete(running)

        self.scheduler.stop()
        self.scheduler.start()
        self.assertEqual(self.scheduler.list_jobs(), [])
        fresh = self.submit("fresh", "1-2")
        self.assertEqual(fresh, running + 1, "a deleted job's id was handed out again")
        self.assertGreater(fresh, doomed)

    def test_retain_finished_deletes_jobs_that_ended_long_enough_ago(self):
        self.scheduler.stop()
        self.scheduler.args.append("--retain_finished=2s")
        self.scheduler.start()
        done = self.submit("done", "1-2")
        self.start_worker("w1", slots=2, models=(MODEL,))
        self.wait_state(done, types_pb2.JOB_STATE_SUCCEEDED)
        self.scheduler.farm.DrainWorker(farm_service_pb2.DrainWorkerRequest(worker_id="w1"),
                                        timeout=lib.RPC_TIMEOUT)
        waiting = self.submit("waiting", "1-2")  # never runs: the only worker is drained

        def deleted():
            return done not in [j.id for j in self.scheduler.list_jobs()]
        lib.wait_for(deleted, 30, f"job {done} to be deleted by retention")
        self.assertEqual(self.db_count("SELECT count(*) FROM tasks WHERE job_id = ?", done), 0)

        # After a restart: still gone, the drain still holds, the unfinished job kept.
        self.scheduler.stop()
        self.scheduler.start()
        self.assertEqual([j.id for j in self.scheduler.list_jobs()], [waiting])

        def drained():
            workers = self.scheduler.farm.ListWorkers(
                farm_service_pb2.ListWorkersRequest(include_offline=True), timeout=lib.RPC_TIMEOUT).workers
            w1 = [w for w in workers if w.id == "w1"]
            return w1 and w1[0].state == types_pb2.WORKER_STATE_DRAINING
        lib.wait_for(drained, 30, "w1 to reconnect, drained")
        job = self.scheduler.get_job(waiting)
        self.assertTrue(all(t.state == types_pb2.TASK_STATE_QUEUED for t in job.tasks),
                        [t.state for t in job.tasks])
        self.assertEqual(self.submit("next", "1"), waiting + 1)

    def test_damaged_rows_quarantine_their_own_job_and_the_rest_is_served(self):
        bad_spec = self.submit("bad-spec", "1-2")
        bad_task = self.submit("bad-task", "1-2")
        bad_state = self.submit("bad-state", "1-2")
        good = self.submit("good", "1-3")
        self.scheduler.stop()
        with sqlite3.connect(os.path.join(self.scheduler.data_dir, "genfarm.db")) as db:
            db.execute("UPDATE jobs SET spec = x'ffffffff' WHERE id = ?", (bad_spec,))
            db.execute("UPDATE tasks SET frames = 'garbage' WHERE job_id = ? AND idx = 1", (bad_task,))
            db.execute("UPDATE jobs SET state = 77 WHERE id = ?", (bad_state,))
        self.scheduler.start()

        expected = {
            bad_spec: f"quarantined at recovery: jobs row {bad_spec}: spec is unreadable",
            bad_task: f"quarantined at recovery: tasks row {bad_task}/1: frames \"garbage\"",
            bad_state: f"quarantined at recovery: jobs row {bad_state}: state 77 is not a job state",
        }
        for job_id, message in expected.items():
            job = self.scheduler.get_job(job_id).job
            self.assertEqual(job.state, types_pb2.JOB_STATE_FAILED, job_id)
            self.assertIn(message, job.message)
            self.assertIn(message, self.scheduler.log_tail(200))
        status = lib.run_cli(self.scheduler.address, "status", bad_task)
        self.assertIn("quarantined at recovery", status.stdout + status.stderr)

        self.start_worker("w1", slots=2, models=(MODEL,))
        self.wait_state(good, types_pb2.JOB_STATE_SUCCEEDED)
        # A quarantined job can be deleted like any ended one, damaged rows and all.
        result = lib.run_cli(self.scheduler.address, "delete", bad_spec, bad_task, bad_state)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.scheduler.stop()
        self.scheduler.start()
        self.assertEqual([j.id for j in self.scheduler.list_jobs()], [good])


if __name__ == "__main__":
    unittest.main()
