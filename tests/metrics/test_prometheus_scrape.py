"""A real Prometheus server scrapes a real scheduler and worker while a job runs.

Acceptance for issue 5: `promtool check metrics` reports nothing for either /metrics after
a job, and Prometheus's query API says the frames-completed counter equals the job's frame
count. The worker is found the way deploy/prometheus/prometheus.yml finds workers: through
the scheduler's /sd/workers (Prometheus HTTP service discovery). The alert rules are
loaded too, and must evaluate without errors.
"""

import json
import os
import shutil
import unittest
import urllib.parse

import genfarm_testlib as lib
from metrics_farm import SOURCE_DIR, MetricsFarm, http_get, wait_for

FRAMES = 8


class PrometheusScrapeTest(unittest.TestCase):
    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port, urllib.parse.urlencode({"query": expr}))
        body = json.loads(http_get(url))
        self.assertEqual(body["status"], "success", body)
        return body["data"]["result"]

    def scalar(self, expr):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def test_prometheus_sees_every_completed_frame(self):
        prometheus = shutil.which("prometheus")
        if prometheus is None:
            self.skipTest("prometheus not installed")
        farm = MetricsFarm(self)
        farm.start_scheduler()
        _, worker_url = farm.start_worker("w1")
        farm.make_plates(FRAMES)
        farm.submit(farm.upres_job("sh010_upres", frames=FRAMES))

        # 1. promtool check metrics is silent on both endpoints.
        for url in (farm.scheduler_metrics_url, worker_url):
            code, output = farm.promtool_check_metrics(farm.scrape(url))
            self.assertEqual((code, output), (0, ""), "promtool check metrics %s" % url)

        # 2. A real Prometheus scraping both every second.
        config = os.path.join(farm.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: genfarm-scheduler
    static_configs:
      - targets: ["%s"]
  - job_name: genfarm-workers
    http_sd_configs:
      - url: http://%s/sd/workers
        refresh_interval: 1s
""" % (os.path.join(SOURCE_DIR, "deploy", "prometheus", "alerts.yml"), farm.scheduler_http, farm.scheduler_http))
        prom = farm.spawn("prometheus", [
            prometheus, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(farm.dir, "tsdb"),
            "--web.listen-address=127.0.0.1:0", "--log.level=warn"])
        # Port 0, read back from the kernel's socket table: never bind-then-release.
        self.prom_port = lib.wait_listening_port(prom, timeout=30)
        wait_for(lambda: prom.check_alive() or
                 "Ready" in http_get("http://127.0.0.1:%d/-/ready" % self.prom_port), 30, "prometheus ready")

        completed = wait_for(lambda: self.scalar("sum(genfarm_scheduler_frames_completed_total)") == FRAMES,
                             60, "sum(genfarm_scheduler_frames_completed_total) == %d in Prometheus" % FRAMES,
                             interval=0.5)
        self.assertTrue(completed)
        self.assertEqual(self.scalar('sum(genfarm_scheduler_frames_completed_total{model="esrgan-slim-x2"})'), FRAMES)
        wait_for(lambda: self.scalar("sum(genfarm_worker_frames_processed_total)") == FRAMES, 30,
                 "the worker's frames in Prometheus", interval=0.5)
        up = {r["metric"]["job"]: r["value"][1] for r in self.query("up")}
        self.assertEqual(up, {"genfarm-scheduler": "1", "genfarm-workers": "1"})
        worker_target = self.query('up{job="genfarm-workers"}')[0]["metric"]
        self.assertEqual(worker_target.get("worker"), "w1")
        self.assertEqual(self.scalar("sum(genfarm_scheduler_connected_workers)"), 1)

        # 3. The alert rules load and evaluate cleanly against real series.
        def rules_evaluated():
            groups = json.loads(http_get("http://127.0.0.1:%d/api/v1/rules" % self.prom_port))["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

        rules = wait_for(rules_evaluated, 20, "alert rules evaluated", interval=0.5)
        self.assertEqual([r["name"] for r in rules if r["health"] != "ok"], [])
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        self.assertNotIn("GenFarmNoWorkers", firing)
        self.assertNotIn("GenFarmSchedulerStoreFailing", firing)


if __name__ == "__main__":
    unittest.main()
