"""Target assignment and loss.

Assignment (anchor-free, FCOS-like with centre sampling): a face of size s = sqrt(w * h) belongs to the strides
whose range holds s (8: up to 64 px, 16: 32-128 px, 32: from 64 px); on those strides the anchor points inside
the face's box and within 1.5 strides of its centre are positive for it (an anchor claimed by two faces goes to
the smaller one); a face that gets no anchor that way takes the nearest anchor point of its best stride. Anchors
inside an ignore box (a face cut by the crop, or under 8 px) are neither positive nor negative.

Loss: the score part over all non-ignored anchors, divided by the positives, is either
- "qfl" (default; quality focal loss, GFL, Li et al. 2020): the score target of a positive anchor is the IoU of
  its decoded box with its face (detached; 0 for negatives), loss BCE(logit, target) * |sigmoid - target|^2, so
  the score estimates the box's quality and a threshold means about the same thing on any photo; or
- "focal" (the first run's): sigmoid focal loss with 0/1 targets (alpha 0.25, gamma 2).
GIoU loss of the decoded boxes (weight 2) and smooth-L1 loss of the keypoint offsets in strides (weight 0.5,
faces with keypoints only), both averaged over the positives.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .model import STRIDES, decode

RANGES = {8: (0.0, 64.0), 16: (32.0, 128.0), 32: (64.0, 1e9)}
RADIUS = 1.5
BOX_WEIGHT = 2.0
KPS_WEIGHT = 0.5
SCORE_LOSSES = ("qfl", "focal")


def assign(points: torch.Tensor, strides: torch.Tensor, boxes: np.ndarray, ignore: np.ndarray):
    """One image's targets: (face index per anchor, -1 background, -2 ignored) as a LongTensor."""
    a = points.shape[0]
    target = torch.full((a,), -1, dtype=torch.long)
    if len(ignore):
        ig = torch.from_numpy(np.asarray(ignore, np.float32))
        inside = ((points[:, None, 0] >= ig[None, :, 0]) & (points[:, None, 0] <= ig[None, :, 2]) &
                  (points[:, None, 1] >= ig[None, :, 1]) & (points[:, None, 1] <= ig[None, :, 3])).any(1)
        target[inside] = -2
    if not len(boxes):
        return target
    b = torch.from_numpy(np.asarray(boxes, np.float32))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    size = torch.sqrt(w.clamp(min=1) * h.clamp(min=1))
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    lo = torch.tensor([RANGES[int(s)][0] for s in strides.tolist()])
    hi = torch.tensor([RANGES[int(s)][1] for s in strides.tolist()])
    px, py = points[:, 0:1], points[:, 1:2]
    in_box = (px >= b[None, :, 0]) & (px <= b[None, :, 2]) & (py >= b[None, :, 1]) & (py <= b[None, :, 3])
    near = ((px - cx[None]).abs() <= RADIUS * strides[:, None]) & ((py - cy[None]).abs() <= RADIUS * strides[:, None])
    in_range = (size[None] >= lo[:, None]) & (size[None] <= hi[:, None])
    ok = in_box & near & in_range
    area = (w * h)[None].expand(a, -1).clone()
    area[~ok] = float("inf")
    best_area, best_face = area.min(1)
    pos = torch.isfinite(best_area)
    target[pos] = best_face[pos]
    for j in range(len(b)):  # every face gets at least one anchor: the nearest of its best stride
        if (target == j).any():
            continue
        s = min(STRIDES, key=lambda st: abs(np.log(max(float(size[j]), 1.0) / (st * 4.0))))
        cand = (strides == s).nonzero().squeeze(1)
        d = (points[cand, 0] - cx[j]) ** 2 + (points[cand, 1] - cy[j]) ** 2
        target[cand[d.argmin()]] = j
    return target


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise IoU of two (P, 4) box sets."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    return inter / (area_a + area_b - inter + 1e-7)


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    clt, crb = torch.min(a[:, :2], b[:, :2]), torch.max(a[:, 2:], b[:, 2:])
    hull = (crb - clt).clamp(min=0).prod(1) + 1e-7
    return iou - (hull - union) / hull


def detection_loss(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor,
                   targets: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]], score_loss_kind: str = "qfl"):
    """raw (N, A, 15); targets per image (boxes (F, 4), kps (F, 5, 2) with NaN for unknown, ignore (G, 4)).
    Returns (total, score part, box part, keypoint part)."""
    if score_loss_kind not in SCORE_LOSSES:
        raise ValueError(f"score_loss_kind: expected one of {SCORE_LOSSES} but received {score_loss_kind!r}")
    assigned = torch.stack([assign(points, strides, t[0], t[2]) for t in targets])  # (N, A)
    valid = assigned != -2
    positive = assigned >= 0
    num_pos = max(int(positive.sum()), 1)
    logits = raw[..., 0]
    p = torch.sigmoid(logits)
    cls_t = positive.float()
    if positive.any():
        img_idx, anc_idx = positive.nonzero(as_tuple=True)
        face_idx = assigned[img_idx, anc_idx]
        gt_boxes = torch.cat([torch.from_numpy(np.asarray(t[0], np.float32)).reshape(-1, 4) for t in targets])
        gt_kps = torch.cat([torch.from_numpy(np.asarray(t[1], np.float32)).reshape(-1, 5, 2) for t in targets])
        offsets = np.cumsum([0] + [len(t[0]) for t in targets])[:-1]
        flat = torch.from_numpy(offsets).long()[img_idx] + face_idx
        sel_raw = raw[img_idx, anc_idx][None]
        _, boxes, _ = decode(sel_raw, points[anc_idx], strides[anc_idx])
        g = giou(boxes[0], gt_boxes[flat])
    if score_loss_kind == "qfl":
        score_t = torch.zeros_like(logits)
        if positive.any():
            score_t[img_idx, anc_idx] = iou(boxes[0].detach(), gt_boxes[flat]).clamp(min=0.0, max=1.0)
        ce = F.binary_cross_entropy_with_logits(logits, score_t, reduction="none")
        score_loss = (ce * (p - score_t).abs() ** 2)[valid].sum() / num_pos
    else:
        ce = F.binary_cross_entropy_with_logits(logits, cls_t, reduction="none")
        pt = p * cls_t + (1 - p) * (1 - cls_t)
        alpha = 0.25 * cls_t + 0.75 * (1 - cls_t)
        score_loss = (alpha * (1 - pt) ** 2 * ce)[valid].sum() / num_pos
    if not positive.any():
        zero = raw.sum() * 0.0
        return score_loss + zero, score_loss.detach(), zero.detach(), zero.detach()
    box_loss = (1 - g).mean()
    kt = gt_kps[flat]  # (P, 5, 2)
    s = strides[anc_idx][:, None, None]
    kt_off = (kt - points[anc_idx][:, None, :]) / s
    kp_pred = sel_raw[0, :, 5:15].reshape(-1, 5, 2)
    known = ~torch.isnan(kt_off)
    if known.any():
        kps_loss = F.smooth_l1_loss(kp_pred[known], kt_off[known], reduction="sum") / max(int(known[..., 0].any(1).sum()), 1) / 10
    else:
        kps_loss = raw.sum() * 0.0
    total = score_loss + BOX_WEIGHT * box_loss + KPS_WEIGHT * kps_loss
    return total, score_loss.detach(), box_loss.detach(), kps_loss.detach()
