#!/usr/bin/python3
"""Writes a synthetic scene-linear EXR plate sequence: a textured disc crossing a
gradient sky with a bright sun (values above 1.0, as real plates have).

    /usr/bin/python3 examples/make_plates.py OUT_PATTERN FIRST LAST [--size WxH]
    /usr/bin/python3 examples/make_plates.py plates/sh010_plate.####.exr 1001 1024 --size 160x96
"""
import argparse
import os
import sys

import numpy as np
import OpenImageIO as oiio


def frame_image(frame, first, width, height):
    t = frame - first
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([0.05 + 0.25 * y / height, 0.1 + 0.3 * y / height, 0.35 + 0.2 * y / height], axis=-1)
    # A sun brighter than 1.0: scene-linear highlights must survive the farm.
    sun = np.exp(-(((x - width * 0.8) ** 2 + (y - height * 0.2) ** 2) / (2 * (width * 0.04) ** 2)))
    img = sky + sun[..., None] * np.array([6.0, 5.0, 3.5], np.float32)
    # A checker-textured disc moving 3 px per frame.
    cx, cy, r = width * 0.2 + 3.0 * t, height * 0.55, height * 0.22
    disc = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
    checker = ((np.floor((x - cx) / 4) + np.floor((y - cy) / 4)) % 2).astype(np.float32)
    colour = np.stack([0.6 * checker + 0.1, 0.3 + 0.2 * checker, 0.1 + 0.05 * checker], axis=-1)
    img[disc] = colour[disc]
    return img.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pattern", help="output pattern with #### or %%04d")
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("--size", default="160x96")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if "####" in args.pattern:
        fmt = args.pattern.replace("####", "%04d")
    elif "%04d" in args.pattern:
        fmt = args.pattern
    else:
        sys.exit(f"make_plates: pattern '{args.pattern}' has no #### or %04d")
    os.makedirs(os.path.dirname(os.path.abspath(fmt % args.first)), exist_ok=True)
    for frame in range(args.first, args.last + 1):
        path = fmt % frame
        if os.path.exists(path):
            continue
        spec = oiio.ImageSpec(width, height, 3, oiio.HALF)
        spec.attribute("oiio:ColorSpace", "Linear")
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(path)
        if out is None or not out.open(path + ".tmp.exr" if False else path, spec):
            sys.exit(f"make_plates: cannot write {path}: {oiio.geterror()}")
        out.write_image(frame_image(frame, args.first, width, height))
        out.close()
    print(f"make_plates: {args.last - args.first + 1} frames at {width}x{height} -> {args.pattern}")


if __name__ == "__main__":
    main()
