"""GenFarm's own chaos test: a real scheduler and three real workers (genfarm-worker, real
LibTorch models) run a two-stage job (upres -> retime) while a seeded loop SIGKILLs workers and
the scheduler and SIGSTOPs workers past their lease. Then it audits every output frame:

  - exists once (no frame missing, nothing extra in the output folders, no temporary file),
  - is a valid image equal to a clean render of the same job (within 1 LSB of its half floats),
  - carries in its genfarm:attempt header the attempt the scheduler accepted for its task,
  - was not rewritten after its task succeeded (inode and mtime still the same once every
    frozen worker has woken and had the time to do its worst: "stale-written"),
  - task states agree with the files (every task succeeded, all its frames written),
  - every task's log holds its accepted attempt's lines.

    GENFARM_CHAOS_SEED=7 GENFARM_CHAOS_ROUNDS=1 python3 -m unittest -v test_chaos
    deploy/chaos.sh --minutes 30 --seed 7      # rounds until the time is up

Per round it prints one line: seed, kills (workers, scheduler), stops, lost, duplicated,
corrupt, stale-written frames. Everything but the first three must be 0.

Environment: GENFARM_CHAOS_SEED (default 1), GENFARM_CHAOS_MINUTES (run rounds until this
many minutes have passed; default: one round), GENFARM_CHAOS_FRAMES (plates per round,
default 36) and the e2e variables of tests/e2e/farm.py.
"""

import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import farm  # noqa: E402
import numpy as np  # noqa: E402

LEASE_SECONDS = 3.0  # farm.FAST_SCHEDULER_FLAGS
WORKERS = ("w1", "w2", "w3")


def frames_pattern(pattern, frames):
    return farm.frame_paths(pattern, frames)


class Chaos:
    """The seeded fault loop: between polls of the job it may kill a worker, kill the
    scheduler, or freeze a worker for longer than its lease; dead ones are restarted (a
    supervisor would), frozen ones thawed."""

    def __init__(self, test, f, rng):
        self.test = test
        self.f = f
        self.rng = rng
        self.kills_worker = 0
        self.kills_scheduler = 0
        self.stops = 0
        self.frozen = {}        # worker id -> monotonic time to thaw
        self.dead = {}          # worker id -> monotonic time to restart
        self.next_fault = time.monotonic() + rng.uniform(0.5, 1.5)

    def _live_workers(self):
        return [w for w in WORKERS if w not in self.frozen and w not in self.dead]

    def _restart_worker(self, w):
        self.f.start_worker(w)

    def step(self):
        now = time.monotonic()
        for w, at in list(self.frozen.items()):
            if now >= at:
                self.f.workers[w].thaw()
                del self.frozen[w]
        for w, at in list(self.dead.items()):
            if now >= at and self.f.scheduler.alive():
                self._restart_worker(w)
                del self.dead[w]
        if now < self.next_fault:
            return
        self.next_fault = now + self.rng.uniform(0.5, 2.0)
        live = self._live_workers()
        roll = self.rng.random()
        if roll < 0.15:
            self.f.kill_scheduler()
            self.kills_scheduler += 1
            # Down for a moment, then back on the same port and store.
            time.sleep(self.rng.uniform(0.2, 1.5))
            self.f.start_scheduler()
        elif roll < 0.55 and len(live) > 1:
            w = self.rng.choice(live)
            self.f.kill_worker(w)
            self.kills_worker += 1
            self.dead[w] = now + self.rng.uniform(0.3, 2.0)
        elif len(live) > 1:
            w = self.rng.choice(live)
            self.f.workers[w].freeze()
            self.stops += 1
            self.frozen[w] = now + LEASE_SECONDS + self.rng.uniform(0.5, 3.0)

    def settle(self):
        """Thaws and restarts everything (the job is done)."""
        for w in list(self.frozen):
            self.f.workers[w].thaw()
        self.frozen.clear()
        for w in list(self.dead):
            self._restart_worker(w)
        self.dead.clear()


def provenance_of(path):
    """(genfarm:task, genfarm:attempt) of an output frame."""
    inp = farm.oiio.ImageInput.open(path)
    if inp is None:
        return "", ""
    try:
        spec = inp.spec()
        return (str(spec.get_string_attribute("genfarm:task", "")),
                str(spec.get_string_attribute("genfarm:attempt", "")))
    finally:
        inp.close()


def half_lsb_equal(a, b):
    """|a - b| within one unit in the last place of a half float, per sample."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        return False
    bigger = np.maximum(np.abs(a), np.abs(b)).astype(np.float16)
    return bool(np.all(np.abs(a - b) <= np.spacing(bigger).astype(np.float32) + 1e-7))


class ChaosTest(farm.FarmTestCase):
    def test_chaos(self):
        seed = int(os.environ.get("GENFARM_CHAOS_SEED")
                   or os.environ.get("GENFARM_CHAOS_DEFAULT_SEED") or "1")
        minutes = float(os.environ.get("GENFARM_CHAOS_MINUTES")
                        or os.environ.get("GENFARM_CHAOS_DEFAULT_MINUTES") or "0")
        frames = int(os.environ.get("GENFARM_CHAOS_FRAMES", "36"))
        f = self.farm
        f.start_scheduler()
        for w in WORKERS:
            f.start_worker(w)
        plates = f.make_plates("plates/p.####.exr", 1, frames, size="48x32")
        clean = self._render(f, plates, "clean", frames, None)
        deadline = time.monotonic() + minutes * 60
        round_no = 0
        totals = []
        while True:
            round_no += 1
            rng = random.Random(seed * 1000 + round_no)
            totals.append(self._round(f, plates, frames, rng, seed, round_no, clean))
            if time.monotonic() >= deadline:
                break
        keys = ("kills_worker", "kills_scheduler", "stops", "lost", "duplicated", "corrupt",
                "stale_written", "wrong_attempt", "temps", "no_log")
        total = {k: sum(t[k] for t in totals) for k in keys}
        line = ("chaos seed {seed} total over {rounds} rounds: kills {kills} (workers "
                "{kills_worker}, scheduler {kills_scheduler}), stops {stops}, lost {lost}, "
                "duplicated {duplicated}, corrupt {corrupt}, stale-written {stale_written}, "
                "temp files {temps}, tasks without log {no_log}").format(
                    seed=seed, rounds=len(totals),
                    kills=total["kills_worker"] + total["kills_scheduler"], **total)
        print(line, flush=True)
        with open(os.environ.get("GENFARM_CHAOS_REPORT", os.devnull), "a") as fh:
            fh.write(line + "\n")
        bad = [t for t in totals if any(t[k] for k in ("lost", "duplicated", "corrupt",
                                                         "stale_written", "temps", "no_log"))]
        self.assertEqual(bad, [], "chaos found lost, duplicated, corrupt or stale frames, "
                                  "temporary files or tasks without a log")

    # --- one job -------------------------------------------------------------------

    def _spec(self, f, plates, name, frames):
        up = f.path(name, "upres", "up.####.exr")
        rt = f.path(name, "retime", "rt.####.exr")
        spec = farm.write_spec(f.path(f"{name}.yaml"), farm.job_yaml(
            name,
            farm.stage_yaml("upres", "esrgan-slim-x2", plates, up, f"1-{frames}", chunk=3,
                            retries=50),
            farm.stage_yaml("retime", "rife-v4.6", up, rt, f"1-{frames}", chunk=3, retries=50,
                            extra="params: {factor: 2}\nwindow: {after: 1}")))
        outputs = {"upres": (up, list(range(1, frames + 1))),
                   "retime": (rt, list(range(1, 2 * frames)))}
        return spec, outputs

    def _render(self, f, plates, name, frames, chaos):
        """Runs the job (with chaos when given); returns (job id, outputs, final job)."""
        spec, outputs = self._spec(f, plates, name, frames)
        job_id = self._submit(f, spec, chaos)
        final = self._wait(f, job_id, chaos)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)
        return job_id, outputs, final

    def _submit(self, f, spec, chaos):
        # The scheduler may be down for a moment: retry until it takes the job.
        return farm.wait_for(lambda: self._try_submit(f, spec, chaos), 60, "the job submitted")

    def _try_submit(self, f, spec, chaos):
        if not f.scheduler.alive():
            f.start_scheduler()
        result = f.cli("submit", spec, "--json")
        if result.returncode != 0:
            return None
        m = re.search(r'"(?:job_id|id)"\s*:\s*(\d+)', result.stdout)
        return int(m.group(1)) if m else None

    def _wait(self, f, job_id, chaos):
        deadline = time.monotonic() + 600
        while True:
            if chaos is not None:
                chaos.step()
            try:
                job = f.get_job(job_id)
                if job.job.state in farm.JOB_FINISHED:
                    return job
            except Exception:  # the scheduler is down or restarting
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} did not finish in 10 minutes")
            time.sleep(0.1)

    def _round(self, f, plates, frames, rng, seed, round_no, clean):
        t0 = time.monotonic()
        chaos = Chaos(self, f, rng)
        name = f"chaos{round_no}"
        job_id, outputs, final = self._render(f, plates, name, frames, chaos)
        done_at = time.monotonic()
        before = self._snapshot(outputs)
        # Let every frozen worker wake and every dead one come back, then wait longer than a
        # lease plus a heartbeat, so a stale attempt has every chance to write.
        chaos.settle()
        farm.wait_for(lambda: all(w.state == farm.types_pb2.WORKER_STATE_ONLINE
                                  for w in f.client().workers()
                                  if w.id in WORKERS) and len(f.client().workers()) >= 3,
                      60, "all workers back online")
        settle_until = time.monotonic() + LEASE_SECONDS + 2
        farm.wait_for(lambda: time.monotonic() >= settle_until, LEASE_SECONDS + 10,
                      "the settle period")
        after = self._snapshot(outputs)
        audit = self._audit(f, job_id, outputs, final, before, after, clean)
        audit.update(seed=seed, round=round_no, kills_worker=chaos.kills_worker,
                     kills_scheduler=chaos.kills_scheduler, stops=chaos.stops,
                     seconds=round(time.monotonic() - t0, 1),
                     job_seconds=round(done_at - t0, 1))
        line = ("chaos seed {seed} round {round}: kills {kills} (workers {kills_worker}, "
                "scheduler {kills_scheduler}), stops {stops}, lost {lost}, duplicated "
                "{duplicated}, corrupt {corrupt}, stale-written {stale_written}, wrong attempt "
                "{wrong_attempt}, temp files {temps}, tasks without log {no_log}; job {job_seconds}"
                " s, round {seconds} s").format(kills=chaos.kills_worker + chaos.kills_scheduler,
                                                **audit)
        print(line, flush=True)
        with open(os.environ.get("GENFARM_CHAOS_REPORT", os.devnull), "a") as fh:
            fh.write(line + "\n")
        return audit

    def _snapshot(self, outputs):
        snap = {}
        for pattern, frames in outputs.values():
            for p in frames_pattern(pattern, frames):
                try:
                    st = os.stat(p)
                    snap[p] = (st.st_ino, st.st_mtime_ns)
                except FileNotFoundError:
                    snap[p] = None
        return snap

    def _audit(self, f, job_id, outputs, final, before, after, clean):
        _, clean_outputs, _ = clean
        # The attempt the scheduler accepted, by the "job/index" each frame's header names.
        accepted = {f"{job_id}/{t.index}": str(t.attempt_id) for t in final.tasks}
        lost = duplicated = corrupt = stale = wrong_attempt = temps = no_log = 0
        for stage, (pattern, frames) in outputs.items():
            folder = os.path.dirname(pattern)
            expected = set(os.path.basename(p) for p in frames_pattern(pattern, frames))
            present = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            tmp = [n for n in present if ".tmp-" in n]
            temps += len(tmp)
            duplicated += len([n for n in present - expected if ".tmp-" not in n])
            clean_pattern, _ = clean_outputs[stage]
            for p, c in zip(frames_pattern(pattern, frames),
                            frames_pattern(clean_pattern, frames)):
                if not os.path.isfile(p):
                    lost += 1
                    continue
                try:
                    _, pixels = farm.read_image(p)
                    _, reference = farm.read_image(c)
                except AssertionError:
                    corrupt += 1
                    continue
                if not half_lsb_equal(pixels, reference):
                    corrupt += 1
                task, attempt = provenance_of(p)
                if attempt != accepted.get(task):
                    wrong_attempt += 1
                if before.get(p) != after.get(p):
                    stale += 1
        for t in final.tasks:
            if t.state != farm.TASK_SUCCEEDED or t.frames_done != len(t.frames):
                lost += 1
        logs = f.client().logs(job_id)
        for t in final.tasks:
            lines = [l.text for l in logs if l.task_index == t.index and
                     l.attempt_id == t.attempt_id]
            if not any(f"attempt {t.attempt_id} succeeded" in text for text in lines):
                no_log += 1
        # A frame from the wrong attempt is one a stale attempt wrote last.
        stale += wrong_attempt
        return dict(lost=lost, duplicated=duplicated, corrupt=corrupt, stale_written=stale,
                    wrong_attempt=wrong_attempt, temps=temps, no_log=no_log)


if __name__ == "__main__":
    unittest.main()
