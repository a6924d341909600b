"""Contact sheets of a detector's errors on a split, to look at rather than count: every false detection (no
labelled face at IoU >= --iou) and every missed face (labelled, at least --min-face px, not found), each cut
out of its photo with some context and captioned with its score or size.

    /usr/bin/python3 -m moodlens_train.detector.review checkpoints/detector/best.pt --data data/detector \\
        --split test --threshold 0.60 --fine-long-side 640 --out /tmp/review

Writes OUT/false.png, OUT/missed.png (grids of 128 px tiles; at most --max tiles each) and OUT/errors.json (photo,
box, score or size, per error; a missed face also carries `best_score`, the best score of a detection on it under
the threshold, down to 0.05). A false detection that is a real face the labels left out shows up here: the
figures cannot tell the two apart.

Where a set's labels are known to be incomplete (WebFaces marks only some faces), `--sample N` also draws N of the
false detections at random (`--seed`) onto numbered sheets of 36 (OUT/false-sample-K.png, OUT/false-sample.json)
to be judged by eye; `reviewed_precision` turns those verdicts into a precision estimate. CHECKPOINT `haar` runs
OpenCV's cascade as `evaluate --haar` does (the photo as it is, 1.1 / 3; every detection scores 1).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import cv2
import numpy as np

from .data import load_split
from .evaluate import HAAR, haar_detect
from .export import load_model
from .metrics import MIN_EVAL_FACE, _side, counted_faces, detect, iou_matrix, match_faces
from .passes import add_pass_arguments, pass_settings

TILE = 128


def errors(dets: dict, gt: np.ndarray, threshold: float, iou: float, min_face: float):
    """(false detections [(box, score)], missed faces [box]) of one photo, matched as the figures count them
    (`metrics.match_faces`): detections on faces under min_face, or themselves under 0.75 min_face, are neither."""
    keep = dets["scores"] >= threshold
    boxes, scores = dets["boxes"][keep], dets["scores"][keep]
    gt = np.asarray(gt, np.float32).reshape(-1, 4)
    order, face, counted = match_faces(boxes, scores, gt, iou, min_face)
    false = [(boxes[i], float(scores[i])) for i, f, c in zip(order, face, counted) if c and f < 0]
    found = set(face.tolist())
    missed = [gt[j] for j in np.where(counted_faces(gt, min_face))[0] if j not in found]
    return false, missed


def tile(image: np.ndarray, box: np.ndarray, caption: str, labels: np.ndarray) -> np.ndarray:
    """The box with half its size of context on each side, resized to TILE, the box drawn (red) over the
    labelled faces (green), a caption below."""
    x1, y1, x2, y2 = box
    s = max(x2 - x1, y2 - y1) * 2.0
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    m = np.array([[TILE / s, 0, TILE / 2 - cx * TILE / s], [0, TILE / s, TILE / 2 - cy * TILE / s]], np.float32)
    out = cv2.warpAffine(image, m, (TILE, TILE), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
    def corner(x, y):
        return int(round(TILE / 2 + (x - cx) * TILE / s)), int(round(TILE / 2 + (y - cy) * TILE / s))

    for g in np.asarray(labels, np.float32).reshape(-1, 4):
        cv2.rectangle(out, corner(g[0], g[1]), corner(g[2], g[3]), (64, 255, 64), 1)
    cv2.rectangle(out, corner(x1, y1), corner(x2, y2), (255, 64, 64), 1)
    cv2.putText(out, caption, (2, TILE - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def sheet(tiles, columns: int = 12) -> np.ndarray:
    if not tiles:
        return np.zeros((TILE, TILE, 3), np.uint8)
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    rows[-1] = rows[-1] + [np.zeros_like(tiles[0])] * (columns - len(rows[-1]))
    return np.vstack([np.hstack(r) for r in rows])


def best_score_on(dets: dict, box, iou: float) -> float:
    """The highest score of a detection overlapping the box by at least iou (0 if none): how near a miss was."""
    if not len(dets["boxes"]):
        return 0.0
    near = iou_matrix(np.asarray(dets["boxes"], np.float32), np.asarray(box, np.float32)[None])[:, 0] >= iou
    return float(np.asarray(dets["scores"])[near].max()) if near.any() else 0.0


def overlap_with_labels(box, labels: np.ndarray) -> float:
    """The largest IoU of a box with any labelled face of its photo (0 without labels)."""
    labels = np.asarray(labels, np.float32).reshape(-1, 4)
    if not len(labels):
        return 0.0
    return float(iou_matrix(np.asarray(box, np.float32)[None], labels).max())


RELATIVE_SIZES = (0.1, 0.2, 0.35, 0.5, 0.7)


def recall_by_relative_size(items: list, missed: list, min_face: float) -> list:
    """Recall by the face's size against its photo (the box's longer side over the photo's): [(low, high, faces,
    found)] over the counted faces, bins at RELATIVE_SIZES. `missed` are (photo name, box) pairs."""
    def rel(box, image):
        return max(box[2] - box[0], box[3] - box[1]) / max(image.shape[:2])

    edges = (0.0, *RELATIVE_SIZES, float("inf"))
    faces = np.zeros(len(edges) - 1, int)
    lost = np.zeros(len(edges) - 1, int)
    by_name = {it.name: it for it in items}
    for it in items:
        for box in np.asarray(it.boxes, np.float32).reshape(-1, 4)[counted_faces(it.boxes, min_face)]:
            faces[np.searchsorted(edges, rel(box, it.image), side="right") - 1] += 1
    for name, box in missed:
        lost[np.searchsorted(edges, rel(box, by_name[name].image), side="right") - 1] += 1
    return [(edges[i], edges[i + 1], int(faces[i]), int(faces[i] - lost[i])) for i in range(len(faces))]


def write_sample(listing: list, items: list, n: int, seed: int, out: Path, per_sheet: int = 36) -> list:
    """N false detections drawn at random, numbered on sheets of per_sheet tiles (6 columns), captioned
    "index score overlap", overlap being the IoU with the nearest labelled face (a labelled face whose box
    disagrees shows over 0); also OUT/false-sample.json, the entries in sheet order."""
    false = [e for e in listing if e["kind"] == "false"]
    pick = random.Random(seed).sample(false, min(n, len(false)))
    by_name = {it.name: it for it in items}
    tiles = []
    for k, e in enumerate(pick):
        it = by_name[e["image"]]
        e["overlap"] = round(overlap_with_labels(e["box"], it.boxes), 3)
        tiles.append(tile(it.image, np.asarray(e["box"], np.float32), f"{k} {e['score']:.2f} {e['overlap']:.2f}",
                          it.boxes))
    for k in range(0, len(tiles), per_sheet):
        cv2.imwrite(str(out / f"false-sample-{k // per_sheet}.png"),
                    cv2.cvtColor(sheet(tiles[k:k + per_sheet], 6), cv2.COLOR_RGB2BGR))
    (out / "false-sample.json").write_text(json.dumps(pick, indent=1) + "\n")
    return pick


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a detector checkpoint (.pt), or 'haar' for OpenCV's cascade")
    p.add_argument("--data", type=Path, default=Path("data/detector"))
    p.add_argument("--split", default="test")
    p.add_argument("--source", help="only photos of this source (e.g. mask)")
    p.add_argument("--threshold", type=float, help="default: the checkpoint's")
    p.add_argument("--iou", type=float, default=0.4)
    p.add_argument("--min-face", type=float, default=MIN_EVAL_FACE)
    p.add_argument("--long-side", type=int, default=416)
    add_pass_arguments(p)
    p.add_argument("--max", type=int, default=240, help="tiles per sheet")
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--sample", type=int, default=0, help="also draw this many false detections at random to judge")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.checkpoint == "haar":
        # one thread: the cascade's parallel scan returns its boxes in a varying order, and --sample draws by
        # position
        cv2.setNumThreads(1)
        cascade = cv2.CascadeClassifier(HAAR)
        run = lambda image: haar_detect(cascade, image, max(image.shape[:2]))  # noqa: E731
        threshold = 0.5 if args.threshold is None else args.threshold
    else:
        model, ckpt = load_model(Path(args.checkpoint))
        threshold = args.threshold if args.threshold is not None else float(ckpt.get("threshold", 0.5))
        passes = pass_settings(args)
        run = lambda image: detect(model, image, threshold=0.05, long_side=args.long_side, **passes)  # noqa: E731
    items = [it for it in load_split(args.data, args.split, max_side=0)
             if args.source is None or it.source == args.source]
    if not items:
        raise SystemExit(f"no photos in {args.data}/{args.split}.json" + (f" from {args.source}" if args.source else ""))
    false_tiles, missed_tiles, listing = [], [], []
    for it in items:
        dets = run(it.image)
        false, missed = errors(dets, it.boxes, threshold, args.iou, args.min_face)
        for box, score in false:
            listing.append({"image": it.name, "kind": "false", "box": [round(float(v), 1) for v in box],
                            "score": round(score, 3)})
            false_tiles.append(tile(it.image, box, f"{score:.2f}", it.boxes))
        for box in missed:
            listing.append({"image": it.name, "kind": "missed", "box": [round(float(v), 1) for v in box],
                            "side": round(float(_side(box[None])[0]), 1),
                            "best_score": round(best_score_on(dets, box, args.iou), 3)})
            missed_tiles.append(tile(it.image, box, f"{_side(box[None])[0]:.0f}px", it.boxes))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, tiles in (("false", false_tiles), ("missed", missed_tiles)):
        cv2.imwrite(str(args.out / f"{name}.png"), cv2.cvtColor(sheet(tiles[:args.max], args.columns), cv2.COLOR_RGB2BGR))
    (args.out / "errors.json").write_text(json.dumps(listing, indent=1) + "\n")
    if args.sample:
        write_sample(listing, items, args.sample, args.seed, args.out)
    near = sum(1 for e in listing if e["kind"] == "missed" and e["best_score"] >= threshold / 2)
    print(f"{len(items)} photos: {len(false_tiles)} false detections, {len(missed_tiles)} missed faces "
          f"(threshold {threshold:.2f}, IoU {args.iou}; {near} of the missed have a detection scoring at least "
          f"half the threshold) -> {args.out}")
    sizes = recall_by_relative_size(items, [(e["image"], e["box"]) for e in listing if e["kind"] == "missed"],
                                    args.min_face)
    print("recall by face size / photo long side: " + ", ".join(
        f"{lo:g}-{hi:g} {found}/{n}" for lo, hi, n, found in sizes if n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
