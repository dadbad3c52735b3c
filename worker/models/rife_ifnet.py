"""RIFE v4.6 IFNet as a TorchScript-able module (inference only).

Architecture of Practical-RIFE v4.6 (`IFNet_HDv3`), which is what the ncnn
`flownet.param` of rife-ncnn-vulkan's `rife-v4.6` encodes:

  * 4 IFBlocks at scales 8, 4, 2, 1.  Each block: conv0 = two stride-2 3x3
    convs + LeakyReLU(0.2); convblock = 8 residual 3x3 convs,
    `leaky(conv(x) + x)` (the trained per-channel `beta` is already folded into
    the conv weights of the ncnn export); lastconv = ConvTranspose2d(c, 24, 4,
    2, 1) + PixelShuffle(2), giving 6 channels at 1/scale: flow (4), mask (1),
    and one unused channel.
  * Block input is bilinear-resized by 1/scale, output resized back by scale;
    flow is multiplied by scale.  Blocks 1..3 refine: input is
    (warped img0, warped img1, timestep, mask) plus the current flow resized
    and divided by the scale; their flow/mask outputs are added.
  * Warping is backward warping with bilinear `grid_sample`, border padding,
    align_corners=True (a pixel (x, y) samples (x + fx, y + fy)).
  * Result: warp(img0, flow[:, :2]) * m + warp(img1, flow[:, 2:4]) * (1 - m),
    m = sigmoid(mask).

The module pads inputs with zeros (like rife-ncnn-vulkan) to a multiple of 32
and crops the result back, so any H, W works.
"""

from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD_MULTIPLE = 32
LEAKY_SLOPE = 0.2  # literal 0.2 in forward(): TorchScript cannot read globals


class IFBlock(nn.Module):
    def __init__(self, in_planes: int, c: int, num_res: int = 8, out_planes: int = 24):
        super().__init__()
        self.conv0a = nn.Conv2d(in_planes, c // 2, 3, 2, 1)
        self.conv0b = nn.Conv2d(c // 2, c, 3, 2, 1)
        self.convblock = nn.ModuleList([nn.Conv2d(c, c, 3, 1, 1) for _ in range(num_res)])
        self.lastconv = nn.ConvTranspose2d(c, out_planes, 4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        feat = F.leaky_relu(self.conv0a(x), 0.2)
        feat = F.leaky_relu(self.conv0b(feat), 0.2)
        for conv in self.convblock:
            feat = F.leaky_relu(conv(feat) + feat, 0.2)
        return F.pixel_shuffle(self.lastconv(feat), 2)


def _resize(x: Tensor, h: int, w: int) -> Tensor:
    return F.interpolate(x, size=[h, w], mode="bilinear", align_corners=False)


def warp(img: Tensor, flow: Tensor) -> Tensor:
    """Backward warp: out(x, y) = img(x + flow_x, y + flow_y), bilinear, border."""
    n = img.shape[0]
    h = img.shape[2]
    w = img.shape[3]
    gx = torch.linspace(-1.0, 1.0, w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gy = torch.linspace(-1.0, 1.0, h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    fx = flow[:, 0] / ((w - 1.0) / 2.0)
    fy = flow[:, 1] / ((h - 1.0) / 2.0)
    grid = torch.stack([(gx + fx).expand(n, h, w), (gy + fy).expand(n, h, w)], dim=3)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """forward(img0, img1, timestep) -> frame at `timestep` between img0 and img1.

    img0, img1: [N, 3, H, W] RGB in [0, 1]; timestep: [N, 1, 1, 1] (or [1, 1, 1, 1])
    in (0, 1).  Returns [N, 3, H, W] in [0, 1].
    """

    def __init__(self, block_channels: List[int], scales: List[int], in_planes: List[int]):
        super().__init__()
        assert len(block_channels) == len(scales) == len(in_planes)
        self.blocks = nn.ModuleList(
            [IFBlock(p, c) for p, c in zip(in_planes, block_channels)])
        self.scales: List[int] = scales
        self.pad_multiple: int = PAD_MULTIPLE

    def forward(self, img0: Tensor, img1: Tensor, timestep: Tensor) -> Tensor:
        n = img0.shape[0]
        h = img0.shape[2]
        w = img0.shape[3]
        m = self.pad_multiple
        ph = (h + m - 1) // m * m
        pw = (w + m - 1) // m * m
        img0 = F.pad(img0, [0, pw - w, 0, ph - h])
        img1 = F.pad(img1, [0, pw - w, 0, ph - h])
        t = timestep.to(img0.dtype).reshape(-1, 1, 1, 1).expand(n, 1, ph, pw)

        flow = torch.zeros([n, 4, ph, pw], dtype=img0.dtype, device=img0.device)
        mask = torch.zeros([n, 1, ph, pw], dtype=img0.dtype, device=img0.device)
        warped0 = img0
        warped1 = img1
        i = 0
        for block in self.blocks:
            s = self.scales[i]
            sh = ph // s
            sw = pw // s
            if i == 0:
                x = torch.cat([img0, img1, t], 1)
            else:
                x = torch.cat([warped0, warped1, t, mask], 1)
            if s != 1:
                x = _resize(x, sh, sw)
            if i > 0:
                f = flow
                if s != 1:
                    f = _resize(f, sh, sw)
                x = torch.cat([x, f / float(s)], 1)
            tmp = block(x)
            if s != 1:
                tmp = _resize(tmp, ph, pw)
            if i == 0:
                flow = tmp[:, 0:4] * float(s)
                mask = tmp[:, 4:5]
            else:
                flow = flow + tmp[:, 0:4] * float(s)
                mask = mask + tmp[:, 4:5]
            warped0 = warp(img0, flow[:, 0:2])
            warped1 = warp(img1, flow[:, 2:4])
            i += 1

        mk = torch.sigmoid(mask)
        out = warped0 * mk + warped1 * (1.0 - mk)
        return out[:, :, 0:h, 0:w].clamp(0.0, 1.0)
