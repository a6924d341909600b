"""Batch augmentation on tensors, like Keras' ImageDataGenerator as the mini-Xception training used it.

``rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1, horizontal_flip=True``
with Keras' defaults (bilinear interpolation, ``fill_mode='nearest'``): one random affine map per face, all
faces of a batch warped by a single ``affine_grid`` + ``grid_sample`` call (on the batch's device). Plus the
optional extras: random erasing (Zhong et al. 2017), mixup (Zhang et al. 2018), label smoothing and class
weights (the last two live in ``soft_targets`` / ``soft_cross_entropy``).

All randomness comes from one ``torch.Generator`` on the CPU, so a run is reproducible and resumable from the
generator's state whatever the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    rotation: float = 10.0  # degrees, uniform in [-rotation, rotation]
    shift: float = 0.1  # fraction of the side, uniform in [-shift, shift], x and y independently
    zoom: float = 0.1  # scale uniform in [1 - zoom, 1 + zoom], x and y independently (as Keras does)
    flip: bool = True  # horizontal flip with probability 1/2
    erase: float = 0.0  # probability of erasing one random rectangle per face (0: off)
    erase_area: Tuple[float, float] = (0.02, 0.25)  # erased area, as a fraction of the face
    erase_ratio: Tuple[float, float] = (0.3, 3.3)  # aspect ratio range of the rectangle (log-uniform)

    @property
    def geometric(self) -> bool:
        return self.rotation > 0 or self.shift > 0 or self.zoom > 0 or self.flip


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Warps each face of ``x`` (N, 1, H, W) float by its own random rotation / shift / zoom / flip.

    The matrix maps output to input coordinates (normalised to [-1, 1]), as Keras' ``apply_transform`` does:
    ``A = R(angle) @ diag(zx, zy) @ diag(flip, 1)``, translation ``2 * shift``; borders are replicated.
    """
    n = x.shape[0]
    u = torch.rand(n, 6, generator=gen)  # angle, tx, ty, zx, zy, flip
    angle = (u[:, 0] * 2 - 1) * math.radians(cfg.rotation)
    tx = (u[:, 1] * 2 - 1) * cfg.shift * 2  # a fraction f of the side is 2f in normalised units
    ty = (u[:, 2] * 2 - 1) * cfg.shift * 2
    zx = 1 + (u[:, 3] * 2 - 1) * cfg.zoom
    zy = 1 + (u[:, 4] * 2 - 1) * cfg.zoom
    flip = torch.where(u[:, 5] < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * zx * flip, -sin * zy, tx], 1),
            torch.stack([sin * zx * flip, cos * zy, ty], 1),
        ],
        1,
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """With probability ``cfg.erase`` per face, fills one random rectangle with uniform noise in [0, 1]."""
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=gen)
    area = (cfg.erase_area[0] + u[:, 0] * (cfg.erase_area[1] - cfg.erase_area[0])) * h * w
    log_lo, log_hi = math.log(cfg.erase_ratio[0]), math.log(cfg.erase_ratio[1])
    ratio = torch.exp(log_lo + u[:, 1] * (log_hi - log_lo))
    eh = torch.sqrt(area * ratio).round().clamp(1, h)
    ew = torch.sqrt(area / ratio).round().clamp(1, w)
    top = (u[:, 2] * (h - eh + 1)).floor()
    left = (u[:, 3] * (w - ew + 1)).floor()
    active = u[:, 4] < cfg.erase
    noise = torch.rand(n, 1, h, w, generator=gen)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
        & active.view(n, 1, 1)
    ).unsqueeze(1)
    mask = mask.to(x.device)
    return torch.where(mask, noise.to(device=x.device, dtype=x.dtype), x)


def augment(x: torch.Tensor, cfg: Optional[AugmentConfig], gen: torch.Generator) -> torch.Tensor:
    """Geometric augmentation, then random erasing, on (N, 1, H, W) faces scaled to [0, 1]."""
    if cfg is None:
        return x
    if cfg.geometric:
        x = random_affine(x, cfg, gen)
    if cfg.erase > 0:
        x = random_erase(x, cfg, gen)
    return x


# --------------------------------------------------------------------------------------------------------------
# Targets and loss


def soft_targets(labels: torch.Tensor, classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets with label smoothing as PyTorch's CrossEntropyLoss does: (1 - s) * onehot + s / classes."""
    onehot = F.one_hot(labels, classes).float()
    if smoothing > 0:
        onehot = onehot * (1.0 - smoothing) + smoothing / classes
    return onehot


def mixup(
    x: torch.Tensor, targets: torch.Tensor, alpha: float, gen: torch.Generator
) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """Mixes the batch with a shuffled copy of itself: lambda ~ Beta(alpha, alpha), one lambda per batch."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm], lam


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Cross-entropy with soft targets (mean over the batch).

    With one-hot targets it equals ``F.cross_entropy(logits, labels, weight=weights)``: class weights scale each
    target's term and the sum is divided by the total weighted target mass (PyTorch's weighted mean). With
    smoothed targets and no weights it equals ``F.cross_entropy(..., label_smoothing=s)``.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    if weights is None:
        return -(targets * logp).sum(1).mean()
    wt = targets * weights.view(1, -1)
    return -(wt * logp).sum() / wt.sum()


def class_weights(counts: np.ndarray, mode: str) -> Optional[torch.Tensor]:
    """Per-class loss weights from the training counts: none, balanced (n / (k * count)) or sqrt (its square root)."""
    if mode == "none":
        return None
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    balanced = counts.sum() / (len(counts) * counts)
    if mode == "balanced":
        w = balanced
    elif mode == "sqrt":
        w = np.sqrt(balanced)
    else:
        raise ValueError(f"class_weights: expected none, balanced or sqrt but received {mode!r}")
    w = w / (w * counts).sum() * counts.sum()  # keep the mean weight per face at 1
    return torch.tensor(w, dtype=torch.float32)
