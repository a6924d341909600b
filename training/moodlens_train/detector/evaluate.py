"""Held-out figures of a detector checkpoint, beside OpenCV's Haar cascade on the same photos.

    cd training
    /usr/bin/python3 -m moodlens_train.detector.evaluate runs/detector/best.pt --data data/detector --split test \\
        --haar --json-out runs/detector/test.json

The detector sees each photo resized to --long-side (416, as MoodLens runs it; INTER_AREA when shrinking),
plus, with --fine-long-side, a second pass for small faces and, with --coarse-long-side, one for faces filling
the photo (metrics.detect); boxes are mapped back to the
photo. It keeps detections at or above the threshold (the checkpoint's, chosen on val, or --threshold; never
chosen on test) after NMS (IoU 0.4). Haar is `detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)` with
`haarcascade_frontalface_default.xml` on the photo as it is (or --haar-long-side). A detection counts when it
overlaps a labelled face by IoU >= 0.4 (each face matched once, greedily by score); labelled faces under
--min-face are ignored (metrics.match_ignoring); recall and precision are over all faces / all detections of
the split, also per source. AP needs scores: detector only. Where the split has labelled keypoints
(face300w), `keypoints` gives the detector's keypoint error (NME over the inter-ocular distance). Times: the
median per photo, 1 thread (torch for the detector, cv2 for Haar).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..callbacks import emit_json
from .data import load_split
from .export import load_model
from .metrics import EVAL_LONG_SIDE, MIN_EVAL_FACE, best_threshold, detect, evaluate, keypoint_error
from .passes import add_pass_arguments, pass_settings

HAAR = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def haar_detect(cascade, image: np.ndarray, long_side: int = EVAL_LONG_SIDE):
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    small = cv2.resize(image, (int(round(w * scale)), int(round(h * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    rects = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)
    boxes = np.array([[x, y, x + rw, y + rh] for x, y, rw, rh in rects], np.float32).reshape(-1, 4) / scale
    return {"boxes": boxes, "scores": np.ones(len(boxes), np.float32)}


def figures(dets, items, threshold, iou, min_face=MIN_EVAL_FACE):
    out = {"all": evaluate(dets, [it.boxes for it in items], threshold, iou, min_face)}
    for source in sorted({it.source for it in items}):
        idx = [i for i, it in enumerate(items) if it.source == source]
        out[source] = evaluate([dets[i] for i in idx], [items[i].boxes for i in idx], threshold, iou, min_face)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", type=Path, default=Path("data/detector"))
    p.add_argument("--split", default="test")
    p.add_argument("--threshold", type=float, help="score threshold (default: the checkpoint's, chosen on val)")
    p.add_argument("--iou", type=float, default=0.4)
    p.add_argument("--min-face", type=float, default=MIN_EVAL_FACE,
                   help="labelled faces smaller than this (photo pixels) are ignored (default %(default)s)")
    p.add_argument("--haar-long-side", type=int, default=0,
                   help="Haar runs on the photo resized to this long side (default 0: the photo as it is, as "
                        "MoodLens runs it)")
    p.add_argument("--long-side", type=int, default=EVAL_LONG_SIDE,
                   help="photos are resized to this long side for both detectors (default %(default)s)")
    add_pass_arguments(p)
    p.add_argument("--pick-threshold", action="store_true",
                   help="choose the F1-best threshold on this split (for val only: how --threshold is chosen)")
    p.add_argument("--haar", action="store_true", help="also OpenCV's Haar cascade (1.1 / 3)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    if args.pick_threshold and args.split == "test":
        raise SystemExit("--pick-threshold: choose thresholds on val, never on the reported test split")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    model, ckpt = load_model(args.checkpoint)
    threshold = args.threshold if args.threshold is not None else float(ckpt.get("threshold", 0.5))
    items = load_split(args.data, args.split, max_side=0)  # photo pixels, as evaluate-detector counts them
    passes = pass_settings(args)
    dets, times = [], []
    for it in items:
        t = time.perf_counter()
        dets.append(detect(model, it.image, threshold=0.05, long_side=args.long_side, **passes))
        times.append(time.perf_counter() - t)
    if args.pick_threshold:
        threshold = best_threshold(dets, [it.boxes for it in items], args.iou, args.min_face)
    result = {"checkpoint": str(args.checkpoint), "epoch": ckpt.get("epoch"), "split": args.split,
              "photos": len(items), "threshold": threshold, "iou": args.iou, "long_side": args.long_side,
              **passes,
              "min_face": args.min_face, "detector": figures(dets, items, threshold, args.iou, args.min_face),
              "detector_ms_per_photo": round(1000 * float(np.median(times)), 1)}
    if any(not np.isnan(it.kps).all() for it in items):
        # only face300w labels keypoints (from its 68 points): the eye centres, nose tip, mouth corners
        result["keypoints"] = keypoint_error(dets, [it.boxes for it in items], [it.kps for it in items], threshold,
                                             args.iou)
    if args.haar:
        cascade = cv2.CascadeClassifier(HAAR)
        hd, ht = [], []
        for it in items:
            t = time.perf_counter()
            hd.append(haar_detect(cascade, it.image, args.haar_long_side or max(it.image.shape[:2])))
            ht.append(time.perf_counter() - t)
        result["haar"] = figures(hd, items, 0.5, args.iou, args.min_face)
        result["haar_long_side"] = args.haar_long_side or "photo"
        for v in result["haar"].values():
            v.pop("ap", None), v.pop("ap50", None)
        result["haar_ms_per_photo"] = round(1000 * float(np.median(ht)), 1)
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
