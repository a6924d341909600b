"""Face crops for the landmark student, made exactly as the TypeScript side makes them at run time, plus the
training augmentation (rotation, scale, shift, flip, blur, low resolution, noise).

Run-time crop (src/landmarks/ in TypeScript): the Haar box is moved down by CROP_SHIFT of its height, squared
with CROP_MARGIN on every side (side = round(max(w, h) * (1 + 2 * margin)), top-left floored, as cropFace's
faceCropSquare), cut with edge replication, area-resized to CROP_SIZE and histogram-equalized. Points are
returned in crop units: u = (p + 0.5 - x0) / side, so p = x0 + u * side - 0.5 for 0-based pixel centres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from .landmark_model import CROP_SIZE

CROP_MARGIN = 0.25
CROP_SHIFT = 0.15

#: 300-W horizontal-flip permutation (subject's right and left swap).
FLIP_PERMUTATION = np.array([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20,
                             19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37,
                             36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67,
                             66, 65])


def js_round(v: float) -> int:
    """JavaScript's Math.round (halves go up), which the TypeScript crop uses."""
    return int(math.floor(v + 0.5))


def crop_square(box, margin: float = CROP_MARGIN) -> Tuple[int, int, int]:
    """(x0, y0, side) of the run-time crop for a Haar box (x, y, w, h)."""
    x, y, w, h = (float(v) for v in box)
    y += CROP_SHIFT * h
    side = max(1, js_round(max(w, h) * (1 + 2 * margin)))
    return int(math.floor(x + (w - side) / 2)), int(math.floor(y + (h - side) / 2)), side


#: Crop scales the TypeScript detector averages by default (src/landmarks/detector.ts DEFAULT_LANDMARK_SCALES).
TTA_SCALES = (1.0, 0.92, 1.08)


def scaled_margin(scale: float) -> float:
    """The crop margin whose square is `scale` times the run-time one (TypeScript's scaledGeometry)."""
    return CROP_MARGIN if scale == 1 else max(0.0, (scale * (1 + 2 * CROP_MARGIN) - 1) / 2)


def run_time_crop(gray: np.ndarray, box, size: int = CROP_SIZE,
                  margin: float = CROP_MARGIN) -> Tuple[np.ndarray, Tuple[int, int, int]]:
    """The crop the TypeScript side feeds the model (uint8 size x size) and its (x0, y0, side)."""
    x0, y0, side = crop_square(box, margin)
    h, w = gray.shape
    cols = np.clip(np.arange(x0, x0 + side), 0, w - 1)
    rows = np.clip(np.arange(y0, y0 + side), 0, h - 1)
    square = gray[rows[:, None], cols[None, :]]
    if side > size:
        square = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    elif side < size:
        square = cv2.resize(square, (size, size), interpolation=cv2.INTER_LINEAR_EXACT)
    return cv2.equalizeHist(np.ascontiguousarray(square)), (x0, y0, side)


def to_crop_units(points: np.ndarray, square) -> np.ndarray:
    x0, y0, side = square
    return ((points + 0.5 - np.array([x0, y0], np.float32)) / side).astype(np.float32)


def from_crop_units(units: np.ndarray, square) -> np.ndarray:
    x0, y0, side = square
    return (units * side + np.array([x0, y0], np.float32) - 0.5).astype(np.float32)


@dataclass(frozen=True)
class Augment:
    rotation: float = 30.0  # degrees, uniform in +-rotation for a share `rotate_p` of samples
    rotate_p: float = 0.6
    scale: float = 0.1  # crop side times 1 +- scale
    shift: float = 0.06  # crop centre moves up to this share of the side
    flip: bool = True
    blur_p: float = 0.3
    lowres_p: float = 0.2
    noise_p: float = 0.2


def augmented_crop(gray: np.ndarray, box, points: np.ndarray, aug: Augment, rng: np.random.Generator,
                   size: int = CROP_SIZE):
    """A randomly transformed crop around the run-time crop of `box`: (uint8 crop, points in crop units)."""
    x0, y0, side = crop_square(box)
    cx, cy = x0 + side / 2.0, y0 + side / 2.0  # continuous coordinates (pixel i covers [i, i+1))
    s = side * (1 + rng.uniform(-aug.scale, aug.scale))
    cx += rng.uniform(-aug.shift, aug.shift) * side
    cy += rng.uniform(-aug.shift, aug.shift) * side
    theta = math.radians(rng.uniform(-aug.rotation, aug.rotation)) if rng.random() < aug.rotate_p else 0.0
    flip = aug.flip and rng.random() < 0.5
    m = max(1, js_round(s / size))  # sample near the source resolution, then area-average down
    n = size * m
    # Crop pixel centre (i + 0.5) / n in [0, 1] -> source continuous coordinates, rotating about the centre.
    c, si = math.cos(theta), math.sin(theta)
    a = s / n
    # source_cont = centre + R @ ((q + 0.5) * a - s / 2), q = crop pixel index; source pixel index = cont - 0.5
    fx = -1.0 if flip else 1.0
    mat = np.array([[c * a * fx, -si * a, 0.0], [si * a * fx, c * a, 0.0]])
    off = np.array([(0.5 * a - s / 2) * fx, 0.5 * a - s / 2])  # flipped: crop column q reads n - 1 - q
    mat[:, 2] = np.array([cx, cy]) + np.array([[c, -si], [si, c]]) @ off - 0.5
    crop = cv2.warpAffine(gray, mat, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if m > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    # Points: source pixel p -> crop units. Invert the affine on continuous coordinates.
    full = np.vstack([mat, [0, 0, 1]])
    inv = np.linalg.inv(full)
    homo = np.hstack([points, np.ones((len(points), 1))])
    q = (homo @ inv.T)[:, :2]  # crop pixel index in the n x n grid
    units = ((q + 0.5) / n).astype(np.float32)
    if flip:
        units = units[FLIP_PERMUTATION]
    if rng.random() < aug.lowres_p:
        k = rng.integers(16, 40)
        crop = cv2.resize(cv2.resize(crop, (int(k), int(k)), interpolation=cv2.INTER_AREA), (size, size),
                          interpolation=cv2.INTER_LINEAR)
    if rng.random() < aug.blur_p:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.4, 1.4))
    if rng.random() < aug.noise_p:
        crop = np.clip(crop + rng.normal(0, rng.uniform(2, 8), crop.shape), 0, 255).astype(np.uint8)
    return cv2.equalizeHist(np.ascontiguousarray(crop)), units


class LandmarkSet:
    """Faces with Haar boxes and 68 points (from landmark_labels' .npz), optionally a subset."""

    def __init__(self, path, indices: Optional[np.ndarray] = None, field: str = 'points'):
        data = np.load(path)
        keep = np.all(data['box'][:, 2:] > 0, axis=1)  # faces with a Haar box only
        idx = np.flatnonzero(keep) if indices is None else np.asarray([i for i in indices if keep[i]])
        self.images = data['image'][idx]
        self.boxes = data['box'][idx].astype(np.float64)
        self.points = data[field][idx].astype(np.float32)
        self.names = data['name'][idx]
        self.indices = idx

    def __len__(self) -> int:
        return len(self.images)


def face300w_split(path, tenth: int = 10):
    """(train indices, held-out indices) of face300w: every `tenth`-th face in sorted order is held out."""
    n = len(np.load(path)['name'])
    held = np.arange(0, n, tenth)
    return np.setdiff1d(np.arange(n), held), held


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-face mean point error over the outer-eye-corner distance (points 36 and 45), as 300-W."""
    iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    return np.linalg.norm(pred - truth, axis=2).mean(axis=1) / iod


def nme_parts(pred: np.ndarray, truth: np.ndarray) -> dict:
    iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    err = np.linalg.norm(pred - truth, axis=2) / iod[:, None]
    per_face = err.mean(axis=1)
    return {
        'faces': int(len(pred)),
        'nme': float(per_face.mean()),
        # Standard error of that mean over the faces: how far another sample of faces could put it.
        'nme_standard_error': float(per_face.std(ddof=1) / np.sqrt(len(per_face))) if len(per_face) > 1 else 0.0,
        'nme_contour': float(err[:, :17].mean()),
        'nme_inner': float(err[:, 17:].mean()),
        'failure_rate_10': float((per_face > 0.10).mean()),
    }

