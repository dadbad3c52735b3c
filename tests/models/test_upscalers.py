"""Checks the converted UpscalerJS models in the model repository against the packages'
own golden samples, and the manifest promises the worker relies on.

  worker/models/fetch_models.sh                       # builds var/models
  /usr/bin/python3 -m unittest discover -s tests/models -v
  GENFARM_MODELS=/elsewhere /usr/bin/python3 -m unittest discover -s tests/models

The golden check reproduces how the package's assets/samples/<N>x/result.png were made:
the 128x128 fixture as a float32 0-255 RGB tensor, one forward pass over the whole image
(no patching), output clipped to 0-255 and rounded. A faithful conversion matches within
1 LSB; layer order, kernel layout, padding or upsampling mistakes show up as tens of LSBs.
"""

import hashlib
import json
import os
import unittest

import numpy as np
import OpenImageIO as oiio
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("GENFARM_MODELS", os.path.join(REPO, "var", "models"))

# name -> scale; every one of these ships golden/fixture.png and golden/result.png.
# (@upscalerjs/default-model's 2x golden is byte-identical to esrgan-slim's, as are its
# weights: it is not served; see worker/models/fetch_models.sh.)
GOLDEN_MODELS = {"esrgan-slim-x2": 2, "esrgan-slim-x3": 3, "esrgan-slim-x4": 4}

MANIFEST_KEYS = {"name", "version", "file", "sha256", "kind", "scale", "inputs", "window",
                 "color_space", "value_range", "tile", "pad_multiple", "batch_size",
                 "memory_bytes", "half", "seeded", "source"}

torch.set_grad_enabled(False)


def read_rgb(path: str) -> np.ndarray:
    buf = oiio.ImageBuf(path)
    if buf.has_error:
        raise OSError(f"{path}: {buf.geterror()}")
    pixels = buf.get_pixels(oiio.UINT8)
    if pixels.ndim != 3 or pixels.shape[2] < 3:
        raise OSError(f"{path}: expected an RGB(A) image, got shape {pixels.shape}")
    return pixels[:, :, :3]


def model_dir(test: unittest.TestCase, name: str) -> str:
    d = os.path.join(MODELS, name)
    if not os.path.isfile(os.path.join(d, "manifest.json")):
        test.fail(f"{d}/manifest.json not found: run worker/models/fetch_models.sh "
                  f"(or point GENFARM_MODELS at a model repository)")
    return d


def load(test: unittest.TestCase, name: str):
    d = model_dir(test, name)
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    return d, manifest, torch.jit.load(os.path.join(d, manifest["file"]))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)


def to_8bit(y: torch.Tensor) -> np.ndarray:
    return y[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()


def smooth_noise(h: int, w: int, seed: int) -> torch.Tensor:
    """A 0-255 image with structure at several scales (pure noise is a weak probe)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear",
                                        align_corners=False)
    return ((0.7 * x + 0.3 * torch.rand(1, 3, h, w, generator=g)) * 255).clamp(0, 255)


class UpscalerGoldenTest(unittest.TestCase):
    """Golden outputs shipped in the npm packages: max |diff| <= 1 after 8-bit rounding."""

    results = {}

    @classmethod
    def tearDownClass(cls):
        for name, (mx, mean, n) in sorted(cls.results.items()):
            print(f"\n  golden {name}: max |diff| {mx}, mean |diff| {mean:.6f} "
                  f"({n} channel values differ)", end="")
        print()

    def test_golden(self):
        for name, scale in GOLDEN_MODELS.items():
            with self.subTest(model=name):
                d, manifest, model = load(self, name)
                fixture = read_rgb(os.path.join(d, "golden", "fixture.png"))
                want = read_rgb(os.path.join(d, "golden", "result.png")).astype(np.int32)
                got = to_8bit(model(to_tensor(fixture))).astype(np.int32)
                self.assertEqual(got.shape, want.shape)
                self.assertEqual(want.shape[:2], (fixture.shape[0] * scale,
                                                  fixture.shape[1] * scale))
                diff = np.abs(got - want)
                type(self).results[name] = (int(diff.max()), float(diff.mean()),
                                            int((diff > 0).sum()))
                self.assertLessEqual(int(diff.max()), 1, f"{name}: golden max |diff| "
                                     f"{diff.max()}, mean {diff.mean():.4f}")


class UpscalerManifestTest(unittest.TestCase):
    def test_manifest_schema_and_hash(self):
        for name, scale in GOLDEN_MODELS.items():
            with self.subTest(model=name):
                d, m, _ = load(self, name)
                self.assertEqual(set(m), MANIFEST_KEYS)
                self.assertEqual(m["name"], name)
                self.assertEqual(m["kind"], "upscale")
                self.assertEqual(m["scale"], scale)
                self.assertEqual(m["inputs"], 1)
                self.assertEqual(m["window"], {"before": 0, "after": 0})
                self.assertEqual(m["value_range"], [0.0, 255.0])
                self.assertEqual(m["color_space"], "srgb")
                self.assertFalse(m["seeded"])
                self.assertGreater(m["memory_bytes"], 0)
                self.assertGreater(m["tile"]["size"], 2 * m["tile"]["overlap"])
                self.assertEqual(set(m["source"]), {"package", "tarball_sha256", "license",
                                                    "files"})
                self.assertRegex(m["source"]["tarball_sha256"], r"^[0-9a-f]{64}$")
                with open(os.path.join(d, m["file"]), "rb") as f:
                    self.assertEqual(hashlib.sha256(f.read()).hexdigest(), m["sha256"])


class DistinctModelsTest(unittest.TestCase):
    def test_no_network_is_served_under_two_names(self):
        """model.pt is reproducible (torchscript_io.py), so equal bytes = the same network."""
        by_sha = {}
        for name in sorted(os.listdir(MODELS)):
            manifest = os.path.join(MODELS, name, "manifest.json")
            if os.path.isfile(manifest):
                with open(manifest) as f:
                    by_sha.setdefault(json.load(f)["sha256"], []).append(name)
        self.assertGreaterEqual(len(by_sha), len(GOLDEN_MODELS))
        self.assertEqual([names for names in by_sha.values() if len(names) > 1], [])
        self.assertNotIn("rdn-x2", sum(by_sha.values(), []))


class UpscalerContractTest(unittest.TestCase):
    """What the worker's tiled, batched runtime relies on."""

    def test_any_size_and_batch(self):
        for name, scale in GOLDEN_MODELS.items():
            with self.subTest(model=name):
                _, _, model = load(self, name)
                a, b = smooth_noise(19, 33, 1), smooth_noise(19, 33, 2)
                y = model(torch.cat([a, b]))
                self.assertEqual(tuple(y.shape), (2, 3, 19 * scale, 33 * scale))
                self.assertEqual(y.dtype, torch.float32)
                torch.testing.assert_close(y[1:], model(b), rtol=0, atol=1e-3)

    def test_tiles_with_manifest_overlap_are_seamless(self):
        # Two tiles split at column `cut`, each extended by overlap/2 pixels of real image
        # context, must reproduce the untiled output exactly; with too little context the
        # seam shows (which proves the check can fail).
        for name, scale in GOLDEN_MODELS.items():
            with self.subTest(model=name):
                _, m, model = load(self, name)
                half = m["tile"]["overlap"] // 2
                x = smooth_noise(40, 96, 3)
                full = model(x)
                cut = 48

                def stitched(ctx: int) -> torch.Tensor:
                    left = model(x[..., :cut + ctx])[..., :cut * scale]
                    right = model(x[..., cut - ctx:])[..., ctx * scale:]
                    return torch.cat([left, right], dim=3)

                torch.testing.assert_close(stitched(half), full, rtol=0, atol=1e-3)
                self.assertGreater(float((stitched(2) - full).abs().max()), 0.5)

    def test_activations_fit_half_precision(self):
        # manifest "half": true lets a CUDA worker run fp16; every intermediate on the
        # golden fixture must stay well inside fp16's range (65504).
        for name in GOLDEN_MODELS:
            with self.subTest(model=name):
                d, m, model = load(self, name)
                if not m["half"]:
                    continue
                x = to_tensor(read_rgb(os.path.join(d, "golden", "fixture.png")))
                values = [x]
                peak = 0.0
                for _, layer in model.layers.named_children():
                    values.append(layer([values[i] for i in layer.inbound]))
                    peak = max(peak, float(values[-1].abs().max()))
                torch.testing.assert_close(values[-1], model(x), rtol=0, atol=1e-3)
                self.assertLess(peak, 65504 / 8, f"{name}: activation peak {peak}")


if __name__ == "__main__":
    unittest.main()
