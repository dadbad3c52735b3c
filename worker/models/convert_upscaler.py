#!/usr/bin/python3
"""Converts an UpscalerJS TF.js Keras layers model into a GenFarm "upscale" model folder.

The torch module is built generically from model.json's modelTopology: each Keras layer
becomes one small scripted module that records which earlier outputs it reads (its
inbound nodes), and the whole graph runs as a straight-line program in topological
order. It works in NCHW end to end (Keras' NHWC axes are remapped), so the TorchScript
contract is the worker's: forward(x[N,3,H,W] float32) -> [N,3,H*scale,W*scale], any H, W.

Writes into --out (the caller renames the folder into place, so this may fail halfway):
  model.pt        TorchScript (torch.jit.script; no shapes baked in), byte-reproducible
  manifest.json   the worker's manifest schema
  golden/         fixture.png + result.png copied from the package, when given

Usage:
  /usr/bin/python3 worker/models/convert_upscaler.py --package-dir /tmp/x/package \
      --model-json models/x2/model.json --name esrgan-slim-x2 --version 1.0.0 \
      --package-spec @upscalerjs/esrgan-slim@1.0.0 --tarball-sha256 <hex> --license MIT \
      --value-range 0,255 --golden-fixture assets/fixture.png \
      --golden-result assets/samples/2x/result.png --out /models/.tmp-esrgan-slim-x2

Supported Keras layers: InputLayer, Conv2D ('same'/'valid', stride 1 for 'same'),
Activation, Concatenate, Add, Multiply, UpSampling2D (nearest), and UpscalerJS' custom
MultiplyBeta and PixelShuffle<N>x (tf.depthToSpace, NHWC channel order). Anything else is
a clear error rather than a silent mis-conversion.
"""

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchscript_io import pin_hash_seed, save_reproducible

# ---------------------------------------------------------------------------------------
# Graph nodes. Each reads values[i] for i in `inbound` and may drop values listed in
# `release` afterwards (their last reader), which keeps peak memory near that of a
# hand-written forward instead of holding every intermediate feature map.
# ---------------------------------------------------------------------------------------


class Node(nn.Module):
    inbound: List[int]
    release: List[int]

    def __init__(self, name: str):
        super().__init__()
        self.keras_name = name
        self.inbound = []
        self.release = []


def _activate(x: Tensor, act: str) -> Tensor:
    if act == "relu":
        return F.relu(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "tanh":
        return torch.tanh(x)
    if act == "elu":
        return F.elu(x)
    if act == "softplus":
        return F.softplus(x)
    if act == "swish":
        return x * torch.sigmoid(x)
    return x  # "linear"


_ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "elu", "softplus", "swish"}


class Conv2D(Node):
    def __init__(self, name: str, kernel_hwio: np.ndarray, bias, stride, dilation, padding: str,
                 activation: str):
        super().__init__(name)
        kh, kw, cin, cout = kernel_hwio.shape
        # Keras 'same' with stride 1 pads k-1 in total, the extra pixel (even k) at the
        # bottom/right; torch's symmetric padding only covers odd kernels, so pad explicitly.
        pads = [0, 0, 0, 0]  # left, right, top, bottom (F.pad order)
        if padding == "same":
            if tuple(stride) != (1, 1):
                raise ValueError(f"{name}: 'same' padding with stride {stride} is not supported")
            th, tw = (kh - 1) * dilation[0], (kw - 1) * dilation[1]
            pads = [tw // 2, tw - tw // 2, th // 2, th - th // 2]
        elif padding != "valid":
            raise ValueError(f"{name}: padding {padding!r} is not supported")
        self.symmetric = pads[0] == pads[1] and pads[2] == pads[3]
        self.pads = pads
        self.conv = nn.Conv2d(cin, cout, (kh, kw), stride=tuple(stride), dilation=tuple(dilation),
                              padding=(pads[2], pads[0]) if self.symmetric else 0,
                              bias=bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(
                kernel_hwio.transpose(3, 2, 0, 1))))  # HWIO -> OIHW
            if bias is not None:
                self.conv.bias.copy_(torch.from_numpy(bias))
        self.activation = activation

    def forward(self, inputs: List[Tensor]) -> Tensor:
        x = inputs[0]
        if not self.symmetric:
            x = F.pad(x, self.pads)
        return _activate(self.conv(x), self.activation)


class Activation(Node):
    def __init__(self, name: str, activation: str):
        super().__init__(name)
        self.activation = activation

    def forward(self, inputs: List[Tensor]) -> Tensor:
        return _activate(inputs[0], self.activation)


class Concatenate(Node):
    def __init__(self, name: str, dim: int):
        super().__init__(name)
        self.dim = dim

    def forward(self, inputs: List[Tensor]) -> Tensor:
        return torch.cat(inputs, dim=self.dim)


class Add(Node):
    def forward(self, inputs: List[Tensor]) -> Tensor:
        out = inputs[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i]
        return out


class Multiply(Node):
    def forward(self, inputs: List[Tensor]) -> Tensor:
        out = inputs[0]
        for i in range(1, len(inputs)):
            out = out * inputs[i]
        return out


class Scale(Node):
    """UpscalerJS' MultiplyBeta: x * beta."""

    def __init__(self, name: str, factor: float):
        super().__init__(name)
        self.factor = factor

    def forward(self, inputs: List[Tensor]) -> Tensor:
        return inputs[0] * self.factor


class UpsampleNearest(Node):
    def __init__(self, name: str, sh: int, sw: int):
        super().__init__(name)
        self.sh = sh
        self.sw = sw

    def forward(self, inputs: List[Tensor]) -> Tensor:
        # Integer-factor nearest: every source pixel repeated sh x sw times, exactly as
        # Keras' UpSampling2D(interpolation='nearest') does.
        x = inputs[0]
        return x.repeat_interleave(self.sh, dim=2).repeat_interleave(self.sw, dim=3)


class DepthToSpace(Node):
    """tf.depthToSpace(x, b, 'NHWC') in NCHW terms.

    TF reads input channel (i * b + j) * C + c into output pixel (h*b + i, w*b + j),
    channel c; torch's PixelShuffle reads c * b * b + i * b + j instead, so it would
    scramble colours. Reshape to [N, b, b, C, H, W] and interleave explicitly.
    """

    def __init__(self, name: str, block: int):
        super().__init__(name)
        self.block = block

    def forward(self, inputs: List[Tensor]) -> Tensor:
        x = inputs[0]
        b = self.block
        n, c, h, w = x.shape
        co = c // (b * b)
        x = x.reshape(n, b, b, co, h, w).permute(0, 3, 4, 1, 5, 2)
        return x.reshape(n, co, h * b, w * b)


class KerasGraph(nn.Module):
    """Runs the converted layers in topological order; values[0] is the network input."""

    def __init__(self, nodes: Dict[str, Node], output_index: int):
        super().__init__()
        self.layers = nn.ModuleDict(nodes)
        self.output_index = output_index

    def forward(self, x: Tensor) -> Tensor:
        values: List[Tensor] = [x]
        empty = torch.empty(0, dtype=x.dtype, device=x.device)
        for layer in self.layers.values():
            args: List[Tensor] = []
            for i in layer.inbound:
                args.append(values[i])
            values.append(layer(args))
            for i in layer.release:
                values[i] = empty
        return values[self.output_index]


# ---------------------------------------------------------------------------------------
# model.json -> KerasGraph
# ---------------------------------------------------------------------------------------

_DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16,
           "uint8": np.uint8, "uint16": np.uint16}


def load_weights(model_dir: str, manifest: list) -> Dict[str, np.ndarray]:
    """Reads the TF.js weightsManifest: shards concatenated per group, weights in order."""
    weights = {}
    for group in manifest:
        blob = b""
        for path in group["paths"]:
            with open(os.path.join(model_dir, path), "rb") as f:
                blob += f.read()
        offset = 0
        for spec in group["weights"]:
            shape = spec["shape"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                qdtype = np.dtype(_DTYPES[quant["dtype"]]).newbyteorder("<")
                raw = np.frombuffer(blob, qdtype, count, offset)
                offset += count * qdtype.itemsize
                if quant["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:  # affine uint8/uint16: value = q * scale + min
                    values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(
                        quant["min"])
            else:
                dtype = np.dtype(_DTYPES[spec["dtype"]]).newbyteorder("<")
                values = np.frombuffer(blob, dtype, count, offset)
                offset += count * dtype.itemsize
            weights[spec["name"]] = values.astype(np.float32).reshape(shape)
        if offset != len(blob):
            raise ValueError(f"weights manifest covers {offset} bytes but shards hold {len(blob)}")
    return weights


_NHWC_TO_NCHW = {-1: 1, 3: 1, 1: 2, 2: 3, 0: 0}


def build_node(layer: dict, weights: Dict[str, np.ndarray]) -> Node:
    cls, cfg, name = layer["class_name"], layer["config"], layer["name"]
    fmt = cfg.get("data_format", "channels_last")
    if fmt != "channels_last":
        raise ValueError(f"{name}: data_format {fmt} is not supported")
    if cls == "Conv2D":
        if cfg.get("groups", 1) != 1:
            raise ValueError(f"{name}: grouped convolution is not supported")
        act = cfg.get("activation", "linear")
        if act not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation {act!r} is not supported")
        kernel = weights.pop(f"{name}/kernel")
        bias = weights.pop(f"{name}/bias") if cfg.get("use_bias", True) else None
        if list(kernel.shape[:2]) != list(cfg["kernel_size"]) or kernel.shape[3] != cfg["filters"]:
            raise ValueError(f"{name}: kernel shape {kernel.shape} does not match the config")
        return Conv2D(name, kernel, bias, cfg.get("strides", [1, 1]),
                      cfg.get("dilation_rate", [1, 1]), cfg.get("padding", "valid"), act)
    if cls == "Activation":
        if cfg["activation"] not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation {cfg['activation']!r} is not supported")
        return Activation(name, cfg["activation"])
    if cls == "Concatenate":
        return Concatenate(name, _NHWC_TO_NCHW[cfg.get("axis", -1)])
    if cls == "Add":
        return Add(name)
    if cls == "Multiply":
        return Multiply(name)
    if cls == "MultiplyBeta":
        return Scale(name, 0.2)  # BETA in upscalerjs packages/shared/src/esrgan/esrgan.ts
    if cls == "UpSampling2D":
        if cfg.get("interpolation", "nearest") != "nearest":
            raise ValueError(f"{name}: UpSampling2D {cfg['interpolation']} is not supported")
        size = cfg.get("size", [2, 2])
        return UpsampleNearest(name, int(size[0]), int(size[1]))
    m = re.fullmatch(r"PixelShuffle(\d+)x", cls)
    if m:
        return DepthToSpace(name, int(m.group(1)))
    raise ValueError(f"layer {name}: Keras class {cls} is not supported by this converter")


def build_graph(model_json_path: str):
    """Returns (KerasGraph, info): info has the scale, parameter count and the
    receptive-field radius in input pixels."""
    with open(model_json_path) as f:
        model = json.load(f)
    if model.get("format") != "layers-model":
        raise ValueError(f"{model_json_path}: format {model.get('format')!r}, want layers-model")
    topology = model["modelTopology"]
    config = topology.get("model_config", topology)
    if config["class_name"] not in ("Functional", "Model"):
        raise ValueError(f"{model_json_path}: {config['class_name']} models are not supported")
    graph = config["config"]
    weights = load_weights(os.path.dirname(model_json_path), model["weightsManifest"])

    if len(graph["input_layers"]) != 1 or len(graph["output_layers"]) != 1:
        raise ValueError("only single-input single-output models are supported")
    input_name = graph["input_layers"][0][0]
    output_name = graph["output_layers"][0][0]

    index = {input_name: 0}
    nodes: Dict[str, Node] = {}
    # Geometry per value: channel count, upscale factor relative to the input, and the
    # receptive-field radius in *input* pixels (how far a change can travel).
    channels = {0: 3}
    scale = {0: 1}
    radius = {0: 0}
    for layer in graph["layers"]:
        name = layer["name"]
        if layer["class_name"] == "InputLayer":
            if name != input_name:
                raise ValueError(f"unexpected second input layer {name}")
            continue
        if len(layer["inbound_nodes"]) != 1:
            raise ValueError(f"{name}: shared layers (called {len(layer['inbound_nodes'])}x) "
                             "are not supported")
        inbound = []
        for ref in layer["inbound_nodes"][0]:
            src = ref[0]
            if src not in index:
                raise ValueError(f"{name}: input {src} is not defined before it (not topological)")
            if ref[1] != 0 or ref[2] != 0:
                raise ValueError(f"{name}: multi-output inbound {ref} is not supported")
            inbound.append(index[src])
        node = build_node(layer, weights)
        node.inbound = inbound
        i = len(index)
        index[name] = i
        nodes[name] = node
        s = max(scale[j] for j in inbound)
        r = max(radius[j] for j in inbound)
        c = channels[inbound[0]]
        if isinstance(node, Conv2D):
            k = node.conv.kernel_size
            d = node.conv.dilation
            # A conv at s x the input resolution reaching p pixels sideways can touch
            # ceil(p / s) input pixels further out (nearest upsampling).
            reach = math.ceil(max((k[0] - 1) * d[0], (k[1] - 1) * d[1]) / 2)
            r += math.ceil(reach / s)
            if c != node.conv.in_channels:
                raise ValueError(f"{name}: kernel expects {node.conv.in_channels} input "
                                 f"channels, the graph feeds {c}")
            c = node.conv.out_channels
        elif isinstance(node, Concatenate):
            c = sum(channels[j] for j in inbound)
        elif isinstance(node, UpsampleNearest):
            s = s * node.sh
        elif isinstance(node, DepthToSpace):
            s = s * node.block
            c = c // (node.block * node.block)
        channels[i], scale[i], radius[i] = c, s, r
    if weights:
        raise ValueError(f"unused weights (graph/weights mismatch): {sorted(weights)}")

    # Drop each intermediate right after its last reader.
    last_use = {}
    for node in nodes.values():
        for j in node.inbound:
            last_use[j] = index[node.keras_name]
    out_index = index[output_name]
    if channels[out_index] != 3:
        raise ValueError(f"output {output_name} has {channels[out_index]} channels, want 3 (RGB)")
    for j, user in last_use.items():
        if j != 0 and j != out_index:
            nodes[list(nodes)[user - 1]].release.append(j)

    info = {
        "scale": scale[out_index],
        "radius": radius[out_index],
        "params": sum(p.numel() for p in nn.ModuleDict(nodes).parameters()),
    }
    return KerasGraph(nodes, out_index).eval(), info


# ---------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_package(package_dir: str, spec: str, license_id: str) -> None:
    """The unpacked package must be the NAME@VERSION we record, under the licence we record."""
    path = os.path.join(package_dir, "package.json")
    with open(path) as f:
        pkg = json.load(f)
    found = f"{pkg.get('name')}@{pkg.get('version')}"
    if found != spec:
        raise ValueError(f"{path}: package is {found}, expected {spec}")
    if pkg.get("license") != license_id:
        raise ValueError(f"{path}: license {pkg.get('license')!r}, expected {license_id!r}")


_MEASURE = """
import resource, sys, torch
torch.set_grad_enabled(False)
torch.set_num_threads(1)
m = torch.jit.load(sys.argv[1])
n, side = int(sys.argv[2]), int(sys.argv[3])
m(torch.rand(1, 3, 8, 8) * 255)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m(torch.rand(n, 3, side, side) * 255)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
"""


def measure_forward_bytes(pt: str, batch: int, side: int) -> int:
    """Peak resident-memory growth (bytes) of one forward pass on [batch, 3, side, side]."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    out = subprocess.run([sys.executable, "-c", _MEASURE, pt, str(batch), str(side)],
                         check=True, capture_output=True, text=True, env=env)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package-dir", required=True, help="unpacked npm package (its package/)")
    ap.add_argument("--model-json", required=True, help="model.json, relative to --package-dir")
    ap.add_argument("--out", required=True, help="model folder to write (created)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--package-spec", required=True, help="NAME@VERSION of the npm package")
    ap.add_argument("--tarball-sha256", required=True)
    ap.add_argument("--license", default="MIT", help="SPDX id; must match package.json")
    ap.add_argument("--value-range", default="0,255", help="lo,hi the model expects and returns")
    ap.add_argument("--golden-fixture", help="input image, relative to --package-dir")
    ap.add_argument("--golden-result", help="expected output, relative to --package-dir")
    ap.add_argument("--tile-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--memory-mib", type=int,
                    help="memory_bytes to record (MiB); checked against a measurement. "
                         "Default: the measurement itself (not reproducible to the byte)")
    args = ap.parse_args(argv)

    torch.set_grad_enabled(False)
    check_package(args.package_dir, args.package_spec, args.license)
    model_json = os.path.join(args.package_dir, args.model_json)
    module, info = build_graph(model_json)
    scale = info["scale"]

    scripted = torch.jit.script(module)
    os.makedirs(args.out, exist_ok=True)
    pt = os.path.join(args.out, "model.pt")
    save_reproducible(scripted, pt)  # same bytes on every host (torchscript_io.py)

    # Self-check: the saved file reloads, accepts sizes it never saw, agrees with eager.
    reloaded = torch.jit.load(pt)
    for shape in [(1, 3, 7, 11), (2, 3, 16, 5)]:
        x = torch.rand(shape) * 255
        y = reloaded(x)
        want = (shape[0], 3, shape[2] * scale, shape[3] * scale)
        if tuple(y.shape) != want:
            raise RuntimeError(f"{args.name}: output {tuple(y.shape)} for input {shape}, "
                               f"want {want}")
        if not torch.allclose(y, module(x), rtol=0, atol=1e-3):
            raise RuntimeError(f"{args.name}: scripted and eager outputs differ")

    # Tiling. A tile's output is exact where every input pixel it depends on is real
    # image (or true image border), i.e. at least `radius` input pixels away from an
    # interior tile edge. Overlap is rounded up from 2 * radius (multiple of 8) so the
    # result stays exact whether the runtime splits the overlap between neighbours
    # (each keeps overlap/2 >= radius) or pads each tile by the full overlap.
    radius = info["radius"]
    overlap = max(8, -(-2 * radius // 8) * 8)
    tile = args.tile_size

    # Memory: measured, because summing the live feature maps misses much of it (the
    # workspace of the SR conv at output resolution, the upsample copies). A fresh
    # interpreter runs one batch of padded tiles (tile + 2*overlap per side) and reports
    # its peak RSS growth over a tiny warm-up run, with glibc's mmap threshold pinned so
    # big buffers are mapped and unmapped exactly (unpinned, the number drifts +-30% run
    # to run). Add the fp32 weights and 1.5x headroom for allocator caching in a
    # long-lived worker, round up to MiB.
    #
    # The measurement moves by about 1 MiB run to run, so a manifest that recorded it
    # would differ between two conversions of the same weights. fetch_models.sh therefore
    # pins the budget (--memory-mib, like tile and batch size) and the measurement checks
    # it: more than 10% over the pinned budget fails the conversion.
    side = tile + 2 * overlap
    act = measure_forward_bytes(pt, args.batch_size, side)
    measured = int(1.5 * (4 * info["params"] + act))
    measured = -(-measured // (1 << 20)) * (1 << 20)
    mem = measured
    if args.memory_mib is not None:
        mem = args.memory_mib << 20
        if measured > mem * 1.1:
            raise RuntimeError(f"{args.name}: measured {measured >> 20} MiB for a batch of "
                               f"{args.batch_size} {side}px tiles, more than 10% over the "
                               f"pinned --memory-mib {args.memory_mib}; raise it")

    lo, hi = (float(v) for v in args.value_range.split(","))
    files = [os.path.relpath(model_json, args.package_dir)]
    with open(model_json) as f:
        for group in json.load(f)["weightsManifest"]:
            files += [os.path.join(os.path.dirname(args.model_json), p) for p in group["paths"]]

    if args.golden_fixture or args.golden_result:
        if not (args.golden_fixture and args.golden_result):
            raise ValueError("--golden-fixture and --golden-result go together")
        os.makedirs(os.path.join(args.out, "golden"), exist_ok=True)
        shutil.copyfile(os.path.join(args.package_dir, args.golden_fixture),
                        os.path.join(args.out, "golden", "fixture.png"))
        shutil.copyfile(os.path.join(args.package_dir, args.golden_result),
                        os.path.join(args.out, "golden", "result.png"))
        files += [args.golden_fixture, args.golden_result]

    manifest = {
        "name": args.name,
        "version": args.version,
        "file": "model.pt",
        "sha256": sha256_file(pt),
        "kind": "upscale",
        "scale": scale,
        "inputs": 1,
        "window": {"before": 0, "after": 0},
        "color_space": "srgb",
        "value_range": [lo, hi],
        "tile": {"size": tile, "overlap": overlap},
        "pad_multiple": 1,  # convs are stride 1 and the upsample is integer: any H, W
        "batch_size": args.batch_size,
        "memory_bytes": mem,
        # Activations of these networks (RDN architecture, per esrgan-slim's own metadata)
        # stay far below fp16's 65504 on 0-255 input
        # (tests/models/test_upscalers.py checks the peak on the golden fixture).
        "half": True,
        "seeded": False,
        "source": {
            "package": args.package_spec,
            "tarball_sha256": args.tarball_sha256,
            "license": args.license,
            "files": files,
        },
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"convert_upscaler: {args.name}: scale {scale}, {info['params']} params, "
          f"receptive radius {radius} px, tile {tile}+{overlap}, memory {mem >> 20} MiB "
          f"(measured {measured >> 20} MiB)")
    return 0


if __name__ == "__main__":
    pin_hash_seed()
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"convert_upscaler: error: {e}", file=sys.stderr)
        sys.exit(1)
