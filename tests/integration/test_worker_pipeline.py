"""The real worker end to end: genfarm-scheduler + genfarm-worker + the genfarm CLI.

The test writes a 16-frame scene-linear EXR sequence (examples/make_plates.py: a sky, a
sun with values up to ~6.0 and a moving checker disc), submits a one-stage esrgan-slim-x2
job with chunk 4 through `genfarm submit --wait`, and checks what a compositor would:
16 outputs at twice the resolution, valid EXRs, provenance in every header (model,
version, sha256 matching the manifest, job, task, attempt, seed, frame), highlights above
1.0 kept, no temporary files left. A second job with the same model on the same worker
must find the model warm: its task log says "cache hit" and the worker loads the model
exactly once over both jobs.

Needs the fetched model repository (worker/models/fetch_models.sh; $GENFARM_MODELS
overrides <source>/var/models), like the golden tests. ctest sets GENFARM_BIN_DIR,
GENFARM_SOURCE_DIR and PYTHONPATH; GENFARM_TEST_KEEP=1 keeps the temporary folder.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import OpenImageIO as oiio

import genfarm_testlib as lib
from genfarm_testlib import MODELS, PYTHON, SOURCE_DIR

MODEL = "esrgan-slim-x2"
FIRST, LAST = 1001, 1016
WIDTH, HEIGHT = 64, 48
CHUNK = 4
SEED = 1234


def _read_exr(path):
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise AssertionError(f"{path}: not a readable image: {oiio.geterror()}")
    try:
        spec = inp.spec()
        attrs = {a.name: a.value for a in spec.extra_attribs}
        pixels = inp.read_image(oiio.FLOAT)
        fmt = inp.format_name()
    finally:
        inp.close()
    if pixels is None:
        raise AssertionError(f"{path}: pixels unreadable: {oiio.geterror()}")
    return fmt, spec, attrs, np.asarray(pixels)


class WorkerPipelineTest(unittest.TestCase):
    """One scheduler, one worker, two jobs; each test checks one thing a user would notice."""

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(os.path.join(MODELS, MODEL, "manifest.json")):
            raise AssertionError(f"model repository {MODELS} has no {MODEL}: run worker/models/fetch_models.sh "
                                 "(or set GENFARM_MODELS)")
        with open(os.path.join(MODELS, MODEL, "manifest.json")) as f:
            cls.manifest = json.load(f)
        cls.tmp = tempfile.mkdtemp(prefix="genfarm-worker-it-")
        cls.procs = lib.ProcessGroup(cls.tmp)
        try:
            cls._start_farm()
            cls._make_plates()
            cls.job1, cls.submit1 = cls._submit("job1", "out1", f"{FIRST}-{LAST}")
            cls.logs1 = cls._cli("logs", str(cls.job1)).stdout
            # Same model, same worker: must be served warm.
            cls.job2, cls.submit2 = cls._submit("job2", "out2", f"{FIRST}-{FIRST + 7}")
            cls.logs2 = cls._cli("logs", str(cls.job2)).stdout
        except BaseException:
            cls._dump_logs()
            cls._stop_farm()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._stop_farm()
        if os.environ.get("GENFARM_TEST_KEEP") == "1":
            sys.stderr.write(f"kept {cls.tmp}\n")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def run(self, result=None):
        # On failure, show the daemons' logs: what the worker did is the interesting part.
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            self._dump_logs()
        return out

    # --- farm plumbing ---

    @classmethod
    def _path(cls, *parts):
        return os.path.join(cls.tmp, *parts)

    @classmethod
    def _start_farm(cls):
        scheduler = lib.start_scheduler(cls.procs, cls._path("scheduler-data"))
        cls.address = scheduler.address
        cls.worker = lib.start_worker(cls.procs, cls.address, "it-worker", models=MODELS, slots=1)

        def worker_listed():
            cls.worker.check_alive()
            return "it-worker" in cls._cli("workers").stdout

        lib.wait_for(worker_listed, 60, "the worker to register with the scheduler")

    @classmethod
    def _stop_farm(cls):
        for proc in reversed(cls.procs.processes):
            proc.stop(signal.SIGINT, timeout=15)  # SIGKILL if it does not exit in time
        cls.procs.stop_all()

    @classmethod
    def _dump_logs(cls):
        cls.procs.dump_logs(lines=60)

    @classmethod
    def _cli(cls, *args, timeout=60):
        return lib.run_cli(cls.address, *args, timeout=timeout)

    @classmethod
    def _make_plates(cls):
        subprocess.run([PYTHON, os.path.join(SOURCE_DIR, "examples", "make_plates.py"),
                        cls._path("plates", "sh010_plate.####.exr"), str(FIRST), str(LAST),
                        "--size", f"{WIDTH}x{HEIGHT}"], check=True, capture_output=True, timeout=120)

    @classmethod
    def _submit(cls, name, out_dir, frames):
        spec = cls._path(f"{name}.yaml")
        with open(spec, "w") as f:
            f.write(f"""name: {name}
project: worker_it
stages:
  - name: upres
    model: {MODEL}
    input: plates/sh010_plate.####.exr
    output: {out_dir}/sh010_upres.####.exr
    frames: {frames}
    chunk: {CHUNK}
    retries: 0
    seed: {SEED}
""")
        result = cls._cli("submit", spec, "--wait", timeout=240)
        if result.returncode != 0:
            raise AssertionError(f"genfarm submit {name} --wait exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        match = re.search(r"submitted job (\d+)", result.stdout + result.stderr)
        if not match:
            raise AssertionError(f"no job id in the submit output:\n{result.stdout}\n{result.stderr}")
        return int(match.group(1)), result

    def _outputs(self, out_dir, first=FIRST, last=LAST):
        return [self._path(out_dir, f"sh010_upres.{f:04d}.exr") for f in range(first, last + 1)]

    # --- first job: outputs ---

    def test_every_frame_is_written_at_twice_the_resolution(self):
        self.assertEqual(sorted(os.listdir(self._path("out1"))),
                         [os.path.basename(p) for p in self._outputs("out1")])
        for path in self._outputs("out1"):
            fmt, spec, _, pixels = _read_exr(path)
            self.assertEqual(fmt, "openexr", path)
            self.assertEqual((spec.width, spec.height, spec.nchannels), (2 * WIDTH, 2 * HEIGHT, 3), path)
            self.assertTrue(np.isfinite(pixels).all(), f"{path} has NaN or infinite pixels")

    def test_headers_carry_provenance(self):
        tasks = {}
        for frame, path in zip(range(FIRST, LAST + 1), self._outputs("out1")):
            _, _, attrs, _ = _read_exr(path)
            self.assertEqual(attrs.get("genfarm:model"), MODEL, path)
            self.assertEqual(attrs.get("genfarm:model_version"), self.manifest["version"], path)
            self.assertEqual(attrs.get("genfarm:model_sha256"), self.manifest["sha256"], path)
            self.assertEqual(attrs.get("genfarm:job"), str(self.job1), path)
            self.assertEqual(str(attrs.get("genfarm:seed")), str(SEED), path)
            self.assertEqual(int(attrs.get("genfarm:frame")), frame, path)
            self.assertRegex(str(attrs.get("genfarm:attempt", "")), r"^\d+$", path)
            task = attrs.get("genfarm:task", "")
            self.assertRegex(task, rf"^{self.job1}/\d+$", path)
            tasks.setdefault(task, []).append(frame)
        # chunk 4: four tasks of four consecutive frames each.
        self.assertEqual(sorted(tasks.values()),
                         [list(range(f, f + CHUNK)) for f in range(FIRST, LAST + 1, CHUNK)])

    def test_scene_linear_highlights_above_one_survive(self):
        for frame, path in zip(range(FIRST, LAST + 1), self._outputs("out1")):
            _, _, _, plate = _read_exr(self._path("plates", f"sh010_plate.{frame:04d}.exr"))
            _, _, attrs, out = _read_exr(path)
            self.assertGreater(plate.max(), 4.0, "the plate should have a sun brighter than 1.0")
            # The sun keeps (most of) its energy instead of being clipped at 1.0.
            self.assertGreater(out.max(), 0.75 * plate.max(), path)
            # The over-range area scales with the frame (x4 pixels), within a generous margin.
            plate_over = int((plate > 1.0).any(axis=2).sum())
            out_over = int((out > 1.0).any(axis=2).sum())
            self.assertGreater(out_over, 2 * plate_over, path)
            self.assertLess(out_over, 8 * plate_over, path)
            # And the picture is the plate, upscaled: a box-downsample matches it closely
            # below 1.0 (the model is not identity, so allow a small mean error).
            down = out.reshape(HEIGHT, 2, WIDTH, 2, 3).mean(axis=(1, 3))
            mask = plate.max(axis=2) < 1.0
            self.assertLess(float(np.abs(down - plate)[mask].mean()), 0.03, path)

    def test_no_temporary_files_are_left(self):
        for out_dir in ("out1", "out2"):
            leftovers = [n for n in os.listdir(self._path(out_dir)) if not re.fullmatch(r"sh010_upres\.\d{4}\.exr", n)]
            self.assertEqual(leftovers, [], f"{out_dir} holds files that are not finished frames")

    def test_first_job_loads_the_model_once_then_reuses_it(self):
        loads = re.findall(rf"model {MODEL} \S+ loaded on \S+ in [\d.]+ s \(cache miss\)", self.logs1)
        hits = re.findall(rf"model {MODEL} \S+ warm on \S+ \(cache hit\)", self.logs1)
        self.assertEqual(len(loads), 1, self.logs1)
        self.assertEqual(len(hits), (LAST - FIRST + 1) // CHUNK - 1, self.logs1)

    # --- second job: warm model ---

    def test_second_job_finds_the_model_warm(self):
        self.assertEqual(len(os.listdir(self._path("out2"))), 8)
        hits = re.findall(rf"model {MODEL} \S+ warm on \S+ \(cache hit\)", self.logs2)
        self.assertEqual(len(hits), 2, self.logs2)  # frames 1001-1008 in chunks of 4
        self.assertNotIn("cache miss", self.logs2)
        # The worker's own log agrees: one model load over both jobs.
        worker_log = self.worker.log_text()
        self.assertEqual(len(re.findall(rf"model cache: loaded {MODEL} ", worker_log)), 1, worker_log)
        _, _, attrs, _ = _read_exr(self._outputs("out2", FIRST, FIRST)[0])
        self.assertEqual(attrs.get("genfarm:job"), str(self.job2))
        self.assertNotEqual(self.job1, self.job2)


if __name__ == "__main__":
    unittest.main()
