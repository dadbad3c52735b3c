"""Eager interpreter for an ncnn layer graph, used to verify conversions.

It executes the .param graph layer by layer with ncnn's semantics (batch of 1,
ncnn Mat [c, h, w] = torch [1, c, h, w]).  The converter compares the
hand-written TorchScript IFNet against it, so a wrong weight mapping or a
misread wire shows up as a numerical mismatch rather than as a blurry frame.

Not used at render time.
"""

from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from rife_ncnn import Layer, NcnnFormatError


def _activation(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    act = int(layer.get(9, 0))
    params = layer.get(10, [])
    if act == 0:
        return x
    if act == 1:
        return F.relu(x)
    if act == 2:
        return F.leaky_relu(x, float(params[0]) if params else 0.0)
    if act == 4:
        return torch.sigmoid(x)
    raise NcnnFormatError("layer %s: activation_type %d not supported" % (layer.name, act))


def warp_ncnn_shader(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """rife-ncnn-vulkan's warp.comp, literally (clamps x0/x1, alpha from clamped x0)."""
    _, c, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype),
                            indexing="ij")
    sx = xs + flow[0, 0]
    sy = ys + flow[0, 1]
    x0 = torch.floor(sx).long()
    y0 = torch.floor(sy).long()
    x1 = (x0 + 1).clamp(0, w - 1)
    y1 = (y0 + 1).clamp(0, h - 1)
    x0 = x0.clamp(0, w - 1)
    y0 = y0.clamp(0, h - 1)
    alpha = sx - x0.to(img.dtype)
    beta = sy - y0.to(img.dtype)
    flat = img[0].reshape(c, h * w)

    def at(yy, xx):
        return flat[:, (yy * w + xx).reshape(-1)].reshape(c, h, w)

    v4 = at(y0, x0) * (1 - alpha) + at(y0, x1) * alpha
    v5 = at(y1, x0) * (1 - alpha) + at(y1, x1) * alpha
    return (v4 * (1 - beta) + v5 * beta).unsqueeze(0)


def warp_grid_sample(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Practical-RIFE's warp: grid_sample, bilinear, border padding, align_corners=True."""
    _, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype),
                            indexing="ij")
    gx = (xs + flow[0, 0]) / ((w - 1) / 2.0) - 1.0
    gy = (ys + flow[0, 1]) / ((h - 1) / 2.0) - 1.0
    grid = torch.stack([gx, gy], dim=2).unsqueeze(0)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def run_graph(layers: List[Layer], weights: Dict[str, Dict[str, np.ndarray]],
              inputs: Dict[str, torch.Tensor], output: str,
              warp_mode: str = "grid_sample") -> torch.Tensor:
    """Runs the graph on `inputs` (blob name -> [1, c, h, w]) and returns blob `output`."""
    warp_fn = warp_grid_sample if warp_mode == "grid_sample" else warp_ncnn_shader
    blobs: Dict[str, torch.Tensor] = {}
    for L in layers:
        ins = [blobs[b] for b in L.inputs]
        t = L.type
        if t == "Input":
            outs = [inputs[L.outputs[0]]]
        elif t == "Split":
            outs = [ins[0]] * len(L.outputs)
        elif t == "Concat":
            axis = int(L.get(0, 0))
            outs = [torch.cat(ins, dim=axis + 1)]
        elif t == "Interp":
            rtype = int(L.get(0, 0))
            h, w = ins[0].shape[2], ins[0].shape[3]
            oh, ow = int(L.get(3, 0)), int(L.get(4, 0))
            if oh == 0 or ow == 0:
                oh, ow = int(h * float(L.get(1, 1.0))), int(w * float(L.get(2, 1.0)))
            if rtype == 2:
                outs = [F.interpolate(ins[0], size=[oh, ow], mode="bilinear",
                                      align_corners=bool(int(L.get(6, 0))))]
            elif rtype == 1:
                outs = [F.interpolate(ins[0], size=[oh, ow], mode="nearest")]
            else:
                raise NcnnFormatError("layer %s: Interp resize_type %d not supported" %
                                      (L.name, rtype))
        elif t in ("Convolution", "Deconvolution"):
            cout = int(L.get(0, 0))
            kw = int(L.get(1, 0))
            kh = int(L.get(11, kw))
            dil = int(L.get(2, 1))
            stride = int(L.get(3, 1))
            pad = int(L.get(4, 0))
            if int(L.get(12, dil)) != dil or int(L.get(13, stride)) != stride:
                raise NcnnFormatError("layer %s: anisotropic dilation/stride" % L.name)
            if int(L.get(14, pad)) != pad or int(L.get(15, pad)) != pad or \
                    int(L.get(16, pad)) != pad or pad < 0:
                raise NcnnFormatError("layer %s: asymmetric or SAME padding" % L.name)
            wd = weights[L.name]
            cin = wd["weight"].size // (cout * kh * kw)
            wt = torch.from_numpy(wd["weight"].copy()).reshape(cout, cin, kh, kw)
            bias = torch.from_numpy(wd["bias"].copy()) if "bias" in wd else None
            if t == "Convolution":
                y = F.conv2d(ins[0], wt, bias, stride=stride, padding=pad, dilation=dil)
            else:
                if int(L.get(18, 0)) or int(L.get(19, 0)) or int(L.get(20, 0)):
                    raise NcnnFormatError("layer %s: output_pad/output size not supported"
                                          % L.name)
                # ncnn stores deconv weights [out, in, kh, kw]; torch wants [in, out, kh, kw].
                y = F.conv_transpose2d(ins[0], wt.permute(1, 0, 2, 3), bias, stride=stride,
                                       padding=pad, dilation=dil)
            outs = [_activation(L, y)]
        elif t == "ReLU":
            outs = [F.leaky_relu(ins[0], float(L.get(0, 0.0)))]
        elif t == "Sigmoid":
            outs = [torch.sigmoid(ins[0])]
        elif t == "BinaryOp":
            op = int(L.get(0, 0))
            if int(L.get(1, 0)):
                a, b = ins[0], torch.tensor(float(L.get(2, 0.0)))
            else:
                a, b = ins[0], ins[1]
            fns = {0: lambda: a + b, 1: lambda: a - b, 2: lambda: a * b, 3: lambda: a / b,
                   4: lambda: torch.maximum(a, b), 5: lambda: torch.minimum(a, b),
                   6: lambda: torch.pow(a, b), 7: lambda: b - a, 8: lambda: b / a}
            if op not in fns:
                raise NcnnFormatError("layer %s: BinaryOp op %d not supported" % (L.name, op))
            outs = [fns[op]()]
        elif t == "Eltwise":
            op = int(L.get(0, 1))
            coeffs = L.get(1, [])
            if op != 1:
                raise NcnnFormatError("layer %s: Eltwise op %d not supported" % (L.name, op))
            if not coeffs:
                coeffs = [1.0] * len(ins)
            acc = ins[0] * float(coeffs[0])
            for x, c in zip(ins[1:], coeffs[1:]):
                acc = acc + x * float(c)
            outs = [acc]
        elif t == "PixelShuffle":
            if int(L.get(1, 0)) != 0:
                raise NcnnFormatError("layer %s: PixelShuffle mode 1 not supported" % L.name)
            outs = [F.pixel_shuffle(ins[0], int(L.get(0, 1)))]
        elif t == "Crop":
            starts, ends, axes = L.get(9, []), L.get(10, []), L.get(11, [])
            if not axes or len(starts) != len(axes) or len(ends) != len(axes):
                raise NcnnFormatError("layer %s: Crop without starts/ends/axes" % L.name)
            y = ins[0]
            for s, e, ax in zip(starts, ends, axes):
                dim = int(ax) + 1
                size = y.shape[dim]
                s, e = int(s), int(e)
                e = size if e == -233 else (e + size if e < 0 else min(e, size))
                y = y.narrow(dim, s, e - s)
            outs = [y]
        elif t == "rife.Warp":
            outs = [warp_fn(ins[0], ins[1])]
        else:
            raise NcnnFormatError("layer %s: layer type %s not supported" % (L.name, t))
        for name, value in zip(L.outputs, outs):
            blobs[name] = value
    return blobs[output]
