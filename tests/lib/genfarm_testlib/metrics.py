"""Reading /metrics with prometheus_client's text parser (Debian python3-prometheus-client).

    families = scrape_metrics("http://127.0.0.1:7080/metrics")
    sample_value(families, "genfarm_scheduler_frames_completed_total", {"model": "esrgan-slim-x2"})
"""

import os
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from .env import SOURCE_DIR


def http_get(url, timeout=5.0):
    """The body of a GET as text; raises on HTTP and connection errors."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def parse_metrics(exposition):
    """A text exposition as a list of prometheus_client Metric families."""
    return list(text_string_to_metric_families(exposition))


def scrape_metrics(url, timeout=5.0):
    """GET ``url`` and parse it: a list of Metric families (each with .name, .type, .samples)."""
    return parse_metrics(http_get(url, timeout))


def _families(metrics):
    return parse_metrics(metrics) if isinstance(metrics, str) else metrics


def metric_names(metrics):
    """Every family name and series name (with _total, _bucket, _sum, _count) exported."""
    names = set()
    for family in _families(metrics):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def sample_value(metrics, name, labels=None):
    """Sum of the samples of series ``name`` whose labels include ``labels`` (0 if none)."""
    labels = labels or {}
    return sum(sample.value for family in _families(metrics) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def sample_labels(metrics):
    """Every label name used by any sample (to check labels stay bounded)."""
    return {key for family in _families(metrics) for sample in family.samples
            for key in sample.labels}


def documented_metrics():
    """{metric name: type} from the tables of docs/metrics.md."""
    with open(os.path.join(SOURCE_DIR, "docs", "metrics.md")) as f:
        return dict(re.findall(r"^\| `(genfarm_\w+)` \| (\w+) \|", f.read(), re.M))
