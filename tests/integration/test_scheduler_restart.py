"""Integration tests of the real genfarm-scheduler with scripted workers over real gRPC.

  * SIGKILL the scheduler halfway through examples/sh010_upres_retime.yaml, restart it on the
    same data dir and port: the job comes back with the same id, spec and tasks, the worker
    reconnects and reclaims its running attempts, the job finishes, and no task whose success
    was recorded before the kill is ever assigned again.
  * Idempotency keys: the same key submitted twice (also across a restart) is one job.
  * Bad specs: the CLI refuses them with the field named; the scheduler refuses them over gRPC
    too, and keeps serving.
  * Stale results: a Result for an attempt a worker was never given, an old attempt, another
    worker's attempt or the wrong task changes nothing.

Run: ctest -R integration --output-on-failure   (or, from this directory,
PYTHONPATH=<build>/python:<source>/tests/lib GENFARM_BIN_DIR=<build> /usr/bin/python3 -m unittest -v test_scheduler_restart)
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import genfarm_testlib as lib  # noqa: E402
import scripted_worker  # noqa: E402
from integration_farm import SchedulerProcess, start_scripted_worker, task_state_name  # noqa: E402
from genfarm.v1 import farm_service_pb2  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402
from genfarm.v1 import worker_service_pb2  # noqa: E402

EXAMPLE = os.path.join(lib.SOURCE_DIR, "examples", "sh010_upres_retime.yaml")
MODELS = ("esrgan-slim-x2", "rife-v4.6")
SUCCEEDED = types_pb2.TASK_STATE_SUCCEEDED
RUNNING = types_pb2.TASK_STATE_RUNNING


class IntegrationTestCase(unittest.TestCase):
    """A temp dir, a scheduler in it, and cleanup that always kills what was started."""

    def setUp(self):
        self.started = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix=f"genfarm-{self._testMethodName}-")
        self.procs = lib.ProcessGroup(self.tmp)  # every child and its log (<tmp>/<name>.log)
        self.scheduler = SchedulerProcess(self.procs, os.path.join(self.tmp, "data"))
        self.addCleanup(self._cleanup)
        self.scheduler.start()

    def _cleanup(self):
        self.scheduler.stop()
        self.procs.stop_all()
        if lib.test_failed(self) or os.environ.get("GENFARM_KEEP_TEST_DIRS"):
            self.procs.dump_logs(lines=40)
        if os.environ.get("GENFARM_KEEP_TEST_DIRS"):
            sys.stderr.write(f"kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        sys.stderr.write(f"[{self.id()}: {time.monotonic() - self.started:.1f} s]\n")

    def start_worker(self, worker_id, **kwargs):
        journal = os.path.join(self.tmp, f"{worker_id}.jsonl")
        worker = start_scripted_worker(self.procs, self.scheduler.address, worker_id, journal,
                                       **kwargs)
        self.addCleanup(worker.stop, timeout=10)
        return worker, journal

    def submit_cli(self, path, key):
        result = lib.run_cli(self.scheduler.address, "submit", path, "--idempotency-key", key, "--json")
        self.assertEqual(result.returncode, 0, f"genfarm submit failed: {result.stderr}")
        return json.loads(result.stdout)["job_id"], result

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def fail_with_logs(self, message):
        self.procs.dump_logs(lines=40)
        self.fail(message)


class SchedulerRestartTest(IntegrationTestCase):

    def test_sigkill_midway_recovers_job_and_never_reruns_succeeded_tasks(self):
        job_id, _ = self.submit_cli(EXAMPLE, "sh010-restart-test")
        submitted = self.scheduler.get_job(job_id)
        spec = submitted.job.spec
        n_tasks = len(submitted.tasks)
        self.assertEqual([s.name for s in spec.stages], ["upres", "retime", "dailies"])
        self.assertEqual(spec.stages[2].kind, types_pb2.STAGE_KIND_DAILIES)
        self.assertEqual(n_tasks, 12 + 12 + 1)

        out_dir = os.path.join(self.tmp, "out")
        _, journal = self.start_worker("w1", slots=2, frame_seconds=0.03, models=MODELS, out_dir=out_dir)

        def half_done():
            response = self.scheduler.get_job(job_id)
            done = sum(t.state == SUCCEEDED for t in response.tasks)
            running = sum(t.state == RUNNING for t in response.tasks)
            # Kill while something is running, so the reconnect has attempts to reclaim.
            return response if done >= n_tasks // 2 and running > 0 else None

        before = lib.wait_for(half_done, 60, "half of the tasks to succeed")
        self.scheduler.kill()
        succeeded_before = {t.index: t.attempt_id for t in before.tasks if t.state == SUCCEEDED}
        running_before = {t.index: t.attempt_id for t in before.tasks if t.state == RUNNING}
        self.assertLess(len(succeeded_before), n_tasks)
        kill_conn = max(e["conn"] for e in scripted_worker.read_journal(journal))

        self.scheduler.start()
        # The job is back before any worker reconnects: same id, spec and task list.
        recovered = self.scheduler.get_job(job_id)
        self.assertEqual(recovered.job.id, job_id)
        self.assertEqual(recovered.job.spec, spec)
        self.assertEqual(len(recovered.tasks), n_tasks)
        for task in recovered.tasks:
            if task.index in succeeded_before:
                self.assertEqual(task.state, SUCCEEDED, f"task {task.index} lost its success in the restart")
                self.assertEqual(task.attempt_id, succeeded_before[task.index])
        # A restart does not forget idempotency keys.
        again, result = self.submit_cli(EXAMPLE, "sh010-restart-test")
        self.assertEqual(again, job_id)
        self.assertIn("already submitted", result.stderr)

        final = lib.wait_for(
            lambda: (lambda r: r if r.job.state == types_pb2.JOB_STATE_SUCCEEDED else None)(
                self.scheduler.get_job(job_id)),
            90, "the job to succeed after the restart")

        self.assertEqual(final.job.id, job_id)
        self.assertEqual(final.job.spec, spec)
        self.assertEqual(len(final.tasks), n_tasks)
        not_done = [(t.index, task_state_name(t.state), t.message) for t in final.tasks if t.state != SUCCEEDED]
        self.assertEqual(not_done, [])
        for stage in final.job.stages:
            self.assertEqual(stage.frames_done, stage.frames_total, stage.name)
        self.assertEqual(len(self.scheduler.list_jobs()), 1)

        events = scripted_worker.read_journal(journal)
        assigns = [e for e in events if e["event"] == "assign" and e["job"] == job_id]
        reconnects = [e for e in events if e["event"] == "connect" and e["conn"] > kill_conn]
        self.assertTrue(any(e["event"] == "welcome" and e["conn"] > kill_conn for e in events),
                        "the worker never got a Welcome after the restart")
        # The core property: nothing recorded as succeeded before the kill ran again.
        rerun = sorted({e["task"] for e in assigns if e["conn"] > kill_conn and e["task"] in succeeded_before})
        self.assertEqual(rerun, [], "tasks that had succeeded before the kill were assigned again after it")
        for index in succeeded_before:
            self.assertEqual([e["attempt"] for e in assigns if e["task"] == index], [succeeded_before[index]],
                             f"task {index} ran more than once")
        # Every task's final attempt is one this worker ran and reported as a success.
        successes = {(e["task"], e["attempt"]) for e in events if e["event"] == "result" and e["success"]}
        for task in final.tasks:
            self.assertIn((task.index, task.attempt_id), successes, f"task {task.index}")
        # Attempts the worker reclaimed in its Hello were honoured, not run a second time.
        claimed = set(reconnects[0]["running_attempts"]) if reconnects else set()
        for task in final.tasks:
            if task.index in running_before and running_before[task.index] in claimed:
                self.assertEqual(task.attempt_id, running_before[task.index],
                                 f"task {task.index}: reclaimed attempt was replaced")
        # And the frames were all "rendered".
        for task in final.tasks:
            if task.stage == "dailies":
                continue
            for frame in task.frames:
                path = os.path.join(out_dir, str(job_id), task.stage, f"{frame}.done")
                self.assertTrue(os.path.exists(path), path)
        sys.stderr.write(f"restart test: {len(succeeded_before)} of {n_tasks} tasks done and "
                         f"{len(running_before)} running at the kill; worker reclaimed {sorted(claimed)}\n")


class IdempotencyTest(IntegrationTestCase):

    def test_same_key_twice_is_one_job(self):
        first, result = self.submit_cli(EXAMPLE, "dailies-ci-42")
        self.assertIn("submitted job", result.stderr)
        second, result = self.submit_cli(EXAMPLE, "dailies-ci-42")
        self.assertEqual(second, first)
        self.assertIn("already submitted", result.stderr)
        # gRPC says so explicitly.
        spec = self.scheduler.get_job(first).job.spec
        response = self.scheduler.jobs.SubmitJob(
            job_service_pb2.SubmitJobRequest(spec=spec, idempotency_key="dailies-ci-42"), timeout=lib.RPC_TIMEOUT)
        self.assertEqual(response.job_id, first)
        self.assertFalse(response.created)
        self.assertEqual([j.id for j in self.scheduler.list_jobs()], [first])
        listed = lib.run_cli(self.scheduler.address, "jobs")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(listed.stdout.count("sh010_upres_retime"), 1, listed.stdout)
        # A different key is a different job.
        third, _ = self.submit_cli(EXAMPLE, "dailies-ci-43")
        self.assertNotEqual(third, first)
        self.assertEqual(sorted(j.id for j in self.scheduler.list_jobs()), sorted([first, third]))


_STAGE = """name: bad_spec
project: tests
stages:
  - name: upres
    model: esrgan-slim-x2
    input: plates/p.####.exr
    output: renders/r.####.exr
"""


class BadSpecTest(IntegrationTestCase):

    CASES = {
        # name: (yaml, words stderr must contain)
        "malformed": ("name: [unclosed\nproject: tests\n", ["line 2"]),
        "unknown_field": (_STAGE + "    frames: 1-10\n    chunck: 8\n", ["chunck", "stages[0]"]),
        "empty_frames": (_STAGE + '    frames: ""\n', ["stages[0].frames"]),
        "chunk_zero": (_STAGE + "    frames: 1-10\n    chunk: 0\n", ["stages[0].chunk", "got 0"]),
        "ten_million_frames": (_STAGE + "    frames: 1-10000000\n    chunk: 10000\n", ["stages[0].frames", "10000000"]),
    }

    def test_cli_rejects_bad_specs_with_the_field_named(self):
        for name, (text, words) in self.CASES.items():
            with self.subTest(name):
                path = self.write(f"{name}.yaml", text)
                result = lib.run_cli(self.scheduler.address, "submit", path, "--idempotency-key", name)
                self.assertNotEqual(result.returncode, 0, f"{name}: accepted:\n{result.stdout}")
                self.assertIn(f"{name}.yaml", result.stderr)
                for word in words:
                    self.assertIn(word, result.stderr, f"{name}: stderr does not name '{word}'")
                self.assertEqual(result.stdout.strip(), "")
        self.assertTrue(self.scheduler.alive())
        self.assertEqual(self.scheduler.list_jobs(), [])
        good = self.write("good.yaml", _STAGE + "    frames: 1-10\n    chunk: 5\n")
        job_id, _ = self.submit_cli(good, "good")
        self.assertEqual(len(self.scheduler.get_job(job_id).tasks), 2)

    def test_scheduler_rejects_bad_specs_over_grpc_and_keeps_serving(self):
        # The CLI checks locally; a client that does not must get the same answers.
        def spec(**stage_fields):
            s = types_pb2.JobSpec(name="bad_spec", project="tests")
            stage = s.stages.add(name="upres", kind=types_pb2.STAGE_KIND_MODEL, model="esrgan-slim-x2",
                                 input="plates/p.####.exr", output="renders/r.####.exr", frames="1-10", chunk=1)
            for key, value in stage_fields.items():
                setattr(stage, key, value)
            return s

        cases = {
            "empty_frames": (spec(frames=""), "frames"),
            "bad_frames": (spec(frames="10-1x"), "frames"),
            "chunk_zero": (spec(chunk=0), "chunk"),
            "negative_chunk": (spec(chunk=-5), "chunk"),
            "ten_million_frames": (spec(frames="1-10000000", chunk=10000), "frames"),
            "ten_million_frames_chunk_1": (spec(frames="1-10000000"), "frames"),
            "no_stages": (types_pb2.JobSpec(name="bad_spec", project="tests"), "stages"),
        }
        for name, (bad, field) in cases.items():
            with self.subTest(name):
                with self.assertRaises(grpc.RpcError) as raised:
                    self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=bad, idempotency_key=name),
                                                  timeout=lib.RPC_TIMEOUT)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, raised.exception.details())
                self.assertIn(field, raised.exception.details())
        self.assertTrue(self.scheduler.alive(), self.scheduler.log_tail())
        self.assertEqual(self.scheduler.list_jobs(), [])
        ok = self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec(), idempotency_key="ok"),
                                           timeout=lib.RPC_TIMEOUT)
        self.assertTrue(ok.created)
        # A key that failed validation was not burnt: it can be used for a valid spec.
        reused = self.scheduler.jobs.SubmitJob(
            job_service_pb2.SubmitJobRequest(spec=spec(), idempotency_key="chunk_zero"), timeout=lib.RPC_TIMEOUT)
        self.assertTrue(reused.created)
        self.assertNotEqual(reused.job_id, ok.job_id)


class StaleAttemptTest(IntegrationTestCase):
    """Results are fenced by attempt id, by the worker the attempt went to, and by job/task."""

    def submit_one_task_job(self, name, frame, tags=()):
        spec = types_pb2.JobSpec(name=name, project="tests")
        spec.stages.add(name="upres", kind=types_pb2.STAGE_KIND_MODEL, model="esrgan-slim-x2",
                        input="plates/p.####.exr", output=f"renders/{name}.####.exr", frames=str(frame),
                        chunk=1, retries=2, tags=list(tags))
        return self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                             timeout=lib.RPC_TIMEOUT).job_id

    def stream(self, hello):
        s = scripted_worker.RawStream(self.scheduler.address)
        self.addCleanup(s.close, 1.0)
        s.send(hello)
        s.expect("welcome", 10)
        return s

    def task(self, job_id):
        return self.scheduler.get_job(job_id).tasks[0]

    def snapshot(self, job_id):
        t = self.task(job_id)
        return (task_state_name(t.state), t.attempt_id, t.attempts, t.worker, t.frames_done)

    def barrier(self, stream, assignment, frames_done):
        """Returns once the scheduler has handled everything `stream` sent before: a Progress
        from the owner of `assignment` is handled in order and shows up in GetJob."""
        stream.send(worker_service_pb2.WorkerMessage(progress=worker_service_pb2.Progress(
            attempt_id=assignment.attempt_id, job_id=assignment.job_id, task_index=assignment.task_index,
            frames_done=frames_done)))
        lib.wait_for(lambda: self.task(assignment.job_id).frames_done == frames_done, 10,
                       f"progress {frames_done} of attempt {assignment.attempt_id}")

    @staticmethod
    def result(attempt_id, job_id, task_index=0, success=True):
        return worker_service_pb2.WorkerMessage(result=worker_service_pb2.Result(
            attempt_id=attempt_id, job_id=job_id, task_index=task_index, success=success,
            failure_reason=types_pb2.FAILURE_REASON_UNSPECIFIED if success else types_pb2.FAILURE_REASON_MODEL_ERROR,
            message="" if success else "frame 1: scripted failure"))

    def test_stale_and_foreign_results_change_nothing(self):
        job_a = self.submit_one_task_job("stale_a", 1)
        owner = self.stream(scripted_worker.hello_message("owner", slots=1, models=["esrgan-slim-x2"]))
        first = owner.expect("assign", 10)
        self.assertEqual((first.job_id, first.task_index), (job_a, 0))
        # Job B stays queued: it needs a tag no worker has.
        job_b = self.submit_one_task_job("stale_b", 5, tags=["nobody-has-this"])
        lib.wait_for(lambda: self.task(job_a).state == RUNNING, 10, "job A's task to run")
        running = self.snapshot(job_a)
        self.assertEqual(running[:2], ("TASK_STATE_RUNNING", first.attempt_id))
        queued_b = self.snapshot(job_b)
        self.assertEqual(queued_b[0], "TASK_STATE_QUEUED")

        # 1. An attempt id the worker was never given (with the right job and task).
        owner.send(self.result(first.attempt_id + 1000, job_a))
        # 2. The right attempt id, but naming another job, or a task the job does not have.
        owner.send(self.result(first.attempt_id, job_b))
        owner.send(self.result(first.attempt_id, job_a, task_index=1))
        self.barrier(owner, first, 1)
        self.assertEqual(self.snapshot(job_a), running[:4] + (1,))
        self.assertEqual(self.snapshot(job_b), queued_b)

        # 3. Another worker claims the owner's attempt in its hello and sends its success.
        intruder = self.stream(scripted_worker.hello_message("intruder", slots=0,
                                                             running_attempts=[first.attempt_id]))
        cancel = intruder.expect("cancel", 10)  # "that attempt is not yours: stop it"
        self.assertEqual(cancel.attempt_id, first.attempt_id)
        intruder.send(self.result(first.attempt_id, job_a))
        intruder.close()  # the scheduler handles the stream's messages before it sees it end

        def intruder_offline():
            workers = self.scheduler.farm.ListWorkers(farm_service_pb2.ListWorkersRequest(include_offline=True),
                                                      timeout=lib.RPC_TIMEOUT).workers
            return [w.state for w in workers if w.id == "intruder"] == [types_pb2.WORKER_STATE_OFFLINE]

        lib.wait_for(intruder_offline, 10, "the intruder to go offline")
        self.assertEqual(self.snapshot(job_a), running[:4] + (1,))

        # 4. The attempt fails for real: after the backoff the task runs again as a new attempt.
        owner.send(self.result(first.attempt_id, job_a, success=False))
        second = owner.expect("assign", 10)
        self.assertEqual((second.job_id, second.task_index), (job_a, 0))
        self.assertNotEqual(second.attempt_id, first.attempt_id)
        lib.wait_for(lambda: self.task(job_a).attempt_id == second.attempt_id, 10, "the retry to run")
        retry = self.snapshot(job_a)
        self.assertEqual(retry[0], "TASK_STATE_RUNNING")
        self.assertEqual(retry[2], 2)

        # 5. A late success of the failed first attempt changes nothing.
        owner.send(self.result(first.attempt_id, job_a))
        self.barrier(owner, second, 1)
        self.assertEqual(self.snapshot(job_a), retry[:4] + (1,))
        self.assertEqual(self.snapshot(job_b), queued_b)

        # 6. The real success lands; a duplicate failure of it afterwards changes nothing.
        owner.send(self.result(second.attempt_id, job_a))
        lib.wait_for(lambda: self.task(job_a).state == SUCCEEDED, 10, "job A's success")
        done = self.snapshot(job_a)
        self.assertEqual(self.scheduler.get_job(job_a).job.state, types_pb2.JOB_STATE_SUCCEEDED)
        owner.send(self.result(second.attempt_id, job_a, success=False))
        job_c = self.submit_one_task_job("stale_c", 7)  # something to run, for the barrier
        third = owner.expect("assign", 10)
        self.assertEqual((third.job_id, third.task_index), (job_c, 0))
        self.barrier(owner, third, 1)
        self.assertEqual(self.snapshot(job_a), done)
        self.assertEqual(self.scheduler.get_job(job_a).job.state, types_pb2.JOB_STATE_SUCCEEDED)
        self.assertTrue(self.scheduler.alive())


class ScriptedWorkerTest(IntegrationTestCase):
    """The scripted worker's failure, cancel and drain handling against the real scheduler."""

    def test_failed_frame_is_retried_then_cancel_and_drain_reach_the_worker(self):
        spec = types_pb2.JobSpec(name="retry_me", project="tests")
        spec.stages.add(name="upres", kind=types_pb2.STAGE_KIND_MODEL, model="esrgan-slim-x2",
                        input="plates/p.####.exr", output="renders/r.####.exr", frames="1001-1008", chunk=4,
                        retries=1)
        job_id = self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                               timeout=lib.RPC_TIMEOUT).job_id
        _, journal = self.start_worker("w1", slots=1, frame_seconds=0.01, models=MODELS,
                                       extra_args=["--fail-frames", "1005", "--fail-attempts", "1"])
        final = lib.wait_for(
            lambda: (lambda r: r if r.job.state == types_pb2.JOB_STATE_SUCCEEDED else None)(
                self.scheduler.get_job(job_id)), 30, "the job to succeed after one retry")
        by_index = {t.index: t for t in final.tasks}
        self.assertEqual(by_index[0].attempts, 1)
        self.assertEqual(by_index[1].attempts, 2)  # frames 1005-1008: failed once, retried
        failures = [e for e in scripted_worker.read_journal(journal) if e["event"] == "result" and not e["success"]]
        self.assertEqual([(e["task"], e["reason"]) for e in failures], [(1, "FAILURE_REASON_MODEL_ERROR")])
        log = self.scheduler.jobs.GetTaskLog(job_service_pb2.GetTaskLogRequest(job_id=job_id, task_index=1),
                                             timeout=lib.RPC_TIMEOUT)
        self.assertTrue(any("frame 1005" in line.text for line in log.lines), log)

        # A long job, canceled while running: the worker stops the attempt.
        spec.name = "cancel_me"
        spec.stages[0].frames = "1-400"
        spec.stages[0].chunk = 400
        long_id = self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                                timeout=lib.RPC_TIMEOUT).job_id
        lib.wait_for(lambda: self.scheduler.get_job(long_id).tasks[0].frames_done > 0, 20, "the long task to run")
        self.scheduler.jobs.CancelJob(job_service_pb2.JobRequest(job_id=long_id), timeout=lib.RPC_TIMEOUT)
        lib.wait_for(lambda: [e for e in scripted_worker.read_journal(journal)
                                if e["event"] == "result" and e["job"] == long_id and not e["success"]],
                       10, "the worker to stop the canceled attempt")
        cancels = [e for e in scripted_worker.read_journal(journal) if e["event"] == "cancel"]
        self.assertEqual([c["known"] for c in cancels], [True])

        # Drain reaches the worker; nothing new is assigned to it.
        self.scheduler.farm.DrainWorker(farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT)
        lib.wait_for(lambda: any(e["event"] == "drain" and e["drain"] for e in scripted_worker.read_journal(journal)),
                       10, "the drain to reach the worker")
        spec.name = "after_drain"
        spec.stages[0].frames = "1-2"
        drained_id = self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                                   timeout=lib.RPC_TIMEOUT).job_id
        # Barrier: a newer job only a canary worker can run gets placed, so a placement pass
        # has seen the older after_drain task since it was submitted.
        canary = scripted_worker.RawStream(self.scheduler.address)
        self.addCleanup(canary.close, 1.0)
        canary.send(scripted_worker.hello_message("canary", slots=1, models=["canary-model"]))
        canary.expect("welcome", 10)
        canary_spec = types_pb2.JobSpec(name="canary", project="tests")
        canary_spec.stages.add(name="s", kind=types_pb2.STAGE_KIND_MODEL, model="canary-model",
                               input="a.####.exr", output="b.####.exr", frames="1", chunk=1)
        self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=canary_spec), timeout=lib.RPC_TIMEOUT)
        canary.expect("assign", 10)
        self.assertEqual(self.scheduler.get_job(drained_id).tasks[0].state, types_pb2.TASK_STATE_QUEUED)
        self.assertFalse([e for e in scripted_worker.read_journal(journal)
                          if e["event"] == "assign" and e["job"] == drained_id])
        self.scheduler.farm.DrainWorker(farm_service_pb2.DrainWorkerRequest(worker_id="w1", undrain=True),
                                        timeout=lib.RPC_TIMEOUT)
        lib.wait_for(lambda: self.scheduler.get_job(drained_id).job.state == types_pb2.JOB_STATE_SUCCEEDED,
                       20, "the job to run after undrain")


if __name__ == "__main__":
    unittest.main(verbosity=2)
