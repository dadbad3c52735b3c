"""High availability, end to end (issue 13, acceptance 2): three genfarm-scheduler --ha on one
real PostgreSQL the test starts, three real genfarm-worker processes (LibTorch models on the
CPU) and the CLI, all given the three scheduler addresses; a two-stage job (upres -> retime).

  * The leader is SIGKILLed twice mid-job. Each time the time from the kill to a standby's
    gRPC health "" SERVING is measured, printed and asserted <= 5 s; the killed scheduler is
    restarted (as a supervisor would) and comes back as a standby. Just before each kill a
    change is acknowledged (a priority change, then a second job): both are there after.
  * The job completes with every frame written once: each output frame carries the attempt id
    the scheduler finally recorded for its task (a stale attempt's write would carry another).
  * The leader is SIGSTOPped past its lease; a standby takes over; the old one is SIGCONTed:
    the store shows no commit of the old epoch after the new epoch was acquired, and the old
    one reports itself a standby (health NOT_SERVING, liveness SERVING) soon after.

Skipped, saying why, only where the PostgreSQL server binaries are missing.

Run: ctest -R integration.test_failover --output-on-failure
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import grpc  # noqa: E402

import genfarm  # noqa: E402
import genfarm_testlib as lib  # noqa: E402
from genfarm.v1 import job_service_pb2  # noqa: E402
from genfarm.v1 import job_service_pb2_grpc  # noqa: E402
from genfarm.v1 import types_pb2  # noqa: E402
from test_postgres_store import PG_BIN, TestPostgres, _free_port  # noqa: E402

import farm  # noqa: E402  (tests/e2e: spec and output-frame helpers)

FRAMES = 32
TAKEOVER_LIMIT_S = 5.0
SCHEDULER_FLAGS = ("--lease_seconds=15", "--heartbeat_seconds=0.5", "--retry_backoff_seconds=0.2",
                   "--retry_backoff_max_seconds=1")
SUCCEEDED = types_pb2.TASK_STATE_SUCCEEDED
RUNNING = types_pb2.TASK_STATE_RUNNING
QUEUED = types_pb2.TASK_STATE_QUEUED


def health(port, service="", ca=None):
    """grpc.health.v1 Check of ``service`` on 127.0.0.1:``port`` (TLS verified against ``ca``
    when given): 'SERVING', 'NOT_SERVING', or None when nothing answers. The request and reply
    are encoded by hand (one field each): Debian ships no grpc_health module."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    if ca:
        with open(ca, "rb") as f:
            channel = grpc.secure_channel(f"127.0.0.1:{port}",
                                          grpc.ssl_channel_credentials(f.read()), options)
    else:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
    request = (b"\x0a" + bytes([len(service)]) + service.encode()) if service else b""
    try:
        reply = channel.unary_unary("/grpc.health.v1.Health/Check")(request, timeout=0.5)
    except grpc.RpcError:
        return None
    finally:
        channel.close()
    return {b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(reply, repr(reply))


class HaScheduler:
    """One genfarm-scheduler --ha on a fixed port (restartable in place)."""

    def __init__(self, procs, name, port, data_dir, url, extra=(), ca=None):
        self.procs, self.name, self.port, self.ca = procs, name, port, ca
        self.argv = [lib.binary("scheduler", "genfarm-scheduler"), "--ha", f"--store={url}",
                     f"--listen=127.0.0.1:{port}", "--http=127.0.0.1:0", f"--data_dir={data_dir}",
                     *SCHEDULER_FLAGS, *extra]
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        label = f"{self.name}-{self.runs}"
        port_file = os.path.join(self.procs.log_dir, f"{label}.ports")
        self.proc = self.procs.spawn(label, self.argv + [f"--port_file={port_file}"])
        ports = lib.wait_port_file(port_file, self.proc, 30)
        assert ports["grpc_port"] == self.port, (ports, self.port)
        return self

    def health(self, service=""):
        return health(self.port, service, self.ca)


@unittest.skipIf(PG_BIN is None, "PostgreSQL server binaries not found (/usr/lib/postgresql/15/bin/"
                 "initdb); install Debian's postgresql-15 to run the failover test")
class FailoverTest(unittest.TestCase):

    def setUp(self):
        for parts in (("scheduler", "genfarm-scheduler"), ("worker", "genfarm-worker"),
                      ("client", "genfarm")):
            try:
                lib.binary(*parts)
            except FileNotFoundError as e:
                self.skipTest(str(e))
        self.client = None
        self.tmp = tempfile.mkdtemp(prefix="genfarm-failover-")
        self.pg = TestPostgres()
        self.url = self.pg.createdb("genfarm")
        self.procs = lib.ProcessGroup(self.tmp)
        self.addCleanup(self._cleanup)
        ports = [_free_port() for _ in range(3)]
        self.schedulers = [HaScheduler(self.procs, f"sched{i}", port,
                                       os.path.join(self.tmp, f"data{i}"), self.url)
                           for i, port in enumerate(ports)]
        self.addresses = ",".join(f"127.0.0.1:{p}" for p in ports)

    def _cleanup(self):
        if self.client is not None:
            self.client.close()
        self.procs.stop_all()
        failed = lib.test_failed(self)
        if failed:
            self.procs.dump_logs(lines=40)
            with open(os.path.join(self.pg.dir, "server.log")) as f:
                sys.stderr.write(f.read()[-3000:])
        self.pg.stop()
        if failed:
            sys.stderr.write(f"kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------

    def sql(self, query):
        return self.pg.query("genfarm", query)

    def leader(self, among=None):
        """The one scheduler whose health "" is SERVING (asserts there is at most one)."""
        serving = [s for s in (among or self.schedulers) if s.proc.alive() and
                   s.health() == "SERVING"]
        self.assertLessEqual(len(serving), 1, f"two leaders: {[s.name for s in serving]}")
        return serving[0] if serving else None

    def wait_leader(self, among=None, timeout=30):
        return lib.wait_for(lambda: self.leader(among), timeout, "a scheduler to lead",
                            interval=0.02)

    def cli(self, *args):
        result = lib.run_cli(self.addresses, *args, timeout=60)
        self.assertEqual(result.returncode, 0, f"genfarm {' '.join(map(str, args))}: "
                                               f"{result.stdout}{result.stderr}")
        return result

    def get_job(self, job_id):
        return self.client.get(job_id)

    def job_tasks(self, job_id):
        # Through the Python client under test (it follows the leader, waiting for one).
        return list(self.client.iter_tasks(job_id))

    def kill_leader_and_time_takeover(self, what):
        old = self.leader()
        self.assertIsNotNone(old)
        others = [s for s in self.schedulers if s is not old]
        epoch_before = int(self.sql("SELECT epoch FROM genfarm_leader"))
        t0 = time.monotonic()
        old.proc.kill()
        new = self.wait_leader(among=others, timeout=15)
        took = time.monotonic() - t0
        epoch_after = int(self.sql("SELECT epoch FROM genfarm_leader"))
        sys.stderr.write(f"failover ({what}): SIGKILL {old.name} (epoch {epoch_before}) -> "
                         f"{new.name} SERVING (epoch {epoch_after}) in {took:.2f} s\n")
        self.assertGreater(epoch_after, epoch_before)
        self.assertLessEqual(took, TAKEOVER_LIMIT_S, f"takeover took {took:.2f} s")
        old.start()  # as a supervisor would: it comes back as a standby
        lib.wait_for(lambda: old.health() == "NOT_SERVING", 20, f"{old.name} to stand by")
        self.assertEqual(old.health("genfarm.liveness"), "SERVING")
        return took

    def wait_mid_job(self, job_id, min_done):
        def mid():
            states = [t.state for t in self.get_job_raw(job_id).tasks]
            return (states.count(SUCCEEDED) >= min_done and RUNNING in states
                    and QUEUED in states)
        lib.wait_for(mid, 120, f"job {job_id} to be part-way done ({min_done}+ tasks)",
                     interval=0.05)

    def get_job_raw(self, job_id):
        return self.jobs_stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id,
                                                                   include_tasks=True),
                                     timeout=15, wait_for_ready=True)

    # --- the test ----------------------------------------------------------------------

    def test_two_sigkills_and_a_sigstop(self):
        for s in self.schedulers:
            s.start()
        first = self.wait_leader()
        standbys = [s for s in self.schedulers if s is not first]
        for s in standbys:
            self.assertEqual(s.health(), "NOT_SERVING")
            self.assertEqual(s.health("genfarm.liveness"), "SERVING")
        # A standby names the leader.
        alone = lib.run_cli(f"127.0.0.1:{standbys[0].port}", "jobs")
        self.assertNotEqual(alone.returncode, 0)
        self.assertIn("standby", alone.stderr)
        self.assertIn(f"127.0.0.1:{first.port}", alone.stderr)

        self.client = genfarm.Client(self.addresses, timeout=15)
        target, options, _ = genfarm.client.scheduler_target(self.addresses)
        self.jobs_channel = grpc.insecure_channel(target, options=options)
        self.jobs_stub = job_service_pb2_grpc.JobServiceStub(self.jobs_channel)
        self.addCleanup(self.jobs_channel.close)

        for i in range(3):
            lib.start_worker(self.procs, self.addresses, f"w{i}", models=lib.MODELS, slots=1)
        lib.wait_for(lambda: len([w for w in self.client.workers() if w.state == types_pb2.WORKER_STATE_ONLINE]) == 3,
                     90, "three workers online")

        plates = os.path.join(self.tmp, "plates", "p.####.exr")
        subprocess.run([lib.PYTHON, os.path.join(lib.SOURCE_DIR, "examples", "make_plates.py"),
                        plates, "1", str(FRAMES), "--size", "48x32"],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        up = os.path.join(self.tmp, "out", "upres", "up.####.exr")
        rt = os.path.join(self.tmp, "out", "retime", "rt.####.exr")
        spec = farm.write_spec(os.path.join(self.tmp, "job.yaml"), farm.job_yaml(
            "failover",
            farm.stage_yaml("upres", "esrgan-slim-x2", plates, up, f"1-{FRAMES}", chunk=2),
            farm.stage_yaml("retime", "rife-v4.6", up, rt, f"1-{FRAMES}", chunk=2,
                            extra="params: {factor: 2}\nwindow: {after: 1}")))
        submitted = self.cli("submit", spec, "--json")
        job_id = int(__import__("json").loads(submitted.stdout)["job_id"])

        takeovers = []
        # Kill 1: a priority change acknowledged just before.
        self.wait_mid_job(job_id, min_done=2)
        self.cli("priority", job_id, "77")
        takeovers.append(self.kill_leader_and_time_takeover("kill 1, mid-job"))
        self.assertEqual(self.client.get(job_id).priority, 77, "the priority change was lost")

        # Kill 2: a second job acknowledged just before. It writes its own outputs: its tasks
        # run as soon as slots free up (before the cancel below reaches them), and a second
        # job writing the first one's frames would make "written by the last attempt" below
        # a race between two legitimate jobs (CI saw one).
        self.wait_mid_job(job_id, min_done=6)
        second_spec = farm.write_spec(os.path.join(self.tmp, "second.yaml"), farm.job_yaml(
            "failover-second",
            farm.stage_yaml("upres", "esrgan-slim-x2", plates,
                            os.path.join(self.tmp, "out2", "upres", "up.####.exr"),
                            f"1-{FRAMES}", chunk=2)))
        second = self.cli("submit", second_spec, "--json")
        second_id = int(__import__("json").loads(second.stdout)["job_id"])
        takeovers.append(self.kill_leader_and_time_takeover("kill 2, mid-job"))
        self.assertEqual(self.client.get(second_id).name, "failover-second",
                         "the second job, acknowledged before the kill, was lost")
        self.assertEqual(self.client.get(job_id).priority, 77)
        self.cli("cancel", second_id)  # only there to be acknowledged: free the slots

        final = lib.wait_for(
            lambda: (lambda r: r if r.job.state in (types_pb2.JOB_STATE_SUCCEEDED,
                                                    types_pb2.JOB_STATE_FAILED) else None)(
                self.get_job_raw(job_id)),
            240, f"job {job_id} to finish", interval=0.2)
        self.assertEqual(final.job.state, types_pb2.JOB_STATE_SUCCEEDED, final.job.message)
        self.assertEqual([t.index for t in final.tasks if t.state != SUCCEEDED], [])
        # Every frame exists and was written once, by the attempt the store recorded last.
        last_output = 2 * FRAMES - 1
        for t in final.tasks:
            if t.stage == "upres":
                outputs = farm.frame_paths(up, t.frames)
            else:
                outputs = farm.frame_paths(rt, sorted({o for f in t.frames for o in (2 * f - 1, 2 * f)
                                                       if o <= last_output}))
            for path in outputs:
                self.assertTrue(os.path.isfile(path), f"{path} missing (task {t.index})")
                self.assertEqual(farm.attempt_of(path), str(t.attempt_id),
                                 f"{path}: written by a stale attempt (task {t.index})")
        self.assertEqual(len(os.listdir(os.path.dirname(up))), FRAMES)
        self.assertEqual(len([n for n in os.listdir(os.path.dirname(rt)) if n.endswith(".exr")]),
                         last_output)

        # Freeze the leader past its lease while work is running, then wake it.
        third = self.cli("submit", spec, "--json", "--idempotency-key", "failover-third")
        third_id = int(__import__("json").loads(third.stdout)["job_id"])
        self.wait_mid_job(third_id, min_done=1)
        frozen = self.leader()
        self.assertIsNotNone(frozen)
        old_epoch = int(self.sql("SELECT epoch FROM genfarm_leader"))
        t0 = time.monotonic()
        frozen.proc.freeze()
        new = self.wait_leader(among=[s for s in self.schedulers if s is not frozen], timeout=30)
        took = time.monotonic() - t0
        new_epoch = int(self.sql("SELECT epoch FROM genfarm_leader"))
        sys.stderr.write(f"failover (SIGSTOP {frozen.name}, epoch {old_epoch}) -> {new.name} "
                         f"SERVING (epoch {new_epoch}) in {took:.2f} s\n")
        self.assertGreater(new_epoch, old_epoch)
        # Let the new leader commit (workers move over once the frozen one's streams break).
        frozen.proc.thaw()
        t1 = time.monotonic()
        lib.wait_for(lambda: frozen.health() == "NOT_SERVING", 20,
                     f"the woken {frozen.name} to report itself a standby")
        back = time.monotonic() - t1
        sys.stderr.write(f"woken {frozen.name} standing by {back:.2f} s after SIGCONT\n")
        self.assertEqual(frozen.health("genfarm.liveness"), "SERVING")
        self.assertIs(self.leader(), new)
        self.assertIn("stepping down", frozen.proc.log_text())
        late = self.sql(
            f"SELECT count(*) FROM genfarm_epochs o, genfarm_epochs n WHERE o.epoch = {old_epoch} "
            f"AND n.epoch = {new_epoch} AND o.last_commit_at >= n.acquired_at")
        self.assertEqual(late, "0", "the frozen leader committed after the new epoch began")
        epochs = self.sql("SELECT string_agg(epoch || ':' || commits, ' ' ORDER BY epoch) "
                          "FROM genfarm_epochs")
        sys.stderr.write(f"commits per epoch: {epochs}; takeovers after SIGKILL: "
                         + ", ".join(f"{t:.2f} s" for t in takeovers) + "\n")
        # The new leader carries on with the third job.
        lib.wait_for(lambda: self.get_job_raw(third_id).job.state == types_pb2.JOB_STATE_SUCCEEDED,
                     240, "the third job to finish under the new leader", interval=0.2)

    def test_tls_clients_follow_the_leader(self):
        """Client-side health checking through TLS: the CLI and the Python client, given both
        addresses and the farm CA, reach the leader, and the next one after a SIGKILL."""
        certs = os.path.join(self.tmp, "certs")
        subprocess.run(["bash", os.path.join(lib.SOURCE_DIR, "deploy", "certs.sh"), "--dir", certs],
                       check=True, capture_output=True, timeout=120)
        ca = os.path.join(certs, "ca.pem")
        tls = (f"--tls_cert={certs}/server.pem", f"--tls_key={certs}/server.key")
        pair = [HaScheduler(self.procs, f"tls{i}", _free_port(), os.path.join(self.tmp, f"tls{i}"),
                            self.url, extra=tls, ca=ca) for i in range(2)]
        addresses = ",".join(f"127.0.0.1:{s.port}" for s in pair)
        for s in pair:
            s.start()
        first = self.wait_leader(among=pair)

        def cli(*args):
            result = lib.run_cli(addresses, "--tls_ca", ca, *args, timeout=60)
            self.assertEqual(result.returncode, 0, f"genfarm {args}: {result.stdout}{result.stderr}")
            return result

        spec = farm.write_spec(os.path.join(self.tmp, "tls.yaml"), farm.job_yaml(
            "tls_failover", farm.stage_yaml("upres", "esrgan-slim-x2", "/nonexistent/p.####.exr",
                                            "/nonexistent/up.####.exr", "1-4")))
        job_id = int(__import__("json").loads(cli("submit", spec, "--json").stdout)["job_id"])
        self.client = genfarm.Client(addresses, timeout=15, ca=ca)
        self.assertEqual(self.client.get(job_id).name, "tls_failover")
        t0 = time.monotonic()
        first.proc.kill()
        second = self.wait_leader(among=[s for s in pair if s is not first], timeout=15)
        sys.stderr.write(f"failover (TLS): SIGKILL {first.name} -> {second.name} SERVING in "
                         f"{time.monotonic() - t0:.2f} s\n")
        self.assertIn("tls_failover", cli("jobs").stdout)
        self.assertEqual(self.client.get(job_id).name, "tls_failover")  # the same Client object

    def test_the_cli_says_when_no_scheduler_leads(self):
        # Two standbys and no lease to take: a lease row held by a scheduler that is not there.
        pair = [HaScheduler(self.procs, f"idle{i}", _free_port(), os.path.join(self.tmp, f"idle{i}"),
                            self.url) for i in range(2)]
        pair[0].start()
        self.wait_leader(among=pair[:1])
        self.pg.query("genfarm", "UPDATE genfarm_leader SET expires_at = 'infinity' RETURNING epoch")
        pair[0].proc.freeze()  # holds no lock, serves nothing; the lease never expires
        pair[1].start()
        addresses = ",".join(f"127.0.0.1:{s.port}" for s in pair)
        t0 = time.monotonic()
        result = lib.run_cli(addresses, "--timeout", "2", "jobs", timeout=30)
        waited = time.monotonic() - t0
        pair[0].proc.thaw()
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"no scheduler at {addresses} is leading", result.stderr)
        self.assertGreaterEqual(waited, 1.9, "the CLI did not wait for a leader")

    def test_ha_needs_a_postgres_store(self):
        result = subprocess.run([lib.binary("scheduler", "genfarm-scheduler"), "--ha",
                                 "--listen=127.0.0.1:0", "--http=",
                                 f"--data_dir={os.path.join(self.tmp, 'sqlite')}"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--ha needs --store postgres://", result.stderr)


if __name__ == "__main__":
    unittest.main()
