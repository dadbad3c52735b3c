"""Shared helpers of the deployment tests (tests/deploy): the real flags and metric names
read from the sources, flag-argument parsing, and a unittest main that exits 77 (ctest's
SKIP_RETURN_CODE) when every test was skipped, so a missing tool shows as "Skipped".

    from deploy_common import REPO, scheduler_flags, parse_flags, main
    self.assertLessEqual({n for n, _ in parse_flags(args)}, scheduler_flags())
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import unittest

REPO = pathlib.Path(os.environ.get("GENFARM_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[2])
BIN_DIR = pathlib.Path(os.environ.get("GENFARM_BIN_DIR") or REPO / "build")

# Flags that deployment files use before the code has them. Each may appear only where a
# file says PLANNED (the studio overlay, the compose HA services). When a flag lands in
# scheduler/main.cc it counts as real and its entry here can go.
PLANNED_SCHEDULER_FLAGS = set()  # --store (PostgreSQL) landed; leader election flags will come here

# Abseil's own flags (absl/flags/parse.cc), accepted by every binary.
ABSL_FLAGS = {"flagfile", "fromenv", "tryfromenv", "undefok", "help", "helpfull", "helpshort",
              "helppackage", "version", "only_check_args"}

_FLAG_RE = re.compile(r"ABSL_FLAG\(\s*[\w:<>]+\s*,\s*(\w+)\s*,")


def _flags_of(main_cc):
    names = set(_FLAG_RE.findall((REPO / main_cc).read_text()))
    if not names:
        raise AssertionError(f"no ABSL_FLAG found in {main_cc}: has the flag macro changed?")
    return names | ABSL_FLAGS


def scheduler_flags():
    """Flag names genfarm-scheduler defines (scheduler/main.cc), plus Abseil's."""
    return _flags_of("scheduler/main.cc")


def worker_flags():
    """Flag names genfarm-worker defines (worker/main.cc), plus Abseil's."""
    return _flags_of("worker/main.cc")


def parse_flags(args):
    """[(name, value)] of the --name=value / --name arguments (anything else is an error)."""
    out = []
    for a in args:
        m = re.fullmatch(r"--(\w+)(?:=(.*))?", a, re.S)
        if not m:
            raise AssertionError(f"argument {a!r} is not --flag=value")
        out.append((m.group(1), m.group(2)))
    return out


def flag_file_args(text):
    """The arguments of an Abseil flag file: one per line, '#' comments and blanks skipped."""
    return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]


def unknown_flags(args, known):
    """Flag names in args that the binary does not define."""
    return sorted({n for n, _ in parse_flags(args)} - known)


def scheduler_metrics():
    """{metric name: prometheus-cpp builder kind} exported by the scheduler, read from
    scheduler/metrics/scheduler_metrics.h (the names) and .cc (Build<Kind>().Name(kX))."""
    header = (REPO / "scheduler/metrics/scheduler_metrics.h").read_text()
    names = dict(re.findall(r"inline constexpr char (k\w+)\[\]\s*=\s*\"(genfarm_\w+)\"", header))
    source = (REPO / "scheduler/metrics/scheduler_metrics.cc").read_text()
    kinds = dict((k, kind.lower()) for kind, k in re.findall(r"Build(\w+)\(\)\s*\.Name\((k\w+)\)", source))
    if not names or not kinds:
        raise AssertionError("no metric names found in scheduler/metrics: has the layout changed?")
    return {names[k]: kinds.get(k, "?") for k in names}


def tool(name, env=None):
    """Path of a tool ($env overrides), or None."""
    return (os.environ.get(env) if env else None) or shutil.which(name)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def main():
    """unittest main; exit 77 when every test was skipped (ctest SKIP_RETURN_CODE 77)."""
    runner = unittest.TextTestRunner(verbosity=2)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = runner.run(suite)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun and len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0)
