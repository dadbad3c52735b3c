"""The denial table of issue 12 against a real TLS scheduler (deploy/certs.sh certificates,
a roles file with two projects and storage roots), and the audit log that records it.

Every case asserts the status code the client sees, that the farm did not change (jobs with
their state, priority and submitter, and workers, as olga (ops) sees them), and, for calls
that reach the scheduler as calls, the audit record (FarmService.ListAudit). A TLS
handshake that fails (plaintext client, a server certificate from another CA, an expired
client certificate) never becomes a call: where the scheduler's TLS layer refuses it
(plaintext, expired client certificate) the case asserts the anonymous tls:handshake record
with OpenSSL's reason (scheduler/auth/handshake_audit.h). A client that refuses the server's
certificate: a bare gRPC client just hangs up (no record of the call), and the CLI, the
Python client and a real worker say why and send the TLS alert, which the scheduler records.
Allowed reads leave no record either. The last case runs the allowed path on the same
scheduler: a real worker on mutual TLS completes a job submitted with the CLI and one with
the Python client (needs the fetched models). The symlink
case is the worker's: the scheduler's part (the assignment carries the project's roots) is
asserted here, the worker's refusal in tests/security/path_containment_test.cc.
AcknowledgedIsOnRecordTest SIGKILLs a scheduler right after answered calls and reads
audit.db: what was answered is on record.

Run: ctest -L security --output-on-failure
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import unittest

import grpc

import genfarm
import genfarm_testlib as lib
from genfarm.v1 import farm_service_pb2
from genfarm.v1 import farm_service_pb2_grpc
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2
from genfarm.v1 import worker_service_pb2
from genfarm.v1 import worker_service_pb2_grpc

from test_security import CERTS_SH, certs, read

CODE = grpc.StatusCode
PEOPLE = ("alice", "bob", "vic", "wendy", "pat", "olga", "gone")


class DenialTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="genfarm-denials-")
        cls.procs = lib.ProcessGroup(cls.tmp)
        cls.dir = os.path.join(cls.tmp, "certs")
        token_args = [a for p in PEOPLE for a in ("--token", p)]
        digests = certs(cls.dir, "--worker", "w1", "--worker", "w2", "--worker", "w3",
                        "--user", "carol", *token_args)
        # w3's certificate is revoked in the roles file (by serial, before it expires).
        serial = subprocess.run(
            ["openssl", "x509", "-noout", "-serial", "-in",
             os.path.join(cls.dir, "workers", "w3.pem")],
            check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        revoked_serial = serial.split("=", 1)[1]
        cls.other = os.path.join(cls.tmp, "other-ca")
        certs(cls.other, "--worker", "w1")
        cls.make_expired_user("eve")
        cls.tokens = {p: read(os.path.join(cls.dir, "tokens", f"{p}.token")).decode().strip()
                      for p in PEOPLE}
        cls.storage = os.path.join(cls.tmp, "storage")
        for project in ("feature_x", "project_b"):
            os.makedirs(os.path.join(cls.storage, project, "in"))
        os.makedirs(os.path.join(cls.tmp, "outside"))
        # A symlink inside feature_x's root that points out of it.
        os.symlink(os.path.join(cls.tmp, "outside"),
                   os.path.join(cls.storage, "feature_x", "escape"))
        roles = os.path.join(cls.tmp, "roles.yaml")
        with open(roles, "w") as f:
            f.write("people:\n"
                    f"  alice: {{token_sha256: {digests['alice']}, roles: {{feature_x: artist}}}}\n"
                    f"  bob: {{token_sha256: {digests['bob']}, roles: {{feature_x: artist}}}}\n"
                    f"  vic: {{token_sha256: {digests['vic']}, roles: {{feature_x: viewer}}}}\n"
                    f"  wendy: {{token_sha256: {digests['wendy']}, "
                    "roles: {feature_x: wrangler}}\n"
                    f"  pat: {{token_sha256: {digests['pat']}, roles: {{project_b: artist}}}}\n"
                    f"  olga: {{token_sha256: {digests['olga']}, roles: {{'*': ops}}}}\n"
                    "  carol: {cert_cn: carol, roles: {feature_x: artist}}\n"
                    "  eve: {cert_cn: eve, roles: {feature_x: artist}}\n"
                    "projects:\n"
                    f"  feature_x: {{storage_roots: [{cls.storage}/feature_x]}}\n"
                    f"  project_b: {{storage_roots: [{cls.storage}/project_b]}}\n"
                    f"revoked_certificates: ['{revoked_serial}']\n")
        cls.ca = os.path.join(cls.dir, "ca.pem")
        cls.scheduler = lib.start_scheduler(
            cls.procs, os.path.join(cls.tmp, "data"),
            f"--tls_cert={cls.dir}/server.pem", f"--tls_key={cls.dir}/server.key",
            f"--tls_client_ca={cls.ca}", f"--roles={roles}", "--lease_seconds=30")
        cls.channels = []
        # The jobs the cases try to change: alice's and bob's in feature_x, pat's in
        # project_b. No worker knows their model yet, so they wait, unchanged by time.
        cls.alice_job = cls.submit_as("alice", "feature_x")
        cls.bob_job = cls.submit_as("bob", "feature_x")
        cls.pat_job = cls.submit_as("pat", "project_b")

    @classmethod
    def make_expired_user(cls, name):
        """A user certificate from the farm CA whose validity ended yesterday (openssl ca
        with -startdate/-enddate in the past)."""
        d = os.path.join(cls.tmp, "expired")
        os.makedirs(d)
        conf = os.path.join(d, "ca.cnf")
        with open(conf, "w") as f:
            f.write(f"[ca]\ndefault_ca=x\n[x]\ndir={d}\ndatabase={d}/index.txt\n"
                    f"new_certs_dir={d}\nserial={d}/serial\ndefault_md=sha256\n"
                    "policy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
                    "organizationalUnitName=optional\n")
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        key, csr, pem = (os.path.join(d, f"{name}.{ext}") for ext in ("key", "csr", "pem"))
        run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=60)
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", f"/OU=genfarm-user/CN={name}")
        run("openssl", "ca", "-batch", "-config", conf, "-cert", os.path.join(cls.dir, "ca.pem"),
            "-keyfile", os.path.join(cls.dir, "ca.key"), "-in", csr, "-out", pem,
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext")
        cls.expired = (key, pem)

    @classmethod
    def tearDownClass(cls):
        for channel in cls.channels:
            channel.close()
        cls.procs.stop_all()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        if lib.test_failed(self):
            self.procs.dump_logs(lines=40)

    # --- clients ----------------------------------------------------------------------

    @classmethod
    def channel(cls, person=None, cert=None, ca=None, plaintext=False, key_pem=None):
        address = cls.scheduler.address
        if plaintext:
            channel = grpc.insecure_channel(address)
        else:
            key = chain = None
            if cert:
                key = read(os.path.join(cls.dir, cert + ".key"))
                chain = read(os.path.join(cls.dir, cert + ".pem"))
            if key_pem:
                key, chain = read(key_pem[0]), read(key_pem[1])
            creds = grpc.ssl_channel_credentials(root_certificates=read(ca or cls.ca),
                                                 private_key=key, certificate_chain=chain)
            if person:
                creds = grpc.composite_channel_credentials(
                    creds, grpc.access_token_call_credentials(cls.tokens[person]))
            channel = grpc.secure_channel(address, creds)
        cls.channels.append(channel)
        return channel

    @classmethod
    def jobs(cls, **kw):
        return job_service_pb2_grpc.JobServiceStub(cls.channel(**kw))

    @classmethod
    def farm(cls, **kw):
        return farm_service_pb2_grpc.FarmServiceStub(cls.channel(**kw))

    @classmethod
    def spec(cls, project, name="shot", input_path=None, output_path=None, model="m-denials"):
        root = os.path.join(cls.storage, project)
        stage = types_pb2.StageSpec(
            name="s", kind=types_pb2.STAGE_KIND_MODEL, model=model,
            input=input_path or os.path.join(root, "in", "p.####.exr"),
            output=output_path or os.path.join(root, "out", "o.####.exr"),
            frames="1-2", chunk=2)
        return types_pb2.JobSpec(name=name, project=project, shot="sh010", stages=[stage])

    @classmethod
    def submit_as(cls, person, project, **kw):
        reply = cls.jobs(person=person).SubmitJob(
            job_service_pb2.SubmitJobRequest(spec=cls.spec(project, **kw)),
            timeout=lib.RPC_TIMEOUT)
        return reply.job_id

    def state(self):
        jobs = self.jobs(person="olga").ListJobs(job_service_pb2.ListJobsRequest(page_size=1000),
                                                 timeout=lib.RPC_TIMEOUT)
        workers = self.farm(person="olga").ListWorkers(
            farm_service_pb2.ListWorkersRequest(include_offline=True), timeout=lib.RPC_TIMEOUT)
        return (sorted((j.id, j.state, j.spec.priority, j.spec.submitter) for j in jobs.jobs),
                sorted((w.id, w.state) for w in workers.workers))

    def audit(self, **kw):
        return list(self.farm(person="olga").ListAudit(
            farm_service_pb2.ListAuditRequest(limit=10000, **kw), timeout=lib.RPC_TIMEOUT).records)

    def last_audit_id(self):
        records = self.audit()
        return records[0].id if records else 0

    def audited_since(self, first_id, method, who=None):
        """The denied records of ``method`` (by ``who``) newer than ``first_id``; waits a
        moment for the audit writer thread."""
        def find():
            return [r for r in self.audit() if r.id > first_id and r.method == method
                    and not r.allowed and (who is None or r.who == who)]
        lib.wait_for(lambda: find(), 10, f"an audit record of the denied {method}")
        return find()

    def refused(self, call, code, method, who=None, text=None, audited=True):
        """``call()`` fails with ``code``, changes nothing, and (``audited``) is recorded
        as a denial of ``method``."""
        before_state, first_id = self.state(), self.last_audit_id()
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        if text:
            self.assertIn(text, caught.exception.details())
        self.assertEqual(self.state(), before_state)
        if audited:
            records = self.audited_since(first_id, method, who)
            self.assertEqual(records[0].code, code.name)
            return records[0]
        # (A refused handshake of an earlier case's channel, still retrying, is not this call.)
        self.assertEqual([r for r in self.audit() if r.id > first_id and not r.allowed
                          and r.method != "tls:handshake"], [])
        return None

    def calls_audited_since(self, first_id):
        """Records newer than ``first_id`` other than refused handshakes (a bad channel of
        an earlier case may still be retrying its handshake in the background)."""
        return [r for r in self.audit() if r.id > first_id and r.method != "tls:handshake"]

    def refused_handshake(self, channel, call, reason):
        """``call()`` fails UNAVAILABLE (the TLS handshake), changes nothing, leaves no
        record of the call, and a tls:handshake record whose reason has ``reason``.
        ``channel`` is closed after the call, so it stops retrying."""
        before_state, first_id = self.state(), self.last_audit_id()
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        channel.close()
        self.assertEqual(caught.exception.code(), CODE.UNAVAILABLE, caught.exception.details())
        self.assertEqual(self.state(), before_state)
        # (An earlier case's channel may still be retrying its own handshake: look for ours.)
        def ours():
            return [r for r in self.audit() if r.id > first_id and r.method == "tls:handshake"
                    and reason in r.reason]
        records = lib.wait_for(ours, 10, f"a tls:handshake record with {reason!r}")
        self.assertEqual({(r.kind, r.code, r.allowed) for r in records},
                         {("anonymous", "UNAUTHENTICATED", False)})
        self.assertEqual([r for r in self.audit() if r.id > first_id and not r.allowed
                          and r.method != "tls:handshake"], [])

    def refused_by_client(self, call, reason):
        """``call()`` (a genfarm client that refuses the scheduler, and asserts so) changes
        nothing, leaves no record of a call, and a tls:handshake record with ``reason``."""
        before_state, first_id = self.state(), self.last_audit_id()
        call()
        self.assertEqual(self.state(), before_state)
        records = lib.wait_for(
            lambda: [r for r in self.audit() if r.id > first_id and r.method == "tls:handshake"
                     and reason in r.reason], 10, f"a tls:handshake record with {reason!r}")
        self.assertEqual({(r.kind, r.code, r.allowed) for r in records},
                         {("anonymous", "UNAUTHENTICATED", False)})
        self.assertEqual(self.calls_audited_since(first_id), [])

    def job_call(self, person, rpc, job_id, **kw):
        stub = self.jobs(person=person)
        if rpc == "SetPriority":
            request = job_service_pb2.SetPriorityRequest(job_id=job_id, priority=90)
        elif rpc == "RetryTasks":
            request = job_service_pb2.RetryTasksRequest(job_id=job_id, failed_only=True)
        else:
            request = job_service_pb2.JobRequest(job_id=job_id)
        return lambda: getattr(stub, rpc)(request, timeout=lib.RPC_TIMEOUT, **kw)

    def submit_call(self, person, spec):
        stub = self.jobs(person=person)
        return lambda: stub.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                      timeout=lib.RPC_TIMEOUT)

    def worker_stream(self, channel, worker_id, models=()):
        """Opens WorkerService.Connect with a hello; returns (send, replies, close)."""
        requests = queue.Queue()
        hello = worker_service_pb2.Hello(
            worker_id=worker_id, hostname="test", slots=1,
            models=[types_pb2.ModelInfo(name=m, version="1", sha256="0" * 64, kind="upscale",
                                        scale=2, memory_bytes=256 << 20, batch_size=1)
                    for m in models])
        hello.devices.add(name="cpu", kind="cpu", index=0, memory_total_bytes=16 << 30)
        requests.put(worker_service_pb2.WorkerMessage(hello=hello))
        stream = worker_service_pb2_grpc.WorkerServiceStub(channel).Connect(
            iter(requests.get, None), timeout=60)

        def close():
            stream.cancel()
            requests.put(None)
        self.addCleanup(close)
        return requests.put, stream, close

    # --- the table --------------------------------------------------------------------

    def test_01_no_credentials(self):
        self.refused(self.job_call(None, "CancelJob", self.alice_job), CODE.UNAUTHENTICATED,
                     "CancelJob")
        self.refused(self.submit_call(None, self.spec("feature_x")), CODE.UNAUTHENTICATED,
                     "SubmitJob")
        self.refused(lambda: self.farm().DrainWorker(
            farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT),
            CODE.UNAUTHENTICATED, "DrainWorker")

    def test_02_plaintext_client_on_the_tls_port(self):
        channel = self.channel(plaintext=True)
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        cancel = job_service_pb2.JobRequest(job_id=self.alice_job)
        self.refused_handshake(channel, lambda: stub.CancelJob(cancel, timeout=lib.RPC_TIMEOUT),
                               "wrong version number")

    def test_03_server_certificate_from_another_ca(self):
        """A client that does not trust the scheduler's certificate refuses the call. gRPC's
        client just hangs up; genfarm's clients then say why and send the TLS alert, which
        the scheduler records (common/tls/server_check.h, docs/security.md)."""
        other_ca = os.path.join(self.other, "ca.pem")
        refusal = "the client refused the scheduler's certificate (SSL_ERROR_SSL"
        why = "does not trust: "
        # A bare gRPC client: refused, no call recorded, and (gRPC drops its alert) nothing
        # the scheduler could record.
        stub = self.jobs(person="alice", ca=other_ca)
        self.refused(lambda: stub.CancelJob(job_service_pb2.JobRequest(job_id=self.alice_job),
                                            timeout=lib.RPC_TIMEOUT),
                     CODE.UNAVAILABLE, "CancelJob", audited=False)

        # The Python client.
        def python_client():
            with genfarm.Client(self.scheduler.address, timeout=lib.RPC_TIMEOUT, ca=other_ca,
                                token=self.tokens["alice"]) as client:
                with self.assertRaises(genfarm.GenFarmError) as caught:
                    client.cancel(self.alice_job)
            self.assertEqual(caught.exception.code, CODE.UNAVAILABLE)
            self.assertIn(why, str(caught.exception))
        self.refused_by_client(python_client, refusal)

        # The CLI.
        def cli():
            out = lib.run_cli(self.scheduler.address, "--tls_ca", other_ca, "cancel",
                              str(self.alice_job),
                              env={**os.environ, "GENFARM_TOKEN": self.tokens["alice"]})
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(f"presented a certificate that --tls_ca {other_ca} {why}", out.stderr)
        self.refused_by_client(cli, refusal)

    def test_03b_worker_that_does_not_trust_the_scheduler_certificate(self):
        """A real genfarm-worker given another CA: it never says hello, logs why once, and
        its refusal is on record."""
        first_id, before_state = self.last_audit_id(), self.state()
        models = os.path.join(self.tmp, "no-models")
        os.makedirs(models, exist_ok=True)
        worker = lib.start_worker(
            self.procs, self.scheduler.address, "w1", f"--tls_ca={self.other}/ca.pem",
            f"--tls_cert={self.dir}/workers/w1.pem", f"--tls_key={self.dir}/workers/w1.key",
            models=models, http=False)
        try:
            lib.wait_for(lambda: "does not trust: " in worker.log_text(), 30,
                         "the worker's explanation of the refused certificate")
            self.assertIn(f"presented a certificate that --tls_ca {self.other}/ca.pem does not "
                          "trust: ", worker.log_text())
            # gRPC's client logs each failed handshake: after three more, still said once.
            said_at = worker.log_text().count("certificate verify failed")
            lib.wait_for(lambda: worker.log_text().count("certificate verify failed")
                         >= said_at + 3, 30, "three more handshakes refused by the worker")
            self.assertEqual(worker.log_text().count("does not trust: "), 1, worker.log_text())
            lib.wait_for(
                lambda: [r for r in self.audit() if r.id > first_id
                         and r.method == "tls:handshake"
                         and "the client refused the scheduler's certificate" in r.reason],
                10, "a tls:handshake record of the worker's refusal")
            self.assertEqual(self.state(), before_state)  # never listed, nothing assigned
            self.assertEqual(self.calls_audited_since(first_id), [])
        finally:
            worker.stop()

    def test_04_expired_client_certificate(self):
        channel = self.channel(key_pem=self.expired)
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        cancel = job_service_pb2.JobRequest(job_id=self.alice_job)
        self.refused_handshake(channel, lambda: stub.CancelJob(cancel, timeout=lib.RPC_TIMEOUT),
                               "certificate verify failed")

    def test_05_revoked_token(self):
        # "gone" has a token from certs.sh but no entry in the roles file: revoked.
        record = self.refused(self.job_call("gone", "CancelJob", self.alice_job),
                              CODE.UNAUTHENTICATED, "CancelJob")
        self.assertEqual(record.kind, "anonymous")

    def test_05b_revoked_worker_certificate(self):
        def call():
            _, stream, _ = self.worker_stream(self.channel(cert="workers/w3"), "w3")
            next(stream)
        self.refused(call, CODE.UNAUTHENTICATED, "Connect", text="revoked")

    def test_06_viewer_submits(self):
        self.refused(self.submit_call("vic", self.spec("feature_x")), CODE.PERMISSION_DENIED,
                     "SubmitJob", who="vic")

    def test_07_viewer_cancels(self):
        self.refused(self.job_call("vic", "CancelJob", self.alice_job), CODE.PERMISSION_DENIED,
                     "CancelJob", who="vic")

    def test_08_artist_cancels_another_artists_job(self):
        record = self.refused(self.job_call("bob", "CancelJob", self.alice_job),
                              CODE.PERMISSION_DENIED, "CancelJob", who="bob",
                              text="another person's job")
        self.assertEqual(record.object, f"job {self.alice_job}")
        self.assertEqual(record.project, "feature_x")
        self.assertTrue(record.peer.startswith("ipv"), record.peer)

    def test_09_artist_pauses_and_resumes_another_artists_job(self):
        self.refused(self.job_call("bob", "PauseJob", self.alice_job), CODE.PERMISSION_DENIED,
                     "PauseJob", who="bob")
        self.refused(self.job_call("bob", "ResumeJob", self.alice_job), CODE.PERMISSION_DENIED,
                     "ResumeJob", who="bob")

    def test_10_artist_cancels_another_projects_job(self):
        self.refused(self.job_call("alice", "CancelJob", self.pat_job), CODE.PERMISSION_DENIED,
                     "CancelJob", who="alice")

    def test_11_artist_sets_priority_or_retries(self):
        self.refused(self.job_call("alice", "SetPriority", self.alice_job),
                     CODE.PERMISSION_DENIED, "SetPriority", who="alice", text="wrangler")
        self.refused(self.job_call("alice", "RetryTasks", self.alice_job),
                     CODE.PERMISSION_DENIED, "RetryTasks", who="alice")

    def test_12_wrangler_of_a_changes_b(self):
        for rpc in ("SetPriority", "RetryTasks", "CancelJob", "PauseJob"):
            self.refused(self.job_call("wendy", rpc, self.pat_job), CODE.PERMISSION_DENIED, rpc,
                         who="wendy", text="project_b")

    def test_13_artist_submits_to_another_project(self):
        self.refused(self.submit_call("alice", self.spec("project_b")), CODE.PERMISSION_DENIED,
                     "SubmitJob", who="alice")

    def test_14_artist_drains_a_worker(self):
        self.refused(lambda: self.farm(person="alice").DrainWorker(
            farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED, "DrainWorker", who="alice")

    def test_15_artist_reads_the_audit_log(self):
        self.refused(lambda: self.farm(person="alice").ListAudit(
            farm_service_pb2.ListAuditRequest(), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED, "ListAudit", who="alice")

    def test_16_a_persons_token_opens_worker_service(self):
        def call():
            _, stream, _ = self.worker_stream(self.channel(person="alice"), "w1")
            next(stream)
        self.refused(call, CODE.PERMISSION_DENIED, "Connect", who="alice")

    def test_17_a_user_certificate_opens_worker_service(self):
        def call():
            _, stream, _ = self.worker_stream(self.channel(cert="users/carol"), "w1")
            next(stream)
        self.refused(call, CODE.PERMISSION_DENIED, "Connect", who="carol")

    def test_18_a_worker_certificate_calls_job_service(self):
        stub = self.jobs(cert="workers/w1")
        self.refused(lambda: stub.CancelJob(job_service_pb2.JobRequest(job_id=self.alice_job),
                                            timeout=lib.RPC_TIMEOUT),
                     CODE.PERMISSION_DENIED, "CancelJob", who="w1")

    def test_19_worker_w1_says_hello_as_w2(self):
        def call():
            _, stream, _ = self.worker_stream(self.channel(cert="workers/w1"), "w2")
            next(stream)
        record = self.refused(call, CODE.PERMISSION_DENIED, "Connect", who="w1",
                              text="cannot speak for worker w2")
        self.assertEqual(record.object, "worker w2")

    def test_20_input_outside_the_roots(self):
        spec = self.spec("feature_x", input_path="/etc/passwd.####")
        self.refused(self.submit_call("alice", spec), CODE.PERMISSION_DENIED, "SubmitJob",
                     who="alice", text="stages[0].input")

    def test_21_output_escaping_with_dotdot(self):
        out = os.path.join(self.storage, "feature_x", "..", "project_b", "o.####.exr")
        spec = self.spec("feature_x", output_path=out)
        self.refused(self.submit_call("alice", spec), CODE.PERMISSION_DENIED, "SubmitJob",
                     who="alice", text="stages[0].output")

    def test_22_relative_pattern_with_roots(self):
        spec = self.spec("feature_x", input_path="in/p.####.exr")
        self.refused(self.submit_call("alice", spec), CODE.PERMISSION_DENIED, "SubmitJob",
                     who="alice", text="must be an absolute path")

    def http_get(self, path, token=None):
        """GET ``path`` on the HTTPS port; the HTTP status (an error's too)."""
        import ssl
        import urllib.error
        import urllib.request
        context = ssl.create_default_context(cafile=self.ca)
        request = urllib.request.Request(f"https://127.0.0.1:{self.scheduler.http_port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as reply:
                return reply.status
        except urllib.error.HTTPError as e:
            return e.code

    def http_refused(self, path, status, area, token=None, who=None):
        """GET ``path`` gets ``status``, changes nothing, and is recorded as a denial of
        ``area`` with the path as its object."""
        before_state, first_id = self.state(), self.last_audit_id()
        self.assertEqual(self.http_get(path, token), status, path)
        self.assertEqual(self.state(), before_state)
        bare = path.split("?", 1)[0]
        wanted = lambda: [r for r in self.audited_since(first_id, area, who)
                          if r.object == f"GET {bare}"]
        record = lib.wait_for(wanted, 10, f"the audit record of GET {bare}")[0]
        self.assertEqual(record.code,
                         "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED")
        self.assertTrue(record.peer.startswith("127.0.0.1:"), record.peer)
        return record

    def test_23_dashboard_json_api_and_thumbnail_without_a_login(self):
        for path in ("/", "/api/jobs", f"/api/jobs/{self.alice_job}",
                     f"/api/thumbnail?job={self.alice_job}&stage=s&frame=1"):
            record = self.http_refused(path, 401, "http:dashboard")
            self.assertEqual(record.kind, "anonymous")
        # A token that matches nobody is no login either.
        self.http_refused("/api/jobs", 401, "http:dashboard", token="0" * 64)

    def test_23b_metrics_without_or_with_a_wrong_credential(self):
        self.http_refused("/metrics", 401, "http:metrics")
        self.http_refused("/metrics", 401, "http:metrics", token="0" * 64)
        # A person who is not ops: known, but refused.
        record = self.http_refused("/metrics", 403, "http:metrics", token=self.tokens["alice"],
                                   who="alice")
        self.assertEqual(record.kind, "person")
        # Allowed requests are reads: not on record.
        first_id = self.last_audit_id()
        self.assertEqual(self.http_get("/api/jobs", self.tokens["vic"]), 200)
        self.assertEqual(self.http_get("/metrics", self.tokens["olga"]), 200)
        self.assertEqual(self.calls_audited_since(first_id), [])

    def test_24_listings_show_only_viewable_projects(self):
        listed = self.jobs(person="pat").ListJobs(job_service_pb2.ListJobsRequest(page_size=100),
                                                  timeout=lib.RPC_TIMEOUT)
        self.assertEqual(sorted(j.id for j in listed.jobs), [self.pat_job])
        # Tasks: a viewer of the project reads them (not on record: an allowed read).
        # (alice's job waits for its model, unplanned: the page is empty, but answered.)
        first_id = self.last_audit_id()
        self.jobs(person="vic").ListTasks(
            job_service_pb2.ListTasksRequest(job_id=self.alice_job), timeout=lib.RPC_TIMEOUT)
        self.jobs(person="vic").GetJob(job_service_pb2.GetJobRequest(job_id=self.alice_job),
                                       timeout=lib.RPC_TIMEOUT)
        self.assertEqual(self.calls_audited_since(first_id), [])

    def test_24b_reads_of_another_projects_job(self):
        """pat (project_b) reads alice's feature_x job every way there is: each refused and
        on record, with the job and its project."""
        stub = self.jobs(person="pat")
        job = self.alice_job
        reads = {
            "GetJob": lambda: stub.GetJob(job_service_pb2.GetJobRequest(job_id=job),
                                          timeout=lib.RPC_TIMEOUT),
            "ListTasks": lambda: stub.ListTasks(job_service_pb2.ListTasksRequest(job_id=job),
                                                timeout=lib.RPC_TIMEOUT),
            "GetTaskLog": lambda: stub.GetTaskLog(
                job_service_pb2.GetTaskLogRequest(job_id=job, task_index=-1),
                timeout=lib.RPC_TIMEOUT),
            "WatchJob": lambda: next(stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=job),
                                                   timeout=lib.RPC_TIMEOUT)),
        }
        for method, call in reads.items():
            record = self.refused(call, CODE.PERMISSION_DENIED, method, who="pat")
            self.assertEqual(record.object, f"job {job}", method)
            self.assertEqual(record.project, "feature_x", method)
        record = self.refused(lambda: stub.ListJobs(
            job_service_pb2.ListJobsRequest(project="feature_x"), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED, "ListJobs", who="pat")
        self.assertEqual(record.project, "feature_x")

    def test_25_the_submitter_is_the_caller(self):
        spec = self.spec("feature_x", name="claims-to-be-bob")
        spec.submitter = "bob"
        job = self.jobs(person="alice").SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                                  timeout=lib.RPC_TIMEOUT).job_id
        got = self.jobs(person="alice").GetJob(job_service_pb2.GetJobRequest(job_id=job),
                                               timeout=lib.RPC_TIMEOUT)
        self.assertEqual(got.job.spec.submitter, "alice")
        # So bob cannot cancel it, and alice can.
        self.refused(self.job_call("bob", "CancelJob", job), CODE.PERMISSION_DENIED,
                     "CancelJob", who="bob")
        self.job_call("alice", "CancelJob", job)()
        allowed = [r for r in self.audit(method="CancelJob", who="alice") if r.allowed]
        self.assertEqual(allowed[0].object, f"job {job}")

    def test_26_worker_claims_another_workers_attempt(self):
        """w2 takes a task; w1 (its own certificate, its own stream) reports w2's attempt
        and a made-up one: both ignored and recorded; the task stays w2's. The assignment
        carries the project's storage roots for the worker's own check (symlinks)."""
        spec = self.spec("feature_x", name="attempt-fence", model="m-fence",
                         input_path=os.path.join(self.storage, "feature_x", "escape",
                                                 "p.####.exr"))
        job = self.jobs(person="alice").SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec),
                                                  timeout=lib.RPC_TIMEOUT).job_id
        send2, replies2, close2 = self.worker_stream(self.channel(cert="workers/w2"), "w2",
                                                     models=["m-fence"])
        assignment = None
        for reply in replies2:
            if reply.HasField("assign"):
                assignment = reply.assign
                break
        self.assertEqual(assignment.job_id, job)
        self.assertEqual(list(assignment.storage_roots),
                         [os.path.join(self.storage, "feature_x")])
        send1, replies1, close1 = self.worker_stream(self.channel(cert="workers/w1"), "w1")
        self.assertTrue(next(replies1).HasField("welcome"))
        first_id = self.last_audit_id()
        for attempt in (assignment.attempt_id, 987654321):
            send1(worker_service_pb2.WorkerMessage(result=worker_service_pb2.Result(
                attempt_id=attempt, success=True, job_id=job,
                task_index=assignment.task_index, frames_done=[1, 2])))
        wanted = {f"attempt {assignment.attempt_id}", "attempt 987654321"}

        def refused_results():
            found = [r for r in self.audited_since(first_id, "Result", who="w1")
                     if r.object in wanted]
            return found if len(found) >= 2 else None
        records = lib.wait_for(refused_results, 10, "both results recorded as refused")
        self.assertEqual(len(records), 2)
        got = self.jobs(person="olga").GetJob(job_service_pb2.GetJobRequest(job_id=job),
                                              timeout=lib.RPC_TIMEOUT)
        self.assertNotEqual(got.job.state, types_pb2.JOB_STATE_SUCCEEDED)
        self.assertEqual(sum(s.frames_done for s in got.job.stages), 0)
        close1()
        close2()
        self.job_call("olga", "CancelJob", job)()

    def test_27_genfarm_audit_lists_and_filters(self):
        """`genfarm audit` (ops) shows the denials above; an artist is refused."""
        self.refused(self.job_call("bob", "CancelJob", self.alice_job), CODE.PERMISSION_DENIED,
                     "CancelJob", who="bob")
        env = {**os.environ, "GENFARM_TOKEN": self.tokens["olga"]}
        out = lib.run_cli(self.scheduler.address, "--tls_ca", self.ca, "audit", "--who", "bob",
                          "--method", "CancelJob", "--job", str(self.alice_job), "--since", "1h",
                          env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("TIME", out.stdout)
        self.assertIn(f"job {self.alice_job}", out.stdout)
        self.assertIn("denied PERMISSION_DENIED", out.stdout)
        self.assertNotIn("alice ", out.stdout.split("\n", 1)[1])
        env["GENFARM_TOKEN"] = self.tokens["alice"]
        out = lib.run_cli(self.scheduler.address, "--tls_ca", self.ca, "audit", env=env)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ops", out.stderr)


    def test_99_allowed_calls_run_to_completion_on_a_mutual_tls_worker(self):
        """On the same TLS scheduler, after the table: a real genfarm-worker on mutual TLS
        (w2, its id from its certificate) runs a job submitted with the CLI (alice's token)
        and one with the Python client (carol's user certificate) to completion; both
        submissions are on record as allowed. Needs the fetched models; skipped without."""
        model = "esrgan-slim-x2"
        if not os.path.isdir(os.path.join(lib.MODELS, model)):
            self.skipTest(f"no {model} in {lib.MODELS} (worker/models/fetch_models.sh)")
        first_id = self.last_audit_id()
        root = os.path.join(self.storage, "feature_x")
        plates = os.path.join(root, "plates", "p.####.exr")
        subprocess.run([lib.PYTHON, os.path.join(lib.SOURCE_DIR, "examples", "make_plates.py"),
                        plates, "1", "2", "--size", "32x24"], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        worker = lib.start_worker(
            self.procs, self.scheduler.address, "w2", f"--tls_ca={self.ca}",
            f"--tls_cert={self.dir}/workers/w2.pem", f"--tls_key={self.dir}/workers/w2.key",
            models=lib.MODELS)
        self.addCleanup(worker.stop)

        def spec(name, output):
            path = os.path.join(self.tmp, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(f"name: {name}\nproject: feature_x\nstages:\n"
                        f"  - name: upres\n    model: {model}\n    input: {plates}\n"
                        f"    output: {output}\n    frames: 1-2\n")
            return path

        cli_out = os.path.join(root, "cli", "up.####.exr")
        result = lib.run_cli(self.scheduler.address, "--tls_ca", self.ca, "submit",
                             spec("from_cli", cli_out), "--wait", "--json", timeout=240,
                             env={**os.environ, "GENFARM_TOKEN": self.tokens["alice"]})
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(json.loads(result.stdout)["state"], "succeeded")
        py_out = os.path.join(root, "py", "up.####.exr")
        with genfarm.Client(self.scheduler.address, ca=self.ca,
                            cert=os.path.join(self.dir, "users", "carol.pem"),
                            key=os.path.join(self.dir, "users", "carol.key")) as carol:
            job = carol.submit(spec("from_python", py_out), wait=True)
            self.assertTrue(job.succeeded, job)
        for pattern in (cli_out, py_out):
            for frame in (1, 2):
                self.assertTrue(os.path.isfile(pattern.replace("####", f"{frame:04d}")), pattern)
        submits = {r.who for r in self.audit(method="SubmitJob")
                   if r.id > first_id and r.allowed}
        self.assertEqual(submits, {"alice", "carol"})


class AcknowledgedIsOnRecordTest(unittest.TestCase):
    """Committed before acknowledged, end to end: the scheduler is SIGKILLed the moment a
    submission and a cancel are answered, and audit.db (read with sqlite3, as a forensic
    reader would) holds both records."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="genfarm-audit-kill-")
        self.procs = lib.ProcessGroup(self.tmp)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.procs.stop_all)

    def test_acknowledged_calls_survive_sigkill(self):
        import sqlite3
        data = os.path.join(self.tmp, "data")
        scheduler = lib.start_scheduler(self.procs, data)
        channel = grpc.insecure_channel(scheduler.address)
        self.addCleanup(channel.close)
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        stage = types_pb2.StageSpec(name="s", kind=types_pb2.STAGE_KIND_MODEL, model="m-kill",
                                    input="/tmp/in/p.####.exr", output="/tmp/out/o.####.exr",
                                    frames="1-2", chunk=2)
        job = stub.SubmitJob(job_service_pb2.SubmitJobRequest(spec=types_pb2.JobSpec(
            name="kill", project="p", shot="sh010", stages=[stage])),
            timeout=lib.RPC_TIMEOUT).job_id
        stub.CancelJob(job_service_pb2.JobRequest(job_id=job), timeout=lib.RPC_TIMEOUT)
        scheduler.kill()  # no shutdown, no flush: only what was committed is there
        db = sqlite3.connect(os.path.join(data, "audit.db"))
        self.addCleanup(db.close)
        rows = db.execute("SELECT method, object, allowed FROM audit ORDER BY id").fetchall()
        self.assertIn(("SubmitJob", f"job {job}", 1), rows)
        self.assertIn(("CancelJob", f"job {job}", 1), rows)


if __name__ == "__main__":
    unittest.main()
