"""The real genfarm-scheduler on a real PostgreSQL (--store postgres://...), with a scripted
worker over real gRPC.

  * The test starts its own PostgreSQL: Debian's postgresql-15 initdb in a temp dir, pg_ctl on
    127.0.0.1 at a free port with its unix socket in that dir, run as the system user
    genfarm-test when the test runs as root (initdb refuses root). Skipped, saying why, only
    where the server binaries are missing.
  * A three-stage job runs; the scheduler is SIGKILLed halfway and restarted on the same
    database: the job is back with the same id, spec and tasks, successes recorded before the
    kill are kept, the idempotency key still maps to the job, and the job completes. Task logs
    are served (the scheduler's second store connection).
  * The job is deleted; after a clean restart no job is left and the next job gets a new id
    (the job high water lives in PostgreSQL too). Nothing is written to an SQLite file.

Run: ctest -R integration.test_postgres_store --output-on-failure
"""

import os
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import genfarm_testlib as lib  # noqa: E402
from integration_farm import SchedulerProcess, start_scripted_worker  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402

EXAMPLE = os.path.join(lib.SOURCE_DIR, "examples", "sh010_upres_retime.yaml")
MODELS = ("esrgan-slim-x2", "rife-v4.6")
SUCCEEDED = types_pb2.TASK_STATE_SUCCEEDED
RUNNING = types_pb2.TASK_STATE_RUNNING
PG_BIN = next((d for d in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                           "/usr/lib/postgresql/17/bin")
               if os.path.exists(os.path.join(d, "initdb"))), None)
PG_USER = "genfarm"        # the database superuser initdb creates
OS_USER = "genfarm-test"   # who runs the server when the test runs as root


class TestPostgres:
    """A throwaway PostgreSQL server (the Python twin of tests/scheduler/store/postgres_fixture.h)."""

    def __init__(self):
        # Under the system temp dir, not the test's (0700, root's): the server user must reach
        # it, and the unix socket path must stay short.
        self.dir = tempfile.mkdtemp(prefix="gfpg-")
        self.port = _free_port()
        self.as_user = []
        if os.geteuid() == 0:
            if subprocess.run(["id", "-u", OS_USER], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", OS_USER], check=True, capture_output=True)
            shutil.chown(self.dir, user=OS_USER)
            self.as_user = ["runuser", "-u", OS_USER, "--"]
        self.data = os.path.join(self.dir, "data")
        self._run(self.as_user + [f"{PG_BIN}/initdb", "-D", self.data, "-U", PG_USER, "--auth=trust",
                                  "-E", "UTF8", "--no-locale", "--no-sync"])
        settings = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(self.as_user + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                  os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                                  "-o", settings, "start"])
        self.running = True

    def _run(self, argv):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result.stdout

    def url(self, db):
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{db}"

    def createdb(self, db):
        self._run([f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, db])
        return self.url(db)

    def query(self, db, sql):
        """The first column of the first row of ``sql``, as text."""
        return self._run([f"{PG_BIN}/psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                          "-p", str(self.port), "-U", PG_USER, "-d", db, "-c", sql]).strip()

    def stop(self):
        if self.running:
            self.running = False
            subprocess.run(self.as_user + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate",
                                           "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipIf(PG_BIN is None, "PostgreSQL server binaries not found (/usr/lib/postgresql/15/bin/initdb); "
                 "install Debian's postgresql-15 to run this test")
class PostgresStoreTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="genfarm-pgstore-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.pg = TestPostgres()
        self.addCleanup(self.pg.stop)
        self.url = self.pg.createdb("genfarm")
        self.procs = lib.ProcessGroup(self.tmp)
        self.addCleanup(self._cleanup)
        self.data_dir = os.path.join(self.tmp, "data")
        self.scheduler = SchedulerProcess(self.procs, self.data_dir, extra_args=[f"--store={self.url}"])
        self.scheduler.start()

    def _cleanup(self):
        self.scheduler.stop()
        self.procs.stop_all()
        if lib.test_failed(self):
            self.procs.dump_logs(lines=40)
            sys.stderr.write(open(os.path.join(self.pg.dir, "server.log")).read()[-3000:])

    def submit_cli(self, key):
        result = lib.run_cli(self.scheduler.address, "submit", EXAMPLE, "--idempotency-key", key, "--json")
        self.assertEqual(result.returncode, 0, f"genfarm submit failed: {result.stderr}")
        return json.loads(result.stdout)["job_id"], result

    def sql(self, query):
        return self.pg.query("genfarm", query)

    def test_a_job_survives_a_sigkill_and_ids_are_not_reused(self):
        job_id, _ = self.submit_cli("pg-restart")
        submitted = self.scheduler.get_job(job_id)
        spec, n_tasks = submitted.job.spec, len(submitted.tasks)
        self.assertEqual(self.sql(f"SELECT count(*) FROM tasks WHERE job_id = {job_id}"), str(n_tasks))

        journal = os.path.join(self.tmp, "w1.jsonl")
        worker = start_scripted_worker(self.procs, self.scheduler.address, "w1", journal, slots=2,
                                       frame_seconds=0.03, models=MODELS,
                                       out_dir=os.path.join(self.tmp, "out"))
        self.addCleanup(worker.stop, timeout=10)

        def half_done():
            response = self.scheduler.get_job(job_id)
            done = sum(t.state == SUCCEEDED for t in response.tasks)
            running = sum(t.state == RUNNING for t in response.tasks)
            return response if done >= n_tasks // 2 and running > 0 else None

        before = lib.wait_for(half_done, 60, "half of the tasks to succeed")
        self.scheduler.kill()
        succeeded_before = {t.index: t.attempt_id for t in before.tasks if t.state == SUCCEEDED}

        self.scheduler.start()
        recovered = self.scheduler.get_job(job_id)
        self.assertEqual(recovered.job.spec, spec)
        self.assertEqual(len(recovered.tasks), n_tasks)
        for task in recovered.tasks:
            if task.index in succeeded_before:
                self.assertEqual(task.state, SUCCEEDED, f"task {task.index} lost its success")
                self.assertEqual(task.attempt_id, succeeded_before[task.index])
        again, result = self.submit_cli("pg-restart")
        self.assertEqual(again, job_id)
        self.assertIn("already submitted", result.stderr)

        final = lib.wait_for(
            lambda: (lambda r: r if r.job.state == types_pb2.JOB_STATE_SUCCEEDED else None)(
                self.scheduler.get_job(job_id)),
            90, "the job to succeed after the restart")
        self.assertEqual([t.index for t in final.tasks if t.state != SUCCEEDED], [])
        # Task logs come through the scheduler's second connection.
        logs = lib.run_cli(self.scheduler.address, "logs", str(job_id))
        self.assertEqual(logs.returncode, 0, logs.stderr)
        self.assertIn("scripted worker w1", logs.stdout)
        self.assertGreater(int(self.sql(f"SELECT count(*) FROM logs WHERE job_id = {job_id}")), 0)

        deleted = lib.run_cli(self.scheduler.address, "delete", job_id)
        self.assertEqual(deleted.returncode, 0, deleted.stderr)
        self.assertEqual(self.sql(f"SELECT count(*) FROM tasks WHERE job_id = {job_id}"), "0")
        self.scheduler.stop()
        self.scheduler.start()
        self.assertEqual(self.scheduler.list_jobs(), [])
        fresh = self.scheduler.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                              timeout=lib.RPC_TIMEOUT).job_id
        self.assertGreater(fresh, job_id, "a deleted job's id was handed out again")
        self.assertEqual(self.sql("SELECT value FROM meta WHERE key = 'job_high_water'"), str(fresh))
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "genfarm.db")),
                         "the scheduler wrote an SQLite store although --store named PostgreSQL")
        sys.stderr.write(f"postgres store: {len(succeeded_before)} of {n_tasks} tasks done at the kill; "
                         f"job {job_id} completed, deleted; next id {fresh}\n")


if __name__ == "__main__":
    unittest.main()
