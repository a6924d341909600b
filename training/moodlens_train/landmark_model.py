"""The landmark student: a small CNN that turns a square face crop (64x64 by default) into 68 points.

Residual depthwise-separable stages down to 1/16 of the crop (global context), a light top-down decoder back to
1/4, one heatmap per point and a soft-argmax that reads each heatmap's expected position: sub-pixel points without
a large output map (1/4 of the crop, or 1/2 with one more decoder step), and a graph of plain ONNX ops (Conv, Relu, Add, Resize, Reshape, Softmax, MatMul).
Output: (N, 68, 2) positions in crop units, 0 = the crop's left/top edge, 1 = its right/bottom edge.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_POINTS = 68
CROP_SIZE = 64
HEATMAP_SIZE = 16


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SeparableResidual(nn.Module):
    """Two depthwise-separable 3x3 convolutions with a (projected when needed) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(cin, cin, 3, stride, groups=cin, relu=False), conv_bn(cin, cout, 1),
            conv_bn(cout, cout, 3, 1, groups=cout, relu=False), conv_bn(cout, cout, 1, relu=False),
        )
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class LandmarkNet(nn.Module):
    def __init__(self, width: int = 32, points: int = NUM_POINTS, heatmap: int = HEATMAP_SIZE,
                 crop_size: int = CROP_SIZE):
        super().__init__()
        if crop_size % 16:
            raise ValueError(f'the crop side must be a multiple of 16 (four stride-2 steps), not {crop_size}')
        if heatmap not in (crop_size // 4, crop_size // 2):
            raise ValueError(f'heatmap side must be a quarter or a half of the crop ({crop_size}), not {heatmap}')
        w = width
        self.points = points
        self.crop_size = crop_size
        self.heatmap_size = heatmap
        self.fine = heatmap == crop_size // 2
        self.stem = nn.Sequential(conv_bn(1, w // 2, 3, 2), conv_bn(w // 2, w, 3))  # crop / 2
        # Stage names give the side for the default 64x64 crop (checkpoint keys; other crops scale them).
        self.stage32 = SeparableResidual(w, w)
        self.stage16 = nn.Sequential(SeparableResidual(w, 2 * w, 2), SeparableResidual(2 * w, 2 * w))
        self.stage8 = nn.Sequential(SeparableResidual(2 * w, 4 * w, 2), SeparableResidual(4 * w, 4 * w))
        self.stage4 = nn.Sequential(SeparableResidual(4 * w, 6 * w, 2), SeparableResidual(6 * w, 6 * w))
        d = 3 * w
        self.lateral4 = conv_bn(6 * w, d, 1)
        self.lateral8 = conv_bn(4 * w, d, 1)
        self.lateral16 = conv_bn(2 * w, d, 1)
        self.merge8 = SeparableResidual(d, d)
        self.merge16 = SeparableResidual(d, d)
        if self.fine:  # one more top-down step: finer heatmaps for the contour and the eyes
            self.lateral32 = conv_bn(w, d, 1)
            self.merge32 = SeparableResidual(d, d)
        self.heatmaps = nn.Conv2d(d, points, 1)
        n = heatmap
        centres = (torch.arange(n, dtype=torch.float32) + 0.5) / n
        gy, gx = torch.meshgrid(centres, centres, indexing='ij')
        self.register_buffer('grid', torch.stack([gx.reshape(-1), gy.reshape(-1)], 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f32 = self.stage32(self.stem(x))
        f16 = self.stage16(f32)
        f8 = self.stage8(f16)
        f4 = self.stage4(f8)
        top = self.lateral4(f4)
        m8 = self.merge8(F.interpolate(top, scale_factor=2.0, mode='nearest') + self.lateral8(f8))
        m16 = self.merge16(F.interpolate(m8, scale_factor=2.0, mode='nearest') + self.lateral16(f16))
        top = m16
        if self.fine:
            top = self.merge32(F.interpolate(m16, scale_factor=2.0, mode='nearest') + self.lateral32(f32))
        logits = self.heatmaps(top).reshape(x.shape[0], self.points, self.heatmap_size ** 2)
        return torch.matmul(torch.softmax(logits, dim=-1), self.grid)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
