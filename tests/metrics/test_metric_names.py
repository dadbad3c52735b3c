"""The Grafana dashboard and the alert rules only reference metrics the code exports.

Runs a real scheduler and worker, renders a good job, fails a bad one (corrupt inputs,
one retry) and loses a worker, so the event-driven families have series; then every
metric name in deploy/grafana/genfarm-dashboard.json and deploy/prometheus/alerts.yml
must appear in the live /metrics of the scheduler or the worker. The only exceptions are
families no single-machine run can trigger cheaply (cache evictions, model load
failures): those must at least be declared in worker/metrics (and are unit-tested there).
"""

import json
import os
import re
import unittest

import yaml

from genfarm_testlib import documented_metrics
from metrics_farm import SOURCE_DIR, MetricsFarm, metric_names, sample_labels, sample_value, wait_for

DASHBOARD = os.path.join(SOURCE_DIR, "deploy", "grafana", "genfarm-dashboard.json")
ALERTS = os.path.join(SOURCE_DIR, "deploy", "prometheus", "alerts.yml")
# Series Prometheus itself creates for every target.
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Event families a short loopback run cannot trigger: declared and unit-tested instead.
NOT_LIVE = {"genfarm_worker_model_evictions_total", "genfarm_worker_model_load_failures_total"}
FORBIDDEN_LABELS = {"job", "task", "frame", "attempt", "job_id", "task_id", "frame_id", "attempt_id"}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "delta", "histogram_quantile", "and", "or", "on", "le",
                "without", "avg", "max", "min", "count", "label_values", "humanizePercentage"}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":  # label_values(metric, label): only the metric is a name
            exprs.append(re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", var["definition"]))
    return dash, exprs


def alert_exprs():
    with open(ALERTS) as f:
        rules = yaml.safe_load(f)
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def referenced_metrics(exprs):
    names = set()
    for expr in exprs:
        expr = re.sub(r'"[^"]*"', '""', expr)      # label values
        expr = re.sub(r"\{[^}]*\}", "", expr)      # label matchers
        expr = re.sub(r"\[[^\]]*\]", "", expr)     # ranges
        expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
            if token not in PROMQL_WORDS and not token.startswith("$"):
                names.add(token)
    return names


def declared_names():
    out = set()
    for path in ("scheduler/metrics/scheduler_metrics.h", "worker/metrics/worker_metrics.h"):
        with open(os.path.join(SOURCE_DIR, path)) as f:
            out.update(re.findall(r'"(genfarm_[a-z_]+)"', f.read()))
    return out


def undocumented(live, documented):
    """Live genfarm_ names no docs/metrics.md row names (a histogram's series by their family,
    a counter family by its _total name)."""
    return sorted(n for n in live if n.startswith("genfarm_")
                  and not {n, n + "_total", re.sub(r"_(bucket|sum|count)$", "", n)} & documented)


class MetricNamesTest(unittest.TestCase):
    def test_dashboard_and_alerts_reference_only_exported_metrics(self):
        farm = MetricsFarm(self)
        farm.start_scheduler("--retry_backoff_seconds", "0.2", "--retry_backoff_max_seconds", "0.2")
        _, worker_url = farm.start_worker("w1")
        farm.make_plates(8)
        farm.submit(farm.upres_job("good", frames=8))
        # Corrupt inputs: the attempt fails on the worker, is retried once, then fails for good.
        os.makedirs(os.path.join(farm.dir, "bad"))
        for frame in (1, 2):
            with open(os.path.join(farm.dir, "bad", "p.%04d.exr" % frame), "w") as f:
                f.write("not an exr\n")
        bad = farm.submit(farm.upres_job("bad", frames=2, input_pattern="bad/p.####.exr", retries=1),
                          expect_success=False)
        self.assertNotEqual(bad.returncode, 0, bad.stdout)
        # A second worker that dies: the scheduler counts a lost worker.
        w2, _ = farm.start_worker("w2", http=False)
        w2.kill()
        sched = wait_for(lambda: (lambda t: t if sample_value(t, "genfarm_scheduler_workers_lost_total") >= 1
                                  else None)(farm.scrape(farm.scheduler_metrics_url)),
                         30, "a lost worker in the scheduler's metrics", interval=0.1)
        worker = farm.scrape(worker_url)

        self.assertEqual(sample_value(sched, "genfarm_scheduler_frames_completed_total",
                                      {"project": "metrics", "model": "esrgan-slim-x2"}), 8)
        self.assertEqual(sample_value(sched, "genfarm_scheduler_frames_failed_total"), 2)
        self.assertGreaterEqual(sample_value(sched, "genfarm_scheduler_retries_total"), 1)
        self.assertEqual(sample_value(worker, "genfarm_worker_frames_processed_total", {"model": "esrgan-slim-x2"}), 8)

        live = metric_names(sched) | metric_names(worker)
        declared = declared_names()
        dash, dash_exprs = dashboard_exprs()
        referenced = referenced_metrics(dash_exprs) | referenced_metrics(alert_exprs())
        self.assertTrue(any(n.startswith("genfarm_worker_") for n in referenced))
        self.assertTrue(any(n.startswith("genfarm_scheduler_") for n in referenced))
        missing = sorted(n for n in referenced - live - PROMETHEUS_BUILTINS
                         if re.sub(r"_(bucket|sum|count)$", "", n) not in (NOT_LIVE & declared)
                         and n not in (NOT_LIVE & declared))
        self.assertEqual(missing, [], "referenced by the dashboard or alerts but not exported.\nlive: %s"
                         % sorted(n for n in live if n.startswith("genfarm_")))

        # And every exported metric has its row in docs/metrics.md.
        self.assertEqual(undocumented(live, set(documented_metrics())), [], "exported but not in docs/metrics.md")

        # The dashboard covers what ops asked for.
        titles = " ".join(p.get("title", "") for p in dash["panels"]).lower()
        for topic in ("throughput", "queue", "fail", "inference", "memory", "workers"):
            self.assertIn(topic, titles)

        # Bounded labels only: no job, task, frame or attempt ids in any exported series.
        for text in (sched, worker):
            labels = sample_labels(text)
            self.assertFalse(labels & FORBIDDEN_LABELS, labels)


if __name__ == "__main__":
    unittest.main()
