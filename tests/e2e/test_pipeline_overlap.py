"""The upres -> retime pipeline overlaps: retime tasks start as soon as the upres frames
they need (with the temporal neighbour) exist, not when the whole upres stage ends.

Each stage gets its own worker (by tag), so the test shows the scheduler's frame-level
dependencies at work, whatever order the placement policy gives stages that share workers."""

import unittest

import farm

FRAMES = 16


class PipelineOverlapTest(farm.FarmTestCase):
    def test_retime_starts_before_upres_ends(self):
        f = self.farm
        f.start_scheduler()
        f.start_worker("w_upres", tags=("upres",))
        f.start_worker("w_retime", tags=("retime",))
        plates = f.make_plates("plates/p.####.exr", 1, FRAMES, size="32x32")
        up = f.path("out", "upres", "up.####.exr")
        rt = f.path("out", "retime", "rt.####.exr")
        spec = farm.write_spec(f.path("job.yaml"), farm.job_yaml(
            "pipeline_overlap",
            farm.stage_yaml("upres", "esrgan-slim-x2", plates, up, f"1-{FRAMES}", chunk=2,
                            extra="tags: [upres]"),
            farm.stage_yaml("retime", "rife-v4.6", up, rt, f"1-{FRAMES}", chunk=2,
                            extra="params: {factor: 2}\nwindow: {after: 1}\ntags: [retime]")))
        job_id = f.submit(spec, "--json")
        final = f.wait_job(job_id, timeout=150)
        self.assertEqual(final.job.state, farm.JOB_SUCCEEDED, final.job.message)

        upres = [t for t in final.tasks if t.stage == "upres"]
        retime = [t for t in final.tasks if t.stage == "retime"]
        self.assertEqual(len(upres), FRAMES // 2)
        self.assertEqual(len(retime), FRAMES // 2)
        for t in final.tasks:
            self.assertGreater(t.start_time_ms, 0, f"task {t.index} has no start time")
            self.assertGreaterEqual(t.end_time_ms, t.start_time_ms, f"task {t.index}")
        last_upres_end = max(t.end_time_ms for t in upres)
        first_retime_start = min(t.start_time_ms for t in retime)
        self.assertLess(first_retime_start, last_upres_end,
                        "no retime task started before the upres stage ended")
        # How many retime tasks overlap depends on the two workers' relative speed on a
        # loaded machine; one starting before upres ends is what frame-level
        # dependencies guarantee (with stage-level dependencies it would be zero).
        # Frame-level dependencies: each retime task starts only after the upres tasks
        # that write its frames and its next neighbour have ended.
        upres_end = {}
        for t in upres:
            for fr in t.frames:
                upres_end[fr] = t.end_time_ms
        for t in retime:
            needed = set(t.frames) | {min(max(t.frames) + 1, FRAMES)}
            self.assertGreaterEqual(t.start_time_ms, max(upres_end[fr] for fr in needed),
                                    f"retime task {t.index} started before its inputs existed")

        self.assert_frames_valid(up, range(1, FRAMES + 1), width=64, height=64)
        # Factor 2: every input gives two outputs but the last, which gives one.
        self.assert_frames_valid(rt, range(1, 2 * FRAMES), width=64, height=64)


if __name__ == "__main__":
    unittest.main()
