"""A real TLS scheduler on loopback with certificates from deploy/certs.sh, and the calls it
must refuse and allow.

One scheduler for the class: TLS on both ports (server.pem), client certificates verified
against the farm CA, a roles file (alice artist and vic viewer on feature_x, olga ops,
carol artist by user certificate) and a Prometheus token. Every denial asserts the status
code the client sees and that nothing changed (the jobs and workers olga sees are the same
before and after). Then the allowed paths: the CLI and the Python client submit and list
jobs; a worker certificate opens WorkerService. And `--listen 0.0.0.0:0` without TLS exits
non-zero naming --insecure.

Run: ctest -L security --output-on-failure   (or, from this directory,
PYTHONPATH=<build>/python:<source>/tests/lib GENFARM_BIN_DIR=<build> /usr/bin/python3 -m unittest -v test_security)
"""

import base64
import os
import queue
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc

import genfarm_testlib as lib
import genfarm
from genfarm.v1 import farm_service_pb2
from genfarm.v1 import farm_service_pb2_grpc
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2
from genfarm.v1 import worker_service_pb2
from genfarm.v1 import worker_service_pb2_grpc

EXAMPLE = os.path.join(lib.SOURCE_DIR, "examples", "sh010_upres_retime.yaml")
CERTS_SH = os.path.join(lib.SOURCE_DIR, "deploy", "certs.sh")
PEOPLE = ("alice", "vic", "olga", "tmp", "prom")
CODE = grpc.StatusCode


def read(path):
    with open(path, "rb") as f:
        return f.read()


def certs(directory, *args):
    """Runs deploy/certs.sh; returns {name: token_sha256} from the lines it prints."""
    out = subprocess.run(["bash", CERTS_SH, "--dir", directory, *args], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return {line.split()[0]: line.split()[2] for line in out.splitlines()
            if " token_sha256: " in line}


class SecuredSchedulerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="genfarm-security-")
        cls.procs = lib.ProcessGroup(cls.tmp)
        cls.dir = os.path.join(cls.tmp, "certs")
        token_args = [a for p in PEOPLE for a in ("--token", p)]
        digests = certs(cls.dir, "--worker", "w1", "--user", "carol", *token_args)
        # Running it again changes nothing (idempotent) and prints the same digests.
        before = read(os.path.join(cls.dir, "workers", "w1.pem"))
        assert certs(cls.dir, "--worker", "w1", *token_args) == digests
        assert read(os.path.join(cls.dir, "workers", "w1.pem")) == before
        cls.other = os.path.join(cls.tmp, "other-ca")
        certs(cls.other, "--worker", "w1")
        cls.tokens = {p: read(os.path.join(cls.dir, "tokens", f"{p}.token")).decode().strip()
                      for p in PEOPLE}
        cls.roles_path = os.path.join(cls.tmp, "roles.yaml")
        cls.write_roles(digests, with_tmp=True)
        cls.digests = digests
        cls.ca = os.path.join(cls.dir, "ca.pem")
        cls.scheduler = lib.start_scheduler(
            cls.procs, os.path.join(cls.tmp, "data"),
            f"--tls_cert={cls.dir}/server.pem", f"--tls_key={cls.dir}/server.key",
            f"--tls_client_ca={cls.ca}", f"--roles={cls.roles_path}",
            f"--metrics_token_file={cls.dir}/tokens/prom.token", "--lease_seconds=3")

    @classmethod
    def write_roles(cls, digests, with_tmp):
        text = ("people:\n"
                f"  alice: {{token_sha256: {digests['alice']}, roles: {{feature_x: artist}}}}\n"
                f"  vic: {{token_sha256: {digests['vic']}, roles: {{feature_x: viewer}}}}\n"
                f"  olga: {{token_sha256: {digests['olga']}, roles: {{'*': ops}}}}\n"
                "  carol: {cert_cn: carol, roles: {feature_x: artist}}\n")
        if with_tmp:
            text += f"  tmp: {{token_sha256: {digests['tmp']}, roles: {{feature_x: viewer}}}}\n"
        # The example job's plates and renders live under examples/; the denial cases use
        # <tmp>/storage (and an outside folder next to it).
        text += ("projects:\n  feature_x: {storage_roots: ["
                 f"{os.path.join(lib.SOURCE_DIR, 'examples')}, {cls.tmp}/storage]}}\n")
        with open(cls.roles_path + ".new", "w") as f:
            f.write(text)
        os.replace(cls.roles_path + ".new", cls.roles_path)

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop_all()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.channels = []

    def tearDown(self):
        for channel in self.channels:
            channel.close()
        if lib.test_failed(self):
            self.procs.dump_logs(lines=40)

    # --- clients ----------------------------------------------------------------------

    def channel(self, person=None, cert=None, ca=None, plaintext=False):
        """A channel to the scheduler: TLS verified against ``ca`` (the farm CA by default),
        with ``person``'s token and/or ``cert`` ("workers/w1", "users/carol") presented."""
        address = self.scheduler.address
        if plaintext:
            channel = grpc.insecure_channel(address)
        else:
            base = os.path.join(self.dir, cert) if cert else None
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(ca or self.ca),
                private_key=read(base + ".key") if base else None,
                certificate_chain=read(base + ".pem") if base else None)
            if person:
                creds = grpc.composite_channel_credentials(
                    creds, grpc.access_token_call_credentials(self.tokens[person]))
            channel = grpc.secure_channel(address, creds)
        self.channels.append(channel)
        return channel

    def jobs(self, **kw):
        return job_service_pb2_grpc.JobServiceStub(self.channel(**kw))

    def farm(self, **kw):
        return farm_service_pb2_grpc.FarmServiceStub(self.channel(**kw))

    def state(self):
        """What the farm looks like to olga (ops): jobs with their states, and workers."""
        jobs = self.jobs(person="olga").ListJobs(job_service_pb2.ListJobsRequest(page_size=1000),
                                                 timeout=lib.RPC_TIMEOUT)
        workers = self.farm(person="olga").ListWorkers(
            farm_service_pb2.ListWorkersRequest(include_offline=True), timeout=lib.RPC_TIMEOUT)
        return (sorted((j.id, j.state, j.priority) for j in jobs.jobs),
                sorted((w.id, w.state) for w in workers.workers))

    def assert_refused(self, call, code, text=None):
        """``call()`` fails with ``code`` (and ``text`` in its details) and changes nothing."""
        before = self.state()
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        if text:
            self.assertIn(text, caught.exception.details())
        self.assertEqual(self.state(), before)

    def submit_request(self):
        return job_service_pb2.SubmitJobRequest(spec=genfarm.load_job_spec(EXAMPLE))

    def cli(self, *args, env=None):
        return lib.run_cli(self.scheduler.address, *args,
                           env={**os.environ, "GENFARM_TOKEN": "", **(env or {})})

    def connect_worker(self, channel, worker_id="w1"):
        """Opens WorkerService.Connect with a hello; returns the first reply (or raises)."""
        requests = queue.Queue()
        hello = worker_service_pb2.Hello(worker_id=worker_id, hostname="test", slots=1)
        requests.put(worker_service_pb2.WorkerMessage(hello=hello))
        stream = worker_service_pb2_grpc.WorkerServiceStub(channel).Connect(
            iter(requests.get, None), timeout=lib.RPC_TIMEOUT)
        try:
            return next(stream)
        finally:
            stream.cancel()
            requests.put(None)

    def http(self, path, token=None, basic=False, scheme="https"):
        """(status, body) of a GET on the scheduler's HTTP port."""
        url = f"{scheme}://127.0.0.1:{self.scheduler.http_port}{path}"
        request = urllib.request.Request(url)
        if token and basic:
            request.add_header("Authorization",
                               "Basic " + base64.b64encode(f"x:{token}".encode()).decode())
        elif token:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    # --- denials ----------------------------------------------------------------------

    def test_no_credentials_are_unauthenticated(self):
        stub = self.jobs()
        self.assert_refused(lambda: stub.ListJobs(job_service_pb2.ListJobsRequest(),
                                                  timeout=lib.RPC_TIMEOUT),
                            CODE.UNAUTHENTICATED, "no credentials")
        self.assert_refused(lambda: stub.SubmitJob(self.submit_request(), timeout=lib.RPC_TIMEOUT),
                            CODE.UNAUTHENTICATED)
        self.assert_refused(lambda: stub.CancelJob(job_service_pb2.JobRequest(job_id=1),
                                                   timeout=lib.RPC_TIMEOUT), CODE.UNAUTHENTICATED)
        farm = self.farm()
        self.assert_refused(lambda: farm.DrainWorker(
            farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT),
            CODE.UNAUTHENTICATED)
        result = self.cli("--tls_ca", self.ca, "jobs")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("no credentials", result.stderr)

    def test_a_wrong_token_is_unauthenticated(self):
        creds = grpc.composite_channel_credentials(
            grpc.ssl_channel_credentials(root_certificates=read(self.ca)),
            grpc.access_token_call_credentials("not-a-token"))
        channel = grpc.secure_channel(self.scheduler.address, creds)
        self.channels.append(channel)
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        self.assert_refused(lambda: stub.SubmitJob(self.submit_request(), timeout=lib.RPC_TIMEOUT),
                            CODE.UNAUTHENTICATED, "matches nobody")

    def test_a_plaintext_client_on_the_tls_port_fails(self):
        stub = self.jobs(plaintext=True)
        self.assert_refused(lambda: stub.ListJobs(job_service_pb2.ListJobsRequest(), timeout=3),
                            CODE.UNAVAILABLE)
        self.assert_refused(lambda: stub.SubmitJob(self.submit_request(), timeout=3),
                            CODE.UNAVAILABLE)
        result = self.cli("--timeout", "3", "jobs")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("if it speaks TLS, give the farm CA", result.stderr)

    def test_a_server_certificate_from_another_ca_is_refused(self):
        other_ca = os.path.join(self.other, "ca.pem")
        stub = self.jobs(person="alice", ca=other_ca)
        self.assert_refused(lambda: stub.SubmitJob(self.submit_request(), timeout=3),
                            CODE.UNAVAILABLE)
        result = self.cli("--tls_ca", other_ca, "--token_file",
                          os.path.join(self.dir, "tokens", "alice.token"), "--timeout", "3",
                          "submit", EXAMPLE)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"TLS with the scheduler failed: the scheduler at {self.scheduler.address} "
                      f"presented a certificate that --tls_ca {other_ca} does not trust: ",
                      result.stderr)
        self.assertIn("(its certificate: subject O=GenFarm,OU=genfarm-scheduler,"
                      "CN=genfarm-scheduler, issuer O=GenFarm,CN=GenFarm farm CA); give the CA "
                      "that signed", result.stderr)
        with self.assertRaises(genfarm.GenFarmError) as caught:
            with genfarm.Client(self.scheduler.address, timeout=3, ca=other_ca,
                                token=self.tokens["alice"]) as client:
                client.jobs()
        self.assertEqual(caught.exception.code, CODE.UNAVAILABLE)
        self.assertIn(f"presented a certificate that ca={other_ca} does not trust: ",
                      str(caught.exception))
        self.assertIn("give the CA that signed", str(caught.exception))

    def test_a_client_certificate_from_another_ca_is_refused(self):
        stub = self.jobs(cert=os.path.join(self.other, "workers", "w1"))
        self.assert_refused(lambda: stub.ListJobs(job_service_pb2.ListJobsRequest(), timeout=3),
                            CODE.UNAVAILABLE)
        channel = self.channel(cert=os.path.join(self.other, "workers", "w1"))
        self.assert_refused(lambda: self.connect_worker(channel), CODE.UNAVAILABLE)

    def test_a_persons_token_never_opens_worker_service(self):
        for person in ("alice", "olga"):
            channel = self.channel(person=person)
            self.assert_refused(lambda: self.connect_worker(channel), CODE.PERMISSION_DENIED,
                                "people's credentials never open it")
        # Not even on a connection that also carries a worker's certificate.
        channel = self.channel(person="olga", cert="workers/w1")
        self.assert_refused(lambda: self.connect_worker(channel), CODE.PERMISSION_DENIED)

    def test_a_worker_certificate_opens_only_worker_service(self):
        jobs = self.jobs(cert="workers/w1")
        self.assert_refused(lambda: jobs.ListJobs(job_service_pb2.ListJobsRequest(),
                                                  timeout=lib.RPC_TIMEOUT),
                            CODE.PERMISSION_DENIED, "opens only WorkerService")
        self.assert_refused(lambda: jobs.SubmitJob(self.submit_request(), timeout=lib.RPC_TIMEOUT),
                            CODE.PERMISSION_DENIED)
        farm = self.farm(cert="workers/w1")
        self.assert_refused(lambda: farm.DrainWorker(
            farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED)

    def test_roles_are_enforced_at_the_door(self):
        vic = self.jobs(person="vic")
        self.assert_refused(lambda: vic.SubmitJob(self.submit_request(), timeout=lib.RPC_TIMEOUT),
                            CODE.PERMISSION_DENIED, "needs artist")
        self.assert_refused(lambda: vic.SetPriority(
            job_service_pb2.SetPriorityRequest(job_id=1, priority=99), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED, "needs wrangler")
        alice = self.farm(person="alice")
        self.assert_refused(lambda: alice.DrainWorker(
            farm_service_pb2.DrainWorkerRequest(worker_id="w1"), timeout=lib.RPC_TIMEOUT),
            CODE.PERMISSION_DENIED, "needs ops farm-wide")
        self.assert_refused(lambda: alice.ListWorkers(farm_service_pb2.ListWorkersRequest(),
                                                      timeout=lib.RPC_TIMEOUT),
                            CODE.PERMISSION_DENIED)
        result = self.cli("--tls_ca", self.ca, "--token_file",
                          os.path.join(self.dir, "tokens", "vic.token"), "submit", EXAMPLE)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("needs artist", result.stderr)

    def test_http_needs_a_login_but_healthz(self):
        self.assertEqual(self.http("/healthz"), (200, "ok\n"))
        for path in ("/", "/api/jobs", "/api/jobs/1", "/api/workers", "/api/farm",
                     "/api/thumbnail?job=1&stage=upres&frame=1001", "/metrics", "/sd/workers"):
            status, body = self.http(path)
            self.assertEqual(status, 401, f"{path}: {body}")
            status, _ = self.http(path, token="not-a-token")
            self.assertEqual(status, 401, path)
        # Viewers see the dashboard's API, by bearer token or by a browser's Basic login.
        self.assertEqual(self.http("/api/jobs", token=self.tokens["vic"])[0], 200)
        self.assertEqual(self.http("/api/jobs", token=self.tokens["vic"], basic=True)[0], 200)
        # /metrics: Prometheus' own token, or ops; not a viewer.
        status, body = self.http("/metrics", token=self.tokens["prom"])
        self.assertEqual(status, 200)
        self.assertIn("genfarm_scheduler_", body)
        self.assertEqual(self.http("/metrics", token=self.tokens["olga"])[0], 200)
        self.assertEqual(self.http("/metrics", token=self.tokens["vic"])[0], 403)
        # The Prometheus token is not a person's.
        self.assertEqual(self.http("/api/jobs", token=self.tokens["prom"])[0], 401)
        # Refusals at the doors are counted (bounded labels: service and code).
        def denials(service, code):
            _, text = self.http("/metrics", token=self.tokens["prom"])
            return lib.sample_value(text, "genfarm_scheduler_auth_denials_total",
                                    {"service": service, "code": code})
        before = denials("JobService", "unauthenticated")
        with self.assertRaises(grpc.RpcError):
            self.jobs().ListJobs(job_service_pb2.ListJobsRequest(), timeout=lib.RPC_TIMEOUT)
        self.assertEqual(denials("JobService", "unauthenticated"), before + 1)
        self.assertGreater(denials("http", "unauthenticated"), 0)
        self.assertGreater(denials("http", "permission_denied"), 0)
        # Plain HTTP on the HTTPS port gets nothing.
        with self.assertRaises(Exception):
            self.http("/healthz", scheme="http")

    def test_roles_file_reload_revokes_a_token(self):
        tmp = self.jobs(person="tmp")
        tmp.ListJobs(job_service_pb2.ListJobsRequest(), timeout=lib.RPC_TIMEOUT)
        # An edit that does not parse keeps the roles in force.
        with open(self.roles_path, "a") as f:
            f.write("  broken: {roles: {feature_x: boss}}\n")
        lib.wait_for(lambda: "keeping the roles in force" in self.scheduler.log_text(), 20,
                     "the scheduler to reject the broken roles file")
        tmp.ListJobs(job_service_pb2.ListJobsRequest(), timeout=lib.RPC_TIMEOUT)
        self.write_roles(self.digests, with_tmp=False)

        def revoked():
            try:
                tmp.ListJobs(job_service_pb2.ListJobsRequest(), timeout=lib.RPC_TIMEOUT)
                return False
            except grpc.RpcError as e:
                return e.code() == CODE.UNAUTHENTICATED

        lib.wait_for(revoked, 20, "tmp's token to be refused after the reload")

    # --- allowed ----------------------------------------------------------------------

    def test_the_cli_and_the_python_client_submit_and_list(self):
        token_file = os.path.join(self.dir, "tokens", "alice.token")
        submitted = self.cli("--tls_ca", self.ca, "--token_file", token_file, "submit", EXAMPLE,
                             "--json")
        self.assertEqual(submitted.returncode, 0, submitted.stderr)
        listed = self.cli("jobs", env={"GENFARM_CA": self.ca,
                                       "GENFARM_TOKEN": self.tokens["alice"]})
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("sh010_upres_retime", listed.stdout)
        with genfarm.Client(self.scheduler.address, ca=self.ca,
                            token=self.tokens["alice"]) as client:
            job = client.submit(EXAMPLE)
            self.assertIn(job.id, [j.id for j in client.jobs()])
        # carol logs in with her user certificate instead of a token.
        with genfarm.Client(self.scheduler.address, ca=self.ca,
                            cert=os.path.join(self.dir, "users", "carol.pem"),
                            key=os.path.join(self.dir, "users", "carol.key")) as client:
            job = client.submit(EXAMPLE)
            self.assertIn(job.id, [j.id for j in client.jobs()])
        # A token without TLS is refused by the client before anything is sent.
        with self.assertRaises(genfarm.GenFarmError):
            genfarm.Client(self.scheduler.address, token=self.tokens["alice"], ca="")

    def test_a_worker_certificate_opens_worker_service(self):
        reply = self.connect_worker(self.channel(cert="workers/w1"))
        self.assertTrue(reply.HasField("welcome"), reply)
        self.assertEqual(reply.welcome.worker_id, "w1")
        # Listed, and offline once its stream is gone (so later tests see a still farm).
        offline = types_pb2.WORKER_STATE_OFFLINE
        lib.wait_for(lambda: ("w1", offline) in self.state()[1], 30, "w1 listed as offline")


class ListenRuleTest(unittest.TestCase):
    def test_a_non_loopback_address_without_tls_exits_naming_insecure(self):
        tmp = tempfile.mkdtemp(prefix="genfarm-listen-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for flags in (["--listen=0.0.0.0:0", "--http=127.0.0.1:0"],
                      ["--listen=127.0.0.1:0", "--http=0.0.0.0:0"]):
            result = subprocess.run(
                [lib.binary("scheduler", "genfarm-scheduler"), *flags,
                 f"--data_dir={tmp}/data"], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0, result.stderr)
            self.assertIn("--insecure", result.stderr)
            self.assertIn("0.0.0.0:0", result.stderr)


if __name__ == "__main__":
    unittest.main()
