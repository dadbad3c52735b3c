"""Unit tests for the layer semantics in worker/models/convert_upscaler.py that the shipped
UpscalerJS models do not exercise (so the golden test cannot catch them): TF's NHWC
depth_to_space channel order, Keras 'same' padding for even kernels, quantized weights.

  /usr/bin/python3 -m unittest discover -s tests/models -p 'test_convert_upscaler.py' -v
"""

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "worker", "models"))

import convert_upscaler as cu  # noqa: E402

torch.set_grad_enabled(False)


def tf_depth_to_space_nhwc(x: np.ndarray, b: int) -> np.ndarray:
    """tf.nn.depth_to_space, written from its documented definition (NHWC)."""
    n, h, w, c = x.shape
    co = c // (b * b)
    out = np.zeros((n, h * b, w * b, co), x.dtype)
    for i in range(b):
        for j in range(b):
            out[:, i::b, j::b, :] = x[:, :, :, (i * b + j) * co:(i * b + j + 1) * co]
    return out


class DepthToSpaceTest(unittest.TestCase):
    def test_matches_tensorflow_channel_order(self):
        for b in (2, 3):
            nhwc = np.random.default_rng(b).random((2, 4, 5, 3 * b * b), dtype=np.float32)
            want = tf_depth_to_space_nhwc(nhwc, b).transpose(0, 3, 1, 2)
            node = torch.jit.script(cu.DepthToSpace("ps", b))
            got = node([torch.from_numpy(nhwc.transpose(0, 3, 1, 2).copy())]).numpy()
            np.testing.assert_array_equal(got, want)
            # torch's PixelShuffle orders channels differently: using it would be a bug.
            ps = torch.nn.PixelShuffle(b)(torch.from_numpy(nhwc.transpose(0, 3, 1, 2).copy()))
            self.assertFalse(np.array_equal(ps.numpy(), want))


class SamePaddingTest(unittest.TestCase):
    def test_even_kernel_pads_bottom_right_like_keras(self):
        x = torch.arange(1, 21, dtype=torch.float32).reshape(1, 1, 4, 5)
        kernel = np.zeros((2, 2, 1, 1), np.float32)
        kernel[1, 1, 0, 0] = 1.0  # out[y, x] = in[y + 1, x + 1], zero past the end
        node = torch.jit.script(cu.Conv2D("c", kernel, None, [1, 1], [1, 1], "same", "linear"))
        y = node([x])
        self.assertEqual(tuple(y.shape), (1, 1, 4, 5))
        want = torch.zeros_like(x)
        want[..., :3, :4] = x[..., 1:, 1:]
        torch.testing.assert_close(y, want)


class QuantizedWeightsTest(unittest.TestCase):
    def test_uint8_affine_dequantization(self):
        q = np.array([0, 1, 255, 128], np.uint8)
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "w.bin"), "wb") as f:
                f.write(q.tobytes())
            manifest = [{"paths": ["w.bin"], "weights": [
                {"name": "k", "shape": [2, 2], "dtype": "float32",
                 "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]
            w = cu.load_weights(d, manifest)["k"]
        np.testing.assert_allclose(w, (q.astype(np.float32) * 0.5 - 1.0).reshape(2, 2))

    def test_weights_that_do_not_fill_the_shards_are_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "w.bin"), "wb") as f:
                f.write(np.zeros(5, np.float32).tobytes())
            manifest = [{"paths": ["w.bin"], "weights": [
                {"name": "k", "shape": [4], "dtype": "float32"}]}]
            with self.assertRaisesRegex(ValueError, "covers 16 bytes but shards hold 20"):
                cu.load_weights(d, manifest)


class GraphTest(unittest.TestCase):
    def test_unsupported_layer_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            model = {"format": "layers-model", "weightsManifest": [],
                     "modelTopology": {"model_config": {"class_name": "Functional", "config": {
                         "input_layers": [["in", 0, 0]], "output_layers": [["lam", 0, 0]],
                         "layers": [
                             {"class_name": "InputLayer", "name": "in", "config": {},
                              "inbound_nodes": []},
                             {"class_name": "Lambda", "name": "lam", "config": {},
                              "inbound_nodes": [[["in", 0, 0, {}]]]}]}}}}
            with open(os.path.join(d, "model.json"), "w") as f:
                json.dump(model, f)
            with self.assertRaisesRegex(ValueError, "lam: Keras class Lambda"):
                cu.build_graph(os.path.join(d, "model.json"))


if __name__ == "__main__":
    unittest.main()
