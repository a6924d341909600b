"""The detector's boxes in the Haar cascade's framing (issue 21).

The landmark model and the emotion crop were trained on boxes from the Haar cascade
(haarcascade_frontalface_default.xml, OpenCV's defaults): square, from the brows to below the mouth. The
learned detector draws its own box (jaw-wide, forehead to chin). Rather than retrain those stages, MoodLens
maps each detector box onto the box the cascade would have drawn for that face:

    side_haar = scale * s,   centre_haar = centre + (dx * s, dy * s),   s = (width + height) / 2

The three numbers are fitted here on the training photos where both find the same face (medians: a few bad
matches do not pull them), written to a JSON file, and stored in the ONNX metadata by `export --framing`
(`moodlens.haar_framing` = "dx,dy,scale"); src/detect/cnn/framing.ts applies them.

    python -m moodlens_train.detector.framing runs/detector/best.pt --data data/detector --out framing.json

Only `train` photos of face300w (the landmark model's own faces and framing) are used by default: nothing
held out is looked at.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from .data import load_split
from .export import load_model
from .metrics import detect, iou_matrix


def haar_boxes(cascade, image: np.ndarray) -> np.ndarray:
    """The cascade's faces on the photo at its own size, OpenCV's defaults, as x1, y1, x2, y2."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    rects = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)
    return np.array([[x, y, x + w, y + h] for x, y, w, h in rects], np.float32).reshape(-1, 4)


def pairs(model, cascade, items, threshold: float, long_side: int):
    """(detector box, Haar box) for each labelled face both found (IoU with the label >= 0.4 each)."""
    out = []
    for item in items:
        det = detect(model, item.image, threshold=threshold, long_side=long_side)
        haar = haar_boxes(cascade, item.image)
        if not len(det["boxes"]) or not len(haar) or not len(item.boxes):
            continue
        d_iou = iou_matrix(item.boxes, det["boxes"])
        h_iou = iou_matrix(item.boxes, haar)
        for g in range(len(item.boxes)):
            d, h = int(np.argmax(d_iou[g])), int(np.argmax(h_iou[g]))
            if d_iou[g, d] >= 0.4 and h_iou[g, h] >= 0.3:
                out.append((det["boxes"][d], haar[h]))
    return out


def fit(matched) -> dict:
    """Median dx, dy, scale over the pairs, with the spread of what is left (in Haar box sides)."""
    d = np.array([p[0] for p in matched], np.float64)
    h = np.array([p[1] for p in matched], np.float64)
    s = ((d[:, 2] - d[:, 0]) + (d[:, 3] - d[:, 1])) / 2
    dcx, dcy = (d[:, 0] + d[:, 2]) / 2, (d[:, 1] + d[:, 3]) / 2
    hs = ((h[:, 2] - h[:, 0]) + (h[:, 3] - h[:, 1])) / 2
    hcx, hcy = (h[:, 0] + h[:, 2]) / 2, (h[:, 1] + h[:, 3]) / 2
    dx, dy, scale = (float(np.median((hcx - dcx) / s)), float(np.median((hcy - dcy) / s)),
                     float(np.median(hs / s)))
    # what the mapping leaves over, relative to the Haar box side
    ex = (dcx + dx * s - hcx) / hs
    ey = (dcy + dy * s - hcy) / hs
    es = (scale * s - hs) / hs
    mapped = np.stack([dcx + dx * s - scale * s / 2, dcy + dy * s - scale * s / 2,
                       dcx + dx * s + scale * s / 2, dcy + dy * s + scale * s / 2], 1)
    ious = np.array([iou_matrix(mapped[i:i + 1], h[i:i + 1])[0, 0] for i in range(len(h))])
    raw_ious = np.array([iou_matrix(d[i:i + 1], h[i:i + 1])[0, 0] for i in range(len(h))])
    return {
        "dx": round(dx, 4), "dy": round(dy, 4), "scale": round(scale, 4), "pairs": len(matched),
        "residual_median_abs": {"x": round(float(np.median(np.abs(ex))), 4),
                                "y": round(float(np.median(np.abs(ey))), 4),
                                "side": round(float(np.median(np.abs(es))), 4)},
        "iou_with_haar_median": {"raw": round(float(np.median(raw_ious)), 4),
                                 "mapped": round(float(np.median(ious)), 4)},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", type=Path, default=Path("data/detector"))
    p.add_argument("--split", default="train")
    p.add_argument("--source", default="face300w", help="only photos of this source ('' for all)")
    p.add_argument("--long-side", type=int, default=None, help="default: the checkpoint's evaluation size")
    p.add_argument("--cascade", default="/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, ckpt = load_model(args.checkpoint)
    cascade = cv2.CascadeClassifier(args.cascade)
    if cascade.empty():
        raise SystemExit(f"{args.cascade}: not a readable cascade")
    items = [it for it in load_split(args.data, args.split) if not args.source or it.source == args.source]
    from .metrics import EVAL_LONG_SIDE
    long_side = args.long_side or EVAL_LONG_SIDE
    threshold = float(ckpt.get("threshold", 0.5))
    with torch.no_grad():
        matched = pairs(model, cascade, items, threshold, long_side)
    if len(matched) < 20:
        raise SystemExit(f"only {len(matched)} faces found by both: too few to fit the framing")
    result = fit(matched)
    result.update({"checkpoint": str(args.checkpoint), "split": args.split, "source": args.source or "all",
                   "photos": len(items), "long_side": long_side, "threshold": threshold})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
