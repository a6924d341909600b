"""Training pairs for FSRNet: a high-resolution 48x48 FER-2013 face, its degraded and re-upsampled input, and
the facial priors drawn from its 68 teacher landmarks (heatmaps and parsing maps at 24x24).

Input = equalize(bicubic_u8(degrade(hr, f), 48, 48)) / 255, exactly what the TypeScript side feeds the model.
Training varies the factor (2, 3, 4), the blur (sigma f/4 +- 50%) and adds noise and JPEG artefacts to the
low-resolution face; evaluation uses the plain `degrade` at exactly x2 and x4.

Batches are built on the CPU (in the main process or in DataLoader workers) and stay compact there: uint8
faces, the points and uint8 parsing maps, 6 kB a face; `to_device` scales them and draws the heatmaps on the
training device, because 68 float heatmaps are 157 kB a face, too much to build and ship at GPU rates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch

from .landmark_data import FLIP_PERMUTATION
from .sr_degrade import bicubic_u8, block_mean, blur, degrade, round_half_up
from .sr_model import NUM_POINTS, PARSING_CLASSES, PRIOR_SIZE, SIZE

HEATMAP_SIGMA = 1.0  # in 24x24 prior pixels


def sr_input(lr: np.ndarray) -> np.ndarray:
    """uint8 low-resolution face -> uint8 48x48 model input (bicubic, then histogram equalization)."""
    return cv2.equalizeHist(bicubic_u8(lr, SIZE, SIZE))


def to_prior_frame(points: np.ndarray) -> np.ndarray:
    """48x48 pixel coordinates (0-based centres) -> 24x24 ones."""
    return (points + 0.5) * (PRIOR_SIZE / SIZE) - 0.5


def heatmaps(points: torch.Tensor) -> torch.Tensor:
    """(..., 68, 24, 24) float32 Gaussians, peak 1, at the points (..., 68, 2) (48x48 frame), on their device."""
    p = to_prior_frame(points.float())
    g = torch.arange(PRIOR_SIZE, dtype=torch.float32, device=points.device)
    dx = (g - p[..., 0:1]) ** 2  # (..., 68, 24)
    dy = (g - p[..., 1:2]) ** 2
    return torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * HEATMAP_SIGMA ** 2))


def parsing_map(points: np.ndarray) -> np.ndarray:
    """(24, 24) uint8 class map: 0 background, 1 skin (hull of contour and brows), 2 brows, 3 eyes, 4 nose,
    5 lips, drawn as filled regions from the landmarks (later classes paint over earlier ones)."""
    shift = 4
    q = np.round(to_prior_frame(points) * (1 << shift)).astype(np.int32)
    m = np.zeros((PRIOR_SIZE, PRIOR_SIZE), np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(q[:27]), 1, lineType=cv2.LINE_8, shift=shift)
    for brow in (q[17:22], q[22:27]):
        cv2.polylines(m, [brow], False, 2, thickness=1, lineType=cv2.LINE_8, shift=shift)
    for eye in (q[36:42], q[42:48]):
        cv2.fillPoly(m, [eye], 3, lineType=cv2.LINE_8, shift=shift)
    cv2.fillConvexPoly(m, cv2.convexHull(np.concatenate([q[27:28], q[31:36]])), 4, lineType=cv2.LINE_8,
                       shift=shift)
    cv2.fillPoly(m, [q[48:60]], 5, lineType=cv2.LINE_8, shift=shift)
    return m


@dataclass(frozen=True)
class Degradation:
    factors: Sequence[int] = (2, 3, 4)
    factor_p: Sequence[float] = (0.4, 0.2, 0.4)
    sigma_jitter: float = 0.5
    noise_p: float = 0.3
    jpeg_p: float = 0.3

    @staticmethod
    def for_factors(factors: Sequence[int]) -> 'Degradation':
        """Factors drawn in proportion to how often they are listed: (2, 2, 3, 4, 4) is the default 40/20/40%
        mix, (4,) a x4-only model, (2, 2, 3, 4, 4, 4, 4) a mix weighted towards x4."""
        factors = [int(f) for f in factors]
        if not factors or any(f < 2 or f > 8 for f in factors):
            raise ValueError(f'factors must be integers from 2 to 8, got {factors}')
        values = tuple(sorted(set(factors)))
        return Degradation(factors=values, factor_p=tuple(factors.count(f) / len(factors) for f in values))


def random_low_res(hr: np.ndarray, deg: Degradation, rng: np.random.Generator) -> np.ndarray:
    f = int(rng.choice(deg.factors, p=deg.factor_p))
    sigma = f / 4.0 * (1 + rng.uniform(-deg.sigma_jitter, deg.sigma_jitter))
    lr = block_mean(blur(hr, sigma), f)
    if rng.random() < deg.noise_p:
        lr = lr + rng.normal(0, rng.uniform(1, 5), lr.shape)
    lr = round_half_up(lr)
    if rng.random() < deg.jpeg_p:
        ok, enc = cv2.imencode('.jpg', lr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        lr = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    return lr


def training_batch(images: np.ndarray, points: np.ndarray, idx: np.ndarray, deg: Degradation,
                   rng: np.random.Generator):
    """(input, target, points, parsing) for the faces `idx`, randomly flipped: uint8 (N, 1, 48, 48) twice,
    float32 (N, 68, 2) and uint8 (N, 24, 24); `to_device` makes the training tensors of them."""
    xs, ys, qs, ps = [], [], [], []
    for i in idx:
        hr, pts = images[i], points[i]
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
            pts = pts[FLIP_PERMUTATION].copy()
            pts[:, 0] = SIZE - 1 - pts[:, 0]
        hr = np.ascontiguousarray(hr)
        xs.append(sr_input(random_low_res(hr, deg, rng)))
        ys.append(hr)
        qs.append(pts)
        ps.append(parsing_map(pts))
    return np.stack(xs)[:, None], np.stack(ys)[:, None], np.stack(qs).astype(np.float32), np.stack(ps)


def batch_stream(images: np.ndarray, points: np.ndarray, batch_size: int, deg: Degradation,
                 rng: np.random.Generator) -> Iterator:
    """Endless training batches (as tensors) of faces drawn with replacement."""
    while True:
        idx = rng.integers(0, len(images), size=batch_size)
        yield tuple(torch.from_numpy(a) for a in training_batch(images, points, idx, deg, rng))


class WorkerBatches(torch.utils.data.IterableDataset):
    """`batch_stream` in each DataLoader worker, from its own generator seeded by (seed, epoch, worker): a run
    is reproducible for a given number of workers, and a resumed one restarts the streams at its epoch."""

    def __init__(self, images, points, batch_size: int, deg: Degradation, seed: int, epoch: int):
        super().__init__()
        self.images, self.points, self.batch_size, self.deg = images, points, batch_size, deg
        self.seed, self.epoch = seed, epoch

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, self.epoch, worker.id if worker else 0])
        return batch_stream(self.images, self.points, self.batch_size, self.deg, rng)


def to_device(batch, device: torch.device):
    """A `training_batch` (as tensors) -> float inputs and targets in [0, 1], heatmaps, int64 parsing maps."""
    x, y, pts, parse = (t.to(device, non_blocking=True) for t in batch)
    return x.float() / 255.0, y.float() / 255.0, heatmaps(pts), parse.long()


def evaluation_inputs(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, 48, 48) model inputs from the plain x`factor` degradation (what `evaluate --degrade` does)."""
    return np.stack([sr_input(degrade(hr, factor)) for hr in images])


def bicubic_baseline(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, 48, 48): the degraded faces bicubically upsampled (no equalization): the baseline."""
    return np.stack([bicubic_u8(degrade(hr, factor), SIZE, SIZE) for hr in images])


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of uint8-range arrays (N, H, W)."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))


def _gauss_window() -> np.ndarray:
    x = np.arange(11) - 5
    w = np.exp(-(x * x) / (2 * 1.5 ** 2))
    w /= w.sum()
    return np.outer(w, w)


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255), mean over
    the windows that fit inside the image ('valid'), as the TypeScript side computes it."""
    win = _gauss_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        def filt(img):
            return cv2.filter2D(img, -1, win, borderType=cv2.BORDER_CONSTANT)[5:-5, 5:-5]
        mx, my = filt(x), filt(y)
        sxx, syy, sxy = filt(x * x) - mx * mx, filt(y * y) - my * my, filt(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        out.append(m.mean())
    return np.array(out)
