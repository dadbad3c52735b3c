#!/usr/bin/python3
"""The API at the caps (issue 10, acceptance 3): a real genfarm-scheduler holds one job of
1,000,000 tasks (one stage, frames 1-1000000, chunk 1; no worker needed) and every read a
user makes of it works with gRPC's default 4 MiB message limit (no client or server raises
it): `genfarm status`, `genfarm watch` (its first events), the Python client's watch,
ListTasks paging through every task with the default page size, GetJob, ListJobs, and the
dashboard's job JSON and job page in headless Chromium. A 64-stage job sits beside it, so
ListJobs also carries a big spec as its summary.

Each step is timed and the times are printed (they go in the issue's note):

    GENFARM_BIN_DIR=build GENFARM_SOURCE_DIR=. PYTHONPATH=build/python:tests/lib \\
        /usr/bin/python3 -m unittest -v test_million_tasks
"""

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import grpc

import genfarm
import genfarm_testlib as lib
from genfarm.v1 import job_service_pb2
from genfarm.v1 import job_service_pb2_grpc
from genfarm.v1 import types_pb2
from integration_farm import write_model_catalog

TASKS = 1_000_000
MAX_MESSAGE = 4 * 1024 * 1024  # gRPC's default receive limit, which nothing here raises


def http_get(url):
    """(status, body bytes) without raising on HTTP errors."""
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Timer:
    """Collects (step, seconds) and prints them as one table at the end."""

    def __init__(self):
        self.times = []

    def run(self, what, fn):
        start = time.monotonic()
        result = fn()
        self.times.append((what, time.monotonic() - start))
        return result

    def report(self, stream):
        stream.write(f"\nmillion-task job ({TASKS} tasks), times:\n")
        for what, seconds in self.times:
            stream.write(f"  {what:<68} {seconds:8.3f} s\n")
        stream.flush()


def million_spec():
    return types_pb2.JobSpec(
        name="million", project="scale", shot="sh999", priority=40, submitter="scale-test",
        labels={"dept": "comp"},
        stages=[types_pb2.StageSpec(name="upres", model="esrgan-slim-x2",
                                    input="/shots/sh999/in/p.#######.exr",
                                    output="/shots/sh999/out/p.#######.exr",
                                    frames=f"1-{TASKS}", chunk=1)])


def wide_spec():
    """64 stages (the cap), each with params and a long-ish path: a big spec, few tasks."""
    stages = [types_pb2.StageSpec(
        name=f"s{i:02d}", model="esrgan-slim-x2",
        input=f"/shots/sh998/in/{'x' * 100}/p.####.exr",
        output=f"/shots/sh998/out/s{i:02d}/{'y' * 100}/p.####.exr",
        frames="1-2", chunk=1, tags=[f"tag{i}"]) for i in range(64)]
    return types_pb2.JobSpec(name="wide", project="scale", stages=stages,
                             labels={f"label{i}": "v" * 200 for i in range(32)})


class MillionTasksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="genfarm-million-")
        cls.procs = lib.ProcessGroup(cls.tmp)
        cls.timer = Timer()
        cls.driver = None
        try:
            cls.scheduler = lib.start_scheduler(
                cls.procs, os.path.join(cls.tmp, "data"),
                "--web_root", os.path.join(lib.SOURCE_DIR, "scheduler", "web"),
                "--model_catalog", write_model_catalog(os.path.join(cls.tmp, "models.yaml")))
            cls.channel = grpc.insecure_channel(cls.scheduler.address)
            cls.jobs = job_service_pb2_grpc.JobServiceStub(cls.channel)
            submitted = cls.timer.run("SubmitJob 1,000,000 tasks (acknowledged when durable)",
                                      lambda: cls.jobs.SubmitJob(
                                          job_service_pb2.SubmitJobRequest(spec=million_spec()),
                                          timeout=300))
            cls.job_id = submitted.job_id
            cls.wide_id = cls.jobs.SubmitJob(
                job_service_pb2.SubmitJobRequest(spec=wide_spec()), timeout=60).job_id
        except Exception:
            cls.procs.dump_logs(lines=40, stream=sys.stdout)
            cls.procs.stop_all()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.driver is not None:
            try:
                cls.driver.quit()
            except Exception:  # noqa: BLE001 (best effort; the session is killed below)
                pass
        cls.timer.report(sys.stderr)
        cls.channel.close()
        cls.procs.stop_all()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        if lib.test_failed(self):
            self.procs.dump_logs(lines=40, stream=sys.stdout)

    # ---------- gRPC ----------

    def test_1_get_job_and_list_jobs_stay_small(self):
        job = self.timer.run("GetJob (job only)", lambda: self.jobs.GetJob(
            job_service_pb2.GetJobRequest(job_id=self.job_id), timeout=lib.RPC_TIMEOUT)).job
        self.assertEqual(job.stages[0].tasks_total, TASKS)
        self.assertEqual(job.spec.labels["dept"], "comp")  # GetJob: the full spec
        with self.assertRaises(grpc.RpcError) as refused:
            self.timer.run("GetJob include_tasks (refused: page with ListTasks)",
                           lambda: self.jobs.GetJob(job_service_pb2.GetJobRequest(
                               job_id=self.job_id, include_tasks=True), timeout=lib.RPC_TIMEOUT))
        self.assertEqual(refused.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("ListTasks", refused.exception.details())

        listed = self.timer.run("ListJobs (summaries)", lambda: self.jobs.ListJobs(
            job_service_pb2.ListJobsRequest(), timeout=lib.RPC_TIMEOUT))
        by_id = {j.id: j for j in listed.jobs}
        self.assertEqual(by_id[self.job_id].stages[0].tasks_total, TASKS)
        self.assertEqual(len(by_id[self.wide_id].stages), 64)    # counters kept
        self.assertEqual(len(by_id[self.wide_id].spec.stages), 0)  # specs left out
        self.assertEqual(len(by_id[self.wide_id].spec.labels), 0)
        full = self.jobs.ListJobs(job_service_pb2.ListJobsRequest(view=job_service_pb2.JOB_VIEW_FULL),
                                  timeout=lib.RPC_TIMEOUT)
        self.assertLess(listed.ByteSize(), full.ByteSize() // 4)
        with self.assertRaises(grpc.RpcError) as bad:
            self.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_token="not-a-token"),
                               timeout=lib.RPC_TIMEOUT)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(bad.exception.details().startswith("page_token"), bad.exception.details())

    def test_2_list_tasks_pages_through_every_task(self):
        def page_all():
            request = job_service_pb2.ListTasksRequest(job_id=self.job_id)
            count, calls, largest, expected, slowest = 0, 0, 0, 0, 0.0
            while True:
                start = time.monotonic()
                response = self.jobs.ListTasks(request, timeout=lib.RPC_TIMEOUT)
                slowest = max(slowest, time.monotonic() - start)
                calls += 1
                largest = max(largest, response.ByteSize())
                for task in response.tasks:
                    if task.index != expected:
                        raise AssertionError(f"task {task.index} where {expected} was due")
                    expected += 1
                count += len(response.tasks)
                if not response.next_page_token:
                    self.timer.times.append(("ListTasks: the slowest of those calls", slowest))
                    return count, calls, largest
                request.page_token = response.next_page_token

        count, calls, largest = self.timer.run("ListTasks: all 1,000,000 tasks, default page size",
                                               page_all)
        self.assertEqual(count, TASKS)
        self.assertEqual(calls, TASKS // 1000)  # the default page: 1000 tasks
        self.assertLess(largest, MAX_MESSAGE)

        queued = self.timer.run("ListTasks state=queued stage=upres, first page",
                                lambda: self.jobs.ListTasks(job_service_pb2.ListTasksRequest(
                                    job_id=self.job_id, state=types_pb2.TASK_STATE_QUEUED,
                                    stage="upres", page_size=10000), timeout=lib.RPC_TIMEOUT))
        self.assertEqual(len(queued.tasks), 10000)
        self.assertLess(queued.ByteSize(), MAX_MESSAGE)
        failed = self.timer.run("ListTasks state=failed (none)", lambda: self.jobs.ListTasks(
            job_service_pb2.ListTasksRequest(job_id=self.job_id, state=types_pb2.TASK_STATE_FAILED),
            timeout=lib.RPC_TIMEOUT))
        self.assertEqual((len(failed.tasks), failed.next_page_token), (0, ""))
        for bad in ("garbage", f"{self.job_id}:{TASKS}", f"{self.wide_id}:5"):
            with self.assertRaises(grpc.RpcError) as refused:
                self.jobs.ListTasks(job_service_pb2.ListTasksRequest(job_id=self.job_id, page_token=bad),
                                    timeout=lib.RPC_TIMEOUT)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(refused.exception.details().startswith("page_token"))
        with self.assertRaises(grpc.RpcError) as refused:
            self.jobs.ListTasks(job_service_pb2.ListTasksRequest(job_id=self.job_id, state=42),
                                timeout=lib.RPC_TIMEOUT)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(refused.exception.details().startswith("state"))

    # ---------- the CLI ----------

    def test_3_status_prints_counters_and_a_bounded_task_list(self):
        out = self.timer.run("genfarm status", lambda: lib.run_cli(
            self.scheduler.address, "status", self.job_id, timeout=60))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(f"upres  0/{TASKS}", out.stdout)
        self.assertIn(f"tasks: {TASKS} queued", out.stdout)
        self.assertIn(f"... {TASKS - 20} more queued tasks", out.stdout)
        self.assertLess(len(out.stdout.splitlines()), 60, out.stdout)
        sys.stderr.write("\n" + out.stdout)

    def test_4_cli_and_python_watch_see_the_first_events(self):
        # `genfarm watch` (stdout is a pipe: one line per change) and the Python client's
        # watch, both started before a change of all 1,000,000 tasks (a pause).
        start = time.monotonic()
        cli = subprocess.Popen([lib.binary("client", "genfarm"), "--scheduler", self.scheduler.address,
                                "watch", str(self.job_id)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (cli.kill(), cli.wait(), cli.stdout.close(), cli.stderr.close()))
        lines = []

        def cli_lines(n, timeout):
            deadline = time.monotonic() + timeout
            while len(lines) < n and time.monotonic() < deadline:
                ready, _, _ = select.select([cli.stdout], [], [], 0.2)
                if ready:
                    line = cli.stdout.readline()
                    if not line:
                        break
                    lines.append(line.strip())
            return lines

        cli_lines(1, 30)
        self.timer.times.append(("genfarm watch: first event", time.monotonic() - start))
        self.assertTrue(lines, cli.stderr.read() if cli.poll() is not None else "no line")
        self.assertRegex(lines[0], rf"^job {self.job_id} million active 0/{TASKS} 0%")

        client = genfarm.Client(self.scheduler.address, timeout=60)
        self.addCleanup(client.close)
        events = client.watch(self.job_id, timeout=120)
        first = self.timer.run("Python Client.watch: first event", lambda: next(events))
        self.assertEqual(first.job.frames_total, TASKS)
        self.assertEqual(first.job.stages[0].tasks_by_state, {"queued": TASKS})
        self.assertEqual(len(first.changed_tasks), 1000)
        self.assertEqual([t.index for t in first.changed_tasks[:3]], [0, 1, 2])
        self.assertTrue(first.tasks_truncated)

        self.timer.run("PauseJob", lambda: client.pause(self.job_id))
        paused = self.timer.run("Python Client.watch: the pause's event", lambda: next(events))
        self.assertEqual(paused.job.state, "paused")
        self.assertLessEqual(len(paused.changed_tasks), 1000)
        self.timer.run("genfarm watch: the pause's event",
                       lambda: cli_lines(2, 30))
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[1], rf"^job {self.job_id} million paused 0/{TASKS}")
        events.close()  # stop watching
        cli.kill()
        self.timer.run("ResumeJob", lambda: client.resume(self.job_id))
        self.assertEqual(client.get(self.job_id).state, "active")

        tasks = self.timer.run("Python Client.iter_tasks: first 5000 queued",
                               lambda: [t for _, t in zip(range(5000), client.iter_tasks(
                                   self.job_id, state="queued"))])
        self.assertEqual(len(tasks), 5000)

    # ---------- the dashboard ----------

    def api(self, path):
        status, body = http_get(f"http://127.0.0.1:{self.scheduler.http_port}{path}")
        self.assertEqual(status, 200, body[:500])
        return json.loads(body)

    def test_5_dashboard_job_json_and_page(self):
        doc = self.timer.run("dashboard GET /api/jobs/{id} (first page)",
                             lambda: self.api(f"/api/jobs/{self.job_id}"))
        self.assertEqual(doc["tasks_total"], TASKS)
        self.assertEqual(len(doc["tasks"]), 100)
        self.assertTrue(doc["next_page_token"])
        token = urllib.parse.quote(doc["next_page_token"])
        second = self.timer.run("dashboard GET /api/jobs/{id} (next page)",
                                lambda: self.api(f"/api/jobs/{self.job_id}?page_token={token}"))
        self.assertEqual(second["tasks"][0]["index"], 100)
        queued = self.api(f"/api/jobs/{self.job_id}?state=queued&page_size=1000")
        self.assertEqual((len(queued["tasks"]), queued["tasks_matching"]), (1000, TASKS))
        status, body = http_get(f"http://127.0.0.1:{self.scheduler.http_port}"
                                f"/api/jobs/{self.job_id}?page_token=bogus")
        self.assertEqual(status, 400, body)
        self.assertIn("page_token", json.loads(body)["error"])
        jobs = self.timer.run("dashboard GET /api/jobs", lambda: self.api("/api/jobs"))
        self.assertIn(self.job_id, [j["id"] for j in jobs["jobs"]])

        from selenium import webdriver
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    f"--user-data-dir={os.path.join(self.tmp, 'chromium-profile')}"):
            options.add_argument(arg)
        driver = type(self).driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                                                      options=options)
        driver.set_page_load_timeout(60)
        wait = WebDriverWait(driver, 60, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

        # The page re-renders its task table every refresh (1.5 s): the rows are read in one
        # script call, a snapshot of one render. Reading 100 rows one WebDriver call each took
        # longer than a refresh under load, so every read met a replaced row and the wait
        # timed out with the table on screen.
        def rows():
            return driver.execute_script(
                "return [...document.querySelectorAll('#job-page #tasks tbody tr')]"
                ".map((r) => r.innerText)")

        def first_index():
            return driver.execute_script(
                "const c = document.querySelector('#job-page #tasks tbody tr td:first-child');"
                "return c ? c.innerText : null;")

        start = time.monotonic()
        driver.get(f"http://127.0.0.1:{self.scheduler.http_port}/#/jobs/{self.job_id}")
        wait.until(lambda d: len(rows()) == 100, "100 tasks (one page) in the tasks table")
        wait.until(lambda d: f"{TASKS} tasks" in d.find_element(By.ID, "tasks-note").text,
                   "the task count in the note")
        self.timer.times.append(("dashboard job page in Chromium: first page shown",
                                 time.monotonic() - start))
        bar = driver.find_element(By.CSS_SELECTOR, "#stages [role=progressbar][data-stage=upres]")
        self.assertEqual(bar.get_attribute("aria-valuemax"), str(TASKS))
        self.assertIn("1000000 queued", driver.find_element(By.ID, "stages").text)
        self.assertEqual(first_index(), "0")

        start = time.monotonic()
        driver.find_element(By.ID, "tasks-next").click()
        wait.until(lambda d: first_index() == "100", "the second page (tasks 100-199)")
        self.timer.times.append(("dashboard job page: next page", time.monotonic() - start))
        driver.save_screenshot(os.path.join(lib.BIN_DIR, "dashboard-million-screenshot.png"))
        driver.find_element(By.ID, "tasks-prev").click()
        wait.until(lambda d: first_index() == "0", "back on the first page")
        self.assertTrue(re.search(r"page 1\b", driver.find_element(By.ID, "tasks-note").text))

    # ---------- last: every task changes at once ----------

    def test_6_a_cancel_of_every_task_ends_the_watches_with_bounded_events(self):
        client = genfarm.Client(self.scheduler.address, timeout=120)
        self.addCleanup(client.close)
        events = client.watch(self.job_id, timeout=300)
        next(events)
        cli = subprocess.Popen([lib.binary("client", "genfarm"), "--scheduler", self.scheduler.address,
                                "watch", str(self.job_id)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (cli.kill(), cli.wait(), cli.stdout.close(), cli.stderr.close()))
        self.assertTrue(cli.stdout.readline())  # its first event: the watch is on
        self.timer.run("CancelJob (all 1,000,000 tasks change; acknowledged when durable)",
                       lambda: client.cancel(self.job_id))
        rest = self.timer.run("Python Client.watch: events to the end", lambda: list(events))
        last = rest[-1]
        self.assertEqual(last.job.state, "canceled")
        self.assertEqual(last.job.stages[0].tasks_by_state, {"canceled": TASKS})
        self.assertTrue(any(e.tasks_truncated for e in rest))
        self.assertTrue(all(len(e.changed_tasks) <= 1000 for e in rest))
        out, err = self.timer.run("genfarm watch: to the end", lambda: cli.communicate(timeout=120))
        self.assertEqual(cli.returncode, 1, out + err)  # the job did not succeed
        self.assertIn(f"job {self.job_id} (million) canceled: 0/{TASKS} frames", out)


if __name__ == "__main__":
    unittest.main()
