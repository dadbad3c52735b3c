"""Unit tests of the Python client's job spec conversion (dict / YAML -> v1.JobSpec).

Run by ctest with PYTHONPATH=<build>/python, where the generated genfarm.v1 stubs and the
client package live.
"""

import os
import unittest
from unittest import mock

import genfarm
from genfarm import spec as spec_lib
from genfarm.v1 import types_pb2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(REPO, "examples", "sh010_upres_retime.yaml")


def minimal(**stage_fields):
    stage = {"name": "upres", "model": "esrgan-slim-x2", "frames": "1001-1010"}
    stage.update(stage_fields)
    return {"name": "sh010_upres", "project": "feature_x", "stages": [stage]}


class DictToJobSpecTest(unittest.TestCase):

    def test_every_field_maps_to_the_proto(self):
        spec = genfarm.job_spec_from_dict({
            "name": "sh010_upres", "project": "feature_x", "shot": "sh010", "priority": 70,
            "tier": "dailies", "submitter": "jdoe", "labels": {"dept": "comp", "take": 3},
            "depends_on_jobs": [12, 13],
            "stages": [{
                "name": "upres", "kind": "model", "model": "esrgan-slim-x2",
                "input": "/shots/sh010/plate.####.exr", "output": "/shots/sh010/up.####.exr",
                "frames": "1001-1100x2", "chunk": 8, "retries": 3, "timeout": "10m",
                "gpus": 1, "vram": "4GiB", "tags": ["a100", "linux"], "seed": -7,
                "params": {"factor": 2, "denoise": 0.5, "sharpen": True},
                "after": ["prep"], "window": {"before": 1, "after": 2},
            }, {
                "name": "dailies", "kind": "dailies", "input": "/shots/sh010/up.####.exr",
                "output": "/shots/sh010/dailies/sh010", "frames": 1001,
            }],
        })
        self.assertEqual(spec.name, "sh010_upres")
        self.assertEqual(spec.project, "feature_x")
        self.assertEqual(spec.shot, "sh010")
        self.assertEqual(spec.priority, 70)
        self.assertEqual(spec.tier, types_pb2.TIER_DAILIES)
        self.assertEqual(spec.submitter, "jdoe")
        self.assertEqual(dict(spec.labels), {"dept": "comp", "take": "3"})
        self.assertEqual(list(spec.depends_on_jobs), [12, 13])
        upres, dailies = spec.stages
        self.assertEqual(upres.name, "upres")
        self.assertEqual(upres.kind, types_pb2.STAGE_KIND_MODEL)
        self.assertEqual(upres.model, "esrgan-slim-x2")
        self.assertEqual(upres.input, "/shots/sh010/plate.####.exr")
        self.assertEqual(upres.output, "/shots/sh010/up.####.exr")
        self.assertEqual(upres.frames, "1001-1100x2")
        self.assertEqual(upres.chunk, 8)
        self.assertEqual(upres.retries, 3)
        self.assertEqual(upres.timeout_seconds, 600)
        self.assertEqual(upres.gpus, 1)
        self.assertEqual(upres.vram_bytes, 4 * 1024 ** 3)
        self.assertEqual(list(upres.tags), ["a100", "linux"])
        self.assertEqual(upres.seed, -7)
        self.assertEqual(dict(upres.params), {"factor": "2", "denoise": "0.5", "sharpen": "true"})
        self.assertEqual(list(upres.after), ["prep"])
        self.assertEqual((upres.window_before, upres.window_after), (1, 2))
        self.assertEqual(dailies.kind, types_pb2.STAGE_KIND_DAILIES)
        self.assertEqual(dailies.frames, "1001")
        self.assertEqual(list(dailies.after), ["upres"])  # its input is upres' output

    def test_defaults_match_the_cli(self):
        spec = genfarm.job_spec_from_dict(minimal())
        self.assertEqual(spec.priority, 50)
        self.assertEqual(spec.tier, types_pb2.TIER_BATCH)
        stage = spec.stages[0]
        self.assertEqual(stage.kind, types_pb2.STAGE_KIND_MODEL)
        self.assertEqual(stage.chunk, 1)
        self.assertEqual(stage.retries, 2)
        self.assertEqual(stage.timeout_seconds, 0)

    def test_unknown_job_key_is_named(self):
        data = minimal()
        data["priorty"] = 10
        with self.assertRaisesRegex(ValueError, r"unknown field 'priorty' \(did you mean "
                                                r"'priority'\?\)"):
            genfarm.job_spec_from_dict(data)

    def test_unknown_stage_key_names_the_stage(self):
        with self.assertRaisesRegex(ValueError, r"^stages\[0\]: unknown field 'chunck' "
                                                r"\(did you mean 'chunk'\?\)"):
            genfarm.job_spec_from_dict(minimal(chunck=8))

    def test_unknown_window_key(self):
        with self.assertRaisesRegex(ValueError, r"stages\[0\]\.window: unknown field 'around'"):
            genfarm.job_spec_from_dict(minimal(window={"around": 1}))

    def test_spec_error_is_a_value_error(self):
        self.assertTrue(issubclass(genfarm.SpecError, ValueError))

    def test_bad_enums(self):
        data = minimal()
        data["tier"] = "urgent"
        with self.assertRaisesRegex(ValueError, "^tier: must be one of batch, dailies, "
                                                "interactive; got 'urgent'"):
            genfarm.job_spec_from_dict(data)
        with self.assertRaisesRegex(ValueError, r"stages\[0\]\.kind: must be one of model, "
                                                "dailies"):
            genfarm.job_spec_from_dict(minimal(kind="render"))

    def test_ranges_and_types(self):
        cases = [
            (dict(chunk=0), r"stages\[0\]\.chunk: must be between 1 and 10000, got 0"),
            (dict(retries=101), r"stages\[0\]\.retries: must be between 0 and 100"),
            (dict(gpus="two"), r"stages\[0\]\.gpus: must be a whole number, got 'two'"),
            (dict(chunk=True), r"stages\[0\]\.chunk: must be a whole number"),
            (dict(window={"after": 65}), r"stages\[0\]\.window\.after: must be between 0 and 64"),
            (dict(params={"x": [1, 2]}), r"stages\[0\]\.params\.x: must be a single value"),
            (dict(frames="1001-x"), r"stages\[0\]\.frames: frame set '1001-x'"),
            (dict(model=""), r"stages\[0\]\.model: is required"),
        ]
        for fields, error in cases:
            with self.subTest(fields=fields):
                with self.assertRaisesRegex(ValueError, error):
                    genfarm.job_spec_from_dict(minimal(**fields))

    def test_required_fields(self):
        with self.assertRaisesRegex(ValueError, "^project: is required"):
            genfarm.job_spec_from_dict({"name": "x", "stages": minimal()["stages"]})
        with self.assertRaisesRegex(ValueError, "^stages: a job needs at least one stage"):
            genfarm.job_spec_from_dict({"name": "x", "project": "p"})
        with self.assertRaisesRegex(ValueError, r"stages\[0\]\.frames: is required"):
            genfarm.job_spec_from_dict({"name": "x", "project": "p",
                                        "stages": [{"name": "s", "model": "m"}]})

    def test_sizes(self):
        self.assertEqual(spec_lib.parse_size(1024), 1024)
        self.assertEqual(spec_lib.parse_size("4GiB"), 4 * 1024 ** 3)
        self.assertEqual(spec_lib.parse_size("512 MiB"), 512 * 1024 ** 2)
        self.assertEqual(spec_lib.parse_size("1.5GB"), 1_500_000_000)
        self.assertEqual(spec_lib.parse_size("4gib"), 4 * 1024 ** 3)
        self.assertEqual(spec_lib.parse_size("100"), 100)
        for bad in ("four GiB", "4 parsecs", "-1", "GiB"):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(ValueError, "^vram: "):
                    spec_lib.parse_size(bad)

    def test_durations(self):
        self.assertEqual(spec_lib.parse_seconds(90), 90)
        self.assertEqual(spec_lib.parse_seconds("90"), 90)
        self.assertEqual(spec_lib.parse_seconds("90s"), 90)
        self.assertEqual(spec_lib.parse_seconds("10m"), 600)
        self.assertEqual(spec_lib.parse_seconds("1h30m"), 5400)
        self.assertEqual(spec_lib.parse_seconds("1.5h"), 5400)
        with self.assertRaisesRegex(ValueError, "not a whole number of seconds"):
            spec_lib.parse_seconds("1.5s")
        with self.assertRaisesRegex(ValueError, "must be seconds or a duration"):
            spec_lib.parse_seconds("ten minutes")
        with self.assertRaisesRegex(ValueError, "must be between 0 and 604800"):
            spec_lib.parse_seconds("169h")

    def test_relative_paths_resolve_against_base_dir(self):
        spec = genfarm.job_spec_from_dict(
            minimal(input="plates/p.####.exr", output="../out/o.####.exr"),
            base_dir="/shows/x/sh010")
        self.assertEqual(spec.stages[0].input, "/shows/x/sh010/plates/p.####.exr")
        self.assertEqual(spec.stages[0].output, "/shows/x/out/o.####.exr")
        spec = genfarm.job_spec_from_dict(minimal(input="plates/p.####.exr",
                                                  output="s3://bucket/o.####.exr"))
        self.assertEqual(spec.stages[0].input, "plates/p.####.exr")  # no base_dir: as written
        self.assertEqual(spec.stages[0].output, "s3://bucket/o.####.exr")

    def test_implicit_after_matches_both_pattern_spellings(self):
        data = minimal(output="/o/up.####.exr")
        data["stages"].append({"name": "retime", "model": "rife", "frames": "1001-1010",
                               "input": "/o/up.%04d.exr"})
        spec = genfarm.job_spec_from_dict(data)
        self.assertEqual(list(spec.stages[1].after), ["upres"])


class YamlFileTest(unittest.TestCase):

    def test_example_spec(self):
        spec = genfarm.load_job_spec(EXAMPLE)
        folder = os.path.dirname(EXAMPLE)
        self.assertEqual(spec.name, "sh010_upres_retime")
        self.assertEqual([s.name for s in spec.stages], ["upres", "retime", "dailies"])
        upres, retime, dailies = spec.stages
        self.assertEqual(upres.input, os.path.join(folder, "plates/sh010_plate.####.exr"))
        self.assertEqual(upres.timeout_seconds, 600)
        self.assertEqual(upres.vram_bytes, 2 * 1024 ** 3)
        self.assertEqual(retime.frames, "1001-1096")  # YAML alias
        self.assertEqual(dict(retime.params), {"factor": "2"})
        self.assertEqual(retime.window_after, 1)
        self.assertEqual(list(retime.after), ["upres"])
        self.assertEqual(list(dailies.after), ["retime"])
        self.assertEqual(dailies.kind, types_pb2.STAGE_KIND_DAILIES)

    def test_params_are_kept_as_written(self):
        with mock.patch("builtins.open", mock.mock_open(read_data=(
                "name: j\nproject: p\nstages:\n"
                "  - {name: s, model: m, frames: 1-2, params: {gain: 1.50, on: yes}}\n"))):
            spec = genfarm.load_job_spec("/shows/j.yaml")
        self.assertEqual(dict(spec.stages[0].params), {"gain": "1.50", "on": "yes"})

    def test_errors_start_with_the_file(self):
        with mock.patch("builtins.open", mock.mock_open(read_data=(
                "name: j\nproject: p\nstages:\n  - {name: s, model: m, frames: 1-2, chunck: 4}\n"))):
            with self.assertRaisesRegex(ValueError, r"^/shows/j\.yaml: stages\[0\]: unknown "
                                                    r"field 'chunck'"):
                genfarm.load_job_spec("/shows/j.yaml")

    def test_missing_file(self):
        with self.assertRaisesRegex(ValueError, r"^/no/such/spec\.yaml: "):
            genfarm.load_job_spec("/no/such/spec.yaml")


class ClientTest(unittest.TestCase):

    def test_address_defaults(self):
        with mock.patch.dict(os.environ, {"GENFARM_SCHEDULER": "farm:9000"}):
            with genfarm.Client() as client:
                self.assertEqual(client.address, "farm:9000")
        with mock.patch.dict(os.environ, {}, clear=True):
            with genfarm.Client() as client:
                self.assertEqual(client.address, "127.0.0.1:7070")
        with genfarm.Client("h:1") as client:
            self.assertEqual(client.address, "h:1")

    def test_job_from_proto(self):
        job = genfarm.Job.from_proto(types_pb2.Job(
            id=17, state=types_pb2.JOB_STATE_SUCCEEDED, spec=types_pb2.JobSpec(name="n"),
            stages=[types_pb2.StageStatus(name="a", frames_total=10, frames_done=10),
                    types_pb2.StageStatus(name="b", frames_total=10, frames_done=5)]))
        self.assertEqual(job.state, "succeeded")
        self.assertTrue(job.finished)
        self.assertEqual((job.frames_done, job.frames_total), (15, 20))
        self.assertAlmostEqual(job.progress, 0.75)
        self.assertIsNone(job.start_time)

    def test_submit_rejects_bad_spec_before_sending(self):
        with genfarm.Client("127.0.0.1:1") as client:
            with self.assertRaisesRegex(ValueError, "unknown field 'stagez'"):
                client.submit({"name": "x", "project": "p", "stagez": []})


if __name__ == "__main__":
    unittest.main()
