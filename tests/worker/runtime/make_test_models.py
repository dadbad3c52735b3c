#!/usr/bin/python3
"""Writes tiny TorchScript models + manifests for the worker runtime tests.

Usage: /usr/bin/python3 make_test_models.py OUT_DIR

OUT_DIR/<model>/{model.pt,manifest.json} for:
  tiny-x2      conv upscaler, receptive radius 2 px, tiles 32+8 (exact when tiled)
  tiny-pad8-x2 the same, but refuses inputs whose H/W are not multiples of 8
  noise-x1     seeded: adds torch.randn noise (tests per-frame seeding)
  blend        interpolate: (1-t)*img0 + t*img1
  not-torchscript  a zip archive that is not TorchScript (load must fail cleanly)
  hungry-x1    forward asks LibTorch's CPU allocator for 2^62 bytes (a real allocation
               failure on any host, thrown from inside the TorchScript interpreter)
  cuda-oom-x1  forward raises the text of LibTorch's CUDA out-of-memory error (no GPU here)
  raises-x1    forward raises an ordinary RuntimeError (a model error, not memory)
Deterministic: fixed torch seed, so reruns produce the same weights.
"""
import hashlib
import json
import os
import sys
import zipfile

import torch
import torch.nn.functional as F


class TinyUpscaler(torch.nn.Module):
    def __init__(self, scale: int, pad_multiple: int):
        super().__init__()
        self.scale = scale
        self.pad_multiple = pad_multiple
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 3 * scale * scale, 3, padding=1)

    def forward(self, x):
        if x.size(2) % self.pad_multiple != 0 or x.size(3) % self.pad_multiple != 0:
            raise RuntimeError("input height and width must be multiples of pad_multiple")
        y = F.pixel_shuffle(self.c2(torch.relu(self.c1(x))), self.scale)
        return y * 0.2 + F.interpolate(x, scale_factor=float(self.scale), mode="nearest")


class Noise(torch.nn.Module):
    def forward(self, x):
        return x + 0.1 * torch.randn_like(x)


class Hungry(torch.nn.Module):
    def forward(self, x):
        return x + torch.zeros([1 << 60], dtype=torch.float32).sum()


class Raises(torch.nn.Module):
    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def forward(self, x):
        if x.size(1) > 0:
            raise RuntimeError(self.message)
        return x


class Blend(torch.nn.Module):
    def forward(self, img0, img1, timestep):
        return img0 * (1.0 - timestep) + img1 * timestep


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def write(out, name, module_or_path, **fields):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    pt = os.path.join(d, "model.pt")
    if isinstance(module_or_path, torch.nn.Module):
        torch.jit.save(torch.jit.script(module_or_path.eval()), pt)
    manifest = {
        "name": name, "version": "0.0.1", "file": "model.pt", "sha256": sha256(pt),
        "kind": "upscale", "scale": 1, "inputs": 1, "window": {"before": 0, "after": 0},
        "color_space": "srgb", "value_range": [0.0, 1.0], "tile": {"size": 32, "overlap": 8},
        "pad_multiple": 1, "batch_size": 3, "memory_bytes": 1 << 20, "half": False,
        "seeded": False, "source": {"package": "genfarm-tests", "license": "MIT", "files": []},
    }
    manifest.update(fields)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def main():
    out = sys.argv[1]
    torch.manual_seed(1234)
    write(out, "tiny-x2", TinyUpscaler(2, 1), scale=2)
    torch.manual_seed(1234)
    write(out, "tiny-pad8-x2", TinyUpscaler(2, 8), scale=2, pad_multiple=8)
    write(out, "noise-x1", Noise(), seeded=True, tile={"size": 0, "overlap": 0})
    write(out, "blend", Blend(), kind="interpolate", inputs=2, window={"before": 0, "after": 1},
          tile={"size": 0, "overlap": 0})
    untiled = {"tile": {"size": 0, "overlap": 0}}
    write(out, "hungry-x1", Hungry(), **untiled)
    write(out, "cuda-oom-x1", Raises("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; "
                                      "7.79 GiB total capacity; 1.02 GiB already allocated)"),
          **untiled)
    write(out, "raises-x1", Raises("the model cannot handle this input"), **untiled)
    d = os.path.join(out, "not-torchscript")
    os.makedirs(d, exist_ok=True)
    with zipfile.ZipFile(os.path.join(d, "model.pt"), "w") as z:
        z.writestr("readme.txt", "a zip archive, but no TorchScript inside")
    write(out, "not-torchscript", os.path.join(d, "model.pt"))
    with open(os.path.join(out, "stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
