"""The detector network: a depthwise-separable backbone (strides 2..32), a small top-down neck and one head per
output stride (8, 16, 32). Every output cell has an anchor point ((i + 0.5) * stride); it predicts

- a face score logit,
- the distances from the anchor point to the box's left, top, right, bottom edges, as log(d / stride),
- 5 keypoints as offsets from the anchor point in strides.

`DetectorExport` decodes all of that inside the graph, so the ONNX file gives pixel boxes and keypoints for any
input size: `scores (N, A)`, `boxes (N, A, 4)` as x1 y1 x2 y2, `kps (N, A, 10)`; the caller keeps scores above a
threshold and runs NMS.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)
OUTPUTS = 15  # score, 4 box distances, 10 keypoint coordinates
MAX_LOG_DISTANCE = 6.0  # exp(6) * 32 = 12,900 px: far past any face, keeps exp finite


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DWBlock(nn.Module):
    """Depthwise 3x3 (stride s) + pointwise 1x1, each with batch norm and ReLU; a residual when shapes allow."""

    def __init__(self, cin: int, cout: int, s: int = 1):
        super().__init__()
        self.dw = conv_bn(cin, cin, 3, s, groups=cin)
        self.pw = conv_bn(cin, cout, 1, act=False)
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return F.relu(y + x if self.residual else y)


class FaceDetector(nn.Module):
    def __init__(self, width: int = 16, neck: int = 48):
        super().__init__()
        w = width
        self.config = {"width": width, "neck": neck}
        self.stem = conv_bn(3, w, 3, 2)                                              # /2
        self.stage2 = nn.Sequential(DWBlock(w, 2 * w, 2), DWBlock(2 * w, 2 * w))      # /4
        self.stage3 = nn.Sequential(DWBlock(2 * w, 3 * w, 2), DWBlock(3 * w, 3 * w))  # /8
        self.stage4 = nn.Sequential(DWBlock(3 * w, 4 * w, 2), DWBlock(4 * w, 4 * w), DWBlock(4 * w, 4 * w))  # /16
        self.stage5 = nn.Sequential(DWBlock(4 * w, 6 * w, 2), DWBlock(6 * w, 6 * w))  # /32
        self.lateral = nn.ModuleList([conv_bn(c, neck, 1) for c in (3 * w, 4 * w, 6 * w)])
        self.smooth = nn.ModuleList([DWBlock(neck, neck) for _ in STRIDES])
        self.heads = nn.ModuleList([nn.Sequential(DWBlock(neck, neck), nn.Conv2d(neck, OUTPUTS, 1))
                                    for _ in STRIDES])
        for head in self.heads:  # start from a low face prior (1%), as RetinaNet: the focal loss starts calm
            nn.init.constant_(head[-1].bias, 0.0)
            nn.init.constant_(head[-1].bias[0], -4.6)

    def forward(self, x) -> List[torch.Tensor]:
        """x: (N, 3, H, W) RGB in [0, 1]. Returns one (N, 15, H/s, W/s) map per stride 8, 16, 32."""
        c3 = self.stage3(self.stage2(self.stem(x)))
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, size=c4.shape[-2:], mode="nearest")
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        return [head(smooth(p)) for p, smooth, head in zip((p3, p4, p5), self.smooth, self.heads)]


def anchor_points(h: int, w: int, stride: int, device=None) -> torch.Tensor:
    """(h*w, 2) anchor points (x, y) of a stride's grid, row by row."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def flatten_outputs(maps: Sequence[torch.Tensor]):
    """Per-stride maps -> (N, A, 15) raw outputs, (A, 2) anchor points, (A,) strides, all strides concatenated."""
    raw, points, strides = [], [], []
    for m, s in zip(maps, STRIDES):
        n, c, h, w = m.shape
        raw.append(m.permute(0, 2, 3, 1).reshape(n, h * w, c))
        points.append(anchor_points(h, w, s, m.device))
        strides.append(torch.full((h * w,), float(s), device=m.device))
    return torch.cat(raw, 1), torch.cat(points, 0), torch.cat(strides, 0)


def decode(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor):
    """Raw outputs -> (scores (N, A), boxes (N, A, 4) x1 y1 x2 y2, kps (N, A, 10)) in input pixels."""
    s = strides[None, :, None]
    d = torch.exp(torch.clamp(raw[..., 1:5], max=MAX_LOG_DISTANCE)) * s
    p = points[None]
    boxes = torch.cat([p - d[..., 0:2], p + d[..., 2:4]], -1)
    kps = (raw[..., 5:15].reshape(raw.shape[0], raw.shape[1], 5, 2) * s[..., None] + p[:, :, None, :])
    return torch.sigmoid(raw[..., 0]), boxes, kps.reshape(raw.shape[0], raw.shape[1], 10)


class DetectorExport(nn.Module):
    """The graph shipped as ONNX: uint8-range RGB in (x / 255 inside), decoded scores, boxes, keypoints out."""

    def __init__(self, model: FaceDetector):
        super().__init__()
        self.model = model

    def forward(self, x):
        maps = self.model(x * (1.0 / 255.0))
        raw, points, strides = [], [], []
        for m, stride in zip(maps, STRIDES):
            n, c = m.shape[0], m.shape[1]
            h, w = m.shape[2], m.shape[3]
            raw.append(m.permute(0, 2, 3, 1).reshape(n, -1, c))
            ys = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
            xs = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
            gy = ys[:, None].expand(h, w).reshape(-1)
            gx = xs[None, :].expand(h, w).reshape(-1)
            points.append(torch.stack([gx, gy], 1))
            strides.append(torch.ones_like(gx) * stride)
        return decode(torch.cat(raw, 1), torch.cat(points, 0), torch.cat(strides, 0))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
