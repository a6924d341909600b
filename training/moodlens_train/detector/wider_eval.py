"""The detector on WIDER FACE's validation set, scored by the benchmark's own protocol (easy / medium / hard AP).

    cd training
    /usr/bin/python3 -m moodlens_train.detector.wider_eval checkpoints/detector/best.pt --data data/wider_val \\
        --long-side 416 --fine-long-side 640 --json-out checkpoints/detector/wider-val-416-640.json

Data: `data_sources/prepare_wider_val.py` (3,226 photos; non-commercial research terms; never committed).
WIDER is public and its scores are published for many detectors, which is why it is here; MoodLens never trains
or selects on it (training and selection use data/detector's train and val splits).

The protocol, written from its description (Yang et al., "WIDER FACE", CVPR 2016, and the evaluation code
distributed with the set), reimplemented here:
- each detector's scores are min-max normalised over the whole set, and 1,000 thresholds 0.999, 0.998, ... 0
  trace the precision-recall curve;
- in each photo, detections are taken highest score first; one whose best-overlapping labelled face (IoU >= 0.5,
  areas counted with the +1 pixel convention) belongs to the subset recalls it the first time and is a false
  positive after; one that overlaps a face outside the subset is ignored (neither hit nor false positive); one
  that overlaps no face at 0.5 is a false positive. So the three subsets share detections and false positives
  and differ in the faces they count (easy 7,211, medium 13,319, hard 31,958: medium includes easy, hard all);
- AP is the area under the curve with precision made monotone (VOC style).

MoodLens's detector sees the photo at --long-side (416 as shipped) plus the fine pass (640 for faces under 32
px at 416), the same decoding and NMS as `evaluate.py`; detections down to score 0.02 are kept for the curve.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from ..callbacks import emit_json
from .passes import add_pass_arguments, pass_settings

SUBSETS = ("easy", "medium", "hard")
THRESHOLDS = 1000
IOU = 0.5


def overlaps_plus_one(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU (K, G) of x1, y1, x2, y2 boxes, widths and heights counted as x2 - x1 + 1 (the benchmark's rule)."""
    b, g = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(gt, np.float64).reshape(-1, 4)
    iw = np.minimum(b[:, None, 2], g[None, :, 2]) - np.maximum(b[:, None, 0], g[None, :, 0]) + 1
    ih = np.minimum(b[:, None, 3], g[None, :, 3]) - np.maximum(b[:, None, 1], g[None, :, 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    area_g = (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1)
    return inter / (area_b[:, None] + area_g[None, :] - inter)


def photo_curve(boxes: np.ndarray, scores: np.ndarray, gt_xywh: np.ndarray, counted: np.ndarray,
                thresholds: np.ndarray) -> np.ndarray:
    """(T, 2): for each threshold, the detections that count as proposals (hits + false positives) and the
    subset faces recalled, in one photo. `scores` are already normalised; `counted` marks the subset's faces."""
    out = np.zeros((len(thresholds), 2))
    if len(boxes) == 0 or len(gt_xywh) == 0:
        return out  # no detections: nothing proposed; no faces: the benchmark skips the photo
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    gt = np.asarray(gt_xywh, np.float64).reshape(-1, 4).copy()
    gt[:, 2:] += gt[:, :2]
    iou = overlaps_plus_one(boxes, gt)
    state = np.zeros(len(gt), np.int8)  # 0 not yet found, 1 found (counted), -1 found but ignored
    proposal = np.ones(len(boxes), bool)
    recalled_after = np.zeros(len(boxes), np.int64)
    found = 0
    for k in range(len(boxes)):
        j = int(np.argmax(iou[k]))
        if iou[k, j] >= IOU:
            if not counted[j]:
                state[j] = -1
                proposal[k] = False
            elif state[j] == 0:
                state[j] = 1
                found += 1
        recalled_after[k] = found
    proposals_after = np.cumsum(proposal)
    # detections with score >= t are a prefix of the sorted list: its length for each threshold
    n = np.searchsorted(-scores, -thresholds, side="right")
    has = n > 0
    out[has, 0] = proposals_after[n[has] - 1]
    out[has, 1] = recalled_after[n[has] - 1]
    return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    step = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))


def normalise(predictions: Sequence[Dict[str, np.ndarray]]) -> List[np.ndarray]:
    every = np.concatenate([np.asarray(p["scores"], np.float64).reshape(-1) for p in predictions] + [np.zeros(0)])
    if every.size == 0:
        return [np.zeros(0) for _ in predictions]
    lo, hi = every.min(), every.max()
    span = hi - lo if hi > lo else 1.0
    return [(np.asarray(p["scores"], np.float64) - lo) / span for p in predictions]


def wider_ap(predictions: Sequence[Dict[str, np.ndarray]], photos: Sequence[dict]) -> Dict[str, dict]:
    """AP and the curve's end (recall at the lowest threshold) per subset. `predictions[i]` holds "boxes"
    (K, 4 x1 y1 x2 y2, photo pixels) and "scores" (K,) for `photos[i]` (wider_val.json's entries)."""
    thresholds = 1.0 - (np.arange(THRESHOLDS) + 1) / THRESHOLDS
    scores = normalise(predictions)
    out = {}
    for subset in SUBSETS:
        curve = np.zeros((THRESHOLDS, 2))
        faces = 0
        for pred, s, photo in zip(predictions, scores, photos):
            gt = np.asarray(photo["boxes"], np.float64).reshape(-1, 4)
            counted = np.zeros(len(gt), bool)
            counted[np.asarray(photo[subset], np.int64)] = True
            faces += int(counted.sum())
            curve += photo_curve(np.asarray(pred["boxes"], np.float64).reshape(-1, 4), s, gt, counted, thresholds)
        precision = np.divide(curve[:, 1], curve[:, 0], out=np.zeros(THRESHOLDS), where=curve[:, 0] > 0)
        recall = curve[:, 1] / max(faces, 1)
        out[subset] = {"ap": round(voc_ap(recall, precision), 4), "faces": faces,
                       "recall_at_lowest_score": round(float(recall[-1]), 4)}
    return out


def load_photos(root: Path, limit: int = 0) -> List[dict]:
    meta = root / "wider_val.json"
    if not meta.exists():
        raise SystemExit(f"{meta} not found: run training/data_sources/prepare_wider_val.py first")
    photos = json.loads(meta.read_text())["images"]
    return photos[:limit] if limit else photos


def read_rgb(path: Path) -> np.ndarray:
    import cv2
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: cannot be read")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def haar_predictions(image: np.ndarray, cascade) -> Dict[str, np.ndarray]:
    """Haar (1.1, 3) on the photo as it is; its score is the number of raw windows merged into the box."""
    import cv2
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    rects, neighbours = cascade.detectMultiScale2(gray, scaleFactor=1.1, minNeighbors=3)
    rects = np.asarray(rects, np.float64).reshape(-1, 4)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1)
    return {"boxes": boxes, "scores": np.asarray(neighbours, np.float64).reshape(-1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a detector checkpoint (.pt), or 'haar' for OpenCV's cascade")
    p.add_argument("--data", type=Path, default=Path("data/wider_val"))
    p.add_argument("--long-side", type=int, default=416)
    add_pass_arguments(p, fine_long_side=640)
    p.add_argument("--limit", type=int, default=0, help="only the first N photos (a quick look; not the benchmark)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)

    import cv2
    import torch
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    photos = load_photos(args.data, args.limit)
    if args.checkpoint == "haar":
        from .evaluate import HAAR
        cascade = cv2.CascadeClassifier(HAAR)
        run = lambda image: haar_predictions(image, cascade)  # noqa: E731
        config = {"detector": "haar", "scale_factor": 1.1, "min_neighbors": 3, "long_side": "photo"}
    else:
        from .export import load_model
        from .metrics import detect
        model, ckpt = load_model(Path(args.checkpoint))
        passes = pass_settings(args)
        run = lambda image: detect(model, image, threshold=0.02, long_side=args.long_side, **passes)  # noqa: E731
        config = {"detector": str(args.checkpoint), "epoch": ckpt.get("epoch"), "long_side": args.long_side,
                  **passes}
    predictions, times = [], []
    for i, photo in enumerate(photos):
        image = read_rgb(args.data / "images" / photo["file"])
        t = time.perf_counter()
        predictions.append(run(image))
        times.append(time.perf_counter() - t)
        if (i + 1) % 200 == 0:
            print(f"{i + 1}/{len(photos)} photos", file=sys.stderr)
    result = {**config, "photos": len(photos), "subset": "full" if not args.limit else f"first {args.limit}",
              "ap": wider_ap(predictions, photos), "ms_per_photo": round(1000 * float(np.median(times)), 1),
              "threads": args.threads}
    emit_json(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
