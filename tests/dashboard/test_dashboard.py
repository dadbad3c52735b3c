#!/usr/bin/python3
"""The web dashboard, checked the way an ops person sees it: a real genfarm-scheduler and
genfarm-worker run an upres job on loopback while headless Chromium (Selenium) shows the
dashboard. Assertions go through the rendered page (WebDriver element queries), not the
HTML source: the job name, a progress value that moves, the job page's thumbnails (an
<img> that decoded) and the workers page. Screenshots land in the build directory.

    GENFARM_BIN_DIR=build /usr/bin/python3 -m unittest -v test_dashboard

Environment (set by ctest): GENFARM_BIN_DIR, GENFARM_SOURCE_DIR, GENFARM_MODELS.
GENFARM_DASHBOARD_KEEP=1 keeps the temporary directory.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import genfarm_testlib as lib
from genfarm_testlib import BIN_DIR, MODELS, PYTHON, SOURCE_DIR

JOB_NAME = "sh042_dashboard_upres"
FRAMES = 12

# The page and its JSON change under the test (a document fetched a moment ago may lack a
# field, an element may have been re-rendered): any exception means "not yet".
wait_until = functools.partial(lib.wait_for, transient=(Exception,))


def http_get(url):
    """(status, content type, body bytes) without raising on HTTP errors."""
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status, res.headers.get("Content-Type", ""), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="genfarm-dashboard-")
        self.procs = lib.ProcessGroup(self.tmp)
        self.driver = None
        self.start_scheduler()

    def tearDown(self):
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001 (best effort; the session is killed below)
                pass
        failed = lib.test_failed(self)
        self.procs.stop_all()
        if failed:
            self.procs.dump_logs(lines=60, stream=sys.stdout)
        if os.environ.get("GENFARM_DASHBOARD_KEEP"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------- farm ----------

    def start_scheduler(self):
        # The scheduler knows the model before the worker says hello, so the job submitted
        # first is planned at once (a model nobody advertised would make it wait, unplanned).
        catalog = os.path.join(self.tmp, "models.yaml")
        with open(catalog, "w") as f:
            f.write("models:\n  - {name: esrgan-slim-x2, kind: upscale}\n")
        scheduler = lib.start_scheduler(self.procs, os.path.join(self.tmp, "scheduler"),
                                        "--web_root", os.path.join(SOURCE_DIR, "scheduler", "web"),
                                        "--model_catalog", catalog)
        self.grpc = scheduler.address
        self.base = f"http://127.0.0.1:{scheduler.http_port}"

    def start_worker(self):
        lib.start_worker(self.procs, self.grpc, "w1", models=MODELS)

    def api(self, path):
        status, _, body = http_get(self.base + path)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def submit_job(self):
        plates = os.path.join(self.tmp, "plates", "p.####.exr")
        subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "examples", "make_plates.py"), plates, "1", str(FRAMES),
                        "--size", "64x48"], check=True, capture_output=True)
        spec = os.path.join(self.tmp, "job.yaml")
        with open(spec, "w") as f:
            f.write(f"""name: {JOB_NAME}
project: dashboard_test
shot: sh042
priority: 70
stages:
  - name: upres
    model: esrgan-slim-x2
    input: {plates}
    output: {os.path.join(self.tmp, "out", "p_up.####.exr")}
    frames: 1-{FRAMES}
    chunk: 1
""")
        out = lib.run_cli(self.grpc, "submit", spec, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return int(re.search(r"submitted job (\d+)", out.stdout + out.stderr).group(1))

    # ---------- browser ----------

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,900",
                    f"--user-data-dir={os.path.join(self.tmp, 'chromium-profile')}"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(30)
        return self.driver

    def wait(self, timeout=60):
        # The page re-renders every refresh, so an element found a moment ago may be gone:
        # conditions re-query and stale references just mean "try again".
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

    def text_of(self, css):
        """Texts of the elements matching `css` right now."""
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def loaded_thumbnails(self):
        """[(naturalWidth, src)] of the job page's thumbnails that have decoded."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#thumbnails img')]"
            ".filter((i) => i.complete && i.naturalWidth > 0).map((i) => [i.naturalWidth, i.src]);")

    def wait_for_refreshes(self, job_id, count):
        """Waits until the job page has fetched and rendered its job `count` more times."""
        # Resource timings of /api/jobs/ID?... fetches: the page fetches again only after it
        # has rendered the previous answer, so count + 1 fetches mean count renders.
        script = ("return performance.getEntriesByType('resource')"
                  f".filter((e) => e.name.includes('/api/jobs/{job_id}?')).length;")
        self.driver.execute_script("performance.setResourceTimingBufferSize(100000);"
                                   "performance.clearResourceTimings();")
        self.wait(30).until(lambda d: d.execute_script(script) >= count + 1,
                            f"{count} refreshes of the job page")

    def screenshot(self, name):
        path = os.path.join(BIN_DIR, name)
        self.driver.save_screenshot(path)
        return path

    # ---------- tests ----------

    def test_live_dashboard_shows_job_progress_thumbnails_and_workers(self):
        driver = self.start_browser()
        driver.get(self.base + "/")
        self.wait(30).until(lambda d: d.find_elements(By.ID, "jobs"), "the jobs table")

        # Submitted before any worker exists: the job shows queued at 0/12, then moves
        # once the worker comes, without reloading the page.
        job_id = self.submit_job()
        row = f"#jobs tr[data-job-id='{job_id}']"
        bar_css = row + " [role=progressbar][data-stage=upres]"
        self.wait(30).until(lambda d: self.text_of(row + " .job-name") == [JOB_NAME],
                            "the job's name in the jobs table")
        self.wait(10).until(
            lambda d: d.find_element(By.CSS_SELECTOR, bar_css).get_attribute("aria-valuemax") == str(FRAMES),
            f"a progress bar out of {FRAMES} frames")

        self.start_worker()

        def progress(d):
            bar = d.find_element(By.CSS_SELECTOR, bar_css)
            done = int(bar.get_attribute("aria-valuenow"))
            return done > 0 and (done, bar.text)

        done, label = self.wait(90).until(progress, "frames done > 0 on the job's progress bar")
        self.assertEqual(label, f"{done}/{FRAMES}")
        self.screenshot("dashboard-jobs-screenshot.png")

        # The job page: stage progress, tasks and a thumbnail that actually decoded.
        self.wait(30).until(lambda d: d.find_element(By.CSS_SELECTOR, row + " a.job-name").click() or True,
                            "a click on the job's name")
        self.wait(30).until(lambda d: len(self.text_of("#job-page #tasks tbody tr")) == FRAMES,
                            f"{FRAMES} tasks (chunk 1) in the tasks table")
        self.wait(30).until(lambda d: JOB_NAME in self.text_of("#job-page h1")[0], "the job name as the title")
        thumbs = self.wait(60).until(lambda d: self.loaded_thumbnails(), "a thumbnail image that loaded")
        width, src = thumbs[0]
        self.assertGreater(width, 0)
        self.assertLessEqual(width, 320)  # a preview, never more than 320 px wide
        self.assertIn("/api/thumbnail?", src)
        # Let the job finish on screen so the screenshot shows a full bar and thumbnails.
        self.wait(120).until(lambda d: "succeeded" in self.text_of("#job-page dd .state"),
                             "the job to show succeeded")
        self.wait(30).until(lambda d: len(self.loaded_thumbnails()) >= 3, "several thumbnails")
        self.screenshot("dashboard-screenshot.png")

        # A finished job's task rows do not change: refreshes keep them in place, so text a
        # reader selected in the table stays selected (the page used to rebuild every row).
        first_row = driver.find_element(By.CSS_SELECTOR, "#job-page #tasks tbody tr")
        driver.execute_script("getSelection().selectAllChildren(arguments[0]);", first_row)
        selected = driver.execute_script("return getSelection().toString();")
        self.assertIn("succeeded", selected)
        self.wait_for_refreshes(job_id, 2)
        self.assertTrue(driver.execute_script("return arguments[0].isConnected;", first_row),
                        "the first task row was rebuilt by a refresh that changed nothing in it")
        self.assertEqual(driver.execute_script("return getSelection().toString();"), selected)

        # The workers page: the worker, its device and the model it has warm.
        self.wait(30).until(lambda d: d.find_element(By.CSS_SELECTOR, "nav a[data-nav=workers]").click() or True,
                            "a click on Workers")
        card = "#workers .worker[data-worker-id=w1]"
        self.wait(30).until(lambda d: "esrgan-slim-x2" in self.text_of(card + " .chip.loaded"),
                            "esrgan-slim-x2 shown as loaded on w1")
        self.wait(30).until(lambda d: "online" in self.text_of(card + " .state"), "w1 shown online")
        self.screenshot("dashboard-workers-screenshot.png")

    def test_json_api_errors_and_thumbnail_size(self):
        status, ctype, body = http_get(self.base + "/api/jobs/abc")
        self.assertEqual((status, ctype), (400, "application/json"))
        self.assertIn("job id 'abc'", json.loads(body)["error"])
        status, _, body = http_get(self.base + "/api/jobs/999")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body), {"error": "job 999 not found"})
        status, _, body = http_get(self.base + "/api/nothing")
        self.assertEqual(status, 404)
        self.assertIn("error", json.loads(body))
        self.assertEqual(self.api("/api/jobs")["jobs"], [])
        self.assertEqual(self.api("/api/farm")["workers_online"], 0)

        job_id = self.submit_job()
        self.start_worker()
        job = self.api(f"/api/jobs/{job_id}")
        self.assertEqual(job["job"]["name"], JOB_NAME)
        self.assertEqual(job["tasks_total"], FRAMES)
        thumbs = wait_until(lambda: [f for s in self.api(f"/api/jobs/{job_id}/thumbnails")["stages"]
                                     for f in s["frames"]], 90, "a finished frame in /thumbnails")
        status, ctype, body = http_get(self.base + thumbs[0]["url"])
        self.assertEqual((status, ctype), (200, "image/jpeg"))
        self.assertEqual(body[:2], b"\xff\xd8")
        self.assertLess(len(body), 30000)
        status, _, body = http_get(self.base + f"/api/thumbnail?job={job_id}&stage=upres&frame=999")
        self.assertEqual(status, 404, body)
        status, _, body = http_get(self.base + f"/api/thumbnail?job={job_id}&stage=nope&frame=1")
        self.assertEqual(status, 404, body)
        workers = self.api("/api/workers")["workers"]
        self.assertEqual([w["id"] for w in workers], ["w1"])
        # A deleted job's previews are gone with it (the store keeps them until evicted,
        # but the route serves only a job the scheduler still has).
        self.assertEqual(lib.run_cli(self.grpc, "cancel", job_id, timeout=60).returncode, 0)
        wait_until(lambda: lib.run_cli(self.grpc, "delete", job_id, timeout=60).returncode == 0,
                   60, f"job {job_id} to be deletable after its cancel")
        status, _, body = http_get(self.base + thumbs[0]["url"])
        self.assertEqual(status, 404, body)
        self.assertIn(f"job {job_id} not found", json.loads(body)["error"])


if __name__ == "__main__":
    unittest.main()
