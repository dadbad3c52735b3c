"""Checks deploy/compose with `docker-compose config` (the file is valid and resolves) and the
resolved services: PostgreSQL, two schedulers, two workers, Prometheus and Grafana, images
built from deploy/docker/Dockerfile targets, real flags (the PLANNED --store only in the HA
file, none in the SQLite override), a drain-long stop grace for workers, Prometheus scraping
both schedulers and both workers (promtool check config), and Grafana's provisioning files.

    /usr/bin/python3 tests/deploy/test_compose.py       # ctest -L deploy
Skips (exit 77) only when docker-compose is missing (deploy/install-deps.sh installs it).
No container is started: this machine has no Docker engine.
"""
import pathlib
import re
import shutil
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from deploy_common import (PLANNED_SCHEDULER_FLAGS, REPO, flag_file_args, main, parse_flags,  # noqa: E402
                           run, scheduler_flags, tool, unknown_flags, worker_flags)

COMPOSE_DIR = REPO / "deploy/compose"
HA = [COMPOSE_DIR / "docker-compose.yml"]
SQLITE = HA + [COMPOSE_DIR / "docker-compose.sqlite.yml"]
COMPOSE = tool("docker-compose", "GENFARM_DOCKER_COMPOSE")
DOCKERFILE = REPO / "deploy/docker/Dockerfile"


def compose(files, *args):
    cmd = [COMPOSE, "--project-directory", str(COMPOSE_DIR)]
    for f in files:
        cmd += ["-f", str(f)]
    # No .env, no GENFARM_* from the caller: the defaults in the file are what is checked.
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": tempfile.gettempdir()}
    return run(cmd + list(args), env=env)


def resolved(files):
    r = compose(files, "config")
    if r.returncode != 0:
        raise AssertionError(f"docker-compose config failed:\n{r.stderr}")
    return yaml.safe_load(r.stdout)


def seconds(duration):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


@unittest.skipUnless(COMPOSE, "docker-compose not found: install Debian's docker-compose "
                     "(bash deploy/install-deps.sh)")
class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ha = resolved(HA)["services"]
        cls.sqlite = resolved(SQLITE)["services"]

    def test_config_quiet_accepts_both_files(self):
        for files in (HA, SQLITE):
            r = compose(files, "config", "-q")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_services(self):
        self.assertEqual(set(self.ha), {"postgres", "scheduler-1", "scheduler-2", "worker-1",
                                        "worker-2", "prometheus", "grafana"})
        # What runs today: PostgreSQL and the standby scheduler are in the "ha" profile.
        for name in ("postgres", "scheduler-2"):
            self.assertEqual(self.sqlite[name].get("profiles"), ["ha"], name)

    def test_images_are_built_from_the_dockerfile_targets(self):
        targets = set(re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE.read_text(), re.M))
        for name, svc in self.ha.items():
            if name == "grafana":  # not packaged by Debian: the one upstream image
                self.assertNotIn("build", svc)
                continue
            build = svc["build"]
            self.assertEqual(pathlib.Path(build["context"]).resolve(), REPO.resolve(), name)
            self.assertEqual(build["dockerfile"], "deploy/docker/Dockerfile", name)
            self.assertIn(build["target"], targets, name)
        # Every stage starts from debian:bookworm or from an earlier stage.
        stages = set()
        for base, stage in re.findall(r"^FROM (\S+) AS (\w+)$", DOCKERFILE.read_text(), re.M):
            self.assertIn(base, stages | {"debian:bookworm"}, f"stage {stage}")
            stages.add(stage)

    def test_flags(self):
        for label, services, planned_ok in (("HA", self.ha, True), ("SQLite", self.sqlite, False)):
            for name, svc in services.items():
                if svc.get("profiles") == ["ha"] and not planned_ok:
                    continue  # not started by this variant
                if name.startswith("scheduler"):
                    known = scheduler_flags()
                elif name.startswith("worker"):
                    known = worker_flags()
                else:
                    continue
                unknown = set(unknown_flags(svc["command"], known))
                if planned_ok:
                    self.assertLessEqual(unknown, PLANNED_SCHEDULER_FLAGS, f"{label} {name}")
                else:
                    self.assertEqual(unknown, set(), f"{label} {name}")
        flags = flag_file_args((COMPOSE_DIR / "scheduler.flags").read_text())
        self.assertEqual(unknown_flags(flags, scheduler_flags()), [])
        store = dict(parse_flags(self.ha["scheduler-1"]["command"]))["store"]
        self.assertRegex(store, r"^postgres://\w+:[^@]+@postgres:5432/\w+$")

    def test_high_availability(self):
        # Both schedulers elect a leader on the shared store and name themselves by service
        # name; the workers are given both and follow the leader. SQLite: no --ha.
        for n in ("1", "2"):
            flags = dict(parse_flags(self.ha[f"scheduler-{n}"]["command"]))
            self.assertIn("ha", flags, f"scheduler-{n}")
            self.assertEqual(flags["advertise"], f"scheduler-{n}:7070")
        self.assertNotIn("ha", dict(parse_flags(self.sqlite["scheduler-1"]["command"])))
        for name in ("worker-1", "worker-2"):
            flags = dict(parse_flags(self.ha[name]["command"]))
            self.assertEqual(flags["scheduler"], "scheduler-1:7070,scheduler-2:7070", name)
        # A standby serves no HTTP: the health check must pass on the gRPC port alone.
        test = " ".join(self.ha["scheduler-2"]["healthcheck"]["test"])
        self.assertIn("/dev/tcp/127.0.0.1/7070", test)

    def test_worker_stop_grace_covers_the_drain(self):
        for name in ("worker-1", "worker-2"):
            svc = self.ha[name]
            flags = dict(parse_flags(svc["command"]))
            self.assertEqual(svc.get("stop_signal", "SIGTERM"), "SIGTERM")
            self.assertGreater(seconds(svc["stop_grace_period"]), float(flags["drain_grace_seconds"]))
            # The reported /metrics address is HOSTNAME:port: the hostname must resolve.
            self.assertEqual(svc["hostname"], name)
            self.assertEqual(flags["id"], name)
            mounts = {v.split(":")[1]: v for v in svc["volumes"]}
            self.assertTrue(mounts[flags["models"]].endswith(":ro"))

    def test_prometheus_scrapes_both_schedulers_and_both_workers(self):
        config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
        targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
        for name, svc in self.ha.items():
            if name.startswith(("scheduler", "worker")):
                port = dict(parse_flags(svc["command"]))["http"].rsplit(":", 1)[1]
                self.assertIn(f"{name}:{port}", targets)
        mounts = dict(v.split(":")[:2] for v in self.ha["prometheus"]["volumes"] if v.startswith("/"))
        for f in ("prometheus.yml", "alerts.yml"):
            self.assertIn(f"/etc/genfarm/prometheus/{f}", mounts.values())
        for host in mounts:
            self.assertTrue(pathlib.Path(host).exists(), host)

    @unittest.skipUnless(tool("promtool"), "promtool not found (prometheus package)")
    def test_prometheus_config_is_valid(self):
        # As mounted in the container: the rules file beside the config.
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(COMPOSE_DIR / "prometheus.yml", tmp)
            shutil.copy(REPO / "deploy/prometheus/alerts.yml", tmp)
            r = run([tool("promtool"), "check", "config", f"{tmp}/prometheus.yml"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_grafana_is_provisioned_from_deploy_grafana(self):
        mounts = {}
        for v in self.ha["grafana"]["volumes"]:
            host, container = v.split(":")[:2]
            mounts[container] = host
        dashboards = yaml.safe_load(pathlib.Path(mounts["/etc/grafana/provisioning/dashboards/genfarm.yml"]).read_text())
        folder = dashboards["providers"][0]["options"]["path"]
        self.assertTrue(any(c.startswith(folder + "/") and c.endswith(".json") and pathlib.Path(h).exists()
                            for c, h in mounts.items()), "the dashboard JSON is not mounted in the provider's folder")
        ds = yaml.safe_load(pathlib.Path(mounts["/etc/grafana/provisioning/datasources/genfarm.yml"]).read_text())
        self.assertEqual(ds["datasources"][0]["url"], "http://prometheus:9090")


if __name__ == "__main__":
    main()
