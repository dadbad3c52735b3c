"""genfarm_testlib: what every GenFarm Python test shares.

ctest puts tests/lib on PYTHONPATH (with the generated protobuf stubs), so any test can:

    import genfarm_testlib as lib

    procs = lib.ProcessGroup(tmp)                       # every child, its log, cleanup
    scheduler = lib.start_scheduler(procs, data_dir)     # --listen/--http 127.0.0.1:0 + --port_file
    worker = lib.start_worker(procs, scheduler.address, "w1", models=lib.MODELS)
    lib.wait_for(lambda: "w1" in lib.run_cli(scheduler.address, "workers").stdout, 60,
                 "w1 to register")
    families = lib.scrape_metrics(scheduler.metrics_url)  # prometheus_client's text parser
    lib.sample_value(families, "genfarm_scheduler_frames_completed_total", {"model": "m"})
    worker.freeze(); worker.thaw(); worker.kill()        # SIGSTOP, SIGCONT, SIGKILL
    procs.stop_all()                                     # procs.dump_logs() on failure

Modules: env (paths from the ctest environment), wait (wait_for with a deadline), ports
(--port_file and /proc listening ports: never bind-then-release), procs (child processes
with captured logs, daemons), metrics (/metrics through prometheus_client), cases (unittest
helpers that show logs when a test failed).
"""

from .env import BIN_DIR, MODELS, PYTHON, RPC_TIMEOUT, SOURCE_DIR, TESTS_DIR, binary  # noqa: F401
from .wait import Deadline, wait_for  # noqa: F401
from .ports import listening_ports, read_port_file, wait_listening_port, wait_port_file  # noqa: F401
from .procs import (Process, ProcessGroup, SchedulerDaemon, WorkerDaemon, run_cli,  # noqa: F401
                    start_scheduler, start_worker, tail)
from .metrics import (documented_metrics, http_get, parse_metrics, metric_names, sample_labels,  # noqa: F401
                      sample_value, scrape_metrics)
from .cases import test_failed  # noqa: F401
