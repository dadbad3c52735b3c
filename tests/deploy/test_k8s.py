"""Renders the Kustomize overlays of deploy/k8s with `kubectl kustomize` (offline) and checks
the objects a cluster would get: kinds, probes, GPU requests, PodDisruptionBudgets, that
every flag is one the binaries define (or a documented PLANNED one, in the studio overlay
only), that the KEDA trigger's query names metrics the scheduler exports, and, when the
scheduler is built, that every policy flag file starts a real scheduler.

    /usr/bin/python3 tests/deploy/test_k8s.py       # ctest -L deploy
Skips (exit 77) only when no kubectl >= 1.22 is installed; GENFARM_KUBECTL picks another one.
"""
import pathlib
import re
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from deploy_common import (BIN_DIR, PLANNED_SCHEDULER_FLAGS, REPO,  # noqa: E402
                           flag_file_args, main, parse_flags, run, scheduler_flags,
                           scheduler_metrics, tool, unknown_flags, worker_flags)
from genfarm_testlib import documented_metrics  # noqa: E402

K8S = REPO / "deploy/k8s"
KUBECTL = tool("kubectl", "GENFARM_KUBECTL")


def kubectl_problem():
    """Why KUBECTL cannot render these overlays, or None. kubectl embeds kustomize; before
    1.21 that is kustomize v2.0.3 (Debian bookworm's kubernetes-client 1.20), which cannot
    read `resources: [../../base]` or `patches:`; 1.21's v4.0.5 has no `labels:` field.
    Rendered here with kubectl 1.32 (kustomize v5.5.0)."""
    if not KUBECTL:
        return ("kubectl not found (it renders the Kustomize overlays): install kubectl >= 1.22 "
                "or set GENFARM_KUBECTL")
    out = run([KUBECTL, "version", "--client"]).stdout
    m = re.search(r'Minor:"(\d+)|Client Version: v1\.(\d+)', out)
    if m and int(m.group(1) or m.group(2)) < 22:
        return (f"{KUBECTL} is kubectl 1.{m.group(1) or m.group(2)}, whose kustomize is too old for "
                "these overlays: use kubectl >= 1.22 (GENFARM_KUBECTL)")
    return None


KUBECTL_PROBLEM = kubectl_problem()
OVERLAYS = ["dev", "studio"]
NAMESPACE = "genfarm"


def render(path):
    """The objects `kubectl kustomize PATH` prints, as dicts."""
    r = run([KUBECTL, "kustomize", str(path)])
    if r.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{r.stderr}")
    return [o for o in yaml.safe_load_all(r.stdout) if o]


def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}/{name}, found {len(found)}")
    return found[0]


def container(deployment, name):
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def configmap_flags(objs, deployment):
    """The flag-file lines of the ConfigMap the scheduler mounts as its policy."""
    vols = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    cm = one(objs, "ConfigMap", vols["policy"]["configMap"]["name"])
    return flag_file_args(cm["data"]["scheduler.flags"])


@unittest.skipIf(KUBECTL_PROBLEM, KUBECTL_PROBLEM)
class KustomizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rendered = {o: render(K8S / "overlays" / o) for o in OVERLAYS}
        cls.base = render(K8S / "base")

    def test_kustomizations_are_local(self):
        # Offline rendering: no remote bases or resources (URLs, git refs).
        for k in K8S.rglob("kustomization.yaml"):
            doc = yaml.safe_load(k.read_text())
            for entry in doc.get("resources", []) + doc.get("components", []):
                self.assertNotRegex(entry, r"://|^git@|github\.com", f"{k}: remote resource {entry}")
                self.assertTrue((k.parent / entry).exists(), f"{k}: {entry} does not exist")

    def test_kinds(self):
        common = {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment",
                  "PodDisruptionBudget", "PersistentVolumeClaim"}
        for overlay, objs in self.rendered.items():
            kinds = {o["kind"] for o in objs}
            self.assertLessEqual(common, kinds, overlay)
            for o in objs:
                if o["kind"] != "Namespace":
                    self.assertEqual(o["metadata"].get("namespace"), NAMESPACE,
                                     f"{overlay}: {o['kind']}/{o['metadata']['name']}")
        self.assertIn("ScaledObject", {o["kind"] for o in self.rendered["studio"]})
        self.assertNotIn("ScaledObject", {o["kind"] for o in self.rendered["dev"]})

    def test_scheduler_probes_use_grpc_health_on_the_grpc_port(self):
        for overlay, objs in list(self.rendered.items()) + [("base", self.base)]:
            c = container(one(objs, "Deployment", "genfarm-scheduler"), "scheduler")
            grpc_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
            listen = dict(parse_flags(c["args"]))["listen"]
            self.assertEqual(listen, f"0.0.0.0:{grpc_port}", overlay)
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                self.assertEqual(c[probe]["grpc"]["port"], grpc_port, f"{overlay} {probe}")
            # Readiness on service "" (NOT_SERVING on a --ha standby: only the leader is an
            # endpoint); startup and liveness on the service every live scheduler serves, so
            # a standby is not restarted over and over.
            self.assertEqual(c["readinessProbe"]["grpc"].get("service", ""), "", overlay)
            for probe in ("startupProbe", "livenessProbe"):
                self.assertEqual(c[probe]["grpc"].get("service"), "genfarm.liveness",
                                 f"{overlay} {probe}")

    def test_scheduler_replicas_and_store(self):
        dev = one(self.rendered["dev"], "Deployment", "genfarm-scheduler")
        self.assertEqual(dev["spec"]["replicas"], 1)
        self.assertEqual(dev["spec"]["strategy"]["type"], "Recreate")
        vols = {v["name"]: v for v in dev["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(set(vols["data"]) - {"name"}, {"persistentVolumeClaim"})
        one(self.rendered["dev"], "PersistentVolumeClaim", vols["data"]["persistentVolumeClaim"]["claimName"])
        studio = one(self.rendered["studio"], "Deployment", "genfarm-scheduler")
        self.assertEqual(studio["spec"]["replicas"], 2)
        flags = dict(parse_flags(container(studio, "scheduler")["args"]))
        self.assertEqual(flags["store"], "$(GENFARM_STORE)")
        # Two replicas on PostgreSQL elect a leader; the standby names it by pod IP.
        self.assertIn("ha", flags)
        self.assertEqual(flags["advertise"], "$(POD_IP):7070")
        dev_flags = dict(parse_flags(container(dev, "scheduler")["args"]))
        self.assertNotIn("ha", dev_flags, "--ha needs a PostgreSQL store")
        # Workers find the leader among every scheduler pod (headless, not-ready included).
        peers = one(self.rendered["studio"], "Service", "genfarm-scheduler-peers")
        self.assertEqual(peers["spec"]["clusterIP"], "None")
        self.assertTrue(peers["spec"]["publishNotReadyAddresses"])
        worker = container(one(self.rendered["studio"], "Deployment", "genfarm-worker"), "worker")
        self.assertEqual(dict(parse_flags(worker["args"]))["scheduler"],
                         "genfarm-scheduler-peers:7070")
        env = {e["name"]: e for e in container(studio, "scheduler")["env"]}
        self.assertEqual(env["GENFARM_STORE"]["valueFrom"]["secretKeyRef"]["name"], "genfarm-postgres")

    def test_flags_are_real_and_planned_ones_only_in_studio(self):
        for overlay, objs in list(self.rendered.items()) + [("base", self.base)]:
            sched = one(objs, "Deployment", "genfarm-scheduler")
            args = container(sched, "scheduler")["args"] + configmap_flags(objs, sched)
            unknown = set(unknown_flags(args, scheduler_flags()))
            planned = unknown & PLANNED_SCHEDULER_FLAGS
            self.assertEqual(unknown - planned, set(), f"{overlay}: flags genfarm-scheduler does not have")
            if overlay != "studio":
                self.assertEqual(planned, set(), f"{overlay} uses a planned flag")
            worker = container(one(objs, "Deployment", "genfarm-worker"), "worker")
            self.assertEqual(unknown_flags(worker["args"], worker_flags()), [], overlay)

    def test_gpu_requests(self):
        studio = container(one(self.rendered["studio"], "Deployment", "genfarm-worker"), "worker")
        self.assertEqual(int(studio["resources"]["limits"]["nvidia.com/gpu"]), 1)
        dev = one(self.rendered["dev"], "Deployment", "genfarm-worker")
        self.assertNotIn("nvidia.com/gpu", yaml.safe_dump(dev), "dev workers are CPU workers")

    def test_every_container_has_requests_and_a_memory_limit(self):
        for overlay, objs in self.rendered.items():
            for d in (o for o in objs if o["kind"] == "Deployment"):
                for c in d["spec"]["template"]["spec"]["containers"]:
                    self.assertIn("cpu", c["resources"]["requests"], f"{overlay} {c['name']}")
                    self.assertIn("memory", c["resources"]["requests"], f"{overlay} {c['name']}")
                    self.assertIn("memory", c["resources"]["limits"], f"{overlay} {c['name']}")
                    self.assertIs(c["securityContext"]["allowPrivilegeEscalation"], False)
                self.assertTrue(d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"])

    def test_worker_volumes_and_drain(self):
        for overlay, objs in self.rendered.items():
            d = one(objs, "Deployment", "genfarm-worker")
            spec = d["spec"]["template"]["spec"]
            c = container(d, "worker")
            vols = {v["name"]: v for v in spec["volumes"]}
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            flags = dict(parse_flags(c["args"]))
            # The model repository: a PVC, mounted read-only where --models points.
            self.assertTrue(vols["models"]["persistentVolumeClaim"]["readOnly"])
            self.assertTrue(mounts["models"]["readOnly"])
            self.assertEqual(mounts["models"]["mountPath"], flags["models"])
            one(objs, "PersistentVolumeClaim", vols["models"]["persistentVolumeClaim"]["claimName"])
            one(objs, "PersistentVolumeClaim", vols["frames"]["persistentVolumeClaim"]["claimName"])
            # SIGTERM drains for --drain_grace_seconds; the kubelet must wait longer.
            self.assertGreater(spec["terminationGracePeriodSeconds"], float(flags["drain_grace_seconds"]))
            self.assertEqual(one(objs, "ServiceAccount", spec["serviceAccountName"])["kind"], "ServiceAccount")
            # TLS secrets are mounted but optional: no TLS flags exist yet.
            for o in (d, one(objs, "Deployment", "genfarm-scheduler")):
                tls = next(v for v in o["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
                self.assertTrue(tls["secret"]["optional"])

    def test_pdbs_and_services_select_the_pods(self):
        for overlay, objs in self.rendered.items():
            pods = {n: one(objs, "Deployment", n)["spec"]["template"]["metadata"]["labels"]
                    for n in ("genfarm-scheduler", "genfarm-worker")}
            pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
            for name, labels in pods.items():
                self.assertTrue(any(selects(p["spec"]["selector"], labels) for p in pdbs),
                                f"{overlay}: no PodDisruptionBudget for {name}")
            sched = container(one(objs, "Deployment", "genfarm-scheduler"), "scheduler")
            port_names = {p["name"] for p in sched["ports"]}
            services = [o for o in objs if o["kind"] == "Service"]
            self.assertEqual({p["targetPort"] for s in services for p in s["spec"]["ports"]}, {"grpc", "http"})
            for s in services:
                self.assertTrue(all(pods["genfarm-scheduler"].get(k) == v
                                    for k, v in s["spec"]["selector"].items()), s["metadata"]["name"])
                self.assertLessEqual({p["targetPort"] for p in s["spec"]["ports"]}, port_names)

    def test_keda_scales_workers_on_a_metric_the_scheduler_exports(self):
        objs = self.rendered["studio"]
        so = one(objs, "ScaledObject", "genfarm-worker")
        target = so["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["name"]), ("Deployment", "genfarm-worker"))
        self.assertNotIn("replicas", one(objs, "Deployment", "genfarm-worker")["spec"],
                         "the HPA owns the worker count")
        (trigger,) = so["spec"]["triggers"]
        self.assertEqual(trigger["type"], "prometheus")
        meta = trigger["metadata"]
        self.assertRegex(meta["serverAddress"], r"^https?://[\w.-]+:\d+$")
        self.assertGreater(float(meta["threshold"]), 0)
        exported = scheduler_metrics()
        documented = documented_metrics()
        names = set(re.findall(r"\bgenfarm_\w+", meta["query"]))
        self.assertIn("genfarm_scheduler_queue_depth", names)
        for n in names:
            self.assertIn(n, exported, f"{n} is not a metric in scheduler/metrics/scheduler_metrics.h")
            self.assertEqual(exported[n], "gauge", n)
            self.assertEqual(documented.get(n), "gauge", f"{n} in docs/metrics.md")
        # Threshold = slots per worker: the query counts slots wanted.
        slots = dict(parse_flags(container(one(objs, "Deployment", "genfarm-worker"), "worker")["args"]))["slots"]
        self.assertEqual(float(meta["threshold"]), float(slots))

    @unittest.skipUnless(tool("promtool"), "promtool not found (prometheus package)")
    def test_keda_query_is_valid_promql(self):
        so = one(self.rendered["studio"], "ScaledObject", "genfarm-worker")
        rules = {"groups": [{"name": "keda", "rules": [
            {"record": "genfarm:keda_query", "expr": so["spec"]["triggers"][0]["metadata"]["query"]}]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(rules, f)
            f.flush()
            r = run([tool("promtool"), "check", "rules", f.name])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_monitors_scrape_the_http_ports(self):
        objs = self.rendered["studio"]
        sm = one(objs, "ServiceMonitor", "genfarm-scheduler")
        http = one(objs, "Service", "genfarm-scheduler-http")
        self.assertTrue(all(http["metadata"]["labels"].get(k) == v
                            for k, v in sm["spec"]["selector"]["matchLabels"].items()))
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "http")
        pm = one(objs, "PodMonitor", "genfarm-worker")
        worker = one(objs, "Deployment", "genfarm-worker")
        self.assertTrue(selects(pm["spec"]["selector"], worker["spec"]["template"]["metadata"]["labels"]))
        self.assertIn("http", {p["name"] for p in container(worker, "worker")["ports"]})


SCHEDULER_BIN = BIN_DIR / "scheduler/genfarm-scheduler"


@unittest.skipUnless(SCHEDULER_BIN.exists(), f"{SCHEDULER_BIN} not built")
class PolicyFlagFilesTest(unittest.TestCase):
    """Every scheduler flag file of the deployment starts a real scheduler (loopback, port 0):
    the values parse, not just the names."""

    def test_flag_files_start_a_scheduler(self):
        from genfarm_testlib.procs import ProcessGroup, start_scheduler

        files = sorted(K8S.rglob("scheduler.flags")) + [REPO / "deploy/compose/scheduler.flags"]
        self.assertEqual(len(files), 4)
        for flags in files:
            with self.subTest(str(flags.relative_to(REPO))), tempfile.TemporaryDirectory() as tmp:
                group = ProcessGroup(tmp)
                try:
                    # Returns once the --port_file says both ports are bound; a bad flag
                    # makes the scheduler exit at once, which fails here with its log.
                    start_scheduler(group, f"{tmp}/data", f"--flagfile={flags}")
                finally:
                    group.stop_all()


if __name__ == "__main__":
    main()
