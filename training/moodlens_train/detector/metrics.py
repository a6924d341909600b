"""Decoding a whole photo, NMS, and the detection figures (recall, precision, AP) against labelled boxes."""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from .model import decode, flatten_outputs

EVAL_LONG_SIDE = 640
NMS_IOU = 0.4
# labelled faces under this side (photo pixels, sqrt of the box area) are neither counted nor held against
# the detector: crowd photos label faces of a few pixels, and MoodLens cannot read an emotion from them
MIN_EVAL_FACE = 20.0
# with the mirror view, each view is decoded down to this score before fusing, so that a face one view scores
# low can still pair with the other view's
MIRROR_VIEW_FLOOR = 0.05


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Greedy NMS: indices kept, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ious = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou]
    return np.asarray(keep, dtype=np.int64)


def letterbox(image: np.ndarray, long_side: int = EVAL_LONG_SIDE):
    """RGB uint8 -> (1, 3, H', W') float in [0, 1] with the long side at `long_side` and H', W' padded up to a
    multiple of 32 (bottom/right, zeros), and the scale factor (model pixels per photo pixel)."""
    import cv2
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    nh, nw = max(int(round(h * scale)), 1), max(int(round(w * scale)), 1)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
    canvas = np.zeros((ph, pw, 3), np.uint8)
    canvas[:nh, :nw] = resized
    return torch.from_numpy(canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0), scale


@torch.no_grad()
def _pass(model, image: np.ndarray, threshold: float, long_side: int):
    x, scale = letterbox(image, long_side)
    raw, points, strides = flatten_outputs(model(x))
    scores, boxes, kps = decode(raw, points, strides)
    scores, boxes, kps = scores[0].numpy(), boxes[0].numpy(), kps[0].numpy()
    m = scores >= threshold
    return scores[m], boxes[m] / scale, kps[m] / scale, scale


def detect(model, image: np.ndarray, threshold: float = 0.05, long_side: int = EVAL_LONG_SIDE,
           fine_long_side: int = 0, fine_max_face: float = 0.0, coarse_long_side: int = 0,
           coarse_min_face: float = 0.0, mirror: bool = False) -> Dict[str, np.ndarray]:
    """Detections in photo pixels: boxes (K, 4), scores (K,), kps (K, 5, 2), after NMS, scores >= threshold.

    With `fine_long_side`, a second pass at that long side adds the faces it finds that would be under
    `fine_max_face` pixels (sqrt of the box area) at `long_side`: small faces, which the first pass misses
    more often. With `coarse_long_side`, a pass at that (smaller) long side adds the faces that would be over
    `coarse_min_face` pixels at `long_side`: faces filling most of the photo, larger than the 320 px crops the
    model was trained on. All passes' boxes then go through one NMS.

    With `mirror`, the same passes also run on the photo's mirror image, and the two views' faces are fused
    (`fuse_views`): a face found in both views scores the mean of the two, a face found in one scores half
    (as if the other view had scored it 0), so faces the model is unsure of in one view alone lose score.
    Each view is decoded down to MIRROR_VIEW_FLOOR (or `threshold`, if lower) before fusing."""
    passes = dict(long_side=long_side, fine_long_side=fine_long_side, fine_max_face=fine_max_face,
                  coarse_long_side=coarse_long_side, coarse_min_face=coarse_min_face)
    if not mirror:
        return _detect_view(model, image, threshold, **passes)
    floor = min(threshold, MIRROR_VIEW_FLOOR)
    found = _detect_view(model, image, floor, **passes)
    mirrored = mirror_detections(_detect_view(model, np.ascontiguousarray(image[:, ::-1]), floor, **passes),
                                 image.shape[1])
    fused = fuse_views(found, mirrored)
    keep = nms(fused["boxes"], fused["scores"])
    keep = keep[fused["scores"][keep] >= threshold]
    return {"boxes": fused["boxes"][keep], "scores": fused["scores"][keep], "kps": fused["kps"][keep]}


def _detect_view(model, image: np.ndarray, threshold: float, long_side: int, fine_long_side: int,
                 fine_max_face: float, coarse_long_side: int, coarse_min_face: float) -> Dict[str, np.ndarray]:
    """`detect` on one view: every pass asked for, one NMS."""
    scores, boxes, kps, scale = _pass(model, image, threshold, long_side)
    extra = []
    if fine_long_side > 0 and fine_max_face > 0:
        fs, fb, fk, _ = _pass(model, image, threshold, fine_long_side)
        extra.append((fs, fb, fk, _side(fb) * scale < fine_max_face))
    if coarse_long_side > 0 and coarse_min_face > 0:
        cs, cb, ck, _ = _pass(model, image, threshold, coarse_long_side)
        extra.append((cs, cb, ck, _side(cb) * scale > coarse_min_face))
    for s, b, k, keep in extra:
        scores = np.concatenate([scores, s[keep]])
        boxes = np.concatenate([boxes, b[keep]])
        kps = np.concatenate([kps, k[keep]])
    keep = nms(boxes, scores)
    return {"boxes": boxes[keep], "scores": scores[keep], "kps": kps[keep].reshape(-1, 5, 2)}


def mirror_detections(found: Dict[str, np.ndarray], width: int) -> Dict[str, np.ndarray]:
    """Detections on a photo's mirror image mapped back onto the photo (`width` pixels wide): x -> width - x,
    and the keypoints' left and right swapped, so they keep `eye_left, eye_right, nose, mouth_left,
    mouth_right` in image order."""
    boxes = np.asarray(found["boxes"]).reshape(-1, 4)
    out = boxes.copy()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    kps = np.asarray(found["kps"]).reshape(-1, 5, 2).copy()
    kps[..., 0] = width - kps[..., 0]
    return {"boxes": out, "scores": np.asarray(found["scores"]), "kps": kps[:, [1, 0, 2, 4, 3]]}


def fuse_views(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray], iou: float = NMS_IOU) -> Dict[str, np.ndarray]:
    """Two views' detections (each after NMS, on the same photo) as one list: each face of `a`, highest score
    first, is paired with the unpaired face of `b` it overlaps most (IoU >= iou; ties: the first); a pair
    becomes the mean of its boxes, keypoints and scores; an unpaired face keeps its box and half its score.
    The unpaired faces of `b` follow, in their order. No NMS (the caller's)."""
    a_order = np.argsort(-np.asarray(a["scores"]), kind="stable")
    ab, asc, ak = (np.asarray(a["boxes"]).reshape(-1, 4), np.asarray(a["scores"]),
                   np.asarray(a["kps"]).reshape(-1, 5, 2))
    bb, bsc, bk = (np.asarray(b["boxes"]).reshape(-1, 4), np.asarray(b["scores"]),
                   np.asarray(b["kps"]).reshape(-1, 5, 2))
    ious = iou_matrix(ab, bb)
    paired = np.zeros(len(bb), bool)
    boxes, scores, kps = [], [], []
    for i in a_order:
        cand = np.where(~paired & (ious[i] >= iou))[0]
        if len(cand):
            j = cand[np.argmax(ious[i, cand])]
            paired[j] = True
            boxes.append((ab[i] + bb[j]) / 2)
            scores.append((asc[i] + bsc[j]) / 2)
            kps.append((ak[i] + bk[j]) / 2)
        else:
            boxes.append(ab[i])
            scores.append(asc[i] / 2)
            kps.append(ak[i])
    for j in np.where(~paired)[0]:
        boxes.append(bb[j])
        scores.append(bsc[j] / 2)
        kps.append(bk[j])
    return {"boxes": np.asarray(boxes, np.float32).reshape(-1, 4), "scores": np.asarray(scores, np.float32),
            "kps": np.asarray(kps, np.float32).reshape(-1, 5, 2)}


def match(det_boxes: np.ndarray, det_scores: np.ndarray, gt: np.ndarray, iou: float):
    """Greedy by score: (true-positive flag per detection in score order, scores in that order)."""
    order = np.argsort(-det_scores, kind="stable")
    ious = iou_matrix(det_boxes[order], gt)
    used = np.zeros(len(gt), bool)
    tp = np.zeros(len(order), bool)
    for k in range(len(order)):
        if not len(gt):
            break
        cand = np.where(~used & (ious[k] >= iou))[0]
        if len(cand):
            j = cand[np.argmax(ious[k, cand])]
            used[j] = True
            tp[k] = True
    return tp, det_scores[order]


def _side(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None))


def counted_faces(gt: np.ndarray, min_face: float) -> np.ndarray:
    """Which labelled faces count: side (square root of the area) at least `min_face`; all when it is 0."""
    return _side(gt) >= min_face if min_face > 0 else np.ones(len(np.asarray(gt).reshape(-1, 4)), bool)


def match_faces(det_boxes, det_scores, gt, iou: float, min_face: float = 0.0):
    """Greedy by score against the faces of at least `min_face` (`match`, restricted to those): returns, for the
    detections in score order, (their indices, the index into `gt` of the face each found or -1, whether each
    counts). A detection that finds no counted face but overlaps a smaller one (IoU >= iou), or is itself
    smaller than 0.75 `min_face`, counts neither way."""
    gt = np.asarray(gt, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(det_scores), kind="stable")
    boxes = np.asarray(det_boxes, np.float32).reshape(-1, 4)[order]
    big = counted_faces(gt, min_face)
    ious = iou_matrix(boxes, gt) if len(gt) else np.zeros((len(boxes), 0), np.float32)
    used = np.zeros(len(gt), bool)
    face = np.full(len(boxes), -1)
    for k in range(len(boxes)):
        cand = np.where(~used & big & (ious[k] >= iou))[0]
        if len(cand):
            face[k] = cand[np.argmax(ious[k, cand])]
            used[face[k]] = True
    near_small = (ious[:, ~big] >= iou).any(1) if (~big).any() else np.zeros(len(boxes), bool)
    too_small = _side(boxes) < 0.75 * min_face if min_face > 0 else np.zeros(len(boxes), bool)
    return order, face, (face >= 0) | ~(near_small | too_small)


def match_ignoring(det_boxes, det_scores, gt, iou: float, min_face: float):
    """(true-positive flags, scores) of the detections that count (`match_faces`), in score order."""
    order, face, counted = match_faces(det_boxes, det_scores, gt, iou, min_face)
    return (face >= 0)[counted], np.asarray(det_scores)[order][counted]


def evaluate(detections: Sequence[Dict[str, np.ndarray]], gts: Sequence[np.ndarray], threshold: float,
             iou: float = 0.4, min_face: float = 0.0) -> Dict[str, float]:
    """recall / precision / F1 at `threshold` and IoU >= iou; AP at IoU 0.5 and at `iou` (all-points). With
    `min_face`, faces smaller than it are ignored (`match_ignoring`)."""
    out = {}
    n_gt = int(sum(int((_side(g) >= min_face).sum()) for g in gts))
    for name, thr_iou in (("ap50", 0.5), ("ap", iou)):
        tps, scs = [], []
        for d, g in zip(detections, gts):
            tp, sc = match_ignoring(d["boxes"], d["scores"], g, thr_iou, min_face)
            tps.append(tp)
            scs.append(sc)
        tp = np.concatenate(tps) if tps else np.zeros(0, bool)
        sc = np.concatenate(scs) if scs else np.zeros(0)
        order = np.argsort(-sc, kind="stable")
        tp = tp[order]
        ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
        rec = ctp / max(n_gt, 1)
        prec = ctp / np.maximum(ctp + cfp, 1)
        mrec = np.concatenate([[0], rec, [1]])
        mpre = np.concatenate([[1], prec, [0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.where(mrec[1:] != mrec[:-1])[0]
        out[name] = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    tp_n = fp_n = 0
    for d, g in zip(detections, gts):
        keep = d["scores"] >= threshold
        tp, _ = match_ignoring(d["boxes"][keep], d["scores"][keep], g, iou, min_face)
        tp_n += int(tp.sum())
        fp_n += int((~tp).sum())
    recall = tp_n / max(n_gt, 1)
    precision = tp_n / max(tp_n + fp_n, 1)
    out.update({"recall": recall, "precision": precision, "f1": 2 * recall * precision / max(recall + precision, 1e-9),
                "faces": n_gt, "true_positives": tp_n, "false_positives": fp_n, "threshold": threshold, "iou": iou,
                "min_face": min_face})
    return out


def keypoint_error(detections, gts, gt_kps, threshold: float, iou: float = 0.4) -> Dict[str, float]:
    """The five keypoints of the detections kept at `threshold` against the labelled ones (faces that have
    them), each face matched to its best-overlapping detection (IoU >= iou): the mean point-to-point error
    over the inter-ocular distance (the eye centres), as 300-W's NME, and per point."""
    per_point, faces, found = [], 0, 0
    for d, g, k in zip(detections, gts, gt_kps):
        g = np.asarray(g, np.float32).reshape(-1, 4)
        k = np.asarray(k, np.float32).reshape(-1, 5, 2)
        keep = d["scores"] >= threshold
        boxes, kps = d["boxes"][keep], np.asarray(d["kps"]).reshape(-1, 5, 2)[keep]
        for j in range(len(g)):
            if np.isnan(k[j]).any():
                continue
            faces += 1
            if not len(boxes):
                continue
            ious = iou_matrix(g[j:j + 1], boxes)[0]
            best = int(np.argmax(ious))
            if ious[best] < iou:
                continue
            found += 1
            d_eyes = float(np.linalg.norm(k[j, 0] - k[j, 1]))
            per_point.append(np.linalg.norm(kps[best] - k[j], axis=1) / max(d_eyes, 1e-6))
    err = np.asarray(per_point).reshape(-1, 5)
    names = ["eye_left", "eye_right", "nose", "mouth_left", "mouth_right"]
    return {"faces": faces, "found": found, "nme": float(err.mean()) if found else float("nan"),
            **{f"nme_{n}": float(err[:, i].mean()) if found else float("nan") for i, n in enumerate(names)}}


def best_threshold(detections, gts, iou: float = 0.4, min_face: float = 0.0) -> float:
    """The score threshold with the highest F1 at IoU >= iou (ties: the higher threshold)."""
    best, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(0.1, 0.96, 0.05), 2):
        f1 = evaluate(detections, gts, float(t), iou, min_face)["f1"]
        if f1 >= best_f1:
            best, best_f1 = float(t), f1
    return best
