"""A prepared split as `moodlens evaluate-detector` reads it: one folder of photos (links to the prepared
files) and a boxes JSON, so the shipped ONNX model is measured in Node on the same held-out photos.

    python -m moodlens_train.detector.split_folder --data data/detector --split test --out /tmp/detector-test
    npx moodlens evaluate-detector /tmp/detector-test/images --boxes /tmp/detector-test/boxes.json \\
        --iou 0.4 --min-face 20
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def photo_name(source: str, image: str) -> str:
    """A prepared photo's name in the folder: its source, then its file name (`webfaces_pic1.jpg`), so photos
    of two sources never collide."""
    return f"{source}_{Path(image).name}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/detector"))
    p.add_argument("--split", default="test")
    p.add_argument("--source", help="only this source")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    items = json.loads((args.data / f"{args.split}.json").read_text())
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for it in items:
        if args.source and it["source"] != args.source:
            continue
        name = photo_name(it["source"], it["image"])
        link = images / name
        if not link.exists():
            os.symlink((args.data / it["image"]).resolve(), link)
        boxes[name] = [[round(f["box"][0], 2), round(f["box"][1], 2), round(f["box"][2] - f["box"][0], 2),
                        round(f["box"][3] - f["box"][1], 2)] for f in it["faces"]]
    (args.out / "boxes.json").write_text(json.dumps(boxes) + "\n")
    print(f"{len(boxes)} photos, {sum(len(v) for v in boxes.values())} faces -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
