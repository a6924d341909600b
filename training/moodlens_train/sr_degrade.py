"""Low-resolution faces for super-resolution, defined exactly as the TypeScript side makes them
(src/enhance/degrade.ts, src/enhance/bicubic.ts), so that training, `moodlens evaluate --degrade` and run time
all see the same pixels.

degrade(hr, f): Gaussian blur with sigma = f / 4 (taps at integer offsets up to ceil(3 sigma), weights
normalised, edge replicate; rows then columns, float64), then the mean of each f x f block, rounded half up and
clamped to 0..255. Side lengths must be multiples of f.

bicubic(img, w, h): Keys' cubic convolution with a = -0.75, half-pixel centres (src = (dst + 0.5) * in / out
- 0.5), indices clamped at the edges, no antialiasing: PyTorch's F.interpolate(mode='bicubic',
align_corners=False). The uint8 form rounds half up and clamps.
"""
from __future__ import annotations

import functools
import math

import numpy as np

CUBIC_A = -0.75


def gaussian_taps(sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-(x * x) / (2 * sigma * sigma))
    return w / w.sum()


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (..., H, W) float64 with replicated edges: rows, then columns."""
    taps = gaussian_taps(sigma)
    r = len(taps) // 2
    x = np.asarray(img, np.float64)
    pad = [(0, 0)] * (x.ndim - 1) + [(r, r)]
    xp = np.pad(x, pad, mode='edge')
    w = x.shape[-1]
    rows = sum(taps[k] * xp[..., k:k + w] for k in range(len(taps)))
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (0, 0)]
    rp = np.pad(rows, pad, mode='edge')
    h = x.shape[-2]
    return sum(taps[k] * rp[..., k:k + h, :] for k in range(len(taps)))


def round_half_up(v: np.ndarray) -> np.ndarray:
    # minimum/maximum rather than np.clip: the same values, without np.clip's per-call Python overhead, which
    # was a sixth of the time of building a training batch
    return np.minimum(np.maximum(np.floor(v + 0.5), 0), 255).astype(np.uint8)


def block_mean(img: np.ndarray, f: int) -> np.ndarray:
    h, w = img.shape[-2:]
    if h % f or w % f:
        raise ValueError(f'{w}x{h} is not a multiple of the factor {f}')
    shape = img.shape[:-2] + (h // f, f, w // f, f)
    return img.reshape(shape).mean(axis=(-3, -1))


def degrade(hr: np.ndarray, factor: int, sigma: float = None) -> np.ndarray:
    """uint8 (..., H, W) -> uint8 (..., H/f, W/f): blur (sigma f/4 unless given) then f x f block means."""
    s = factor / 4.0 if sigma is None else sigma
    return round_half_up(block_mean(blur(hr, s), factor))


def cubic_weights(t: np.ndarray) -> np.ndarray:
    """The four weights of Keys' kernel for fractional offsets t (taps at -1, 0, 1, 2)."""
    a = CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


@functools.lru_cache(maxsize=None)
def _axis_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix along one axis; cached (read-only) because training asks for the same
    few sizes for every face, and building them was a third of the time of a training batch."""
    scale = n_in / n_out
    src = (np.arange(n_out) + 0.5) * scale - 0.5
    i0 = np.floor(src).astype(int)
    w = cubic_weights(src - i0)
    m = np.zeros((n_out, n_in))
    for k in range(4):
        idx = np.clip(i0 - 1 + k, 0, n_in - 1)
        np.add.at(m, (np.arange(n_out), idx), w[:, k])
    m.setflags(write=False)
    return m


def bicubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """float64 (..., h, w) -> (..., height, width), as PyTorch's bicubic interpolation."""
    x = np.asarray(img, np.float64)
    my = _axis_matrix(x.shape[-2], height)
    mx = _axis_matrix(x.shape[-1], width)
    return my @ x @ mx.T


def bicubic_u8(img: np.ndarray, width: int, height: int) -> np.ndarray:
    return round_half_up(bicubic(img, width, height))
